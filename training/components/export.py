"""Export a trained generator as a flat file (the EMA weights, official key names): ``ganpost export``.

The result loads in ganpost, spandrel / ComfyUI core and anything that reads a bare state dict;
it is checked by loading it back before it is handed over.
"""

from __future__ import annotations

from pathlib import Path

from ...gan_models.checkpoint_io import read_checkpoint, save_state_dict, unwrap_state_dict
from ...gan_models.loader import load_model


def export(source: str | Path, target: str | Path) -> Path:
    state = unwrap_state_dict(read_checkpoint(source))  # params_ema preferred
    path = save_state_dict(target, {"params_ema": state})
    load_model(path)  # refuse to hand over a file our own loader cannot read
    return path
