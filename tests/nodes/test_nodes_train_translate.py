"""The translator training node called the way ComfyUI calls it (fake ComfyUI from tests/helpers)."""

from __future__ import annotations

import importlib

import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from helpers import fake_comfy
from helpers.fake_comfy import Interrupted


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.train = importlib.import_module("ganpost.nodes.train_nodes")
    yield state
    fake_comfy.forget_modules()


def _folders(tmp_path):
    for i in range(2):
        a = natural_image(40, 40, seed=i)
        for side, image in (("A", a), ("B", 255 - a)):
            folder = tmp_path / "input" / side
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i}.png")


def _train(comfy, **overrides):
    args = dict(recipe="pix2pix (two folders, pairs by file name)", folder_a="A", folder_b="B", steps=2,
                direction="AtoB", learning_rate=2e-4, batch_size=1, crop_size=32, seed=0, run_name="mine",
                resume=True) | overrides
    with torch.inference_mode():  # as ComfyUI runs every node
        return comfy.train.GanpostTrainTranslator.execute(**args)


def test_trains_pix2pix_with_preview_and_returns_the_model(comfy, tmp_path, monkeypatch):
    _folders(tmp_path)
    real_load = comfy.train.load_config

    def narrow(**kwargs):  # the official widths, cut to 4 features to keep the test fast
        kwargs["overrides"]["generator"]["num_feat"] = 4
        kwargs["overrides"]["discriminator"] = {"num_feat": 4}
        return real_load(**kwargs)

    monkeypatch.setattr(comfy.train, "load_config", narrow)
    trained, summary = _train(comfy, validation_folder_a="A", validation_folder_b="B")
    assert trained.architecture == "UnetGenerator" and trained.hyperparameters["num_downs"] == 5
    assert "step 2/2" in summary and "PSNR" in summary
    assert (tmp_path / "output/ganpost_training/mine/models/latest_net_G.pth").is_file()
    assert comfy.progress[-1][0] == 2 and comfy.previews


def test_cancel_saves_and_resume_continues(comfy, tmp_path, monkeypatch):
    from ganpost.gan_models.pix2pix import build_resnet
    from ganpost.gan_models.loader import describe_state_dict

    _folders(tmp_path)
    start = describe_state_dict(build_resnet(num_feat=4, num_blocks=1).state_dict())
    comfy.interrupt_after = 1
    with pytest.raises(Interrupted):
        _train(comfy, recipe="cyclegan (two unpaired folders)", model=start)
    state = torch.load(tmp_path / "output/ganpost_training/mine/state/latest.state", weights_only=True)
    assert state["step"] == 1 and state["recipe"] == "cyclegan"
    comfy.interrupt_after = None
    trained, summary = _train(comfy, recipe="cyclegan (two unpaired folders)", model=start)
    assert "step 2/2" in summary and trained.architecture == "ResnetGenerator"


def test_an_upscaler_is_refused_as_the_start(comfy, tmp_path):
    from helpers.models import tiny_compact
    from ganpost.gan_models.loader import describe_state_dict

    upscaler = describe_state_dict(tiny_compact().state_dict())
    with pytest.raises(RuntimeError, match="not an image translator"):
        _train(comfy, model=upscaler)


def test_the_node_trains_what_the_command_line_trains(comfy, tmp_path):
    """Train Image Translator with a connected model and `ganpost train cyclegan --pretrained` with the same
    settings and seed write the same generators: the node is the command line inside a graph."""
    from ganpost.cli.main import main as ganpost
    from ganpost.gan_models.loader import describe_state_dict
    from ganpost.gan_models.pix2pix import build_resnet

    _folders(tmp_path)
    start = build_resnet(num_feat=4, num_blocks=1)
    torch.save(start.state_dict(), tmp_path / "start.pth")
    _train(comfy, recipe="cyclegan (two unpaired folders)", model=describe_state_dict(start.state_dict()))
    assert ganpost(["train", "cyclegan", "--data-a", str(tmp_path / "input/A"), "--data-b", str(tmp_path / "input/B"),
                    "--pretrained", str(tmp_path / "start.pth"), "--steps", "2", "--batch-size", "1",
                    "--crop-size", "32", "--load-size", "36", "--set", "optim.lr_g=2e-4", "--set", "optim.lr_d=2e-4",
                    "--set", "run.seed=0", "--device", "cpu", "--output", str(tmp_path / "cli_run")]) == 0
    for name in ("G_A", "G_B", "D_A", "D_B"):
        node = torch.load(tmp_path / f"output/ganpost_training/mine/models/latest_net_{name}.pth", weights_only=True)
        cli = torch.load(tmp_path / f"cli_run/models/latest_net_{name}.pth", weights_only=True)
        assert node.keys() == cli.keys() and all(torch.equal(node[k], cli[k]) for k in node), name
