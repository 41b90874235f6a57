"""Every task and loader node's saved-workflow contract, pinned: what a workflow saved today must still load.

A workflow stores each node by ``node_id`` and each widget by input name (API format) or by position
(UI format, which also stores the seed's "control after generate" value), so ids, input names and
order, types, defaults, ranges, combo choices and outputs must not drift when the nodes are
refactored. ``tests/fixtures/node_schemas.json`` was written from the nodes before they were
thinned; regenerate it only for a deliberate contract change:

    GANPOST_UPDATE_NODE_SCHEMAS=1 pytest tests/test_nodes_contract.py

Tooltips and descriptions are not part of the contract (they may be reworded). Combos listing the
files of a models folder (``model_name``) are recorded without their options, which depend on the
folder. Training nodes are pinned by their own test.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from helpers import fake_comfy

FIXTURE = Path(__file__).parent / "fixtures" / "node_schemas.json"
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
