"""Loaded models live here, keyed by file and modification time: V3 nodes keep no instance state.

ComfyUI keeps a loader's output only while consecutive prompts use it, so this cache is what
spares a session that switches between workflows a reload (and a new working copy) per prompt.
It is bounded by memory, not by a count alone: the models a session uses stay loaded while they
(with their CPU working copies) fit in a quarter of the machine's RAM, least recently used going
first beyond that. Under the former 4-file limit, a soak in a real ComfyUI cycling through five
small models (bench/comfy_soak.py, bench/SOAK.md) loaded every one of them again in every cycle:
our loaders took 12.0 s of a 101 s run (0.8 s with this cache), and the server's RSS grew 56 MiB
after the first cycle (31 MiB with it, all before cycle 5: flat within 1.2 MiB from there on).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from ..gan_models import load_model
from ..gan_models.contract import ModelDescriptor

MAX_CACHED = 16  # files, whatever their size
RAM_SHARE = 0.25  # of physical memory, for the cached models and their working copies
FALLBACK_BUDGET = 2 << 30  # bytes, where physical memory cannot be read
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
    for stale in [k for k in _CACHE if k[0] == key[0]]:  # an older version of the same file
        del _CACHE[stale]
    model = load_model(path, download=False)
    _CACHE[key] = model
    budget = budget_bytes()
    while len(_CACHE) > 1 and (len(_CACHE) > MAX_CACHED or sum(map(resident_bytes, _CACHE.values())) > budget):
        _CACHE.popitem(last=False)  # the model just loaded always stays
    return model


def clear() -> None:
    _CACHE.clear()


def budget_bytes() -> int:
    """:data:`RAM_SHARE` of physical memory (psutil where ``sysconf`` has no answer, e.g. Windows)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        try:
            import psutil  # a ComfyUI requirement

            total = psutil.virtual_memory().total
        except (ImportError, OSError, AttributeError):
            return FALLBACK_BUDGET
    return int(total * RAM_SHARE) if total > 0 else FALLBACK_BUDGET


def resident_bytes(model: ModelDescriptor) -> int:
    """Bytes held by the model's tensors and its cached working copies (shared storage counted once)."""
    seen, total = set(), 0
    for module in (model.module, *model.working_copies.values()):
        for tensor in (*module.parameters(), *module.buffers()):
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total

