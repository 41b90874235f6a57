"""``ganpost translate INPUT... -o OUTPUT --model FILE``: pix2pix / CycleGAN on image files, any size kept.

Same file handling as ``ganpost upscale`` (``batch``): the generator(s), the options and every
output folder are checked before the first image is read.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.contract import Task
from ..runtime.imaging.files import read_image
from ..tasks.translate import OPTIONS, check_options, translate
from .batch import check_fits
from .image_command import add_image_command, image_stages, model_source
from .stages import FileStages
from .task_flags import add_task_options, task_options

log = logging.getLogger("ganpost.cli")


def add_translate_parser(sub) -> None:
    tr = add_image_command(sub, "translate", translate_stages,
                           help="translate image files or folders with a pix2pix/CycleGAN generator")
    tr.add_argument("-m", "--model", required=True,
                    help="the generator: a file (latest_net_G.pth, *_net_G_A.pth) or a known name such as "
                         "cyclegan_horse2zebra (see `ganpost models`)")
    tr.add_argument("--model-b", help="a CycleGAN's other generator (*_net_G_B.pth), for --direction BtoA")
    tr.add_argument("--no-dropout", action="store_true",
                    help="a U-Net trained with --no_dropout (its file cannot tell; the official default has dropout)")
    add_task_options(tr, OPTIONS, Task.TRANSLATE)


def translate_stages(args, device) -> FileStages:
    def load(name):
        return load_model(name, **model_source(args), dropout=False if args.no_dropout else None)

    model = load(args.model)
    model_b = load(args.model_b) if args.model_b else None
    for flag, loaded in (("--model", model), ("--model-b", model_b)):
        if loaded is not None:
            log.info("%s: %s", flag, loaded.summary())
    options = task_options(args, OPTIONS, Task.TRANSLATE, device=device)
    check_options(model, model_b=model_b, **options)

    def read(source: Path):
        check_fits(source, 1, "Split the image into parts")
        return read_image(source)

    return image_stages(args, read, functools.partial(translate, model=model, model_b=model_b, **options))
