"""Loaded models live here, keyed by file and modification time: V3 nodes keep no instance state."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.contract import ModelDescriptor

MAX_CACHED = 4
_CACHE: OrderedDict[tuple[str, float], ModelDescriptor] = OrderedDict()


def file_key(path: str | os.PathLike) -> tuple[str, float]:
    """(resolved path, mtime): a replaced or re-saved file gets a new key and is loaded again."""
    return str(Path(path).resolve()), os.path.getmtime(path)


def cached_model(path: str | os.PathLike) -> ModelDescriptor:
    """The descriptor for ``path``, loaded once per (file, mtime); least recently used entries go first."""
    key = file_key(path)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model = load_model(path, download=False)
    for stale in [k for k in _CACHE if k[0] == key[0]]:  # an older version of the same file
        del _CACHE[stale]
    while len(_CACHE) >= MAX_CACHED:
        _CACHE.popitem(last=False)
    _CACHE[key] = model
    return model


def clear() -> None:
    _CACHE.clear()
