"""What every image command declares besides its task's options: inputs, -o and the output options,
where models come from (--models-dir, --offline) and where they run (--device)."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from ..gan_models import GanpostError
from ..tasks.shared_options import takes_seed
from ..runtime.imaging.files import write_image
from .batch import DEFAULT_MAX_PIXELS, DEFAULT_QUEUE_DEPTH, run_files
from .outputs import refuse_unwritable
from .parser import non_negative_int, positive_int
from .stages import FileStages, StagesFactory
from .video import add_video_options, with_video

log = logging.getLogger("ganpost.cli")
MAX_PIXELS_ENV = "GANPOST_MAX_PIXELS"


def add_image_command(sub, name: str, stages: StagesFactory, **parser_settings) -> argparse.ArgumentParser:
    """A subcommand over image files: inputs, -o and the output options, where models come from and run; it runs
    the files through ``stages`` (``batch.run_files``)."""
    parser = sub.add_parser(name, **parser_settings)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="image or video files, or folders of them")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="output file (one input; the extension picks the format) or folder (any other name)")
    parser.add_argument("--ext", type=ext_option, help="output format for folder outputs (default: same as each "
                                                       "input; GIF inputs become PNG)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument("--skip-existing", action="store_true",
                          help="leave existing outputs alone and do the rest (resumes a batch)")
    parser.add_argument("--max-pixels", type=max_pixels_option, default=os.environ.get(MAX_PIXELS_ENV),
                        help=f"largest input in pixels, against decompression bombs (default {DEFAULT_MAX_PIXELS:,}, "
                             f"as Pillow; 0 for none; also ${MAX_PIXELS_ENV}). Inputs whose job would not fit in "
                             "memory are refused apart, from their header")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log what is happening (model, device, precision)")
    # --device is resolved here, before any file is read, so it is the CLI's flag, not the task's option
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    throughput = parser.add_argument_group("throughput (folders)")
    throughput.add_argument("--devices", metavar="LIST",
                            help="run one worker process per device, pulling files from one queue: 'all' (every "
                                 "CUDA GPU), or a list such as cuda:0,cuda:1 or cpu; instead of --device")
    throughput.add_argument("--workers", type=positive_int, metavar="N",
                            help="worker processes per device (default 1); on the CPU they share its cores")
    throughput.add_argument("--queue-depth", type=non_negative_int, metavar="N",
                            help=f"files decoded ahead, and results waiting to be written, per worker (default "
                                 f"{DEFAULT_QUEUE_DEPTH}); memory holds at most 2N+1 files' images. In a video, "
                                 "batches of frames waiting to be encoded. 0: one file (one batch) at a time, "
                                 "nothing overlapped")
    throughput.add_argument("--batch-size", type=positive_int, default=1, metavar="N",
                            help="consecutive images of one size that share a forward (default 1)")
    throughput.add_argument("--ray", nargs="?", const="", type=ray_address, metavar="ADDRESS",
                            help="run on Ray actors (the ray extra): one per GPU, else --workers N on the CPU "
                                 "(default 2). With no ADDRESS, Ray starts on this machine (or joins $RAY_ADDRESS); "
                                 "with one (auto, HOST:PORT, ray://HOST:PORT) it connects there. Put it after the "
                                 "inputs. Paths must be the same on every node")
    add_video_options(parser)
    parser.add_argument("--models-dir", type=Path, help="where model files are looked for and downloaded")
    parser.add_argument("--offline", action="store_true", help="never download a model")
    parser.set_defaults(run=functools.partial(run_files, stages=stages), command_name=name)
    return parser


def model_source(args) -> dict:
    """``load_model``'s keywords for where models come from (--models-dir, --offline)."""
    return {"models_dir": args.models_dir, "download": not args.offline}


def image_stages(args, read: Callable, run: Callable) -> FileStages:
    """The stages of a command whose result is an image per input: ``run(pixels, progress=None)`` computes a
    group's images, and a video's frames (N×H×W×3 uint8) alike; a result is written with its input's metadata."""

    def compute(images, progress):
        return run([image.pixels for image in images], progress=progress)

    def write(target: Path, result, image) -> str:
        write_image(target, result, image.info)
        return f"{result.shape[1]}×{result.shape[0]}"

    return with_video(FileStages(read, compute, write, unit="tiles"), args, lambda: run)


def warn_unused_seed(args, model) -> None:
    if args.seed is not None and not takes_seed(model):
        log.warning("--seed has no effect: %s draws no noise", model.name)


def ext_option(text: str) -> str:
    suffix = "." + text.lower().lstrip(".")
    try:
        refuse_unwritable(suffix, "--ext")
    except GanpostError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--ext: ")) from None
    return suffix


def max_pixels_option(text: str) -> int:
    try:
        value = int(float(text))  # 1e9 is easier to type than 1000000000
    except (ValueError, OverflowError):
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"max-pixels must be a whole number of pixels (0 for no limit), not {text!r}")
    return value


def ray_address(text: str) -> str:
    """A Ray address; anything else (a folder) is refused: ``--ray in/`` would have taken an input as one."""
    if text in ("", "auto", "local") or "://" in text or re.fullmatch(r"\[?[\w.:-]+\]?:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a Ray address (auto, HOST:PORT or ray://HOST:PORT); "
                                     "give --ray after the inputs, or give it an address")
