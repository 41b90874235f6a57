"""GFPGAN and AuraSR under ``accelerate launch``: two CPU processes (gloo) through a discriminator
warm-up (generator frozen, DDP sees it unused), a lazy R1 / gradient-penalty step (double backward
through the discriminator) and ordinary steps, and end with identical weights on both ranks. And in
one process, cheaply: every trainable parameter gets a gradient, which DDP waits for."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from PIL import Image

from helpers.models import natural_image
from helpers.aurasr import TINY as AURASR_TINY
from helpers.aurasr import TINY_D as AURASR_TINY_D
from helpers.aurasr import TINY_RUN as AURASR_TINY_RUN
from helpers.gfpgan import TRAIN_TINY as GFPGAN_TINY
from ganpost.training.config import load_config
from ganpost.training import Trainer
from helpers.training import two_process_ranks

# Three steps: 0 is the warm-up (discriminators only) with the penalty, 1 an ordinary step, 2 both
# networks with the penalty.
STEPS = ["run.total_steps=3", "discriminator.warmup_steps=1"]


def _images(folder: Path, width: int, height: int) -> Path:
    folder.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(width, height, seed=i)).save(folder / f"{i}.png")
    return folder


def _launch(tmp_path: Path, recipe: str, settings: list[str]) -> list[dict]:
    return two_process_ranks("ddp_recipe_worker.py", tmp_path, recipe, str(tmp_path), *settings)


def _check_lock_step(ranks: list[dict], parts: set[str]) -> None:
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert set(ranks[0]["end"]) == parts
    for part in parts:
        end0, end1, start = ranks[0]["end"][part], ranks[1]["end"][part], ranks[0]["start"][part]
        for key, value in end0.items():
            assert torch.equal(value, end1[key]), (part, key)
        assert any(not torch.equal(value, start[key]) for key, value in end0.items()), f"{part} never changed"
    for rank in ranks:
        assert len(rank["losses"]) == 3
        assert all(math.isfinite(v) for step in rank["losses"] for v in step.values()), rank["losses"]


def _without_gradient(trainer) -> list[str]:
    return [f"{name}.{key}" for name in trainer.networks for key, p in trainer.network(name).named_parameters()
            if p.requires_grad and p.grad is None]


def test_gfpgan_two_processes_stay_in_lock_step(tmp_path):
    """Frozen decoder (encoder mode), lazy R1, component discriminators, EMA, and the pyramid loss
    stopping after step 1 (its RGB heads then get no gradient), across two ranks."""
    faces = _images(tmp_path / "faces", 40, 40)
    ranks = _launch(tmp_path, "gfpgan", [*GFPGAN_TINY, f"data.dir={faces}", *STEPS, "losses.r1_every=2",
                                         "losses.pyramid_until=2"])
    _check_lock_step(ranks, {"net:generator", "net:discriminator", "net:d_left_eye", "net:d_right_eye",
                             "net:d_mouth", "ema:ema"})
    for rank in ranks:
        warm, plain, penalised = rank["losses"]
        assert "l_d_r1" in warm and "l_pix" not in warm and "l_d_left_eye" in warm
        assert "l_d_r1" not in plain and {"l_pix", "l_pyramid", "l_g_gan", "l_g_mouth"} <= set(plain)
        assert {"l_d_r1", "l_pix", "l_g_gan"} <= set(penalised) and "l_pyramid" not in penalised
    generator = ranks[0]["end"]["net:generator"]
    assert all(torch.equal(v, ranks[0]["start"]["net:generator"][k])  # the decoder stays frozen on both ranks
               for k, v in generator.items() if k.startswith("stylegan_decoder."))


def _aurasr_tiny(tmp_path: Path) -> list[str]:
    """The tiny AuraSR recipe on three photos."""
    photos = _images(tmp_path / "photos", 80, 72)
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(AURASR_TINY))
    return [*AURASR_TINY_RUN, *AURASR_TINY_D, f"data.train_dir={photos}", f"generator.config={tiny}"]


def test_aurasr_two_processes_stay_in_lock_step(tmp_path):
    """Gradient penalty, discriminator warm-up, gradient checkpointing and seeded noise, across two ranks."""
    ranks = _launch(tmp_path, "aurasr", [*_aurasr_tiny(tmp_path), *STEPS, "losses.gp_every=2"])
    _check_lock_step(ranks, {"net:generator", "net:discriminator", "ema:ema"})
    for rank in ranks:
        warm, plain, penalised = rank["losses"]
        assert "l_d_gp" in warm and "l_pix" not in warm
        assert "l_d_gp" not in plain and {"l_pix", "l_g_gan"} <= set(plain)
        assert {"l_d_gp", "l_pix", "l_g_gan"} <= set(penalised)
    # Each rank degrades and draws noise from its own seed: the ranks' losses differ, the weights do not.
    assert ranks[0]["losses"][1]["l_pix"] != ranks[1]["losses"][1]["l_pix"]


def test_gfpgan_every_trained_parameter_gets_a_gradient(tmp_path):
    faces = _images(tmp_path / "faces", 40, 40)
    trainer = Trainer(load_config(recipe="gfpgan", sets=[*GFPGAN_TINY, f"data.dir={faces}", "run.device=cpu",
                                                         f"run.output_dir={tmp_path / 'run'}", "run.total_steps=1",
                                                         "discriminator.warmup_steps=0"]))
    assert not trainer.recipe.skips_parameters("generator")  # the pyramid loss runs to the end
    trainer.train_step()
    assert not _without_gradient(trainer)
    trainer.config.losses.pyramid_until = 0
    assert trainer.recipe.skips_parameters("generator")


def test_aurasr_discriminator_parts_no_loss_reads_are_frozen(tmp_path):
    """Patch predictors and the reconstruction decoder with their weights at 0 (and the attention's
    stored, never read ``scale``): frozen, and they stay frozen through the generator's pass."""
    trainer = Trainer(load_config(recipe="aurasr", sets=[
        *_aurasr_tiny(tmp_path), f"run.output_dir={tmp_path / 'run'}", "run.total_steps=1", "discriminator.warmup_steps=0",
        "losses.gp_every=1", "losses.multiscale_weight=0", "losses.recon_weight=0"]))
    trainer.train_step()
    assert not _without_gradient(trainer)
    frozen = {k for k, p in trainer.network("discriminator").named_parameters() if not p.requires_grad}
    assert any(".predictor." in k for k in frozen) and any(".recon." in k for k in frozen)
