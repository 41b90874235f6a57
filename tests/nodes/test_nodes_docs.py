"""The ComfyUI help pages and registry metadata stay true to the code.

ComfyUI's frontend (1.27, read in its bundle) fetches a custom node's help from
``/extensions/<pack folder>/docs/<node_id>/<locale>.md``, then ``…/docs/<node_id>.md``; the server
serves the pack's ``WEB_DIRECTORY`` at ``/extensions/<pack folder>/``. So every registered node needs
``web/docs/<node_id>.md``, and each page's Inputs/Outputs tables must name exactly the schema's
inputs and outputs, with their types, defaults and ranges. Every input and output has a tooltip, each
example workflow a page links exists (and uses the node), and a packed node carries no tests or benches.
"""

from __future__ import annotations

from helpers.paths import REPO
import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from helpers import fake_comfy

ROOT = REPO
DOCS = ROOT / "web" / "docs"
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")
EXAMPLE_LINK = re.compile(r"\]\([^)]*?/example_workflows/([^)/]+\.json)\)")  # a template (UI graph)


@pytest.fixture(scope="module")
def schemas():
    mp = pytest.MonkeyPatch()
    fake_comfy.install(mp, Path(__import__("tempfile").mkdtemp()))
    fake_comfy.forget_modules()
    try:
        import ganpost

        nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
        yield {schema.node_id: schema for schema in (node.define_schema() for node in nodes)}
    finally:
        fake_comfy.forget_modules()
        mp.undo()


def _cells(row: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _table(page: str, heading: str) -> dict[str, list[str]]:
    """``name → cells`` of the table under ``## heading`` (rows whose first cell is a `code` name)."""
    section = page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if ROW.match(line):
            cells = _cells(line)
            name = cells[0].strip("`")
            assert name not in rows, f"{heading}: {name} listed twice"
            rows[name] = cells[1:]
    return rows


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return '""' if value == "" else str(value)


def _page(node_id: str) -> str:
    path = DOCS / f"{node_id}.md"
    assert path.is_file(), f"no help page {path.relative_to(ROOT)} for {node_id}"
    return path.read_text(encoding="utf-8")


def test_pack_exports_the_web_directory_and_still_imports_without_comfyui():
    import ganpost

    assert (ROOT / ganpost.WEB_DIRECTORY / "docs").is_dir()
    assert not any(m in sys.modules for m in fake_comfy.COMFY_MODULES)


def test_every_registered_node_has_a_page_and_every_page_a_node(schemas):
    for node_id in schemas:
        _page(node_id)
    pages = {p.stem for p in DOCS.glob("*.md")}
    assert pages == set(schemas), f"pages without a node: {sorted(pages - set(schemas))}"


def test_page_tables_match_the_schema(schemas):
    for node_id, schema in schemas.items():
        page = _page(node_id)
        assert page.startswith(f"# {schema.display_name}\n"), node_id
        inputs = _table(page, "Inputs")
        assert list(inputs) == [i.id for i in schema.inputs], f"{node_id}: inputs on the page differ from the schema"
        for spec in schema.inputs:
            kind, default, limits = inputs[spec.id][:3]
            assert kind.split(" (")[0].split(" or ") == spec.get_io_type().split(","), (node_id, spec.id, kind)
            assert ("(optional)" in kind) == bool(spec.optional), (node_id, spec.id, "optional")
            value = getattr(spec, "default", None)
            assert default == ("—" if value is None else f"`{_fmt(value)}`"), (node_id, spec.id, default)
            if spec.io_type == "COMBO" and spec.options:
                assert limits == " / ".join(f"`{o}`" for o in spec.options), (node_id, spec.id, limits)
            elif getattr(spec, "min", None) is not None:
                assert limits == f"{_fmt(spec.min)} – {_fmt(spec.max)}", (node_id, spec.id, limits)
        outputs = _table(page, "Outputs")
        assert list(outputs) == [o.display_name for o in schema.outputs], f"{node_id}: outputs differ"
        for out in schema.outputs:
            assert outputs[out.display_name][0] == out.io_type, (node_id, out.display_name)


def test_tips_name_only_real_inputs_and_outputs(schemas):
    """A renamed input cannot survive in the tables (above) nor in the tips: every `snake_case` name
    the tips quote is an input or output of a ganpost node (tips may point at another node's input)."""
    names = {i.id for s in schemas.values() for i in s.inputs} | {o.display_name for s in schemas.values()
                                                                  for o in s.outputs}
    for node_id in schemas:
        tips = _page(node_id).split("\n## Tips\n", 1)[1].split("\n## ", 1)[0]
        for word in re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", tips):
            assert word in names, f"{node_id}: the tips name `{word}`, which no node has as input or output"


def test_every_input_and_output_has_a_tooltip(schemas):
    missing = [f"{node_id}.{spec.id}" for node_id, s in schemas.items() for spec in s.inputs if not spec.tooltip]
    missing += [f"{node_id} → {o.display_name}" for node_id, s in schemas.items() for o in s.outputs if not o.tooltip]
    assert not missing, f"no tooltip: {missing}"


def test_every_linked_example_exists_and_uses_the_node(schemas):
    for node_id in schemas:
        for name in EXAMPLE_LINK.findall(_page(node_id)):
            path = ROOT / "example_workflows" / name
            assert path.is_file(), f"{node_id}: links example_workflows/{name}, which does not exist"
            used = {node["type"] for node in json.loads(path.read_text())["nodes"]}
            assert node_id in used, f"{node_id}: links example_workflows/{name}, which does not use it"


def test_every_example_is_linked_from_the_pages_of_the_nodes_it_uses(schemas):
    for path in sorted((ROOT / "example_workflows").glob("*.json")):
        for class_type in {node["type"] for node in json.loads(path.read_text())["nodes"]} & set(schemas):
            assert path.name in EXAMPLE_LINK.findall(_page(class_type)), f"{class_type}'s page omits {path.name}"


def test_comfyignore_keeps_tests_benches_and_lab_out_of_the_pack():
    patterns = {line.strip().strip("/") for line in (ROOT / ".comfyignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for folder in ("tests", "bench", "lab", ".ci", "tools"):
        assert folder in patterns, f".comfyignore does not exclude {folder}/"
    for kept in ("web", "nodes", "gan_models", "examples", "example_workflows"):
        assert kept not in patterns, f".comfyignore would drop {kept}/, which the pack needs"


def test_registry_metadata_is_complete():
    """The fields `comfy node validate` reads (.ci/run runs comfy-cli itself too)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, comfy = config["project"], config["tool"]["comfy"]
    for word in ("Real-ESRGAN", "AuraSR", "GFPGAN", "pix2pix", "CycleGAN"):
        assert word in project["description"], word
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["requires-comfyui"].startswith(">=")
    assert project["version"] and project["license"], "comfy node validate refuses an empty version"
    for key in ("Homepage", "Documentation", "Repository", "Issues"):  # the registry page's links
        assert project["urls"][key].startswith("https://github.com/ganpost/ganpost"), key
    icon = comfy["Icon"]
    assert icon.startswith("https://raw.githubusercontent.com/"), icon
    assert (ROOT / icon.split("/main/", 1)[1]).is_file(), f"{icon} is not a file in the repository"
    allowed_os = ("Operating System :: OS Independent", "Operating System :: Microsoft", "Operating System :: POSIX",
                  "Operating System :: MacOS")
    allowed_env = {f"Environment :: {a}" for a in ("GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc",
                                                  "NPU :: Huawei Ascend", "GPU :: Apple Metal")}
    for classifier in project["classifiers"]:
        if classifier.startswith("Operating System"):
            assert classifier.startswith(allowed_os), classifier
        elif classifier.startswith("Environment"):
            assert classifier in allowed_env, classifier
