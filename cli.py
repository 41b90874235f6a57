"""The ``ganpost`` command line: ``ganpost upscale INPUT... -o OUTPUT`` and ``ganpost models``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from .gan_models import GanpostError, load_model
from .tasks import upscale
from .gan_models.catalogue import BUILTIN_MODELS, DEFAULT_MODEL, KNOWN_MODELS, default_models_dirs
from .runtime.imaging.files import READABLE, WRITABLE, read_image, write_image
from .runtime.precision import PRECISIONS

log = logging.getLogger("ganpost")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="ganpost: %(message)s")
    try:
        return args.run(args)
    except GanpostError as err:
        print(f"ganpost: error: {err}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:
        print(f"ganpost: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ganpost models | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps interpreter shutdown from failing on flush
        return 0
    except KeyboardInterrupt:
        print("\nganpost: interrupted; no partial output was left behind", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganpost", description="GAN post-processing: Real-ESRGAN upscaling and fine-tuning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is happening")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("upscale", help="upscale image files or folders")
    up.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders of images")
    up.add_argument("-o", "--output", required=True, type=Path,
                    help="output file (one input) or folder; the format follows the extension")
    up.add_argument("-m", "--model", default=DEFAULT_MODEL,
                    help="a model file, or a known name (see `ganpost models`); default: the built-in "
                         f"{DEFAULT_MODEL}, no download")
    up.add_argument("--tile", default="auto", type=_tile, help="tile side in px, 'auto' (default) or 0 for none")
    size = up.add_mutually_exclusive_group()
    size.add_argument("--outscale", type=float, help="final scale, e.g. 2 or 1.5 (default: the model's scale)")
    size.add_argument("--size", type=_size, help="exact output size WxH, e.g. 1920x1080")
    up.add_argument("--precision", default="auto", choices=PRECISIONS)
    up.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: the best available)")
    up.add_argument("--alpha-mode", default="network", choices=("network", "resize"),
                    help="upscale transparency with the network (default) or a bicubic resize")
    up.add_argument("--denoise-strength", type=float, help="0..1, for realesr-general-x4v3 only")
    up.add_argument("--ext", help="output extension for folder outputs (default: same as each input)")
    up.add_argument("--models-dir", type=Path, help="where model files are looked for and downloaded")
    up.add_argument("--offline", action="store_true", help="never download a model")
    up.add_argument("--overwrite", action="store_true", help="replace existing output files")
    up.set_defaults(run=_run_upscale)

    models = sub.add_parser("models", help="list the official models known by name")
    models.add_argument("--models-dir", type=Path)
    models.set_defaults(run=_run_models)

    from .training.cli_train import add_train_parser

    add_train_parser(sub)
    return parser


def _tile(text: str):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be 'auto' or a whole number, not {text!r}") from None


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, not {text!r}") from None


def _collect_inputs(inputs: list[Path]) -> list[Path]:
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in READABLE and p.is_file())
        elif item.is_file():
            files.append(item)
        else:
            raise GanpostError(f"{item}: no such file or folder.")
    if not files:
        raise GanpostError(f"no images found in {', '.join(map(str, inputs))} (looked for {', '.join(sorted(READABLE))}).")
    return files


def _output_paths(files: list[Path], output: Path, ext: str | None) -> list[Path]:
    if len(files) == 1 and output.suffix.lower() in WRITABLE and not output.is_dir():
        return [output]
    if output.suffix and not output.is_dir():
        raise GanpostError(f"{output}: several inputs need an output folder, not a file name.")
    suffix = (ext if ext.startswith(".") else f".{ext}") if ext else None
    paths = [output / f"{f.stem}{suffix or f.suffix.lower()}" for f in files]
    if len(set(paths)) != len(paths):
        raise GanpostError("two inputs share a name and would overwrite each other's output; use separate runs.")
    return paths


def _run_upscale(args) -> int:
    files = _collect_inputs(args.inputs)
    targets = _output_paths(files, args.output, args.ext)
    existing = [t for t in targets if t.exists() and not args.overwrite]
    if existing:
        raise GanpostError(f"{existing[0]} already exists; pass --overwrite to replace it.")
    model = load_model(args.model, denoise_strength=args.denoise_strength, models_dir=args.models_dir,
                       download=not args.offline)
    log.info("%s", model.summary())
    failures = 0
    for index, (source, target) in enumerate(zip(files, targets), 1):
        label = f"[{index}/{len(files)}] {source.name}"
        try:
            image = read_image(source)
            started = time.perf_counter()
            result = upscale(model, image.pixels, tile=args.tile, outscale=args.outscale, size=args.size,
                             precision=args.precision, device=args.device, alpha_mode=args.alpha_mode,
                             progress=_ProgressBar(label))
            write_image(target, result, image.info)
            print(f"\r{label} → {target} ({result.shape[1]}×{result.shape[0]}, "
                  f"{time.perf_counter() - started:.1f} s)".ljust(78), file=sys.stderr)
        except GanpostError as err:
            failures += 1
            print(f"\rganpost: error: {err}".ljust(78), file=sys.stderr)
    return 1 if failures else 0


class _ProgressBar:
    def __init__(self, label: str):
        self.label = label
        self.interactive = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.interactive and done != total:
            return
        filled = int(24 * done / max(total, 1))
        print(f"\r{self.label} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total} tiles", end="", file=sys.stderr)


def _run_models(args) -> int:
    folders = default_models_dirs(args.models_dir)
    for name, path in BUILTIN_MODELS.items():
        print(f"{name:28} {'built-in' if path.is_file() else 'missing':9} SRVGGNetCompact ×4, trained by ganpost "
              "(the default; no download)")
    for m in KNOWN_MODELS.values():
        present = next((d / m.filename for d in folders if (d / m.filename).is_file()), None)
        print(f"{m.name:28} {'found' if present else 'download':9} {m.description}")
    print(f"\nmodels folder: {folders[0]} (set GANPOST_MODELS_DIR or --models-dir to change)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
