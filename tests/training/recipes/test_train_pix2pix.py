"""pix2pix training on tiny networks and images (CPU): it steps, resumes exactly, writes the official
files (plain state dicts, latest_net_G.pth) that load back everywhere, validates and fine-tunes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.training.config import load_config
from ganpost.training.config_schema import ConfigError
from ganpost.training import Trainer
from helpers.training import StopAt

TINY = ["generator.net=unet_32", "generator.num_feat=4", "discriminator.num_feat=4", "data.load_size=36",
        "data.crop_size=32", "run.device=cpu", "run.precision=fp32", "run.log_every=1"]


@pytest.fixture
def aligned(tmp_path):
    """Official A|B files: B is A with its colours inverted."""
    folder = tmp_path / "AB"
    folder.mkdir()
    for i in range(3):
        a = natural_image(40, 40, seed=i)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i}.png")
    return folder


def _config(aligned, output, steps, *extra):
    return load_config(recipe="pix2pix", sets=[*TINY, f"data.dir={aligned}", f"run.output_dir={output}",
                                               f"run.total_steps={steps}", "run.save_every=2", *extra])


def test_official_preset():
    cfg = load_config(recipe="pix2pix", sets=["data.dir=x"])
    g, d, o = cfg.generator, cfg.discriminator, cfg.optim
    assert (g.net, g.norm, g.dropout, d.net, d.num_layers, d.norm) == ("unet_256", "batch", True, "basic", 3, "batch")
    assert (cfg.losses.gan_mode, cfg.losses.l1_weight, cfg.losses.pool_size) == ("vanilla", 100.0, 0)
    assert (o.lr_g, o.lr_d, o.betas, o.schedule) == (2e-4, 2e-4, (0.5, 0.999), "linear_decay")
    assert (cfg.data.load_size, cfg.data.crop_size, cfg.data.flip, cfg.data.batch_size) == (286, 256, True, 1)


def test_bad_settings_name_the_fix():
    with pytest.raises(ConfigError, match="not a multiple of 256"):
        load_config(recipe="pix2pix", sets=["data.crop_size=128", "data.load_size=140"])
    with pytest.raises(ConfigError, match="unet_<side>"):
        load_config(recipe="pix2pix", sets=["generator.net=unet_100"])
    with pytest.raises(ConfigError, match="not both"):
        load_config(recipe="pix2pix", sets=["data.dir=x", "data.dir_a=y", "data.dir_b=z"])


def test_steps_save_official_files_and_resume_exactly(aligned, tmp_path):
    straight = Trainer(_config(aligned, tmp_path / "a", 4))
    start = {k: v.clone() for k, v in straight.network("G").state_dict().items()}
    result = straight.fit()
    models = tmp_path / "a/models"
    assert result.generator == models / "latest_net_G.pth"
    assert {p.name for p in models.iterdir()} == {"latest_net_G.pth", "latest_net_D.pth", "iter_2_net_G.pth",
                                                  "iter_4_net_G.pth", "iter_2_net_D.pth", "iter_4_net_D.pth"}
    saved = torch.load(result.generator, weights_only=True)
    assert set(saved) == set(start) and all(isinstance(v, torch.Tensor) for v in saved.values())  # plain state dict
    assert any(not torch.equal(start[k], saved[k]) for k in start)
    records = [json.loads(line) for line in (tmp_path / "a/log.jsonl").read_text().splitlines()]
    assert {"l_G_GAN", "l_G_L1", "l_D_fake", "l_D_real"} <= set(records[-1])

    # Stopped half-way (the schedule depends on the total, so the total stays 4), then resumed.
    assert Trainer(_config(aligned, tmp_path / "b", 4), callbacks=StopAt(2)).fit().interrupted
    resumed = Trainer(_config(aligned, tmp_path / "b", 4), resume=True)
    assert resumed.step == 2
    resumed.fit()
    for name in ("net_G", "net_D"):
        a = torch.load(models / f"latest_{name}.pth", weights_only=True)
        b = torch.load(tmp_path / f"b/models/latest_{name}.pth", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_saved_generator_loads_back_with_the_official_defaults(aligned, tmp_path):
    from ganpost import load_model

    result = Trainer(_config(aligned, tmp_path / "run", 1)).fit()
    model = load_model(result.generator)
    assert model.architecture == "UnetGenerator" and model.task == "translate"
    assert model.hyperparameters["num_downs"] == 5 and model.hyperparameters["norm"] == "batch"


def test_the_saved_files_are_official_plain_state_dicts(aligned, tmp_path):
    # What the official BaseModel.load_networks reads: a plain state dict (torch.load, no wrapper, no
    # module. prefix) that loads strict into the network its flags build. Our classes have the official
    # layout (bench/pix2pix_parity.py: max |Δ| 0 against models/networks.py), built here with those flags.
    from ganpost.gan_models.pix2pix import NLayerDiscriminator, UnetGenerator

    result = Trainer(_config(aligned, tmp_path / "run", 1)).fit()
    state = torch.load(result.generator, map_location="cpu")
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and not any(k.startswith("module.") for k in state)
    UnetGenerator(3, 3, num_downs=5, num_feat=4, norm="batch", dropout=True).load_state_dict(state, strict=True)
    critic = torch.load(tmp_path / "run/models/latest_net_D.pth", map_location="cpu")
    NLayerDiscriminator(6, num_feat=4, num_layers=3, norm="batch").load_state_dict(critic, strict=True)


def test_validation_scores_against_the_identity_and_writes_a_strip(aligned, tmp_path):
    cfg = _config(aligned, tmp_path / "run", 2, f"data.val_dir={aligned}", "run.val_every=2")
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.network("G").state_dict().items()}
    metrics = trainer.run_validation()
    after = trainer.network("G").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats untouched
    assert set(metrics) == {"psnr_AtoB", "psnr_identity"} and metrics["psnr_identity"] < 10
    strip = Image.open(tmp_path / "run/previews/step_00000000.png")
    assert strip.size == (3 * 32 + 2 * 4, 32)


def test_fine_tunes_a_given_generator_and_gan_modes(aligned, tmp_path):
    from ganpost.gan_models.pix2pix import build_resnet

    start = build_resnet(num_feat=4, num_blocks=2, norm="instance", affine=True)
    torch.save(start.state_dict(), tmp_path / "latest_net_G.pth")
    for mode in ("lsgan", "wgangp"):
        cfg = _config(aligned, tmp_path / mode, 1, f"generator.pretrained={tmp_path / 'latest_net_G.pth'}",
                      f"losses.gan_mode={mode}", "discriminator.net=pixel", "losses.pool_size=2")
        trainer = Trainer(cfg)
        g = trainer.network("G")
        assert type(g).__name__ == "ResnetGenerator" and all(torch.equal(g.state_dict()[k], v)
                                                             for k, v in start.state_dict().items())
        trainer.fit()
        saved = torch.load(tmp_path / mode / "models/latest_net_G.pth", weights_only=True)
        assert set(saved) == set(start.state_dict())
        assert any(not torch.equal(saved[k], v) for k, v in start.state_dict().items())
    records = [json.loads(line) for line in (tmp_path / "wgangp/log.jsonl").read_text().splitlines()]
    assert "l_D_gp" in records[-1]


def test_cli_trains_from_two_folders_paired_by_name(tmp_path, capsys):
    from ganpost.cli.main import main

    for i in range(2):
        a = natural_image(40, 40, seed=i)
        for side, image in (("A", a), ("B", 255 - a)):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / side / f"{i}.png")
    out = tmp_path / "run"
    args = ["train", "pix2pix", "--data-a", str(tmp_path / "A"), "--data-b", str(tmp_path / "B"), "--output", str(out),
            "--steps", "1", "--load-size", "36", "--crop-size", "32", "--direction", "BtoA", "--device", "cpu",
            *[x for s in TINY[:3] for x in ("--set", s)]]
    assert main(args) == 0
    assert (out / "models/latest_net_G.pth").is_file()
    assert main(["train", "pix2pix", "--output", str(out), "--resume", "--steps", "2"]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["direction"] == "BtoA"
    assert "step 2" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="not a cyclegan run"):
        main(["train", "cyclegan", "--output", str(out), "--resume", "--steps", "3"])


def test_a_pretrained_file_that_cannot_be_trained_here_says_why(aligned, tmp_path):
    from helpers.models import save_official, tiny_compact
    from ganpost.gan_models.pix2pix import build_unet

    upscaler = save_official(tiny_compact(), tmp_path / "x4.pth")
    with pytest.raises(ConfigError, match="not an image-to-image generator"):
        Trainer(_config(aligned, tmp_path / "a", 1, f"generator.pretrained={upscaler}"))
    torch.save(build_unet(num_downs=6, num_feat=4).state_dict(), tmp_path / "unet64.pth")
    with pytest.raises(ConfigError, match="crop_size: 32 is not a multiple of 64"):
        Trainer(_config(aligned, tmp_path / "b", 1, f"generator.pretrained={tmp_path / 'unet64.pth'}"))


def test_finetune_preset_loads_validates_and_trains_through_the_cli(tmp_path, capsys):
    from ganpost.cli.main import main
    from ganpost.gan_models.pix2pix import build_resnet

    cfg = load_config(recipe="pix2pix", preset="pix2pix-finetune", sets=["data.dir=x", "generator.pretrained=g.pth"])
    assert cfg.generator.train == "decoder" and (cfg.optim.schedule, cfg.optim.lr_g) == ("linear_decay", 1e-4)
    assert cfg.data.load_size == cfg.data.crop_size  # the whole photo, never a crop of it
    for i in range(2):
        a = natural_image(40, 40, seed=i)
        for side, image in (("A", a), ("B", 255 - a)):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / side / f"{i}.png")
    start = build_resnet(num_feat=4, num_blocks=2, norm="instance", affine=True)
    torch.save(start.state_dict(), tmp_path / "start.pth")
    out = tmp_path / "run"
    assert main(["train", "pix2pix", "--preset", "pix2pix-finetune", "--pretrained", str(tmp_path / "start.pth"),
                 "--data-a", str(tmp_path / "A"), "--data-b", str(tmp_path / "B"), "--output", str(out),
                 "--steps", "2", "--load-size", "32", "--crop-size", "32", "--device", "cpu",
                 "--set", "discriminator.num_feat=4"]) == 0
    saved = torch.load(out / "models/latest_net_G.pth", weights_only=True)
    changed = {k for k, v in start.state_dict().items() if not torch.equal(saved[k], v)}
    assert changed and all(int(k.split(".")[1]) >= 12 for k in changed)  # only the up-sampling and output layers


def test_decoder_only_training_needs_a_resnet(aligned, tmp_path):
    with pytest.raises(ConfigError, match="needs a ResNet generator"):
        Trainer(_config(aligned, tmp_path / "run", 1, "generator.train=decoder"))


def test_a_runs_generator_translates_as_its_validation_showed(aligned, tmp_path):
    """A U-Net trained without dropout: its file cannot say so, the run's config.json does, so the file in the
    run's models folder loads without dropout and ``ganpost.translate`` gives what the run's validation gave."""
    import shutil

    import ganpost
    from ganpost.gan_models import load_model

    # unet_64: the smallest U-Net with a dropout layer (only the levels below the fifth have one)
    trainer = Trainer(_config(aligned, tmp_path / "run", 2, "generator.dropout=false", "generator.net=unet_64",
                              "data.load_size=68", "data.crop_size=64"))
    result = trainer.fit()
    assert load_model(result.generator).hyperparameters["dropout"] is False
    image = torch.from_numpy(natural_image(64, 64, seed=7)).permute(2, 0, 1)[None].float() / 255
    shown = trainer.recipe.translate(trainer.network("G"), image)  # what validation and its preview use
    assert torch.allclose(ganpost.translate(image, str(result.generator)), shown, atol=1e-5)

    elsewhere = tmp_path / "copied" / "latest_net_G.pth"  # outside a run folder: the official default, dropout on
    elsewhere.parent.mkdir()
    shutil.copy(result.generator, elsewhere)
    assert load_model(elsewhere).hyperparameters["dropout"] is True
    assert not torch.allclose(ganpost.translate(image, str(elsewhere)), shown, atol=1e-3)  # what it would have shown
    assert load_model(result.generator, dropout=True).hyperparameters["dropout"] is True  # an explicit choice wins
