"""The reference implementations (spandrel, BasicSR) for parity tests, importable without torchvision.

spandrel imports every architecture at import time, and two of them import torchvision, which
has no CPU build for our torch: helpers/torchvision_stub.py stands in for it.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from helpers.isolated_import import isolated_modules, load_file, stub_basicsr_archs, stub_package
from helpers.torchvision_stub import install_torchvision_stub


def spandrel():
    """The spandrel module; the test fails (not skips) when it is missing, as CI installs it."""
    install_torchvision_stub()
    return importlib.import_module("spandrel")


def spandrel_or_skip():
    try:
        return spandrel()
    except ImportError:
        pytest.skip("spandrel is not installed (pip install --no-deps spandrel==0.4.2)")


def basicsr_rrdbnet():
    """BasicSR's own ``RRDBNet`` class (the official code), loaded from the installed package.

    Importing ``basicsr`` runs its data pipeline imports (cv2, an old torchvision API), so only the
    three files the network needs are executed, under stub parents. Skips if basicsr is absent.
    """
    root = _basicsr_root()
    install_torchvision_stub()
    with isolated_modules("basicsr"):
        stub_basicsr_archs(root)
        return load_file("basicsr.archs.rrdbnet_arch", f"{root}/archs/rrdbnet_arch.py").RRDBNet


def basicsr_discriminator():
    """BasicSR's own ``UNetDiscriminatorSN`` class, loaded like :func:`basicsr_rrdbnet`."""
    root = _basicsr_root()
    with isolated_modules("basicsr"):
        stub_package("basicsr", root)
        stub_package("basicsr.utils", f"{root}/utils")
        stub_package("basicsr.archs", f"{root}/archs")
        load_file("basicsr.utils.registry", f"{root}/utils/registry.py")
        return load_file("basicsr.archs.discriminator_arch", f"{root}/archs/discriminator_arch.py").UNetDiscriminatorSN


def _basicsr_root() -> str:
    spec = importlib.util.find_spec("basicsr")
    if spec is None:
        pytest.skip("basicsr is not installed (pip install --no-deps --no-build-isolation basicsr==1.4.2)")
    return spec.submodule_search_locations[0]
