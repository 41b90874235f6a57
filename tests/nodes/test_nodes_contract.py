"""Every task and loader node's saved-workflow contract, pinned: what a workflow saved today must still load.

A workflow stores each node by ``node_id`` and each widget by input name (API format) or by position
(UI format, which also stores the seed's "control after generate" value), so ids, input names and
order, types, defaults, ranges, combo choices and outputs must not drift when the nodes are
refactored. ``tests/fixtures/node_schemas.json`` was written from the nodes before they were
thinned; regenerate it only for a deliberate contract change:

    GANPOST_UPDATE_NODE_SCHEMAS=1 pytest tests/nodes/test_nodes_contract.py

Tooltips and descriptions are not part of the contract (they may be reworded). Combos listing the
files of a models folder (``model_name``) are recorded without their options, which depend on the
folder. Training nodes are pinned by their own test.
"""

from __future__ import annotations

from helpers.paths import REPO, FIXTURES
import asyncio
import json
import os

import pytest

from helpers import fake_comfy

FIXTURE = FIXTURES / "node_schemas.json"
FOLDER_COMBOS = {"model_name"}
INPUT_FIELDS = ("default", "min", "max", "step", "round", "control_after_generate", "multiline", "display_mode")
SCHEMA_FLAGS = ("is_output_node", "is_input_list", "is_deprecated", "is_experimental", "not_idempotent")


def node_contract(schema) -> dict:
    inputs = []
    for spec in schema.inputs:
        entry = {"name": spec.id, "type": spec.get_io_type(), "optional": bool(spec.optional)}
        entry |= {field: getattr(spec, field) for field in INPUT_FIELDS if getattr(spec, field, None) is not None}
        if spec.io_type == "COMBO":
            entry["options"] = None if spec.id in FOLDER_COMBOS else list(spec.options)
        inputs.append(entry)
    return {
        "display_name": schema.display_name,
        "category": schema.category,
        **{flag: getattr(schema, flag) for flag in SCHEMA_FLAGS if getattr(schema, flag)},
        "inputs": inputs,
        "outputs": [{"type": o.io_type, "display_name": o.display_name} for o in schema.outputs],
    }


def pack_contract(nodes) -> dict:
    schemas = [node.define_schema() for node in nodes]
    return {s.node_id: node_contract(s) for s in schemas if not s.node_id.startswith("GanpostTrain")}


@pytest.fixture
def nodes(tmp_path, monkeypatch):
    fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    import ganpost

    yield asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
    fake_comfy.forget_modules()


def test_node_contract_is_unchanged(nodes):
    current = pack_contract(nodes)
    if os.environ.get("GANPOST_UPDATE_NODE_SCHEMAS"):
        FIXTURE.write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    pinned = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert list(current) == list(pinned), "node ids (or their order in the extension) changed"
    for node_id, contract in pinned.items():
        # compared as JSON text too: 0 and 0.0 are equal in Python but not the same widget default
        assert current[node_id] == contract, node_id
        assert json.dumps(current[node_id]) == json.dumps(contract), node_id


def test_the_snapshot_covers_every_task_and_loader_node():
    pinned = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert set(pinned) == {"GanpostLoadUpscaleModel", "GanpostUpscaleImage", "GanpostLoadFaceModel",
                           "GanpostLoadFaceDetector", "GanpostRestoreFaces", "GanpostDetectFaces",
                           "GanpostLoadFaceParser", "GanpostLoadTranslator", "GanpostTranslateImage"}


# ------------------------------------------------------------------------------ inputs from the task declarations
TASK_NODES = ("GanpostUpscaleImage", "GanpostRestoreFaces", "GanpostTranslateImage", "GanpostDetectFaces")
IO_TYPES = {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}


@pytest.fixture
def node_classes(nodes):
    return {node.define_schema().node_id: node for node in nodes}


def _disagreements(option, spec) -> list[str]:
    """How an input differs from the option it sets as declared (type, choices, default, declared bounds)."""
    wrong = []
    if option.choices:
        if spec.io_type != "COMBO" or list(spec.options) != list(option.choices):
            wrong.append(f"choices {getattr(spec, 'options', None)} ≠ {list(option.choices)}")
    elif spec.io_type != IO_TYPES[option.type]:
        wrong.append(f"type {spec.io_type} ≠ {IO_TYPES[option.type]}")
    if spec.default != option.default:
        wrong.append(f"default {spec.default!r} ≠ {option.default!r}")
    for bound, declared in (("min", option.minimum), ("max", option.maximum)):
        if declared is not None and getattr(spec, bound, None) != declared:  # undeclared: the widget's own limit
            wrong.append(f"{bound} {getattr(spec, bound, None)} ≠ {declared}")
    return wrong


@pytest.mark.parametrize("node_id", TASK_NODES)
def test_node_inputs_agree_with_their_task_options(node_classes, node_id):
    """Every task option offered to nodes is an input matching its declaration, or an input with a declared
    encoding (and its reason), or left out with a reason; nothing else is declared."""
    from ganpost.gan_models.options import NODE

    node = node_classes[node_id]
    widgets, inputs = node.WIDGETS, {spec.id: spec for spec in node.define_schema().inputs}
    offered = {option.name for option in widgets.options.offered_to(NODE)}
    assert offered == set(widgets.widgets) | set(widgets.left_out), (
        f"{node_id}: task options neither shown nor left out: {sorted(offered - set(widgets.widgets))}; "
        f"shown or left out but not offered: {sorted((set(widgets.widgets) | set(widgets.left_out)) - offered)}")
    assert not set(widgets.widgets) & set(widgets.left_out)
    assert all(reason.strip() for reason in widgets.left_out.values())
    assert set(widgets.encodings) <= set(widgets.widgets)
    for name in widgets.widgets:
        assert name in inputs, f"{node_id}: no input for {name}"
        if name in widgets.encodings:
            assert widgets.encodings[name].reason.strip(), f"{node_id}.{name}: an encoding without its reason"
        else:
            assert _disagreements(widgets.options[name], inputs[name]) == [], f"{node_id}.{name}"
        assert inputs[name].tooltip, f"{node_id}.{name}"
    for name in widgets.left_out:
        assert name not in inputs, f"{node_id}: {name} is listed as left out but is an input"


def test_the_encodings_turn_widget_values_into_the_tasks(node_classes):
    upscale = node_classes["GanpostUpscaleImage"].WIDGETS
    assert upscale.to_task({"tile": 0, "outscale": 0.0, "precision": "auto", "alpha_mode": "network"}) == {
        "tile": "auto", "outscale": None, "precision": "auto", "alpha_mode": "network", "seed": 0}
    assert upscale.to_task({"tile": 64, "outscale": 1.5, "precision": "fp32", "alpha_mode": "resize", "seed": 9}) == {
        "tile": 64, "outscale": 1.5, "precision": "fp32", "alpha_mode": "resize", "seed": 9}
    faces = node_classes["GanpostRestoreFaces"].WIDGETS.to_task({"max_faces": 0, "seed": 0, "face_index": ""})
    assert faces["max_faces"] is None and faces["seed"] is None and faces["face_index"] is None
    assert faces["smooth_landmarks"] == 0.0 and faces["upscale_large_faces"] is False  # saved before they existed
    translate = node_classes["GanpostTranslateImage"].WIDGETS.to_task({"test_time": "model default"})
    assert translate["test_time"] is None and translate["train_size"] == 256
    with pytest.raises(TypeError, match="unexpected node input: tiel"):
        upscale.to_task({"tiel": 64})


def test_one_seed_limit_declared_once(nodes):
    from ganpost.nodes import constants
    from ganpost.tasks.shared_options import SEED

    pinned = json.loads(FIXTURE.read_text(encoding="utf-8"))
    seed_max = {node: next(i["max"] for i in c["inputs"] if i["name"] == "seed") for node, c in pinned.items()
                if any(i["name"] == "seed" for i in c["inputs"])}
    assert constants.MAX_SEED == SEED.maximum == seed_max["GanpostUpscaleImage"] == 2**64 - 1
    # the two nodes that shipped with a signed cap keep it: saved workflows hold it
    assert seed_max["GanpostRestoreFaces"] == seed_max["GanpostTranslateImage"] == constants.SIGNED_MAX_SEED


# ------------------------------------------------------------------------------ family forward options
FIDELITY_SEEN = []


@pytest.fixture
def toy_fidelity(monkeypatch):
    """A family of each node's task declares a ``fidelity`` forward option on its registry entry, as a CodeFormer
    entry would (with the entry's task, which the front-ends list a task's forward options by)."""
    import dataclasses

    from ganpost.gan_models import registry
    from ganpost.gan_models.contract import Task
    from ganpost.gan_models.options import Option

    option = Option("fidelity", float, 0.5, "toy: how close to the input", minimum=0.0, maximum=1.0)
    tasks = {"SRVGGNetCompact": Task.UPSCALE, "GFPGANv1Clean": Task.FACE_RESTORE, "ResnetGenerator": Task.TRANSLATE}

    def toy(entry):
        if entry.architecture in tasks:
            return dataclasses.replace(entry, task=tasks[entry.architecture], forward_options=(option,))
        # a real family's own ``fidelity`` (CodeFormer's) would be listed first: the toy is the only one here
        return dataclasses.replace(entry, forward_options=tuple(
            o for o in entry.forward_options if o.name != "fidelity"))

    monkeypatch.setattr(registry, "DETECTION_ORDER", tuple(toy(entry) for entry in registry.DETECTION_ORDER))
    return option


@pytest.mark.parametrize("node_id", ["GanpostUpscaleImage", "GanpostRestoreFaces", "GanpostTranslateImage"])
def test_a_family_forward_option_becomes_an_optional_input(node_classes, toy_fidelity, node_id):
    contract = pack_contract(node_classes.values())[node_id]  # made when define_schema is called: toy included
    inputs = {spec.id: spec for spec in node_classes[node_id].define_schema().inputs}
    spec = inputs["fidelity"]
    assert spec.optional and spec.io_type == "FLOAT" and (spec.default, spec.min, spec.max) == (0.5, 0.0, 1.0)
    assert spec.tooltip == toy_fidelity.help
    assert [i["name"] for i in contract["inputs"]][-1] == "fidelity"  # added last: saved widgets keep their places


def test_a_forward_option_reaches_the_network(node_classes, toy_fidelity, tmp_path):
    import dataclasses

    import torch

    from helpers.models import save_official, tiny_compact
    from ganpost import load_model

    class Recording(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, fidelity):
            FIDELITY_SEEN.append(fidelity)  # a module-level list: the runner works on copies of the module
            return self.inner(x)

    loaded = load_model(save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth"))
    contract = dataclasses.replace(loaded.contract, forward_options=(toy_fidelity,), call_options=("fidelity",))
    model = dataclasses.replace(loaded, contract=contract, module=Recording(loaded.module), working_copies={})
    node = node_classes["GanpostUpscaleImage"]
    widgets = dict(tile=0, outscale=0.0, precision="fp32", alpha_mode="network")
    FIDELITY_SEEN.clear()
    image, _ = node.execute(model=model, image=torch.rand(1, 8, 8, 3), fidelity=0.25, **widgets)
    assert image.shape == (1, 16, 16, 3) and FIDELITY_SEEN == [0.25]
    FIDELITY_SEEN.clear()
    node.execute(model=model, image=torch.rand(1, 8, 8, 3), **widgets)  # not given: the family's default
    assert FIDELITY_SEEN == [0.5]
    with pytest.raises(RuntimeError, match="fidelity must be a number from 0 to 1, not 2"):  # the task's check
        node.execute(model=model, image=torch.rand(1, 8, 8, 3), fidelity=2.0, **widgets)


# ------------------------------------------------------------------------------ one table, one wrapper
def test_loaders_and_folders_come_from_the_one_table(node_classes):
    from ganpost.gan_models.contract import Task
    from ganpost.nodes import model_folders
    from ganpost.tasks.wrong_model import PLACES

    assert set(PLACES) == set(Task)
    loaders = {node.task: node.define_schema() for node in node_classes.values() if hasattr(node, "task")}
    assert set(loaders) == {task for task, place in PLACES.items() if place.loader}
    for task, schema in loaders.items():
        assert schema.display_name == PLACES[task].loader
        assert f"models/{PLACES[task].folder}" in schema.description
    assert model_folders.FACE_MODELS == PLACES[Task.FACE_RESTORE].folder == "facerestore_models"


def test_task_messages_name_the_nodes_inputs(nodes):
    from ganpost.gan_models.errors import InvalidOptionError
    from ganpost.nodes.run import node_error

    terms = {"model_b": "translator_b", "model": "translator"}
    err = node_error("g", InvalidOptionError("direction BtoA needs model_b, the B→A generator"), terms)
    assert str(err) == "ganpost (g): direction BtoA needs translator_b, the B→A generator"
    err = node_error("g", InvalidOptionError("model='a' is an upscaler, not a translator; pass it as model=."), terms)
    assert str(err) == "ganpost (g): translator 'a' is an upscaler, not a translator; pass it as translator."
    assert str(node_error("g", InvalidOptionError("seed None is the model's default"), terms)).endswith(
        "the model's default")


def test_no_node_module_imports_anothers_private_names():
    import ast

    folder = REPO / "nodes"
    for path in folder.glob("*.py"):
        if path.name.startswith("train_"):
            continue  # the training nodes are pinned by their own tests
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from .{node.module}"
