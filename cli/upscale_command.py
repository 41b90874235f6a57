"""``ganpost upscale INPUT... -o OUTPUT``: every option and output checked first, then one image at a time.

Nothing is computed until the device exists, the options are valid for the model, every output
has a writable format and a writable folder: a mistake costs seconds, not a batch.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from ..gan_models import GanpostError, load_model
from ..gan_models.catalogue import DEFAULT_MODEL
from ..runtime.imaging.convert import MAX_PIXELS
from ..runtime.imaging.files import read_image, write_image
from ..runtime.memory import MIN_TILE
from ..runtime.precision import PRECISIONS, resolve_device, resolve_dtype
from ..tasks.upscale import ALPHA_MODES, check_options, upscale
from .console import console
from .outputs import check_writable, collect_inputs, plan_outputs, refuse_unwritable

log = logging.getLogger("ganpost.cli")
MAX_PIXELS_ENV = "GANPOST_MAX_PIXELS"


def add_upscale_parser(sub) -> None:
    up = sub.add_parser("upscale", help="upscale image files or folders")
    up.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders of images")
    up.add_argument("-o", "--output", required=True, type=Path,
                    help="output file (one input; the extension picks the format) or folder (any other name)")
    up.add_argument("-m", "--model", default=DEFAULT_MODEL,
                    help="a model file, or a known name (see `ganpost models`); default: the built-in "
                         f"{DEFAULT_MODEL}, no download")
    up.add_argument("--tile", default="auto", type=_tile,
                    help=f"tile side in px (at least {MIN_TILE}), 'auto' (default) or 0 for none")
    size = up.add_mutually_exclusive_group()
    size.add_argument("--outscale", type=_outscale, help="final scale, e.g. 2 or 1.5 (default: the model's scale)")
    size.add_argument("--size", type=_size, help="exact output size WxH, e.g. 1920x1080")
    up.add_argument("--precision", default="auto", choices=PRECISIONS)
    up.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    up.add_argument("--alpha-mode", default="network", choices=ALPHA_MODES,
                    help="upscale transparency with the network (default) or a bicubic resize")
    up.add_argument("--denoise-strength", type=float, help="0..1, for realesr-general-x4v3 only")
    up.add_argument("--ext", type=_ext, help="output format for folder outputs (default: same as each input; "
                                             "GIF inputs become PNG)")
    up.add_argument("--models-dir", type=Path, help="where model files are looked for and downloaded")
    up.add_argument("--offline", action="store_true", help="never download a model")
    existing = up.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true", help="replace existing output files")
    existing.add_argument("--skip-existing", action="store_true",
                          help="leave existing outputs alone and do the rest (resumes a batch)")
    up.add_argument("--max-pixels", type=_max_pixels, default=os.environ.get(MAX_PIXELS_ENV),
                    help=f"largest input in pixels, against decompression bombs (default {MAX_PIXELS:,}, "
                         f"ganpost's input limit; 0 for none; also ${MAX_PIXELS_ENV})")
    up.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                    help="log what is happening (model, device, precision)")
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


def _ext(text: str) -> str:
    suffix = "." + text.lower().lstrip(".")
    try:
        refuse_unwritable(suffix, "--ext")
    except GanpostError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--ext: ")) from None
    return suffix


def _max_pixels(text: str) -> int:
    try:
        value = int(float(text))  # 1e9 is easier to type than 1000000000
    except (ValueError, OverflowError):
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"max-pixels must be a whole number of pixels (0 for no limit), not {text!r}")
    return value


# ------------------------------------------------------------------------------ the run
def run_upscale(args) -> int:
    with _terminate_as_interrupt(), _pixel_limit(args.max_pixels):
        return _upscale_all(args)


def _upscale_all(args) -> int:
    device = resolve_device(args.device)  # a missing GPU is said now, not after loading and reading
    files = collect_inputs(args.inputs)
    plan = plan_outputs(files, args.output, args.ext, overwrite=args.overwrite, skip_existing=args.skip_existing)
    check_writable([target for _, target in plan.jobs])
    if not plan.jobs:
        console.line(f"ganpost: nothing to do: all {len(plan.skipped)} outputs already exist")
        return 0
    model = load_model(args.model, denoise_strength=args.denoise_strength, models_dir=args.models_dir,
                       download=not args.offline)
    log.info("%s", model.summary())
    check_options(model, alpha_mode=args.alpha_mode, outscale=args.outscale, size=args.size)
    resolve_dtype(model, args.precision, device)  # e.g. fp16 on CPU is refused once, here
    for note in plan.notes:
        console.line(f"ganpost: note: {note}")
    written = failed = 0
    try:
        for index, (source, target) in enumerate(plan.jobs, 1):
            label = f"[{index}/{len(plan.jobs)}] {source.name}"
            try:
                started = time.perf_counter()
                image = read_image(source)
                result = upscale(model, image.pixels, tile=args.tile, outscale=args.outscale, size=args.size,
                                 precision=args.precision, device=device, alpha_mode=args.alpha_mode,
                                 progress=_progress_bar(label))
                write_image(target, result, image.info)
                written += 1
                console.line(f"{label} → {target} ({result.shape[1]}×{result.shape[0]}, "
                             f"{time.perf_counter() - started:.1f} s)")
            except GanpostError as err:
                failed += 1
                console.line(f"ganpost: error: {err}")
    finally:  # also after Ctrl-C / SIGTERM: what was done is worth knowing
        skipped = f", {len(plan.skipped)} skipped (already there)" if plan.skipped else ""
        console.line(f"ganpost: {written} written, {failed} failed{skipped}")
    return 1 if failed else 0


def _progress_bar(label: str):
    def show(done: int, total: int) -> None:
        filled = int(24 * done / max(total, 1))
        console.status(f"{label} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total} tiles")

    return show


@contextmanager
def _pixel_limit(limit: int | None):
    """Pillow's decompression-bomb limit for this run (the CLI owns the process; restored after).

    By default the core's own input limit (a gigapixel), not Pillow's 89 megapixels: large scans
    and panoramas are real inputs, a 100000×100000 header is not.
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS if limit is None else (limit or None)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop) unwinds like Ctrl-C, so temporaries are removed."""

    reason = "terminated"
    exit_status = 128 + signal.SIGTERM


@contextmanager
def _terminate_as_interrupt():
    def stop(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding application): leave its signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
