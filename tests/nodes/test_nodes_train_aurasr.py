"""The AuraSR training node called the way ComfyUI calls it (fake ComfyUI from tests/helpers), tiny networks."""

from __future__ import annotations

import importlib
import json

import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from helpers import fake_comfy
from helpers.aurasr import save_tiny_aurasr
from helpers.fake_comfy import Interrupted

# The discriminator of tests/training/recipes/test_train_aurasr.py: GigaGAN's layout at a few channels.
TINY_D = {"dim_capacity": 4, "dim_max": 16, "attn_resolutions": [8], "attn_heads": 2, "attn_dim_head": 4,
          "excite_skip": 2, "recon_resolution": 8}


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.nodes = importlib.import_module("ganpost.nodes.upscale_nodes")
    state.train = importlib.import_module("ganpost.nodes.train_nodes")
    importlib.import_module("ganpost.nodes.model_cache").clear()
    real_load = state.train.load_config

    def narrow(**kwargs):
        kwargs["overrides"]["discriminator"].update(TINY_D)
        kwargs["overrides"]["run"]["device"] = "cpu"
        return real_load(**kwargs)

    monkeypatch.setattr(state.train, "load_config", narrow)
    for i in range(2):
        folder = tmp_path / "input" / "photos"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(natural_image(80, 72, seed=i)).save(folder / f"{i}.png")
    save_tiny_aurasr(state.folder / "AuraSR-tiny.safetensors")
    yield state
    fake_comfy.forget_modules()


def _start(comfy):
    (model,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="AuraSR-tiny.safetensors")
    return model


def _train(comfy, model, **overrides):
    args = dict(image_folder="photos", steps=2, warmup_steps=1, losses="gan + L1 (no VGG19 download)",
                degradation="bicubic", learning_rate=1e-3, batch_size=1, crop_size="64", seed=0, run_name="mine",
                resume=True) | overrides
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.train.GanpostTrainAuraSR.execute(model=model, **args)


def test_fine_tunes_previews_and_publishes_weights_with_their_config(comfy, tmp_path):
    start = _start(comfy)
    before = {k: v.clone() for k, v in start.module.state_dict().items()}
    trained, summary = _train(comfy, start, validation_folder="photos")
    assert "step 2/2" in summary and "PSNR" in summary
    assert comfy.progress[-1][0] == 2 and comfy.previews
    published = comfy.folder / "mine.safetensors"
    config = json.loads((comfy.folder / "mine.json").read_text())
    assert config["style_network"] == {"dim_in": 16, "dim_out": 32, "depth": 2} and config["dim"] == 4
    assert trained.source == published and trained.architecture == start.architecture
    assert trained.hyperparameters == start.hyperparameters
    assert all(torch.equal(v, start.module.state_dict()[k]) for k, v in before.items())  # the input is copied
    changed = [k for k, v in trained.module.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and not any(k.startswith("style_network.") for k in changed)  # style network stays frozen
    (reloaded,) = comfy.nodes.GanpostLoadUpscaleModel.execute(model_name="mine.safetensors")
    assert reloaded.hyperparameters == start.hyperparameters  # found beside it: heads the tensors cannot tell


def test_cancel_saves_and_resume_continues(comfy, tmp_path):
    start = _start(comfy)
    comfy.interrupt_after = 1
    with pytest.raises(Interrupted):
        _train(comfy, start, losses="L1 only (fast, no discriminator)")
    state = torch.load(tmp_path / "output/ganpost_training/mine/state/latest.state", weights_only=True)
    assert state["step"] == 1 and state["recipe"] == "aurasr"
    assert not (comfy.folder / "mine.safetensors").exists()  # nothing published from a cancelled run
    comfy.interrupt_after = None
    trained, summary = _train(comfy, start, losses="L1 only (fast, no discriminator)")
    assert "step 2/2" in summary and (comfy.folder / "mine.safetensors").is_file()


def test_an_upscaler_that_is_not_aurasr_is_refused(comfy):
    from helpers.models import tiny_compact
    from ganpost.gan_models.loader import describe_state_dict

    with pytest.raises(RuntimeError, match="not AuraSR"):
        _train(comfy, describe_state_dict(tiny_compact().state_dict()))
