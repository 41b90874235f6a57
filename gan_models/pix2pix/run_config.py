"""A translator inside a ganpost training run loads as that run trained and validated it.

A U-Net's dropout leaves no trace in its file (it has no weights), so a generator saved without it
would otherwise load with pix2pix's default (on) and translate differently from the run's previews.
The run folder says: ``<run>/config.json`` holds ``generator.dropout`` for every generator the run
writes to ``<run>/models/`` (G, or CycleGAN's G_A and G_B). An explicit ``dropout=`` still wins.
"""

from __future__ import annotations

import json
from pathlib import Path

RUN_MODELS_FOLDER = "models"  # training.engine.run_files: <run>/models/latest_net_G.pth beside <run>/config.json


def dropout_from_run(weights: Path) -> dict:
    """``{"dropout": bool}`` from the config of the run whose models folder holds ``weights``; else nothing."""
    if weights.parent.name != RUN_MODELS_FOLDER:
        return {}
    try:
        config = json.loads((weights.parent.parent / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):  # no run folder, or not one of ours: the file alone decides
        return {}
    generator = config.get("generator") if isinstance(config, dict) else None
    dropout = generator.get("dropout") if isinstance(generator, dict) else None
    return {"dropout": dropout} if isinstance(dropout, bool) else {}
