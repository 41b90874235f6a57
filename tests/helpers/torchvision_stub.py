"""Stub ``torchvision`` modules, so spandrel (and BasicSR's network files) import without it.

spandrel 0.4.2 imports every architecture at import time; two of them (LaMa, RestoreFormer)
import torchvision, which has no CPU build for our torch. The ESRGAN and Compact code paths never
touch it, so three stub modules are enough to import spandrel and run those for real. Used by the
parity tests (tests/reference.py) and the benchmarks (bench/); no pytest here, so the benchmarks
run where pytest is not installed.
"""

from __future__ import annotations

import enum
import importlib
import sys
import types


def _unavailable(*_args, **_kwargs):
    raise NotImplementedError("torchvision stub: only spandrel's LaMa/RestoreFormer need torchvision")


def install_torchvision_stub() -> None:
    """Put stub ``torchvision`` modules in ``sys.modules`` unless a working torchvision imports."""
    if "torchvision" in sys.modules:
        return
    try:
        importlib.import_module("torchvision")
        return
    except Exception:  # missing, or a build that does not match the installed torch (e.g. CUDA build on CPU torch)
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]

    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = enum.Enum(
        "InterpolationMode", "NEAREST NEAREST_EXACT BILINEAR BICUBIC BOX HAMMING LANCZOS"
    )
    functional.rotate = functional.normalize = _unavailable
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    sys.modules.update({
        "torchvision": torchvision,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    })


def import_spandrel():
    """The ``spandrel`` module (raises ImportError if spandrel itself is not installed)."""
    install_torchvision_stub()
    return importlib.import_module("spandrel")
