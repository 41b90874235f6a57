"""CycleGAN (Zhu et al.): two generators (G_A: A → B, G_B: B → A) and two discriminators
(D_A judges B images, D_B judges A images), trained on unpaired folders.

Generator phase: LSGAN losses through the frozen discriminators, cycle losses λ·‖G_B(G_A(A)) − A‖₁
and λ·‖G_A(G_B(B)) − B‖₁, identity losses λ·λ_idt·‖G_A(B) − B‖₁ (and for G_B). Discriminator phase:
½ of real vs a fake drawn from each image pool of 50. One optimizer over both generators and one
over both discriminators, as the official code. Files: ``latest_net_G_A.pth`` … ``latest_net_D_B.pth``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...components.image_pool import ImagePool
from ...components.losses import GANLoss, gradient_penalty
from ...engine.networks import frozen, trainable
from ..base import Optimizer, Phase
from . import front_end
from .common import TranslationRecipe, require, upcast
from .data import UnpairedImages
from .config import CYCLEGAN_PRESETS, CycleGANConfig
from .networks import discriminator, fresh_generator, fresh_like, load_generator


class CycleGAN(TranslationRecipe):
    name = "cyclegan"
    command_line = front_end.command_line(name)
    config_type = CycleGANConfig
    presets = CYCLEGAN_PRESETS
    default_preset = "cyclegan"
    main_output = "net_G_A"

    def __init__(self, config: CycleGANConfig, engine, *, initial_generator: nn.Module | None = None):
        """``initial_generator`` (a loaded module) replaces ``generator.pretrained`` as G_A; it is copied."""
        super().__init__(config, engine)
        self.initial_generator = initial_generator

    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        cfg, device = self.config, self.engine.device
        g = cfg.generator
        if self.initial_generator is not None:
            g_a = trainable(self.initial_generator)
        elif g.pretrained:
            g_a, _ = load_generator(g.pretrained, g, cfg.data.crop_size, self.engine.models_dir)
        else:
            g_a = fresh_generator(g)
        if g.pretrained_b:
            g_b, _ = load_generator(g.pretrained_b, g, cfg.data.crop_size, self.engine.models_dir)
        elif self.initial_generator is not None or g.pretrained:
            g_b = fresh_like(g_a)  # fine-tuning G_A: G_B gets its architecture (which the file decided)
        else:
            g_b = fresh_generator(g)
        d = cfg.discriminator
        d_a = discriminator(d, 3, d.pretrained, resuming)
        d_b = discriminator(d, 3, d.pretrained_b, resuming)
        losses = cfg.losses
        self.gan_loss = GANLoss(losses.gan_mode)
        self.pool_a, self.pool_b = ImagePool(losses.pool_size), ImagePool(losses.pool_size)
        return {name: net.to(device) for name, net in (("G_A", g_a), ("G_B", g_b), ("D_A", d_a), ("D_B", d_b))}

    def optimizers(self) -> dict[str, Optimizer]:
        o = self.config.optim
        return {"G": Optimizer(("G_A", "G_B"), o.lr_g), "D": Optimizer(("D_A", "D_B"), o.lr_d)}

    def phases(self) -> tuple[Phase, ...]:
        return Phase("generators", "G"), Phase("discriminators", "D")

    # --- data and losses ----------------------------------------------------------------------------
    def dataset(self):
        d, run = self.config.data, self.config.run
        require(bool(d.dir_a and d.dir_b), "CycleGAN needs two folders of images, one per domain: "
                                           "--data-a DIR --data-b DIR (data.dir_a, data.dir_b)")
        self.load_validation()
        return UnpairedImages(d.dir_a, d.dir_b, load_size=d.load_size, crop_size=d.crop_size,
                              preprocess=d.preprocess, flip=d.flip, direction=d.direction, seed=run.seed,
                              resize=d.resize)

    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        return self._generator_losses(batch) if phase == "generators" else self._discriminator_losses(batch)

    def _generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        engine, w = self.engine, self.config.losses
        g_a, g_b = engine.networks["G_A"], engine.networks["G_B"]
        a, b = batch["a"], batch["b"]
        with engine.autocast():
            fake_b = g_a(a)
            rec_a = g_b(fake_b)
            fake_a = g_b(b)
            rec_b = g_a(fake_a)
        fake_b, fake_a = batch["fake_b"], batch["fake_a"] = upcast(fake_b), upcast(fake_a)
        out = {}
        if w.identity_weight > 0:
            with engine.autocast():
                same_b, same_a = g_a(b), g_b(a)
            out["l_idt_A"] = F.l1_loss(upcast(same_b), b) * w.cycle_weight * w.identity_weight
            out["l_idt_B"] = F.l1_loss(upcast(same_a), a) * w.cycle_weight * w.identity_weight
        with frozen(engine.network("D_A")) as d_a, frozen(engine.network("D_B")) as d_b, engine.autocast():
            score_b, score_a = d_a(fake_b), d_b(fake_a)
        out["l_G_A"] = self.gan_loss(upcast(score_b), True)
        out["l_G_B"] = self.gan_loss(upcast(score_a), True)
        out["l_cycle_A"] = F.l1_loss(upcast(rec_a), a) * w.cycle_weight
        out["l_cycle_B"] = F.l1_loss(upcast(rec_b), b) * w.cycle_weight
        return out

    def _discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        engine, rng = self.engine, batch["rng"]
        fake_b = self.pool_b.query(batch["fake_b"], rng)  # D_A judges domain B
        fake_a = self.pool_a.query(batch["fake_a"], rng)
        out = {}
        for key, critic, real, fake in (("A", engine.networks["D_A"], batch["b"], fake_b),
                                        ("B", engine.networks["D_B"], batch["a"], fake_a)):
            with engine.autocast():
                real_score, fake_score = critic(real), critic(fake)
            out[f"l_D_{key}"] = 0.5 * (self.gan_loss(upcast(real_score), True, is_disc=True)
                                       + self.gan_loss(upcast(fake_score), False, is_disc=True))
            if self.config.losses.gan_mode == "wgangp":
                out[f"l_D_{key}_gp"] = gradient_penalty(critic, real, fake, rng, self.config.losses.gp_weight)
        return out

    # --- files, state, validation -------------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        net = self.engine.network
        return {f"net_{name}": net(name).state_dict() for name in ("G_A", "G_B", "D_A", "D_B")}

    def state_dict(self) -> dict:
        return {"pool_A": self.pool_a.state_dict(), "pool_B": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        device = self.engine.device
        for key, pool in (("pool_A", self.pool_a), ("pool_B", self.pool_b)):
            if key in state:
                pool.load_state_dict(state[key], device)

    def validate(self, preview: Path) -> dict:
        net = self.engine.network
        return self.scores_and_preview({"AtoB": net("G_A"), "BtoA": net("G_B")}, preview)

