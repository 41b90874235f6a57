"""A training node's run_name can only name a folder inside output/ganpost_training and a model file inside the
model folder, for all four training nodes (fake ComfyUI from tests/helpers)."""

from __future__ import annotations

import importlib
import types

import pytest
import torch

from helpers.models import tiny_compact
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.gan_models.loader import describe_state_dict
from helpers import fake_comfy

NODES = ("GanpostTrainUpscaleModel", "GanpostTrainAuraSR", "GanpostTrainFaceModel", "GanpostTrainTranslator")
REFUSED = {
    "": "is empty", "   ": "is empty", ".": "only dots", "..": "only dots", " .. ": "only dots", "...": "only dots",
    "../escape": "is a path", "a/b": "is a path", "a\\b": "is a path", "/tmp/run": "is a path",
    "C:\\runs\\x": "is a path", ".hidden": "starts with a dot", "run.": "ends with a dot",
    "x" * 101: "101 characters", "CON": "reserves", "nul": "reserves", "Com1.final": "reserves", "lpt9": "reserves",
}


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.folder_paths.folder_names_and_paths["facerestore_models"] = ([str(tmp_path / "models/faces")], {".pth"})
    state.names = importlib.import_module("ganpost.nodes.train_run_names")
    yield state
    fake_comfy.forget_modules()


def _node(name):
    return getattr(importlib.import_module("ganpost.nodes.train_nodes"), name)


def _execute(name, run_name):
    """Each node with inputs that pass its own checks, so only the run_name can stop it."""
    face = Task.FACE_RESTORE
    upscaler = describe_state_dict(tiny_compact().state_dict())
    common = dict(steps=2, learning_rate=1e-4, batch_size=1, seed=0, run_name=run_name, resume=True)
    args = {
        "GanpostTrainUpscaleModel": dict(model=upscaler, image_folder="photos", recipe="l1 (fast, RealESRNet-style)",
                            degradation="bicubic", crop_size=32),
        "GanpostTrainAuraSR": dict(model=types.SimpleNamespace(architecture="UnetUpsampler"), image_folder="photos",
                                   warmup_steps=0, losses=None, degradation="bicubic", crop_size=64),
        "GanpostTrainFaceModel": dict(face_model=types.SimpleNamespace(contract=types.SimpleNamespace(task=face)),
                                 detector=None, image_folder="photos", train="all", warmup_steps=0),
        "GanpostTrainTranslator": dict(recipe="pix2pix (two folders, pairs by file name)", folder_a="A", folder_b="B",
                                      direction="AtoB", crop_size=32),
    }[name]
    with torch.inference_mode():
        return _node(name).execute(**args, **common)


@pytest.mark.parametrize("name", list(NODES))
def test_every_training_node_refuses_a_name_that_leaves_its_folder_before_any_work(comfy, tmp_path, name):
    for run_name in ("..", "."):
        with pytest.raises(InvalidOptionError, match=rf"run_name '{run_name}' is only dots.*ganpost_finetune"):
            _execute(name, run_name)
    assert not (tmp_path / "output").exists()  # no log, state or model written anywhere
    assert not any(p.is_file() for p in (tmp_path / "models").rglob("*"))


@pytest.mark.parametrize("run_name, problem", list(REFUSED.items()))
def test_refused_names_say_which_input_what_is_wrong_and_the_fix(comfy, run_name, problem):
    with pytest.raises(InvalidOptionError, match="run_name") as err:
        comfy.names.checked_run_name(run_name)
    assert problem in str(err.value) and "use a plain name such as ganpost_finetune" in str(err.value)


@pytest.mark.parametrize("name", list(NODES))
def test_the_default_names_of_saved_workflows_keep_their_folders(comfy, tmp_path, name):
    schema = _node(name).define_schema()
    default = next(i.default for i in schema.inputs if i.id == "run_name")
    assert default.startswith("ganpost_")
    assert comfy.names.run_folder(default) == tmp_path / "output" / "ganpost_training" / default


def test_names_keep_their_old_folders_and_publish_under_their_own_name(comfy, tmp_path):
    names = comfy.names
    assert names.checked_run_name("  v2.final-run_3 ") == "v2.final-run_3"
    assert names.checked_run_name("my run: faces") == "my_run__faces"  # as before: other characters become _
    assert names.checked_run_name("x" * 100) == "x" * 100
    assert names.checked_run_name("console") == "console"  # only the whole device name is reserved
    train_nodes = importlib.import_module("ganpost.nodes.train_nodes")
    generator = tmp_path / "net_g.pth"
    torch.save({"params": {}}, generator)
    assert train_nodes._publish(generator, "v2.final", train_nodes.GanpostTrainUpscaleModel.form.publish) == comfy.folder / "v2.final.pth"
    assert (comfy.folder / "v2.final.pth").is_file()


def test_a_link_that_leads_out_of_the_folders_is_refused(comfy, tmp_path):
    runs, elsewhere = tmp_path / "output" / "ganpost_training", tmp_path / "elsewhere"
    runs.mkdir(parents=True)
    elsewhere.mkdir()
    (runs / "linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidOptionError, match="run_name 'linked'.*outside.*remove that link"):
        comfy.names.run_folder("linked")
    (comfy.folder / "linked.pth").symlink_to(elsewhere / "model.pth")
    with pytest.raises(InvalidOptionError, match="linked.pth is a link"):
        comfy.names.published_path(comfy.folder, "linked", ".pth")
