"""Running a reference project's files without its package ``__init__`` (which imports torchvision,
CUDA ops, ...): stub parent packages, load single files, and leave ``sys.modules`` as it was found."""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def stub_package(name: str, path: str | None = None, **attrs) -> types.ModuleType:
    """An empty package ``name`` whose submodules import from ``path``; its ``__init__`` never runs."""
    module = types.ModuleType(name)
    module.__path__ = [path] if path else []
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def load_file(name: str, path: str) -> types.ModuleType:
    """Execute one source file as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # distutils in basicsr's arch_util
        spec.loader.exec_module(module)
    return module


@contextmanager
def isolated_modules(*top_level: str) -> Iterator[None]:
    """Whatever the block puts in ``sys.modules`` under these top-level names is gone afterwards and the
    previous entries are back (a torchvision stub left behind breaks diffusers' find_spec)."""
    def ours(name: str) -> bool:
        return name.split(".")[0] in top_level

    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    try:
        yield
    finally:
        for name in [k for k in sys.modules if ours(k)]:
            del sys.modules[name]
        sys.modules.update(saved)


def stub_basicsr_archs(root: str, **utils_attrs) -> None:
    """Parents enough for BasicSR's arch files: its registry and ``arch_util`` (whose deformable-conv
    import is stubbed: no compiled ops); ``utils_attrs`` join ``basicsr.utils``. Call inside
    :func:`isolated_modules` ("basicsr", ...)."""
    from torch import nn

    stub_package("basicsr", root)
    stub_package("basicsr.utils", f"{root}/utils", get_root_logger=lambda *a, **k: None, **utils_attrs)
    load_file("basicsr.utils.registry", f"{root}/utils/registry.py")
    stub_package("basicsr.ops", f"{root}/ops")
    stub_package("basicsr.ops.dcn", None, ModulatedDeformConvPack=type("ModulatedDeformConvPack", (nn.Module,), {}),
                 modulated_deform_conv=None)
    stub_package("basicsr.archs", f"{root}/archs")
    load_file("basicsr.archs.arch_util", f"{root}/archs/arch_util.py")
