"""Real-ESRGAN (and RealESRNet): one generator, an optional discriminator, super-resolution crops.

Each micro-batch: inputs made from the targets (second-order degradation through the pair pool,
a bicubic downscale, or read from a paired folder), then the generator phase (pixel, perceptual
and adversarial losses, D frozen) and the discriminator phase (real vs the detached output).
Targets are USM-sharpened where the ``losses.sharpen_*`` flags say, as in the official recipe.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ....gan_models.errors import GanpostError
from ...components.losses import GANLoss, PerceptualLoss, PixelLoss
from ...components.sr_data import HighResolutionCrops, PairedCrops, validation_images
from ...components.sr_validation import scores_text, validate
from ...degradation import bicubic_downscale, usm_sharpen
from ...engine.networks import frozen
from ...engine.seeding import mix_seeds
from ..base import Optimizer, Phase, Recipe
from . import front_end
from .config import DEFAULT_PRESET, PRESETS, TrainConfig
from .generator import build_generator


class RealESRGAN(Recipe):
    name = "realesrgan"
    input_folder_settings = ("train_dir", "lq_dir", "val_dir", "val_lq_dir")
    config_type = TrainConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    main_output = "net_g"
    reads_unnamed_states = True
    command_line = front_end.COMMAND_LINE
    node = front_end.NODE

    @classmethod
    def describe(cls, config: TrainConfig) -> str:
        return f"{config.generator.arch} ×{config.generator.scale}"

    @classmethod
    def validation_text(cls, metrics: dict) -> str:
        return scores_text(metrics)

    def __init__(self, config: TrainConfig, engine, *, initial_generator: nn.Module | None = None):
        """``initial_generator`` (a module with official names) replaces ``generator.pretrained``; it is copied."""
        super().__init__(config, engine)
        self.initial_generator = initial_generator
        self.batch_size, self.num_workers = config.data.batch_size, config.data.num_workers
        self.paired = config.data.degradation == "paired" or bool(config.data.lq_dir)
        self.val_images: list = []

    # --- networks and optimizers ------------------------------------------------------------------
    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        cfg, device, models_dir = self.config, self.engine.device, self.engine.models_dir
        generator = build_generator(cfg.generator, models_dir=models_dir, initial=self.initial_generator).to(device)
        if self._channels_last:
            generator = generator.to(memory_format=torch.channels_last)
        networks = {"generator": generator}
        losses = cfg.losses
        self.pixel_loss = PixelLoss(losses.pixel_kind, losses.pixel_weight) if losses.pixel_weight > 0 else None
        self.perceptual_loss = None
        if losses.perceptual_weight > 0:
            from ...components.vgg import perceptual_vgg19

            vgg = perceptual_vgg19(losses.vgg_weights, models_dir)
            self.perceptual_loss = PerceptualLoss(vgg.to(device), layer_weights=losses.perceptual_layers,
                                                  perceptual_weight=losses.perceptual_weight)
        self.gan_loss = None
        if self.adversarial:
            networks["discriminator"] = self._discriminator(resuming).to(device).train()
            self.gan_loss = GANLoss(losses.gan_kind, weight=losses.gan_weight)
        if self.pixel_loss is None and self.perceptual_loss is None and self.gan_loss is None:
            raise GanpostError("every loss weight is 0: set losses.pixel_weight, perceptual_weight or gan_weight")
        self.degrade = self.pool = None
        if cfg.data.degradation == "realesrgan" and not self.paired:
            from ...degradation import SecondOrderDegradation, TrainingPairPool

            self.degrade = SecondOrderDegradation(cfg.degradation, cfg.generator.scale)
            self.pool = TrainingPairPool(cfg.data.pool_size) if cfg.data.pool_size else None
        return networks

    @property
    def adversarial(self) -> bool:
        return self.config.discriminator.kind != "none" and self.config.losses.gan_weight > 0

    @property
    def _channels_last(self) -> bool:
        return self.config.run.channels_last and self.engine.device.type in ("cpu", "cuda")

    def _discriminator(self, resuming: bool) -> nn.Module:
        from ....gan_models.pix2pix import NLayerDiscriminator
        from ....gan_models.realesrgan import UNetDiscriminatorSN
        from ...components.discriminators import load_discriminator

        d = self.config.discriminator
        if d.pretrained and not resuming:
            return load_discriminator(d.pretrained)
        if d.kind == "unet":
            return UNetDiscriminatorSN(num_feat=d.num_feat, skip_connection=d.skip_connection)
        return NLayerDiscriminator(num_feat=d.num_feat)

    def averaged(self) -> dict[str, str]:
        return {"ema": "generator"}

    def optimizers(self) -> dict[str, Optimizer]:
        o = self.config.optim
        out = {"g": Optimizer(("generator",), o.lr_g)}
        if self.adversarial:
            out["d"] = Optimizer(("discriminator",), o.lr_d)
        return out

    def phases(self) -> tuple[Phase, ...]:
        return (Phase("generator", "g"), Phase("discriminator", "d")) if self.adversarial else (Phase("generator", "g"),)

    # --- data -------------------------------------------------------------------------------------
    def dataset(self):
        d, cfg = self.config.data, self.config
        if self.engine.processes.is_main and d.val_dir:
            self.val_images = validation_images(d.val_dir, cfg.generator.scale, lq_folder=d.val_lq_dir,
                                                max_images=d.val_max_images, crop=d.val_crop)
        if self.paired:
            return PairedCrops(d.train_dir, d.lq_dir, cfg.generator.scale, d.gt_size, seed=cfg.run.seed,
                               hflip=d.use_hflip, rot=d.use_rot)
        return HighResolutionCrops(d.train_dir, d.gt_size, seed=cfg.run.seed, hflip=d.use_hflip, rot=d.use_rot)

    def make_batch(self, samples: dict, micro: int) -> dict:
        """``lq`` (input), ``gt`` (target) and ``sharp`` (the sharpened target, or ``gt``) on the device."""
        device = self.engine.device
        gt = samples["gt"].to(device, non_blocking=True)
        sharp = None
        if "lq" in samples:
            lq = samples["lq"].to(device, non_blocking=True)
        elif self.degrade is not None:
            engine = self.engine
            seed = mix_seeds(self.config.run.seed, engine.step, micro, engine.processes.rank)
            rng = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                sharp = usm_sharpen(gt)  # the official recipe degrades the sharpened target
                lq = self.degrade(sharp, rng)
                if self.pool is not None:
                    lq, gt = self.pool.push_pull(lq, gt, rng)
                    sharp = None  # the pool swapped the targets: sharpen the ones that came out
        else:
            lq = bicubic_downscale(gt, self.config.generator.scale)
        losses = self.config.losses
        if sharp is None and (losses.sharpen_pixel_target or losses.sharpen_perceptual_target
                              or losses.sharpen_gan_target):
            with torch.no_grad():
                sharp = usm_sharpen(gt)
        if self._channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return {"lq": lq, "gt": gt, "sharp": gt if sharp is None else sharp}

    # --- losses -----------------------------------------------------------------------------------
    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        return self._generator_losses(batch) if phase == "generator" else self._discriminator_losses(batch)

    def _generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        flags, engine = self.config.losses, self.engine
        gt, sharp = batch["gt"], batch["sharp"]
        with engine.autocast():
            output = engine.networks["generator"](batch["lq"])
        output = batch["output"] = output.float()
        out: dict[str, torch.Tensor] = {}
        if self.pixel_loss is not None:
            out["l_pix"] = self.pixel_loss(output, sharp if flags.sharpen_pixel_target else gt)
        if self.perceptual_loss is not None:
            with engine.autocast():
                percep, style = self.perceptual_loss(output, sharp if flags.sharpen_perceptual_target else gt)
            if percep is not None:
                out["l_percep"] = percep.float()
            if style is not None:
                out["l_style"] = style.float()
        if self.gan_loss is not None:
            # The bare module: no DDP hooks for a pass whose weights are frozen.
            with frozen(engine.network("discriminator")) as discriminator, engine.autocast():
                fake = discriminator(output)
            out["l_g_gan"] = self.gan_loss(fake.float(), True, is_disc=False)
        return out

    def _discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        # The official recipe shows D the un-sharpened target as "real" (gan_gt_usm False).
        real_images = batch["sharp"] if self.config.losses.sharpen_gan_target else batch["gt"]
        discriminator = self.engine.networks["discriminator"]
        with self.engine.autocast():
            real = discriminator(real_images)
            fake = discriminator(batch["output"].detach())
        return {"l_d_real": self.gan_loss(real.float(), True, is_disc=True),
                "l_d_fake": self.gan_loss(fake.float(), False, is_disc=True)}

    # --- files, state, validation -----------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        """``net_g`` in the official layout (loads in BasicSR, spandrel, ComfyUI), ``net_d`` as ``{'params'}``."""
        engine = self.engine
        out = {"net_g": {"params": engine.network("generator").state_dict(),
                         "params_ema": engine.emas["ema"].state_dict()}}
        if self.adversarial:
            out["net_d"] = {"params": engine.network("discriminator").state_dict()}
        return out

    def state_dict(self) -> dict:
        return {"pool": self.pool.state_dict()} if self.pool is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.pool is not None and "pool" in state:
            self.pool.load_state_dict(state["pool"], self.engine.device)

    @property
    def validates(self) -> bool:
        return bool(self.val_images)

    def validate(self, preview: Path) -> dict:
        return validate(self.engine.emas["ema"].network, self.val_images, self.config.generator.scale,
                        self.engine.device, preview)
