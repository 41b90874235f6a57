"""Loaded models live here, keyed by file and modification time: V3 nodes keep no instance state."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from ..gan_models import GanpostError, load_model
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


def load_for_node(model_name: str, path: str | os.PathLike, kind: str) -> ModelDescriptor:
    """:func:`cached_model`, with any failure as a RuntimeError naming the file (ComfyUI shows it as is).

    ``kind`` completes "not <kind> checkpoint" in the message for files no reader could classify.
    """
    try:
        return cached_model(path)
    except GanpostError as err:
        raise RuntimeError(f"ganpost could not load {model_name}: {err}") from err
    except MemoryError:
        raise
    except Exception as err:  # a reader error the core did not classify: still name the file
        raise RuntimeError(
            f"ganpost could not load {model_name} ({path}): {type(err).__name__}: {err}. The file is probably "
            f"corrupt, truncated or not {kind} checkpoint; download it again.") from err
