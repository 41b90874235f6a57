"""``ganpost translate INPUT... -o OUTPUT --model FILE``: pix2pix / CycleGAN on image files, any size kept.

Same file handling as ``ganpost upscale`` (``batch``): the generator(s), the options and every
output folder are checked before the first image is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.contract import AtInference
from ..gan_models.errors import InvalidOptionError
from ..runtime.imaging.files import read_image, write_image
from ..runtime.memory import MIN_TILE
from ..runtime.precision import resolve_dtype
from ..tasks.translate import DEFAULT_TRAIN_SIZE, DIRECTIONS, SIZE_MODES, check_options, translate, with_test_time
from .batch import add_file_arguments, add_runtime_arguments, check_fits, progress_bar, run_files
from .restore_faces_command import _whole
from .upscale_command import _tile

log = logging.getLogger("ganpost.cli")


def add_translate_parser(sub) -> None:
    tr = sub.add_parser("translate", help="translate image files or folders with a pix2pix/CycleGAN generator")
    add_file_arguments(tr)
    tr.add_argument("-m", "--model", required=True,
                    help="the generator: a file (latest_net_G.pth, *_net_G_A.pth) or a known name such as "
                         "cyclegan_horse2zebra (see `ganpost models`)")
    tr.add_argument("--model-b", help="a CycleGAN's other generator (*_net_G_B.pth), for --direction BtoA")
    tr.add_argument("--direction", default="AtoB", choices=DIRECTIONS,
                    help="AtoB (default) runs --model; BtoA runs --model-b")
    tr.add_argument("--size-mode", default="pad", choices=SIZE_MODES,
                    help="pad (default): keep every pixel, padding to the network's multiple and cropping back; "
                         "resize: run at --train-size like the official test script, then resize back")
    tr.add_argument("--train-size", type=_whole("train-size"),
                    help=f"side the network runs at with --size-mode resize (default {DEFAULT_TRAIN_SIZE})")
    tr.add_argument("--test-time", choices=[m.value for m in AtInference],
                    help="as_trained: batch statistics and dropout on, as the official test script; eval: running "
                         "statistics, no dropout (default: the model's, as_trained where it makes a difference)")
    tr.add_argument("--no-dropout", action="store_true",
                    help="a U-Net trained with --no_dropout (its file cannot tell; the official default has dropout)")
    tr.add_argument("--seed", type=_whole("seed", 0), default=0,
                    help="seed for dropout in as_trained mode, so reruns give the same image (default 0)")
    tr.add_argument("--tile", default="auto", type=_tile,
                    help=f"tile side in px (at least {MIN_TILE}), 'auto' (default: one pass when it fits in "
                         "memory) or 0 for never")
    add_runtime_arguments(tr)
    tr.set_defaults(run=run_translate)


def run_translate(args) -> int:
    if args.direction == "BtoA" and not args.model_b:
        raise InvalidOptionError("--direction BtoA runs the B→A generator: give it with --model-b "
                                 "(a CycleGAN's *_net_G_B.pth).")

    def setup(device):
        def load(name):
            return load_model(name, models_dir=args.models_dir, download=not args.offline,
                              dropout=False if args.no_dropout else None)

        model = load(args.model)
        model_b = load(args.model_b) if args.model_b else None
        for keyword, label, loaded in (("model", "--model", model), ("model_b", "--model-b", model_b)):
            if loaded is not None:
                log.info("%s: %s", label, loaded.summary())
                check_options(loaded, size_mode=args.size_mode, train_size=args.train_size, given_as=keyword)
        chosen = with_test_time(model_b if args.direction == "BtoA" else model, args.test_time)
        resolve_dtype(chosen, args.precision, device)  # e.g. fp16 on CPU is refused once, here

        def handle(source: Path, target: Path, label: str) -> str:
            check_fits(source, 1, "Split the image into parts")
            image = read_image(source)
            result = translate(image.pixels, model, model_b=model_b, direction=args.direction,
                               size_mode=args.size_mode, train_size=args.train_size, tile=args.tile,
                               precision=args.precision, device=device, test_time=args.test_time, seed=args.seed,
                               progress=progress_bar(label, "tiles"))
            write_image(target, result, image.info)
            return f"{result.shape[1]}×{result.shape[0]}"

        return handle

    return run_files(args, setup)
