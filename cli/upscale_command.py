"""``ganpost upscale INPUT... -o OUTPUT``: every option and output checked first, then one image at a time.

Nothing is computed until the device exists, the options are valid for the model, every output
has a writable format and a writable folder: a mistake costs seconds, not a batch (see ``batch``).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.catalogue import DEFAULT_MODEL
from ..gan_models.contract import Task
from ..runtime.imaging.files import read_header, read_image
from ..tasks.upscale import OPTIONS, check_memory, check_options, upscale
from .image_command import add_image_command, image_stages, model_source, warn_unused_seed
from .stages import FileStages
from .task_flags import add_task_options, task_options

log = logging.getLogger("ganpost.cli")


def add_upscale_parser(sub) -> None:
    up = add_image_command(sub, "upscale", upscale_stages, help="upscale image files or folders")
    up.add_argument("-m", "--model", default=DEFAULT_MODEL,
                    help="a model file, or a known name (see `ganpost models`); default: the built-in "
                         f"{DEFAULT_MODEL}, no download")
    up.add_argument("--denoise-strength", type=float, help="0..1, for realesr-general-x4v3 only")
    add_task_options(up, OPTIONS, Task.UPSCALE)


def upscale_stages(args, device) -> FileStages:
    model = load_model(args.model, denoise_strength=args.denoise_strength, **model_source(args))
    log.info("%s", model.summary())
    options = task_options(args, OPTIONS, Task.UPSCALE, device=device)
    check_options(model, **options)
    warn_unused_seed(args, model)

    def read(source: Path):
        header = read_header(source)  # refused before decoding when it cannot fit
        check_memory(model, header.width, header.height, channels=header.channels, sample_bytes=header.sample_bytes,
                     outscale=options["outscale"], size=options["size"], label=str(source))
        return read_image(source)

    return image_stages(args, read, functools.partial(upscale, model=model, **options))
