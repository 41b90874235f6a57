"""``ganpost upscale INPUT... -o OUTPUT``: every option and output checked first, then one image at a time.

Nothing is computed until the device exists, the options are valid for the model, every output
has a writable format and a writable folder: a mistake costs seconds, not a batch (see ``batch``).
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.catalogue import DEFAULT_MODEL
from ..runtime.imaging.files import read_header, read_image, write_image
from ..runtime.memory import MIN_TILE
from ..runtime.precision import resolve_dtype
from ..tasks.upscale import ALPHA_MODES, check_memory, check_options, takes_seed, upscale
from .batch import add_file_arguments, add_runtime_arguments, progress_bar, run_files

log = logging.getLogger("ganpost.cli")


def add_upscale_parser(sub) -> None:
    up = sub.add_parser("upscale", help="upscale image files or folders")
    add_file_arguments(up)
    up.add_argument("-m", "--model", default=DEFAULT_MODEL,
                    help="a model file, or a known name (see `ganpost models`); default: the built-in "
                         f"{DEFAULT_MODEL}, no download")
    up.add_argument("--tile", default="auto", type=_tile,
                    help=f"tile side in px (at least {MIN_TILE}), 'auto' (default) or 0 for none")
    size = up.add_mutually_exclusive_group()
    size.add_argument("--outscale", type=_outscale, help="final scale, e.g. 2 or 1.5 (default: the model's scale)")
    size.add_argument("--size", type=_size, help="exact output size WxH, e.g. 1920x1080")
    up.add_argument("--alpha-mode", default="network", choices=ALPHA_MODES,
                    help="upscale transparency with the network (default) or a bicubic resize")
    up.add_argument("--seed", type=int,
                    help="noise seed for models that draw noise (AuraSR; default 0): same seed, same image. "
                         "Other models draw none and ignore it")
    up.add_argument("--denoise-strength", type=float, help="0..1, for realesr-general-x4v3 only")
    add_runtime_arguments(up)
    up.set_defaults(run=run_upscale)


# ------------------------------------------------------------------------------ option types
def _tile(text: str):
    if text == "auto":
        return text
    try:
        tile = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be 'auto', 0 or a whole number of pixels, not {text!r}") from None
    if tile != 0 and not tile >= MIN_TILE:
        raise argparse.ArgumentTypeError(f"tile {tile} is below the minimum of {MIN_TILE} px (0 means no tiling)")
    return tile


def _outscale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"outscale must be a positive number such as 2 or 1.5, not {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, not {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be at least 1")
    return w, h


# ------------------------------------------------------------------------------ the run
def run_upscale(args) -> int:
    def setup(device):
        model = load_model(args.model, denoise_strength=args.denoise_strength, models_dir=args.models_dir,
                           download=not args.offline)
        log.info("%s", model.summary())
        check_options(model, alpha_mode=args.alpha_mode, outscale=args.outscale, size=args.size)
        resolve_dtype(model, args.precision, device)  # e.g. fp16 on CPU is refused once, here
        seed = args.seed if takes_seed(model) else None
        if args.seed is not None and seed is None:
            log.warning("--seed has no effect: %s draws no noise", model.name)

        def handle(source: Path, target: Path, label: str) -> str:
            header = read_header(source)  # refused before decoding when it cannot fit
            check_memory(model, header.width, header.height, channels=header.channels, sample_bytes=header.sample_bytes,
                         outscale=args.outscale, size=args.size, label=str(source))
            image = read_image(source)
            result = upscale(model, image.pixels, tile=args.tile, outscale=args.outscale, size=args.size,
                             precision=args.precision, device=device, alpha_mode=args.alpha_mode, seed=seed,
                             progress=progress_bar(label, "tiles"))
            write_image(target, result, image.info)
            return f"{result.shape[1]}×{result.shape[0]}"

        return handle

    return run_files(args, setup)
