"""The templates in ``example_workflows/`` (UI graphs the templates browser opens) and their API forms.

Each UI file converts (``tools/comfy_workflow.py``, as the frontend's graphToPrompt does) to exactly the
committed ``example_workflows/api/<name>_workflow_api.json`` that the tests and the real-ComfyUI runs use, so
the two describe the same graph; each is a well-formed graph (links agree at both ends, socket types match,
widget values fit the widgets) laid out without overlaps, and has its ``.jpg`` thumbnail. Only templates are
in a folder core lists at /api/workflow_templates (it lists ``examples/`` too: no JSON may live there).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from PIL import Image

from helpers import fake_comfy
from helpers.node_defs import all_defs, comfy_workflow
from helpers.paths import REPO

TEMPLATES = comfy_workflow.templates()
IDS = [p.stem for p in TEMPLATES]
LISTED_FOLDERS = ("example_workflows", "example", "examples", "workflow", "workflows")  # core's list, 0.3.64


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    fake_comfy.install(mp, tmp_path_factory.mktemp("comfy"))
    fake_comfy.forget_modules()
    try:
        import ganpost

        nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
        yield all_defs({s.node_id: s for s in (n.define_schema() for n in nodes)})
    finally:
        fake_comfy.forget_modules()
        mp.undo()


def _ui(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_is_a_template_per_task_and_per_training_node():
    used = {node["type"] for path in TEMPLATES for node in _ui(path)["nodes"]}
    wanted = {"GanpostUpscaleImage", "GanpostRestoreFaces", "GanpostDetectFaces", "GanpostTranslateImage",
              "GanpostTrainUpscaleModel", "GanpostTrainAuraSR", "GanpostTrainFaceModel", "GanpostTrainTranslator"}
    assert wanted <= used, sorted(wanted - used)


def test_the_video_template_restores_a_video_with_smoothing_and_keeps_its_audio_and_fps():
    """Video in ComfyUI is an IMAGE batch: core's Load Video → Get Video Components → Restore Faces with
    smooth_landmarks on → Create Video with the clip's own audio and fps → Save Video."""
    prompt = json.loads(comfy_workflow.api_path(REPO / "example_workflows" / "restore_faces_video.json").read_text())
    by_type = {node["class_type"]: (node_id, node["inputs"]) for node_id, node in prompt.items()}
    parts, _ = by_type["GetVideoComponents"]
    restore_id, restore = by_type["GanpostRestoreFaces"]
    assert restore["image"] == [parts, 0] and restore["smooth_landmarks"] == 1.5
    _, create = by_type["CreateVideo"]
    assert create == {"images": [restore_id, 0], "audio": [parts, 1], "fps": [parts, 2]}
    assert by_type["SaveVideo"][1]["video"] == [by_type["CreateVideo"][0], 0]


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_the_ui_template_and_its_api_form_are_the_same_graph(defs, path):
    api = comfy_workflow.api_path(path)
    assert api.is_file(), f"no API form {api.relative_to(REPO)}: run tools/comfy_workflow.py"
    assert comfy_workflow.ui_to_api(_ui(path), defs) == json.loads(api.read_text()), (
        f"{api.name} differs from {path.name} converted: regenerate it with tools/comfy_workflow.py")


def test_every_api_form_has_its_template():
    forms = {p.name for p in comfy_workflow.API.glob("*.json")}
    assert forms == {comfy_workflow.api_path(p).name for p in TEMPLATES}


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_the_graph_is_well_formed(defs, path):
    ui = _ui(path)
    nodes = {node["id"]: node for node in ui["nodes"]}
    assert len(nodes) == len(ui["nodes"]) and ui["last_node_id"] >= max(nodes)
    assert ui["last_link_id"] >= max((link[0] for link in ui["links"]), default=0)
    for link_id, origin, origin_slot, target, target_slot, kind in ui["links"]:
        out, inp = nodes[origin]["outputs"][origin_slot], nodes[target]["inputs"][target_slot]
        assert link_id in out["links"] and inp["link"] == link_id, (path.name, link_id)
        assert kind == out["type"] and set(kind.split(",")) & set(inp["type"].split(",")), (path.name, link_id)
    for node in ui["nodes"]:
        if node["type"] in comfy_workflow.FRONTEND_ONLY:
            continue
        node_def = defs[node["type"]]
        sockets = comfy_workflow.socket_inputs(node_def)
        listed = [i for i in node["inputs"] if "widget" not in i]
        assert [(i["name"], i["type"]) for i in listed] == [(n, t) for n, t, _ in sockets], node["type"]
        widgets = {name: comfy_workflow.input_type(spec) for name, spec, _ in comfy_workflow.ordered_inputs(node_def)
                   if comfy_workflow.is_widget(spec)}
        for turned in (i for i in node["inputs"] if "widget" in i):  # a widget fed by a link (CreateVideo's fps)
            assert turned["widget"]["name"] == turned["name"] and widgets.get(turned["name"]) == turned["type"], (
                path.name, node["type"], turned["name"])
            assert turned["link"] is not None, (path.name, node["type"], turned["name"], "a socket with no link")
        assert [o["name"] for o in node["outputs"]] == node_def["output_name"], node["type"]
        slots = comfy_workflow.widget_slots(node_def)
        for name, value in zip(slots, node["widgets_values"]):
            spec = next((s for n, s, _ in comfy_workflow.ordered_inputs(node_def) if n == name), None)
            options = spec[1] if spec and len(spec) > 1 else {}
            if name is None:
                assert value in ("fixed", "increment", "decrement", "randomize", "image"), (node["type"], value)
            elif options.get("options"):
                assert value in options["options"], (path.name, node["type"], name, value)
            elif "min" in options:
                assert options["min"] <= value <= options["max"], (path.name, node["type"], name, value)


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_the_template_opens_laid_out(path):
    """Every node has a place and a size, no two overlap, and seeds stay fixed (a template that reruns with a
    new random seed each time would not give its thumbnail's image)."""
    boxes = []
    for node in _ui(path)["nodes"]:
        (x, y), (w, h) = node["pos"], node["size"]
        assert w > 100 and h > 30, (path.name, node["type"])
        for other in boxes:
            assert x >= other[2] or x + w <= other[0] or y >= other[3] or y + h <= other[1], (path.name, node["type"])
        boxes.append((x, y - 30, x + w, y + h))  # the title bar sits above pos
        assert "randomize" not in node.get("widgets_values", []), (path.name, node["type"])


@pytest.mark.parametrize("path", TEMPLATES, ids=IDS)
def test_each_template_has_a_small_jpg_thumbnail(path):
    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"no thumbnail {thumbnail.relative_to(REPO)}: run tools/make_templates.py"
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and max(image.size) <= 512
    assert thumbnail.stat().st_size < 100_000


def test_no_workflow_json_lies_where_core_would_list_it_as_a_template():
    for folder in LISTED_FOLDERS[1:]:
        assert not list((REPO / folder).glob("*.json")), f"{folder}/*.json would show as templates"
