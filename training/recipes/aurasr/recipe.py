"""AuraSR fine-tuning: fal's UnetUpsampler against a GigaGAN-style discriminator, anchored to the target.

Each micro-batch: a low-resolution input made from the target crop (Real-ESRGAN's degradation or
a clean bicubic downscale), the generator's style and input noise drawn from a generator seeded by
(seed, step, micro-batch, rank), so a resumed run draws exactly what the uninterrupted one would.
Generator phase: L1 + perceptual to the target (the anchors) and the hinge loss through the frozen
discriminator (main logits and the multi-scale patch logits). Discriminator phase: hinge on real
vs the detached output at every scale, the auxiliary reconstruction of the real image, and every
``gp_every`` steps the zero-centred gradient penalty on both. For ``discriminator.warmup_steps``
the generator only runs (no gradients, no optimizer step): it stays bit-identical.

Files: ``models/model.safetensors`` + ``models/config.json`` (fal's layout: ``AuraSR.from_pretrained``
and our loader read the folder), numbered copies ``model_<step>.safetensors``, and ``net_d``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...components.sr_data import HighResolutionCrops, validation_images
from ...components.sr_validation import scores_text, validate
from ...degradation import bicubic_downscale
from ...engine.networks import frozen
from ...engine.run_files import OutputNames
from ..base import Optimizer, Phase, Recipe
from . import front_end
from .config import AURASR_PRESETS, SCALE, AuraSRConfig
from .networks import build_discriminator, build_generator, write_config


class AuraSRNames(OutputNames):
    """``model_00001000.safetensors`` and ``model.safetensors`` (fal's name), ``net_d_….safetensors``."""

    def numbered(self, prefix: str, step: int) -> str:
        return f"{prefix}_{step:08d}.safetensors"

    def latest(self, prefix: str) -> str:
        return "model.safetensors" if prefix == "model" else f"{prefix}_latest.safetensors"

    def step_of(self, prefix: str, name: str) -> int | None:
        match = re.fullmatch(rf"{re.escape(prefix)}_(\d+)\.safetensors", name)
        return int(match[1]) if match else None


class AuraSR(Recipe):
    name = "aurasr"
    config_type = AuraSRConfig
    presets = AURASR_PRESETS
    default_preset = "aurasr-finetune"
    main_output = "model"
    output_names = AuraSRNames()
    input_folder_settings = ("train_dir", "val_dir")
    command_line = front_end.COMMAND_LINE
    node = front_end.NODE

    @classmethod
    def describe(cls, config: AuraSRConfig) -> str:
        start = config.generator.pretrained or f"a fresh network ({config.generator.config})"
        return f"fine-tuning from {start}, discriminator warm-up to step {config.discriminator.warmup_steps}"

    @classmethod
    def validation_text(cls, metrics: dict) -> str:
        return scores_text(metrics)

    def __init__(self, config: AuraSRConfig, engine, *, initial_generator=None):
        """``initial_generator`` (a loaded AuraSR model descriptor) replaces ``generator.pretrained``; it is copied."""
        super().__init__(config, engine)
        self.initial_generator = initial_generator
        self.batch_size, self.num_workers = config.data.batch_size, config.data.num_workers
        self.val_images: list = []

    # --- networks and optimizers ------------------------------------------------------------------
    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        cfg, device = self.config, self.engine.device
        generator, self.hyperparameters = build_generator(cfg.generator, self.engine.models_dir, self.initial_generator)
        networks = {"generator": generator.to(device)}
        if cfg.adversarial:
            networks["discriminator"] = build_discriminator(cfg.discriminator, cfg.data.gt_size, resuming).to(device)
            _freeze_unscored(networks["discriminator"], cfg.losses)
        losses = cfg.losses
        self.perceptual_loss = None
        if losses.perceptual_weight > 0:
            from ...components.losses import PerceptualLoss
            from ...components.vgg import perceptual_vgg19

            vgg = perceptual_vgg19(losses.vgg_weights, self.engine.models_dir)
            self.perceptual_loss = PerceptualLoss(vgg.to(device), layer_weights=losses.perceptual_layers,
                                                  perceptual_weight=losses.perceptual_weight)
        self.degrade = None
        if cfg.data.degradation == "realesrgan":
            from ...degradation import SecondOrderDegradation

            self.degrade = SecondOrderDegradation(cfg.degradation, SCALE)
        return networks

    def averaged(self) -> dict[str, str]:
        return {"ema": "generator"} if self.config.generator.ema else {}

    def optimizers(self) -> dict[str, Optimizer]:
        o = self.config.optim
        out = {"g": Optimizer(("generator",), o.lr_g)}
        if self.config.adversarial:
            out["d"] = Optimizer(("discriminator",), o.lr_d)
        return out

    def phases(self) -> tuple[Phase, ...]:
        g = Phase("generator", "g")
        return (g, Phase("discriminator", "d")) if self.config.adversarial else (g,)

    @property
    def warming_up(self) -> bool:
        return self.config.adversarial and self.engine.step < self.config.discriminator.warmup_steps

    # --- data -------------------------------------------------------------------------------------
    def dataset(self):
        d = self.config.data
        if self.engine.processes.is_main and d.val_dir:
            self.val_images = validation_images(d.val_dir, SCALE, max_images=d.val_max_images, crop=d.val_crop)
        return HighResolutionCrops(d.train_dir, d.gt_size, seed=self.config.run.seed, hflip=d.use_hflip,
                                   rot=d.use_rot)

    def make_batch(self, samples: dict, micro: int) -> dict:
        """``gt``, ``lq`` and ``noise`` (the seeded source of the generator's style and input noise)."""
        engine = self.engine
        gt = samples["gt"].to(engine.device, non_blocking=True)
        seeds = np.random.SeedSequence([self.config.run.seed, engine.step, micro, engine.processes.rank])
        degrade_seed, noise_seed = (int(s >> 1) for s in seeds.generate_state(2, np.uint64))
        with torch.no_grad():
            if self.degrade is not None:
                lq = self.degrade(gt, torch.Generator().manual_seed(degrade_seed))
            else:
                lq = bicubic_downscale(gt, SCALE)
        return {"gt": gt, "lq": lq, "noise": torch.Generator().manual_seed(noise_seed)}

    # --- losses -----------------------------------------------------------------------------------
    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        return self._generator_losses(batch) if phase == "generator" else self._discriminator_losses(batch)

    def _generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        engine, weights = self.engine, self.config.losses
        generator = engine.networks["generator"]
        if self.warming_up:  # the discriminator learns on this output; the generator gets no gradient
            with torch.no_grad(), engine.autocast():
                batch["output"] = generator(batch["lq"], generator=batch["noise"]).float()
            return {}
        with engine.autocast():
            output = generator(batch["lq"], generator=batch["noise"])
        output = batch["output"] = output.float()
        gt = batch["gt"]
        out: dict[str, torch.Tensor] = {}
        if weights.pixel_weight > 0:
            out["l_pix"] = F.l1_loss(output, gt) * weights.pixel_weight
        if self.perceptual_loss is not None:
            with engine.autocast():
                percep, _ = self.perceptual_loss(output, gt)
            out["l_percep"] = percep.float()
        if self.config.adversarial:
            # The bare module: no DDP hooks for a pass whose weights are frozen.
            with frozen(engine.network("discriminator")) as discriminator, engine.autocast():
                judged = discriminator(output, multiscale=weights.multiscale_weight > 0)
            out["l_g_gan"] = -judged.logits.float().mean() * weights.gan_weight
            if judged.multiscale:
                out["l_g_multiscale"] = (-sum(m.float().mean() for m in judged.multiscale)
                                         * weights.multiscale_weight * weights.gan_weight)
        return out

    def _discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        engine, weights = self.engine, self.config.losses
        discriminator = engine.networks["discriminator"]
        real, fake = batch["gt"], batch["output"].detach()
        penalise = weights.gp_weight > 0 and engine.step % weights.gp_every == 0
        if penalise:
            real, fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
        multiscale = weights.multiscale_weight > 0
        with engine.autocast():
            on_real = discriminator(real, multiscale=multiscale, reconstruct=weights.recon_weight > 0)
            on_fake = discriminator(fake, multiscale=multiscale)
        out = {"l_d_real": F.relu(1 - on_real.logits.float()).mean(),
               "l_d_fake": F.relu(1 + on_fake.logits.float()).mean()}
        if on_real.multiscale:
            out["l_d_multiscale"] = weights.multiscale_weight * sum(
                F.relu(1 - r.float()).mean() + F.relu(1 + f.float()).mean()
                for r, f in zip(on_real.multiscale, on_fake.multiscale))
        if on_real.reconstruction is not None:
            out["l_d_recon"] = on_real.reconstruction.float() * weights.recon_weight
        if penalise:
            out["l_d_gp"] = weights.gp_weight * (self._penalty(on_real, real) + self._penalty(on_fake, fake))
        return out

    def _penalty(self, judged, images: torch.Tensor) -> torch.Tensor:
        """Zero-centred: the squared norm of the scores' gradient with respect to the images."""
        scores = judged.logits.float().sum() + self.config.losses.multiscale_weight * sum(
            m.float().sum() for m in judged.multiscale)
        (grads,) = torch.autograd.grad(scores, images, create_graph=True)
        return grads.flatten(1).square().sum(dim=1).mean()

    # --- files, validation ------------------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        """``model`` (the averaged weights when kept) beside a config.json, and ``net_d``."""
        engine = self.engine
        write_config(engine.files.models / "config.json", self.hyperparameters)
        generator = engine.emas["ema"].network if self.config.generator.ema else engine.network("generator")
        out = {"model": {"params_ema": generator.state_dict()}}
        if self.config.adversarial:
            out["net_d"] = {"params": engine.network("discriminator").state_dict()}
        return out

    @property
    def validates(self) -> bool:
        return bool(self.val_images)

    def validate(self, preview: Path) -> dict:
        network = self.engine.emas["ema"].network if self.config.generator.ema else self.engine.network("generator")
        return validate(network, self.val_images, SCALE, self.engine.device, preview, config=self.hyperparameters)


def _freeze_unscored(discriminator: nn.Module, weights) -> None:
    """Freeze the patch predictors (``multiscale_weight`` 0) and the reconstruction decoder
    (``recon_weight`` 0) when no loss reads them: they never get a gradient, and DDP, which waits
    for one of every trainable parameter, would stop at the second step. Adam skipped them anyway."""
    for stage in discriminator.stages:
        if stage.predictor is not None and weights.multiscale_weight <= 0:
            stage.predictor.requires_grad_(False)
        if stage.recon is not None and weights.recon_weight <= 0:
            stage.recon.requires_grad_(False)
