"""The training front-ends stay what saved workflows and scripts were written against.

Each train node's schema (node id, names, inputs with their types, defaults, bounds, options and
tooltips, outputs) and each ``ganpost train <recipe> --help``'s flags (dest, option strings,
default, choices, type, help) are compared with snapshots taken from the code before the train
nodes and the train CLI were generated from the recipes' declarations. A change here breaks
someone's workflow or script: change the snapshot only on purpose.

    python tests/training/test_front_end_snapshots.py    # rewrites the snapshots (then review the diff)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/ (for helpers) when run as a script
from helpers import fake_comfy  # noqa: E402

SNAPSHOT = Path(__file__).parents[1] / "fixtures" / "training_front_ends.json"
TRAIN_NODES = ("GanpostTrainUpscaleModel", "GanpostTrainFaceModel", "GanpostTrainAuraSR", "GanpostTrainTranslator")
INPUT_FIELDS = ("optional", "tooltip", "default", "min", "max", "step", "options", "multiline", "display_name")


def node_schemas() -> dict:
    import ganpost

    nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
    out = {}
    for node in nodes:
        schema = node.define_schema()
        if schema.node_id not in TRAIN_NODES:
            continue
        out[schema.node_id] = {
            "display_name": schema.display_name, "category": schema.category, "description": schema.description,
            "is_output_node": schema.is_output_node,
            "inputs": [{"id": i.id, "type": i.get_io_type(),
                        **{f: _plain(getattr(i, f)) for f in INPUT_FIELDS if getattr(i, f, None) is not None}}
                       for i in schema.inputs],
            "outputs": [{"type": o.io_type, "display_name": o.display_name, "tooltip": o.tooltip}
                        for o in schema.outputs],
        }
    return out


def train_flags() -> dict:
    from ganpost.cli.main import build_parser

    parser = build_parser()
    train = _subparsers(parser)["train"]
    out = {}
    for name, sub in _subparsers(train).items():
        out[name] = {"description": sub.description, "flags": [
            {"dest": a.dest, "option_strings": a.option_strings, "default": _plain(a.default),
             "choices": _plain(a.choices), "type": getattr(a.type, "__name__", None), "help": a.help,
             "action": type(a).__name__, "required": a.required}
            for a in sub._actions]}  # noqa: SLF001 - argparse has no public list of a parser's options
        out[name]["help"] = next(c.help for c in _choice_actions(train) if c.dest == name)
    return out


def _subparsers(parser) -> dict:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return dict(action.choices)


def _choice_actions(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    return action._choices_actions  # noqa: SLF001


def _plain(value):
    return json.loads(json.dumps(value, default=str))


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    yield
    fake_comfy.forget_modules()


def test_train_node_schemas_unchanged(comfy):
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["nodes"]
    actual = node_schemas()
    assert sorted(actual) == sorted(expected)
    for node_id in expected:
        assert actual[node_id] == expected[node_id], node_id


def test_train_cli_flags_unchanged():
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))["cli"]
    actual = train_flags()
    assert sorted(actual) == sorted(expected)
    for recipe in expected:
        assert actual[recipe] == expected[recipe], recipe


if __name__ == "__main__":  # rewrite the snapshot from the code as it is now
    class _Patch:
        def setitem(self, mapping, key, value):
            mapping[key] = value

    import tempfile

    sys.path.insert(0, str(Path(__file__).parents[3]))
    fake_comfy.install(_Patch(), Path(tempfile.mkdtemp()))
    snapshot = {"nodes": node_schemas(), "cli": train_flags()}
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT}")
