"""Only a family's own folder knows the family: the rest of ganpost goes through the registry.

Walks every module's syntax tree (``ast``), outside the family folders (``gan_models/<family>/``),
the training recipes (``training/recipes/<recipe>/``: a recipe declares the networks it trains),
the tests and the bench scripts, and reports each module that

* imports a family subpackage or one of its modules (``from ..gan_models.facedetect import …``,
  ``from .gan_models import gfpgan``), or
* names an architecture's class (``RRDBNet``, ``isinstance(m, RetinaFace)``, ``x.UnetUpsampler``), or
* names an architecture in a string (``"RRDBNet"``; docstrings aside).

``registry.py`` is held to the same rule: it finds the families generically.

``KNOWN_VIOLATIONS`` lists what the layering work found in folders being rewritten elsewhere at
the time, each with its reason; the test fails on any violation not listed *and* on any listed one
that is gone, so the list only shrinks. Empty it as those modules move to the registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.paths import REPO
from ganpost.gan_models import registry

PACKAGE = REPO
FAMILIES = {e.family for e in registry.DETECTION_ORDER}
ARCHITECTURES = set(registry.architectures())
CLASS_NAMES = {e.create.__name__ for e in registry.DETECTION_ORDER if isinstance(e.create, type)} | ARCHITECTURES

# (module, what, name) → why it is still allowed. Folders other branches were rewriting when this
# test came in (tasks/, nodes/, cli/, integrations/, training/): reported here, fixed there.
KNOWN_VIOLATIONS: dict = {}  # emptied by issue 17: detection decodes through the contract, recipes build their Ds


def scanned_modules() -> list[Path]:
    skip_roots = {"tests", "bench", "examples", "web", ".venv", "build", "dist"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        parts = rel.parts
        if parts[0] in skip_roots or any(p.startswith(".") for p in parts):
            continue
        if parts[:1] == ("gan_models",) and len(parts) > 2 and parts[1] in FAMILIES:
            continue  # a family's own folder
        if parts[:2] == ("training", "recipes") and len(parts) > 3:
            continue  # a recipe's own folder declares the networks it trains
        found.append(path)
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = ["ganpost", *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module an ``ImportFrom`` reads from."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def family_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["ganpost", "gan_models"] and len(parts) > 2 and parts[2] in FAMILIES:
        return parts[2]
    return None


def docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def violations(path: Path) -> set[tuple[str, str, str]]:
    rel = path.relative_to(PACKAGE).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = docstring_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if family_of(alias.name):
                    found.add((rel, "imports", alias.name))
        elif isinstance(node, ast.ImportFrom):
            source = resolve(node, path)
            if family_of(source):
                found.add((rel, "imports", source))
            elif source == "ganpost.gan_models":
                found |= {(rel, "imports", f"{source}.{a.name}") for a in node.names if a.name in FAMILIES}
            found |= {(rel, "names", a.name) for a in node.names if a.name in CLASS_NAMES}
        elif isinstance(node, ast.Name) and node.id in CLASS_NAMES:
            found.add((rel, "names", node.id))
        elif isinstance(node, ast.Attribute) and node.attr in CLASS_NAMES:
            found.add((rel, "names", node.attr))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ARCHITECTURES
              and id(node) not in docs):
            found.add((rel, "names", node.value))
    return found


def test_the_scan_sees_the_core_and_skips_the_families():
    scanned = {p.relative_to(PACKAGE).as_posix() for p in scanned_modules()}
    assert {"gan_models/registry.py", "gan_models/loader.py", "tasks/detect_faces.py", "runtime/runner.py",
            "__init__.py"} <= scanned
    assert not [p for p in scanned if p.startswith(("gan_models/realesrgan/", "tests/"))]
    # the walker does see a family import and a class name where there is one (a recipe may: it is skipped)
    recipe = PACKAGE / "training" / "recipes" / "realesrgan" / "recipe.py"
    assert {("training/recipes/realesrgan/recipe.py", "imports", "ganpost.gan_models.realesrgan"),
            ("training/recipes/realesrgan/recipe.py", "names", "UNetDiscriminatorSN")} <= violations(recipe)


def test_no_module_outside_a_family_knows_the_family():
    found = set().union(*(violations(p) for p in scanned_modules()))
    new = sorted(found - KNOWN_VIOLATIONS.keys())
    gone = sorted(KNOWN_VIOLATIONS.keys() - found)
    assert not new, ("modules outside the family folders import a family or name an architecture; go through "
                     "the registry (registry.entry_for, the loaded model's descriptor) instead:\n"
                     + "\n".join(map(str, new)))
    assert not gone, "fixed: remove these from KNOWN_VIOLATIONS:\n" + "\n".join(map(str, gone))
    assert not [v for v in found if v[0].startswith("gan_models/")], "gan_models/ itself must stay clean"
