"""The face-restorer training node called the way ComfyUI calls it (fake ComfyUI), with a tiny GFPGAN and the
real RetinaFace MobileNet-0.25 finding the faces in scikit-image's photos."""

from __future__ import annotations

import importlib
import json
import shutil

import pytest
import torch

from helpers.models import shared_weight
from ganpost import load_model
from ganpost.training.components.sample_photos import skimage_data_dir
from helpers import fake_comfy
from helpers.fake_comfy import Interrupted
from helpers.gfpgan import tiny_gfpgan


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    detector = load_model(shared_weight("retinaface_mobilenet0.25.pth"))
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.folder_paths.folder_names_and_paths["facerestore_models"] = ([str(tmp_path / "models/faces")], {".pth"})
    state.train = importlib.import_module("ganpost.nodes.train_nodes")
    real_load = state.train.load_config

    def tiny(**kwargs):  # the official widths, cut down to keep the test fast
        kwargs["overrides"]["discriminator"].update(narrow=0.0625, component_num_feat=4)
        kwargs["overrides"]["losses"] = {"vgg_weights": "random", "identity_weight": 0, "r1_every": 2}
        kwargs["overrides"]["data"].update(threshold=0.9, min_face_size=32)
        return real_load(**kwargs)

    monkeypatch.setattr(state.train, "load_config", tiny)
    photos = tmp_path / "input" / "faces"
    photos.mkdir(parents=True)
    for name in ("astronaut.png", "camera.png"):
        shutil.copy(skimage_data_dir() / name, photos / name)
    torch.manual_seed(0)
    state.face_model = load_model_from(tiny_gfpgan(out_size=32, num_style_feat=16, narrow=0.0625), tmp_path)
    state.detector = detector
    yield state
    fake_comfy.forget_modules()


def load_model_from(network, tmp_path):
    torch.save({"params_ema": network.state_dict()}, tmp_path / "start.pth")
    return load_model(tmp_path / "start.pth")


def _train(comfy, **overrides):
    args = dict(face_model=comfy.face_model, detector=comfy.detector, image_folder="faces", steps=2,
                train="all", warmup_steps=1, learning_rate=2e-4, batch_size=2, seed=0, run_name="mine",
                resume=True) | overrides
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.train.GanpostTrainFaceModel.execute(**args)


def test_trains_with_preview_and_publishes_the_restorer(comfy, tmp_path):
    trained, summary = _train(comfy, validation_folder="faces")
    assert trained.architecture == "GFPGANv1Clean" and trained.hyperparameters["out_size"] == 32
    assert "step 2/2" in summary and "PSNR" in summary and "degraded input" in summary
    assert (tmp_path / "models/faces/mine.pth").is_file()
    assert (tmp_path / "output/ganpost_training/mine/models/net_d_mouth_latest.pth").is_file()
    assert len(list((tmp_path / "output/ganpost_training/mine/face_cache").glob("*.npz"))) == 2
    assert comfy.progress[-1][0] == 2 and comfy.previews
    recorded = json.loads((tmp_path / "output/ganpost_training/mine/config.json").read_text())
    assert recorded["generator"]["pretrained"] == str(tmp_path / "start.pth")  # what was connected
    assert recorded["data"]["detector"].endswith("retinaface_mobilenet0.25.pth")


def test_cancel_saves_and_resume_continues(comfy, tmp_path):
    comfy.interrupt_after = 1
    with pytest.raises(Interrupted):
        _train(comfy, steps=3)
    assert (tmp_path / "output/ganpost_training/mine/state/latest.state").is_file()
    comfy.interrupt_after = None
    _, summary = _train(comfy, steps=3)
    assert "step 3/3" in summary


def test_a_model_that_is_not_a_restorer_is_refused(comfy):
    with pytest.raises(RuntimeError, match="not a face restorer"):
        _train(comfy, face_model=comfy.detector)
