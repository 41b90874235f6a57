"""Loaded models live here, keyed by file and modification time: V3 nodes keep no instance state."""

from __future__ import annotations

import os
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.descriptor import ModelDescriptor

_CACHE: dict[tuple[str, float], ModelDescriptor] = {}
MAX_CACHED = 4


def cached_model(path: str | os.PathLike) -> ModelDescriptor:
    key = (str(Path(path).resolve()), os.path.getmtime(path))
    if key not in _CACHE:
        if len(_CACHE) >= MAX_CACHED:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load_model(path, download=False)
    return _CACHE[key]
