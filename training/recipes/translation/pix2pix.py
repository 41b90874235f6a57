"""pix2pix (Isola et al.): one generator A → B and a conditional discriminator on cat(A, ·).

Each step, in the official order: G(A) once; the discriminator phase (½ of real cat(A, B) vs fake
cat(A, G(A)) detached), after which D takes its step; then the generator phase (GAN loss through the
frozen, just-updated D on cat(A, G(A)), plus λ·L1(G(A), B)). With ``discriminator.update_first``
off, the generator phase comes first and sees D as it was before the step, and both optimizers step
at the end (what optim.accumulation > 1 needs). ``bench/translate_train_parity.py`` measures both
against the official trainer.
Files: ``latest_net_G.pth`` / ``latest_net_D.pth`` as plain state dicts, the official layout.
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
from .data import PairedImages
from .config import PIX2PIX_PRESETS, Pix2PixConfig
from .networks import discriminator, fresh_generator, load_generator, train_only_decoder


class Pix2Pix(TranslationRecipe):
    name = "pix2pix"
    command_line = front_end.command_line(name)
    config_type = Pix2PixConfig
    presets = PIX2PIX_PRESETS
    default_preset = "pix2pix"
    main_output = "net_G"

    def __init__(self, config: Pix2PixConfig, engine, *, initial_generator: nn.Module | None = None):
        """``initial_generator`` (a loaded module) replaces ``generator.pretrained``; it is copied."""
        super().__init__(config, engine)
        self.initial_generator = initial_generator

    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        cfg, device = self.config, self.engine.device
        if self.initial_generator is not None:
            generator = trainable(self.initial_generator)
        elif cfg.generator.pretrained:
            generator, _ = load_generator(cfg.generator.pretrained, cfg.generator, cfg.data.crop_size,
                                          self.engine.models_dir)
        else:
            generator = fresh_generator(cfg.generator)
        if cfg.generator.train == "decoder":
            train_only_decoder(generator)
        channels = _channels(generator)
        critic = discriminator(cfg.discriminator, sum(channels), cfg.discriminator.pretrained, resuming)
        losses = cfg.losses
        self.gan_loss = GANLoss(losses.gan_mode)
        self.pool = ImagePool(losses.pool_size)
        return {"G": generator.to(device), "D": critic.to(device)}

    def optimizers(self) -> dict[str, Optimizer]:
        o = self.config.optim
        return {"G": Optimizer(("G",), o.lr_g), "D": Optimizer(("D",), o.lr_d)}

    def phases(self) -> tuple[Phase, ...]:
        if self.config.discriminator.update_first:
            return Phase("discriminator", "D"), Phase("generator", "G")
        return Phase("generator", "G"), Phase("discriminator", "D")

    # --- data and losses ----------------------------------------------------------------------------
    def dataset(self):
        d, run = self.config.data, self.config.run
        require(bool(d.dir or d.dir_a), "pix2pix needs training pairs: an aligned A|B folder (--data, data.dir) "
                                        "or two folders paired by file name (--data-a/--data-b)")
        self.load_validation()
        return PairedImages(aligned=d.dir or None, folder_a=d.dir_a, folder_b=d.dir_b, load_size=d.load_size,
                            crop_size=d.crop_size, preprocess=d.preprocess, flip=d.flip, direction=d.direction,
                            seed=run.seed, resize=d.resize)

    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        engine, a = self.engine, batch["a"]
        if "fake" not in batch:  # G(A) once per micro-batch, in whichever phase comes first (one dropout draw)
            with engine.autocast():
                batch["fake"] = upcast(engine.networks["G"](a))
        if phase == "generator":
            fake = batch["fake"]
            if self.config.discriminator.update_first:
                engine.step_optimizer("D")
            with frozen(engine.network("D")) as critic, engine.autocast():
                score = critic(torch.cat([a, fake], 1))
            return {"l_G_GAN": self.gan_loss(upcast(score), True),
                    "l_G_L1": F.l1_loss(fake, batch["b"]) * self.config.losses.l1_weight}
        critic = engine.networks["D"]
        fake_pair = self.pool.query(torch.cat([a, batch["fake"].detach()], 1), batch["rng"])
        real_pair = torch.cat([a, batch["b"]], 1)
        with engine.autocast():
            fake_score, real_score = critic(fake_pair), critic(real_pair)
        out = {"l_D_fake": 0.5 * self.gan_loss(upcast(fake_score), False, is_disc=True),
               "l_D_real": 0.5 * self.gan_loss(upcast(real_score), True, is_disc=True)}
        if self.config.losses.gan_mode == "wgangp":
            out["l_D_gp"] = gradient_penalty(critic, real_pair, fake_pair, batch["rng"], self.config.losses.gp_weight)
        return out

    # --- files, state, validation -------------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        net = self.engine.network
        return {"net_G": net("G").state_dict(), "net_D": net("D").state_dict()}

    def state_dict(self) -> dict:
        return {"pool": self.pool.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "pool" in state:
            self.pool.load_state_dict(state["pool"], self.engine.device)

    def validate(self, preview: Path) -> dict:
        return self.scores_and_preview({"AtoB": self.engine.network("G")}, preview)


def _channels(generator: nn.Module) -> tuple[int, int]:
    """(input, output) channels of a U-Net or ResNet generator: its first and last convolutions."""
    convs = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    return convs[0].in_channels, convs[-1].out_channels
