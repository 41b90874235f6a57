"""``ganpost models``: the models known by name and whether they are already on disk."""

from __future__ import annotations

from pathlib import Path

from ..gan_models.catalogue import BUILTIN_DESCRIPTIONS, BUILTIN_MODELS, KNOWN_MODELS, default_models_dirs


def add_models_parser(sub) -> None:
    models = sub.add_parser("models", help="list the official models known by name")
    models.add_argument("--models-dir", type=Path)
    models.set_defaults(run=run_models)


def run_models(args) -> int:
    folders = default_models_dirs(args.models_dir)
    for name, path in BUILTIN_MODELS.items():
        print(f"{name:32} {'built-in' if path.is_file() else 'missing':9} {BUILTIN_DESCRIPTIONS[name]}")
    for m in KNOWN_MODELS.values():
        present = next((d / m.filename for d in folders if (d / m.filename).is_file()), None)
        unchecked = "" if m.sha256 else " (no published checksum)"
        print(f"{m.name:32} {'found' if present else 'download':9} {m.description}{unchecked}")
    print(f"\nmodels folder: {folders[0]} (set GANPOST_MODELS_DIR or --models-dir to change)")
    return 0
