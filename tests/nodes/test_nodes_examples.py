"""Every ``example_workflows/api/*_workflow_api.json`` (the templates' API forms) checked against the node schemas the way ComfyUI's /prompt checks
a workflow before running it (fake ComfyUI from tests/helpers): each node exists, every required input is
given, each link's output type is one the input accepts, and each widget value fits its input (combo
options, int/float bounds). The real-ComfyUI runs are tests/nodes/test_comfy_real.py;
this catches a mistyped link without one (e.g. a GANPOST_MODEL wired into a GANPOST_TRANSLATOR input).
"""

from __future__ import annotations

from helpers.paths import REPO
import asyncio
import importlib.util
import json

import pytest

from helpers import fake_comfy

EXAMPLES = sorted((REPO / "example_workflows" / "api").glob("*_workflow_api.json"))
# The core nodes the examples use: (input name → accepted type), output types.
CORE = {
    "LoadImage": ({"image": "COMBO"}, ["IMAGE", "MASK"]),
    "SaveImage": ({"images": "IMAGE", "filename_prefix": "STRING"}, []),
    "UpscaleModelLoader": ({"model_name": "COMBO"}, ["UPSCALE_MODEL"]),
    "MaskToImage": ({"mask": "MASK"}, ["IMAGE"]),
    "JoinImageWithAlpha": ({"image": "IMAGE", "alpha": "MASK"}, ["IMAGE"]),
    "PreviewImage": ({"images": "IMAGE"}, []),
    "ImageScale": ({"image": "IMAGE", "upscale_method": "COMBO", "width": "INT", "height": "INT", "crop": "COMBO"},
                   ["IMAGE"]),
    "SolidMask": ({"value": "FLOAT", "width": "INT", "height": "INT"}, ["MASK"]),
    "LoadVideo": ({"file": "COMBO"}, ["VIDEO"]),
    "GetVideoComponents": ({"video": "VIDEO"}, ["IMAGE", "AUDIO", "FLOAT"]),
    "CreateVideo": ({"images": "IMAGE", "fps": "FLOAT", "audio": "AUDIO"}, ["VIDEO"]),
    "SaveVideo": ({"video": "VIDEO", "filename_prefix": "STRING", "format": "COMBO", "codec": "COMBO"}, []),
}
FOLDER_COMBOS = {"model_name"}  # their options are the files in a models folder: none here


@pytest.fixture
def schemas(tmp_path, monkeypatch):
    fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    import ganpost

    nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
    yield {schema.node_id: schema for schema in (node.define_schema() for node in nodes)}
    fake_comfy.forget_modules()


def _output_types(class_type: str, schemas) -> list[str]:
    if class_type in CORE:
        return CORE[class_type][1]
    return [output.io_type for output in schemas[class_type].outputs]


def _widget_errors(where: str, spec, value) -> list[str]:
    kind = spec.io_type
    if kind == "COMBO":
        if spec.id not in FOLDER_COMBOS and value not in spec.options:
            return [f"{where}: {value!r} is not one of {spec.options}"]
    elif kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, int if kind == "INT" else (int, float)):
            return [f"{where}: {value!r} is not {kind}"]
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            return [f"{where}: {value} is outside [{spec.min}, {spec.max}]"]
    elif kind == "BOOLEAN" and not isinstance(value, bool):
        return [f"{where}: {value!r} is not a boolean"]
    elif kind == "STRING" and not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    elif kind not in ("COMBO", "INT", "FLOAT", "BOOLEAN", "STRING"):
        return [f"{where}: a {kind} input needs a link, not the value {value!r}"]
    return []


def workflow_errors(workflow: dict, schemas) -> list[str]:
    errors = []
    for node_id, node in workflow.items():
        class_type, given = node["class_type"], node.get("inputs", {})
        if class_type in CORE:
            accepted = {name: [kind] for name, kind in CORE[class_type][0].items()}
            specs, required = {}, set(accepted)
        elif class_type in schemas:
            specs = {spec.id: spec for spec in schemas[class_type].inputs}
            accepted = {name: spec.get_io_type().split(",") for name, spec in specs.items()}
            required = {name for name, spec in specs.items() if not spec.optional}
        else:
            errors.append(f"node {node_id}: unknown class_type {class_type!r}")
            continue
        errors += [f"node {node_id} ({class_type}): required input {name!r} missing"
                   for name in sorted(required - set(given))]
        for name, value in given.items():
            where = f"node {node_id} ({class_type}).{name}"
            if name not in accepted:
                errors.append(f"{where}: no such input")
            elif isinstance(value, list):  # a link: [source node id, output index]
                source = workflow.get(value[0])
                if source is None:
                    errors.append(f"{where}: links to missing node {value[0]}")
                    continue
                outputs = _output_types(source["class_type"], schemas)
                if value[1] >= len(outputs):
                    errors.append(f"{where}: node {value[0]} has no output {value[1]}")
                elif outputs[value[1]] not in accepted[name] and "*" not in accepted[name]:
                    errors.append(f"{where}: receives {outputs[value[1]]} from node {value[0]} "
                                  f"({source['class_type']}), takes {','.join(accepted[name])}")
            elif name in specs:
                errors += _widget_errors(where, specs[name], value)
    return errors


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_workflow_validates_against_the_schemas(schemas, path):
    assert workflow_errors(json.loads(path.read_text()), schemas) == []


def test_the_check_catches_a_translator_wired_as_an_upscale_model(schemas):
    workflow = {"1": {"class_type": "GanpostLoadTranslator", "inputs": {"model_name": "x.pth", "unet_dropout": True}},
                "2": {"class_type": "GanpostLoadUpscaleModel", "inputs": {"model_name": "y.pth"}},
                "3": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
                "4": {"class_type": "GanpostUpscaleImage",
                      "inputs": {"model": ["1", 0], "image": ["3", 0], "tile": 0, "outscale": 0.0,
                                 "precision": "fp64", "alpha_mode": "network"}},
                "5": {"class_type": "GanpostTranslateImage", "inputs": {"translator": ["2", 0], "image": ["3", 0]}}}
    errors = "\n".join(workflow_errors(workflow, schemas))
    assert "(GanpostUpscaleImage).model: receives GANPOST_TRANSLATOR" in errors
    assert "(GanpostTranslateImage).translator: receives GANPOST_MODEL" in errors
    assert "'fp64' is not one of" in errors and "required input 'direction' missing" in errors


def test_the_training_nodes_take_and_give_what_their_loaders_and_users_do(schemas):
    """Each training node's model input is its loader's output type, and its output feeds the node that uses it."""
    pairs = {"GanpostTrainUpscaleModel": ("model", "GanpostLoadUpscaleModel"),
             "GanpostTrainAuraSR": ("model", "GanpostLoadUpscaleModel"),
             "GanpostTrainFaceModel": ("face_model", "GanpostLoadFaceModel"),
             "GanpostTrainTranslator": ("model", "GanpostLoadTranslator")}
    for trainer, (name, loader) in pairs.items():
        loaded = schemas[loader].outputs[0].io_type
        model_input = next(spec for spec in schemas[trainer].inputs if spec.id == name)
        assert model_input.get_io_type() == loaded, trainer
        assert schemas[trainer].outputs[0].io_type == loaded, trainer


def test_the_soak_prompts_validate_and_cover_every_task_node(schemas):
    """bench/comfy_soak.py's prompts (run against a real ComfyUI) pass the same check, and use every node of the
    pack but the training ones and the parser loader (no parser file offline): add a new node to the soak."""
    spec = importlib.util.spec_from_file_location("comfy_soak", REPO / "bench" / "comfy_soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    names = {"upscaler": ["a.pth", "b.safetensors"], "translator": "t.pth", "detector": "d.pth", "face_model": "f.pth"}
    used = set()
    for name, build in soak.build_kinds(names, 64):
        graph = soak.Graph()
        build(graph, {"image": "in.png"}, 7)
        assert workflow_errors(graph.nodes, schemas) == [], name
        used |= {node["class_type"] for node in graph.nodes.values()}
    expected = {n for n in schemas if not n.startswith("GanpostTrain")} - {"GanpostLoadFaceParser"}
    assert expected <= used, f"not in the soak: {sorted(expected - used)}"
    assert soak.TASK_NODES <= used and soak.LOADER_NODES <= used
