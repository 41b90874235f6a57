"""GFPGAN fine-tuning on tiny networks and 32 px faces (CPU): the warm-up leaves the generator untouched,
training at the recipe's learning rates stays finite, resume is exact, and the files load strict in
our loader, in GFPGAN's own GFPGANv1Clean and as the official v1 discriminators."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.gan_models import load_model
from ganpost.training.config import load_config
from ganpost.training import Trainer
from ganpost.training.recipes.gfpgan.generator import equalised_lr_scale
from helpers.gfpgan import TRAIN_TINY
from helpers.training import StopAt



@pytest.fixture
def faces(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(40, 40, seed=i)).save(folder / f"{i}.png")
    return folder


def _config(faces, output, steps, *extra):
    return load_config(recipe="gfpgan", sets=[*TRAIN_TINY, f"data.dir={faces}", f"run.output_dir={output}",
                                              f"run.total_steps={steps}", "run.save_every=2",
                                              "discriminator.warmup_steps=0", *extra])


def _weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_preset_is_the_official_recipe_at_fine_tuning_rates():
    cfg = load_config(recipe="gfpgan", sets=["data.dir=x"])
    losses, o = cfg.losses, cfg.optim
    assert (losses.pixel_weight, losses.pyramid_weight, losses.style_weight, losses.gan_weight) == (0.1, 1, 50, 0.1)
    assert (losses.r1_weight, losses.r1_every, losses.component_style_weight) == (10, 16, 200)
    assert o.betas == (0.0, 0.99) and o.ema_decay == pytest.approx(0.5 ** (32 / 10000)) and o.grad_clip == 1000
    assert cfg.generator.train == "encoder" and cfg.discriminator.warmup_steps == 5000


def test_warm_up_trains_only_the_discriminators(faces, tmp_path):
    trainer = Trainer(_config(faces, tmp_path / "run", 3, "discriminator.warmup_steps=3"))
    g, d, eye = (_weights(trainer.network(n)) for n in ("generator", "discriminator", "d_left_eye"))
    ema = _weights(trainer.emas["ema"].network)
    trainer.fit()
    assert all(torch.equal(v, trainer.network("generator").state_dict()[k]) for k, v in g.items())
    assert all(torch.equal(v, trainer.emas["ema"].network.state_dict()[k]) for k, v in ema.items())
    assert any(not torch.equal(v, trainer.network("discriminator").state_dict()[k]) for k, v in d.items())
    assert any(not torch.equal(v, trainer.network("d_left_eye").state_dict()[k]) for k, v in eye.items())


def test_encoder_mode_freezes_the_decoder_and_learning_rates_follow_the_fan_in(faces, tmp_path):
    trainer = Trainer(_config(faces, tmp_path / "run", 2))
    generator = trainer.network("generator")
    before = _weights(generator)
    trainer.fit()
    after = generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and not any(k.startswith("stylegan_decoder.") for k in changed)
    assert any(k.startswith("conv_body_down.") for k in changed)
    groups = trainer.optimizers["g"].param_groups
    by_id = {id(p): group["lr"] for group in groups for p in group["params"]}
    conv = generator.conv_body_down[0].conv1.weight
    assert by_id[id(conv)] == pytest.approx(2e-4 / math.sqrt(conv.shape[1] * 9))
    assert id(generator.stylegan_decoder.constant_input.weight) not in by_id
    modulated = "stylegan_decoder.style_conv1.modulated_conv.weight"
    w = dict(generator.named_parameters())[modulated]
    assert equalised_lr_scale(modulated, w) == pytest.approx(1 / math.sqrt(w.shape[2] * 9))


def test_recipe_rates_stay_finite_and_bounded_where_plain_adam_jumps(faces, tmp_path):
    """All parts training at the official from-scratch rate 2e-3: every loss finite and the relative
    weight change per layer small; the same rate on the stored tensors moves them 1/c times more."""
    trainer = Trainer(_config(faces, tmp_path / "run", 8, "generator.train=all", "optim.lr_g=2e-3"))
    generator = trainer.network("generator")
    before = _weights(generator)
    reports = [trainer.train_step() for _ in range(8)]
    assert all(not r.skipped and all(math.isfinite(v) and abs(v) < 1e4 for v in r.losses.values()) for r in reports)
    conv = "conv_body_down.1.conv1.weight"
    relative = ((generator.state_dict()[conv] - before[conv]).norm() / before[conv].norm()).item()
    assert relative < 0.5
    plain_step = 2e-3 * 8 * math.sqrt(before[conv].numel())  # Adam moves each element ~lr per step
    assert plain_step / before[conv].norm().item() > 4 * relative


def test_a_nan_loss_skips_the_step_and_clipping_bounds_it(faces, tmp_path, monkeypatch):
    trainer = Trainer(_config(faces, tmp_path / "run", 4, "optim.grad_clip=0.01"))
    generator = trainer.network("generator")
    before = _weights(generator)
    original = trainer.recipe.losses
    monkeypatch.setattr(trainer.recipe, "losses", lambda phase, batch: {
        k: v * float("nan") for k, v in original(phase, batch).items()})
    report = trainer.train_step()
    assert report.skipped and all(torch.equal(v, generator.state_dict()[k]) for k, v in before.items())
    monkeypatch.setattr(trainer.recipe, "losses", original)
    assert not trainer.train_step().skipped


def test_resume_is_exact(faces, tmp_path):
    straight = Trainer(_config(faces, tmp_path / "a", 4, "discriminator.warmup_steps=1"))
    straight.fit()
    first = Trainer(_config(faces, tmp_path / "b", 4, "discriminator.warmup_steps=1"))
    first.callbacks = StopAt(2)
    first.fit()
    assert first.step == 2
    resumed = Trainer(_config(faces, tmp_path / "b", 4, "discriminator.warmup_steps=1"), resume=True)
    resumed.fit()
    for name in ("generator", "discriminator", "d_mouth"):
        a, b = straight.network(name).state_dict(), resumed.network(name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    ema_a, ema_b = straight.emas["ema"].state_dict(), resumed.emas["ema"].state_dict()
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_files_load_strict_here_and_in_the_official_classes(faces, tmp_path):
    from helpers.gfpgan import official_gfpgan_v1_archs

    trainer = Trainer(_config(faces, tmp_path / "run", 2))
    trainer.fit()
    models = tmp_path / "run" / "models"
    g = load_model(models / "net_g_latest.pth")
    assert g.architecture == "GFPGANv1Clean" and g.hyperparameters["out_size"] == 32
    ema = trainer.emas["ema"].state_dict()
    assert all(torch.equal(g.module.state_dict()[k], ema[k]) for k in ema)  # params_ema is what loads
    assert load_model(models / "net_d_latest.pth").architecture == "StyleGAN2Discriminator"
    for part in ("left_eye", "right_eye", "mouth"):
        assert load_model(models / f"net_d_{part}_latest.pth").architecture == "FacialComponentDiscriminator"
    official = official_gfpgan_v1_archs()
    theirs = official["clean"].GFPGANv1Clean(out_size=32, num_style_feat=16, channel_multiplier=1, num_mlp=2,
                                             narrow=0.0625, input_is_latent=True, different_w=True, sft_half=True)
    payload = torch.load(models / "net_g_latest.pth", weights_only=True)
    theirs.load_state_dict(payload["params_ema"], strict=True)
    d = official["stylegan2"].StyleGAN2Discriminator(32, channel_multiplier=1, narrow=0.0625)
    d.load_state_dict(torch.load(models / "net_d_latest.pth", weights_only=True)["params"], strict=True)
    eye = trainer.network("d_left_eye").state_dict()
    assert set(eye) == set(official["v1"].FacialComponentDiscriminator().state_dict())


def test_cli_fine_tunes_a_file_and_resumes(faces, tmp_path):
    from ganpost.cli import main
    from helpers.gfpgan import tiny_gfpgan

    start = tiny_gfpgan(out_size=32, num_style_feat=16, narrow=0.0625)
    torch.save({"params_ema": start.state_dict()}, tmp_path / "start.pth")
    sets = [arg for item in TRAIN_TINY if not item.startswith("generator.") for arg in ("--set", item)]
    common = ["train", "gfpgan", "--data", str(faces), "--aligned", "--pretrained", str(tmp_path / "start.pth"),
              "--output", str(tmp_path / "run"), "--warmup", "1", *sets]
    assert main([*common, "--steps", "2"]) == 0
    assert main([*common, "--steps", "3", "--resume"]) == 0
    tuned = load_model(tmp_path / "run" / "models" / "net_g_latest.pth")
    assert tuned.hyperparameters["out_size"] == 32
    assert not all(torch.equal(v, tuned.module.state_dict()[k]) for k, v in start.state_dict().items())


def test_identity_loss_runs_with_an_arcface_file(faces, tmp_path):
    from ganpost.gan_models.gfpgan.arcface import ResNetArcFace

    torch.save({"params": ResNetArcFace(width=4).state_dict()}, tmp_path / "arcface_resnet18.pth")
    trainer = Trainer(_config(faces, tmp_path / "run", 1, "losses.identity_weight=10",
                              f"losses.arcface_weights={tmp_path / 'arcface_resnet18.pth'}"))
    report = trainer.train_step()
    assert "l_identity" in report.losses and math.isfinite(report.losses["l_identity"])
    assert "identity" not in trainer.networks  # a fixed instrument: not trained, not in the state
