"""``ganpost export SOURCE -o TARGET``: the target's suffix picks the format.

``.safetensors`` / ``.pth``: a training run's generator as flat official weights (EMA first), as
before. ``.onnx``: any model (a file or a known name) as an ONNX graph with ganpost's contract in
its metadata. Either way the file is loaded back before the command returns; an ONNX file is also
compared with PyTorch on a test image and the difference printed. ``ganpost export SOURCE TARGET``
(the target as a second positional) is the older form and still works.
"""

from __future__ import annotations

from pathlib import Path

from ..gan_models.errors import InvalidOptionError

WEIGHTS_SUFFIXES = (".safetensors", ".pth")
ONNX_FLAGS = {"opset": "--opset", "fp16": "--fp16", "static": "--static", "size": "--size"}


def add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="a model as ONNX (-o FILE.onnx), or a run's generator as flat official weights",
        description="Export a model. The target's suffix picks the format: .onnx writes an ONNX graph (batch, height "
                    "and width dynamic unless --static) with ganpost's contract in its metadata, loads it back on "
                    "onnxruntime and prints its largest difference from PyTorch on a test image (needs "
                    "pip install 'ganpost[onnx]'); .safetensors (or .pth for {'params_ema': ...}) writes a trained "
                    "generator's EMA weights under official key names, loaded back before the command returns.")
    p.add_argument("source", help="model file or known name (for weights: net_g_*.pth from a run)")
    p.add_argument("target", type=Path, nargs="?", help="output file (the older form of -o)")
    p.add_argument("-o", "--output", type=Path, help="output file: .onnx, .safetensors or .pth")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--fp16", action="store_true", default=None, help="ONNX weights and input in half precision")
    p.add_argument("--static", action="store_true", default=None,
                   help="ONNX: fixed batch 1 and fixed --size (default: dynamic batch, height and width)")
    p.add_argument("--size", type=int, default=None,
                   help="with --static: the side in pixels (default: the network's window, else 256)")
    p.set_defaults(run=_export)


def _target(args) -> Path:
    if args.target is not None and args.output is not None and args.target != args.output:
        raise InvalidOptionError(f"two targets: {args.target} and -o {args.output}; give one")
    target = args.output or args.target
    if target is None:
        raise InvalidOptionError("no target: ganpost export MODEL -o FILE.onnx (or FILE.safetensors, FILE.pth)")
    return target


def _export(args) -> int:
    target = _target(args)
    suffix = target.suffix.lower()
    if suffix == ".onnx":
        return _export_onnx(args, target)
    if suffix not in WEIGHTS_SUFFIXES:
        raise InvalidOptionError(f"{target}: the target's suffix picks the format: .onnx, .safetensors or .pth, "
                                 f"not {suffix or 'none'!r}")
    given = [flag for name, flag in ONNX_FLAGS.items() if getattr(args, name) is not None]
    if given:
        raise InvalidOptionError(f"{', '.join(given)} apply to an .onnx target only, not {target.name}")
    from ..training.components.export import export

    path = export(Path(args.source), target)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _export_onnx(args, target: Path) -> int:
    from ..gan_models.onnx_export import DEFAULT_OPSET, export_onnx

    if args.size is not None and not args.static:
        raise InvalidOptionError("--size fixes the exported side: it goes with --static")
    check = export_onnx(args.source, target, opset=args.opset or DEFAULT_OPSET, dynamic=not args.static,
                        fp16=bool(args.fp16), side=args.size)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
    print(check.summary())
    return 0
