"""The reference implementations (spandrel, BasicSR) for parity tests, importable without torchvision.

spandrel imports every architecture at import time, and two of them import torchvision, which
has no CPU build for our torch: helpers/torchvision_stub.py stands in for it.
"""

from __future__ import annotations

import importlib
import sys
import types

import pytest
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
    import importlib.util
    import warnings

    from torch import nn

    spec = importlib.util.find_spec("basicsr")
    if spec is None:
        pytest.skip("basicsr is not installed (pip install --no-deps --no-build-isolation basicsr==1.4.2)")
    install_torchvision_stub()
    root = spec.submodule_search_locations[0]

    def package(name: str, path: str | None = None, **attrs) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__path__ = [path] if path else []
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    def load_file(name: str, relative: str) -> types.ModuleType:
        file_spec = importlib.util.spec_from_file_location(name, f"{root}/{relative}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # distutils in arch_util
            file_spec.loader.exec_module(module)
        return module

    saved = {k: v for k, v in sys.modules.items() if k == "basicsr" or k.startswith("basicsr.")}
    try:
        package("basicsr", root)
        package("basicsr.utils", f"{root}/utils", get_root_logger=lambda *a, **k: None)
        load_file("basicsr.utils.registry", "utils/registry.py")
        package("basicsr.ops", f"{root}/ops")
        package("basicsr.ops.dcn", None, ModulatedDeformConvPack=type("ModulatedDeformConvPack", (nn.Module,), {}),
                modulated_deform_conv=None)
        package("basicsr.archs", f"{root}/archs")
        load_file("basicsr.archs.arch_util", "archs/arch_util.py")
        return load_file("basicsr.archs.rrdbnet_arch", "archs/rrdbnet_arch.py").RRDBNet
    finally:
        for name in [k for k in sys.modules if k == "basicsr" or k.startswith("basicsr.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def basicsr_discriminator():
    """BasicSR's own ``UNetDiscriminatorSN`` class, loaded like :func:`basicsr_rrdbnet`."""
    import importlib.util

    spec = importlib.util.find_spec("basicsr")
    if spec is None:
        pytest.skip("basicsr is not installed (pip install --no-deps --no-build-isolation basicsr==1.4.2)")
    root = spec.submodule_search_locations[0]
    saved = {k: v for k, v in sys.modules.items() if k == "basicsr" or k.startswith("basicsr.")}
    try:
        for name, path in (("basicsr", root), ("basicsr.utils", f"{root}/utils"), ("basicsr.archs", f"{root}/archs")):
            module = types.ModuleType(name)
            module.__path__ = [path]
            sys.modules[name] = module
        for name, relative in (("basicsr.utils.registry", "utils/registry.py"),
                               ("basicsr.archs.discriminator_arch", "archs/discriminator_arch.py")):
            file_spec = importlib.util.spec_from_file_location(name, f"{root}/{relative}")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[name] = module
            file_spec.loader.exec_module(module)
        return sys.modules["basicsr.archs.discriminator_arch"].UNetDiscriminatorSN
    finally:
        for name in [k for k in sys.modules if k == "basicsr" or k.startswith("basicsr.")]:
            del sys.modules[name]
        sys.modules.update(saved)
