"""A recipe written in one module reaches both front-ends: put in the recipe table, it gets a
``ganpost train <name>`` command and a ComfyUI training node, with nothing in cli/ or nodes/ edited.

The toy recipe below is complete: a tiny ×2 compact network trained with L1 on bicubic downscales of a
folder's crops; its command and its node both train it and hand back a model our loader reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers.models import natural_image
from helpers import fake_comfy

from ganpost.training.components.sr_data import HighResolutionCrops
from ganpost.training.degradation import bicubic_downscale
from ganpost.training.engine.config import OptimConfig, RunConfig, validate_engine_sections
from ganpost.training.engine.networks import fresh_network
from ganpost.training.recipes import RECIPES, Optimizer, Phase, Recipe
from ganpost.training.recipes.front_end import (RESUME, SEED, CommandLine, Flag, NodeForm, NodeInput, NodeOutput,
                                                NodeRun, Publish, run_name_input, steps_input)


# ----------------------------------------------------------------------------- the whole recipe
@dataclass
class ToyData:
    folder: str = ""
    batch_size: int = 1


@dataclass
class ToyConfig:
    data: ToyData = field(default_factory=ToyData)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> "ToyConfig":
        validate_engine_sections(self.optim, self.run)
        return self


class Toy(Recipe):
    name = "toy"
    config_type = ToyConfig
    presets = {"toy": {"optim": {"lr_g": 1e-3}}}
    default_preset = "toy"
    main_output = "net_g"
    input_folder_settings = ("folder",)
    command_line = CommandLine(
        summary="toy: a tiny ×2 upscaler trained with L1",
        flags=(Flag("--data", ("data", "folder"), "folder of images", Path, required="the training images"),),
        presets={"toy": "the only one"}, set_example="optim.lr_g=1e-3")
    node = NodeForm(
        node_id="GanpostTrainToy", display_name="ganpost: Train Toy", description="A toy recipe's node.",
        inputs=(NodeInput("image_folder", "string", "images", default="", folder=True), steps_input(2), SEED,
                run_name_input("ganpost_toy"), RESUME),
        output=NodeOutput("upscaler", "model", "the toy model"),
        run=lambda v: NodeRun("toy", {"data": {"folder": str(v["image_folder"])}}),
        publish=Publish("upscale_models", ".pth"))

    def build_networks(self, *, resuming):
        return {"generator": fresh_network("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4,
                                                               "num_conv": 1, "upscale": 2}).to(self.engine.device)}

    def averaged(self):
        return {"ema": "generator"}

    def optimizers(self):
        return {"g": Optimizer(("generator",), self.config.optim.lr_g)}

    def phases(self):
        return (Phase("generator", "g"),)

    def dataset(self):
        return HighResolutionCrops(self.config.data.folder, 16, seed=self.config.run.seed)

    def make_batch(self, samples, micro):
        gt = samples["gt"].to(self.engine.device)
        return {"gt": gt, "lq": bicubic_downscale(gt, 2)}

    def losses(self, phase, batch):
        return {"l_pix": F.l1_loss(self.engine.networks["generator"](batch["lq"]), batch["gt"])}

    def outputs(self):
        return {"net_g": {"params": self.engine.network("generator").state_dict(),
                          "params_ema": self.engine.emas["ema"].state_dict()}}


# ----------------------------------------------------------------------------- the tests
@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setitem(RECIPES, "toy", Toy)
    folder = tmp_path / "input" / "photos"
    folder.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(natural_image(24, 24, seed=i)).save(folder / f"{i}.png")
    return folder


def test_a_new_recipe_gets_its_train_command(toy, tmp_path, capsys):
    from ganpost.cli.main import main

    assert main(["train", "toy", "--data", str(toy), "--output", str(tmp_path / "run"), "--steps", "2",
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "ganpost: training toy: toy on cpu, steps 0 → 2" in err and "done, step 2" in err
    assert (tmp_path / "run" / "models" / "net_g_latest.pth").is_file()
    with pytest.raises(SystemExit):
        main(["train", "toy", "--help"])
    assert "--data" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"give the training images with --data DIR \(or data.folder in --config\)"):
        main(["train", "toy", "--output", str(tmp_path / "other")])  # a required setting left out


def test_a_new_recipe_gets_its_train_node(toy, tmp_path, monkeypatch):
    comfy = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    try:
        import ganpost

        nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
        node = next(n for n in nodes if n.define_schema().node_id == "GanpostTrainToy")
        with torch.inference_mode():  # as ComfyUI runs every node
            model, summary = node.execute(image_folder="photos", steps=2, seed=0, run_name="mine", resume=True)
        assert (comfy.folder / "mine.pth").is_file() and model.source == comfy.folder / "mine.pth"
        assert model.scale == 2 and "step 2/2" in summary
    finally:
        fake_comfy.forget_modules()
