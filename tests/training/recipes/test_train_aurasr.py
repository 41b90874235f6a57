"""AuraSR fine-tuning on tiny networks (CPU): the discriminator warm-up leaves the generator
bit-identical, a resumed run equals an uninterrupted one, and the files load in fal's class and ours."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.gan_models.loader import load_model
from ganpost.training.config import load_config
from ganpost.training.config_schema import ConfigError
from ganpost.training import Trainer
from helpers.aurasr import TINY, TINY_D, TINY_RUN
from helpers.training import StopAt
from helpers.tolerance import assert_close_to_scale



@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(80, 72, seed=i)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def _config(photos, tiny_config, output, steps, *extra):
    return load_config(recipe="aurasr", sets=[*TINY_RUN, *TINY_D, f"data.train_dir={photos}",
                                              f"generator.config={tiny_config}", f"run.output_dir={output}",
                                              f"run.total_steps={steps}", *extra])


def _weights(network):
    return {k: v.clone() for k, v in network.state_dict().items()}


def test_preset_and_bad_settings():
    cfg = load_config(recipe="aurasr", sets=["generator.pretrained=AuraSR-v2"])
    assert (cfg.data.gt_size, cfg.optim.lr_g, cfg.optim.lr_d, cfg.optim.betas) == (256, 2e-5, 2e-4, (0.5, 0.9))
    assert (cfg.losses.gp_weight, cfg.losses.gp_every, cfg.losses.multiscale_weight) == (10.0, 4, 0.1)
    assert cfg.generator.gradient_checkpointing and not cfg.generator.train_style_network
    with pytest.raises(ConfigError, match="power of two"):
        load_config(recipe="aurasr", sets=["generator.pretrained=x", "data.gt_size=96"])
    with pytest.raises(ConfigError, match="below data.gt_size"):
        load_config(recipe="aurasr", sets=["generator.pretrained=x", "data.gt_size=64"])
    with pytest.raises(ConfigError, match="AuraSR-v2"):
        load_config(recipe="aurasr")


def test_warm_up_trains_only_the_discriminator(photos, tiny_config, tmp_path):
    trainer = Trainer(_config(photos, tiny_config, tmp_path / "run", 3, "discriminator.warmup_steps=3",
                              "losses.gp_every=1"))
    g0, d0 = _weights(trainer.network("generator")), _weights(trainer.network("discriminator"))
    ema0 = _weights(trainer.emas["ema"].network)
    trainer.fit()
    g1, d1, ema1 = (_weights(trainer.network("generator")), _weights(trainer.network("discriminator")),
                    _weights(trainer.emas["ema"].network))
    assert all(torch.equal(g0[k], g1[k]) for k in g0) and all(torch.equal(ema0[k], ema1[k]) for k in ema0)
    assert any(not torch.equal(d0[k], d1[k]) for k in d0)
    records = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert {"l_d_real", "l_d_fake", "l_d_multiscale", "l_d_recon", "l_d_gp"} <= set(records[-1])
    assert "l_pix" not in records[-1]


def test_resume_is_exact_and_files_load_in_fal_class_and_ours(photos, tiny_config, tmp_path):
    extra = ("discriminator.warmup_steps=1", "losses.gp_every=2")
    straight = Trainer(_config(photos, tiny_config, tmp_path / "a", 4, *extra))
    start = _weights(straight.network("generator"))
    straight.fit()
    halves = Trainer(_config(photos, tiny_config, tmp_path / "b", 4, *extra), callbacks=StopAt(2))
    assert halves.fit().interrupted
    resumed = Trainer(_config(photos, tiny_config, tmp_path / "b", 4, *extra), resume=True)
    assert resumed.step == 2
    resumed.fit()
    for name in ("generator", "discriminator"):
        a, b = straight.network(name).state_dict(), resumed.network(name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    trained = straight.network("generator").state_dict()
    style = [k for k in trained if k.startswith("style_network.")]
    assert all(torch.equal(start[k], trained[k]) for k in style)  # frozen by default
    assert any(not torch.equal(start[k], trained[k]) for k in trained if k not in style)

    models = tmp_path / "a/models"
    assert {p.name for p in models.iterdir()} >= {"model.safetensors", "config.json", "model_00000004.safetensors",
                                                  "net_d_latest.safetensors"}
    ours = load_model(models / "model.safetensors")
    ema = straight.emas["ema"].network.state_dict()
    assert ours.architecture == "UnetUpsampler"
    assert all(torch.equal(ours.module.state_dict()[k], ema[k]) for k in ema)
    assert load_model(models / "net_d_latest.safetensors").architecture == "GigaGANDiscriminator"

    from helpers.aurasr import official_aurasr_module
    from safetensors.torch import load_file

    aura_sr = official_aurasr_module()
    config = json.loads((models / "config.json").read_text())
    official = aura_sr.UnetUpsampler(**config)
    official.load_state_dict(load_file(models / "model.safetensors"), strict=True)
    lowres, style = torch.rand(1, 3, 64, 64), torch.randn(1, TINY["style_network"]["dim_in"])
    with torch.no_grad():
        torch.manual_seed(5)
        theirs = official.eval()(lowres, noise=style)  # its input noise: the first global draw after the seed
        torch.manual_seed(5)
        input_noise = torch.randn_like(lowres)
        mine = ours.module(lowres, noise=input_noise, style_noise=style)
    assert_close_to_scale(mine, theirs)


def test_cli_trains_resumes_and_validates(photos, tiny_config, tmp_path, capsys):
    from ganpost.cli.main import main

    out = tmp_path / "run"
    sets = [x for s in [*TINY_RUN, *TINY_D, "discriminator.warmup_steps=1"] for x in ("--set", s)]
    args = ["train", "aurasr", "--data", str(photos), "--val", str(photos), "--model-config", str(tiny_config),
            "--output", str(out), "--steps", "1", "--degradation", "bicubic", *sets, "--set", "data.val_crop=64",
            "--set", "data.val_max_images=1"]
    assert main(args) == 0
    assert (out / "models/model.safetensors").is_file() and (out / "models/config.json").is_file()
    assert main(["train", "aurasr", "--output", str(out), "--resume", "--steps", "2"]) == 0
    err = capsys.readouterr().err
    assert "step 2" in err and "validation at step 2: PSNR" in err
    assert json.loads((out / "config.json").read_text())["data"]["degradation"] == "bicubic"
