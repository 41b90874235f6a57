"""Export a trained generator as a flat safetensors file (the EMA weights, official key names).

    python -m ganpost.training.export runs/x/models/net_g_latest.pth my-model.safetensors

The result loads in ganpost, spandrel / ComfyUI core and anything that reads a bare state dict;
it is checked by loading it back before the command returns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..gan_models.checkpoint_io import read_checkpoint, save_state_dict, unwrap_state_dict
from ..gan_models.loader import load_model


def export(source: str | Path, target: str | Path) -> Path:
    state = unwrap_state_dict(read_checkpoint(source))  # params_ema preferred
    path = save_state_dict(target, {"params_ema": state})
    load_model(path)  # refuse to hand over a file our own loader cannot read
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganpost.training.export", description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="net_g_*.pth from a run")
    parser.add_argument("target", type=Path, help="output .safetensors (or .pth for {'params_ema': ...})")
    args = parser.parse_args(argv)
    path = export(args.source, args.target)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
