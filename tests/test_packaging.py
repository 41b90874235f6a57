"""Every package folder ships: pyproject lists packages by hand (the repo root is the package)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "bench", "examples", "lab", "build", "dist"}


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"ganpost"}
    for init in ROOT.rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if parts and parts[0] not in NOT_SHIPPED and not parts[0].startswith("."):
            found.add(".".join(("ganpost", *parts)))
    assert found == listed, f"missing: {sorted(found - listed)}; stale: {sorted(listed - found)}"


def test_the_root_imports_as_a_lone_module_as_pytest_does_in_a_hyphenated_checkout():
    """pytest imports the root ``__init__.py`` to look for setup_module; in a checkout whose folder is
    no Python name (``ganpost-main`` from a zip) it does so as a module named ``__init__`` with no
    package, and a relative import there failed every test of the suite."""
    import importlib.util

    root = Path(__file__).resolve().parents[1] / "__init__.py"
    spec = importlib.util.spec_from_file_location("__init__", root)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.WEB_DIRECTORY == "./web"
