"""GFPGAN v1-clean fine-tuning: the official v1 losses on a clean generator, discriminators in the v1 layouts.

Each micro-batch: aligned 512 crops and their eye/mouth boxes, GFPGAN's degradation on the device,
then three phases: the generator (pixel L1, U-Net pyramid L1, VGG19 perceptual + Gram style,
global GAN through the frozen D, component GAN + Gram feature losses through the frozen eye and
mouth Ds), the global discriminator (logistic loss, R1 every ``r1_every`` steps, lazily scaled),
and the component discriminators. During ``discriminator.warmup_steps`` the generator's phase
only makes the outputs: no generator tensor changes.

Files: ``net_g`` as ``{'params', 'params_ema'}`` in the clean layout (GFPGANer and our loader read
``params_ema``), ``net_d`` and ``net_d_left_eye`` / ``_right_eye`` / ``_mouth`` as ``{'params'}`` in
the official v1 layouts (the names of the released ``GFPGANv1_net_d*.pth``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ....gan_models.gfpgan import FacialComponentDiscriminator, StyleGAN2Discriminator
from ....gan_models.gfpgan.arcface import EMBEDDING_INPUT
from ....gan_models.loader import load_model
from ...components.losses import GANLoss, PerceptualLoss, gram_matrix
from ...config_schema import ConfigError
from ...degradation.face import FaceDegradation
from ...engine.networks import frozen, trainable
from ...engine.seeding import mix_seeds
from ..base import Optimizer, Phase, Recipe
from ...components.previews import write_strip
from .data import FaceCrops, crop_boxes, prepare_faces
from . import front_end
from .config import DEFAULT_PRESET, PRESETS, GFPGANConfig
from .generator import equalised_lr_scale, fresh_generator, freeze_untrained, is_trained, load_generator

log = logging.getLogger(__name__)

COMPONENTS = ("left_eye", "right_eye", "mouth")
CROP_AT_512 = {"left_eye": 80, "right_eye": 80, "mouth": 120}
FEATURE_STYLE_WEIGHTS = (0.5, 1.0)
VALIDATION_SEED = 12345


class GFPGAN(Recipe):
    name = "gfpgan"
    input_folder_settings = ("dir", "val_dir")
    config_type = GFPGANConfig
    presets = PRESETS
    default_preset = DEFAULT_PRESET
    main_output = "net_g"
    command_line = front_end.COMMAND_LINE
    node = front_end.NODE

    @classmethod
    def describe(cls, config: GFPGANConfig) -> str:
        g = config.generator
        return f"fine-tuning {g.pretrained or 'a fresh GFPGANv1Clean'} ({g.train})"

    @classmethod
    def validation_text(cls, metrics: dict) -> str:
        return (f"PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f} (degraded input "
                f"{metrics['psnr_input']:.2f} dB, {metrics['ssim_input']:.4f})")

    def __init__(self, config: GFPGANConfig, engine, *, initial_generator: nn.Module | None = None, detector=None):
        """``initial_generator`` (a GFPGANv1Clean) replaces ``generator.pretrained``; it is copied.
        ``detector`` (a loaded RetinaFace model) replaces ``data.detector``."""
        super().__init__(config, engine)
        self.initial_generator, self.detector = initial_generator, detector
        self.batch_size, self.num_workers = config.data.batch_size, config.data.num_workers
        self.val_faces: list[tuple[torch.Tensor, torch.Tensor]] = []

    # --- networks and optimizers ------------------------------------------------------------------
    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        cfg, device = self.config, self.engine.device
        if self.initial_generator is not None:
            generator = trainable(self.initial_generator)
        elif cfg.generator.pretrained:
            generator = load_generator(cfg.generator.pretrained, self.engine.models_dir)
        else:
            generator = fresh_generator(cfg.generator)
        freeze_untrained(generator, cfg.generator.train)
        self.face_size = generator.out_size
        self.input_is_latent = generator.input_is_latent
        networks = {"generator": generator.to(device), "discriminator": self._discriminator(resuming).to(device)}
        if self.components:
            for part in COMPONENTS:
                networks[f"d_{part}"] = self._component(part, resuming).to(device)
        self._build_losses()
        self.degrade = FaceDegradation(cfg.degradation)
        return networks

    @property
    def components(self) -> bool:
        losses = self.config.losses
        return losses.component_weight > 0 or losses.component_style_weight > 0

    def _discriminator(self, resuming: bool) -> nn.Module:
        d = self.config.discriminator
        if d.pretrained and not resuming:
            network = _load_discriminator(d.pretrained, "StyleGAN2Discriminator", "discriminator.pretrained",
                                          self.engine.models_dir)
            if network.out_size != self.face_size:
                raise ConfigError(f"discriminator.pretrained: {d.pretrained} judges {network.out_size} px faces, "
                                  f"the generator makes {self.face_size} px")
            return network
        return StyleGAN2Discriminator(self.face_size, d.channel_multiplier, d.narrow).train()

    def _component(self, part: str, resuming: bool) -> nn.Module:
        d = self.config.discriminator
        path = getattr(d, part)
        if path and not resuming:
            return _load_discriminator(path, "FacialComponentDiscriminator", f"discriminator.{part}",
                                       self.engine.models_dir)
        return FacialComponentDiscriminator(d.component_num_feat).train()

    def _build_losses(self) -> None:
        losses, device = self.config.losses, self.engine.device
        self.perceptual_loss = None
        if losses.perceptual_weight > 0 or losses.style_weight > 0:
            from ...components.vgg import perceptual_vgg19

            vgg = perceptual_vgg19(losses.vgg_weights, self.engine.models_dir,
                                   switch_off="losses.perceptual_weight and style_weight to 0")
            self.perceptual_loss = PerceptualLoss(vgg.to(device), layer_weights=losses.perceptual_layers,
                                                  range_norm=True, perceptual_weight=losses.perceptual_weight,
                                                  style_weight=losses.style_weight)
        self.gan_loss = GANLoss("wgan_softplus", weight=losses.gan_weight)
        self.component_loss = GANLoss("vanilla", weight=losses.component_weight)
        self.identity = None
        if losses.identity_weight > 0 and losses.arcface_weights:
            from ....gan_models.gfpgan.arcface import load_arcface

            self.identity = load_arcface(losses.arcface_weights).to(device)
        elif losses.identity_weight > 0:
            log.info("identity loss off: it needs GFPGAN's arcface_resnet18.pth (losses.arcface_weights)")

    def averaged(self) -> dict[str, str]:
        return {"ema": "generator"}

    def optimizers(self) -> dict[str, Optimizer]:
        o, losses, part = self.config.optim, self.config.losses, self.config.generator.train

        def generator_scale(network: str, name: str) -> float:
            parameter = dict(self.engine.network(network).named_parameters())[name]
            return equalised_lr_scale(name, parameter) if is_trained(name, part, self.input_is_latent) else 0.0

        # Lazy R1 (every k steps) is compensated as StyleGAN2 does: lr and betas to the power k/(k+1).
        ratio = losses.r1_every / (losses.r1_every + 1) if losses.r1_weight > 0 else 1.0
        out = {"g": Optimizer(("generator",), o.lr_g, lr_scale=generator_scale),
               "d": Optimizer(("discriminator",), o.lr_d * ratio, betas=(o.betas[0] ** ratio, o.betas[1] ** ratio))}
        if self.components:  # official: their own Adam, betas (0.9, 0.99)
            out["d_components"] = Optimizer(tuple(f"d_{p}" for p in COMPONENTS), o.lr_d, betas=(0.9, 0.99))
        return out

    def skips_parameters(self, network: str) -> bool:
        # The U-Net's RGB heads run only for the pyramid loss: once it stops (or with weight 0) a
        # backward pass leaves them without a gradient, which DDP must be told to expect.
        losses = self.config.losses
        return network == "generator" and not (losses.pyramid_weight > 0
                                               and losses.pyramid_until >= self.config.run.total_steps)

    def phases(self) -> tuple[Phase, ...]:
        phases = [Phase("generator", "g"), Phase("discriminator", "d")]
        if self.components:
            phases.append(Phase("components", "d_components"))
        return tuple(phases)

    # --- data -------------------------------------------------------------------------------------
    def _faces(self, folder: str):
        d, run = self.config.data, self.config.run
        cache = Path(d.cache_dir) if d.cache_dir else Path(run.output_dir) / "face_cache"
        name = self.detector.name if self.detector is not None else d.detector
        return prepare_faces(folder, self.face_size, cache, aligned=d.aligned, load_detector=self._load_detector,
                             detector_name=name, threshold=d.threshold, min_face_size=d.min_face_size,
                             max_faces=d.max_faces_per_image or None, device=self.engine.device)

    def _load_detector(self):
        if self.detector is not None:
            return self.detector
        return load_model(self.config.data.detector, models_dir=self.engine.models_dir)

    def dataset(self):
        d, run = self.config.data, self.config.run
        if not d.dir:
            raise ConfigError("data.dir: give the folder of face photos (--data)")
        crops, boxes = self._faces(d.dir)
        log.info("%d training faces from %s", len(crops), d.dir)
        if self.engine.processes.is_main and d.val_dir:
            self._load_validation(d.val_dir)
        self.training_faces = FaceCrops(crops, boxes, seed=run.seed, hflip=d.use_hflip)
        return self.training_faces

    def _load_validation(self, folder: str) -> None:
        crops, _ = self._faces(folder)
        gt = torch.from_numpy(np.ascontiguousarray(crops[: self.config.data.val_max_faces].transpose(0, 3, 1, 2)))
        gt = gt.float() / 255
        lq, gt = self.degrade(gt, torch.Generator().manual_seed(VALIDATION_SEED))
        self.val_faces = list(zip(lq.split(1), gt.split(1), strict=True))

    def make_batch(self, samples: dict, micro: int) -> dict:
        """``lq`` and ``gt`` in [-1, 1], ``boxes`` (B×3×3) and the seed of the generator's noise."""
        engine = self.engine
        seed = mix_seeds(self.config.run.seed, engine.step, micro, engine.processes.rank)
        gt = samples["gt"].to(engine.device, non_blocking=True)
        lq, gt = self.degrade(gt, torch.Generator().manual_seed(seed))
        return {"lq": lq * 2 - 1, "gt": gt * 2 - 1, "boxes": samples["boxes"].to(engine.device),
                "noise": seed ^ 0x5DEECE66D}

    # --- losses -----------------------------------------------------------------------------------
    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        if phase == "generator":
            return self._generator_losses(batch)
        if phase == "discriminator":
            return self._discriminator_losses(batch)
        return self._component_losses(batch)

    @property
    def warming_up(self) -> bool:
        return self.engine.step < self.config.discriminator.warmup_steps

    def _generator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        engine, losses = self.engine, self.config.losses
        if self.warming_up:  # only the discriminators learn: make the outputs, train nothing here
            with torch.no_grad(), engine.autocast():
                batch["output"] = engine.networks["generator"](batch["lq"], noise=batch["noise"])[0].float()
            return {}
        pyramid = losses.pyramid_weight > 0 and engine.step < losses.pyramid_until
        with engine.autocast():
            output, rgbs = engine.networks["generator"](batch["lq"], return_rgb=pyramid, noise=batch["noise"])
        output = batch["output"] = output.float()
        gt = batch["gt"]
        out: dict[str, torch.Tensor] = {}
        if losses.pixel_weight > 0:
            out["l_pix"] = F.l1_loss(output, gt) * losses.pixel_weight
        if pyramid:
            targets = _pyramid(gt, len(rgbs))
            out["l_pyramid"] = sum(F.l1_loss(rgb.float(), target)
                                   for rgb, target in zip(rgbs, targets, strict=True)) * losses.pyramid_weight
        if self.perceptual_loss is not None:
            with engine.autocast():
                percep, style = self.perceptual_loss(output, gt)
            if percep is not None:
                out["l_percep"] = percep.float()
            if style is not None:
                out["l_style"] = style.float()
        if losses.gan_weight > 0:
            with frozen(engine.network("discriminator")) as critic, engine.autocast():
                out["l_g_gan"] = self.gan_loss(critic(output).float(), True)
        if self.components:
            out.update(self._generator_component_losses(output, gt, batch["boxes"]))
        if self.identity is not None:
            with engine.autocast():
                with torch.no_grad():
                    target = self.identity(_grey_128(gt))
                embedding = self.identity(_grey_128(output))
            out["l_identity"] = F.l1_loss(embedding.float(), target.float()) * losses.identity_weight
        return out

    def _crops(self, images: torch.Tensor, boxes: torch.Tensor) -> dict[str, torch.Tensor]:
        scale = self.face_size / 512
        return {part: crop_boxes(images, boxes[:, index], max(8, round(CROP_AT_512[part] * scale / 4) * 4))
                for index, part in enumerate(COMPONENTS)}

    def _generator_component_losses(self, output, gt, boxes) -> dict[str, torch.Tensor]:
        losses, engine = self.config.losses, self.engine
        fakes, reals = self._crops(output, boxes), self._crops(gt, boxes)
        out: dict[str, torch.Tensor] = {}
        style = output.new_zeros(())
        for part in COMPONENTS:
            with frozen(engine.network(f"d_{part}")) as critic, engine.autocast():
                fake_score, fake_features = critic(fakes[part], return_feats=True)
                if losses.component_weight > 0:
                    out[f"l_g_{part}"] = self.component_loss(fake_score.float(), True)
                if losses.component_style_weight > 0:
                    with torch.no_grad():
                        _, real_features = critic(reals[part], return_feats=True)
                    for weight, fake_f, real_f in zip(FEATURE_STYLE_WEIGHTS, fake_features, real_features, strict=True):
                        style = style + weight * F.l1_loss(gram_matrix(fake_f.float()), gram_matrix(real_f.float()))
        if losses.component_style_weight > 0:
            out["l_g_comp_style"] = style * losses.component_style_weight
        return out

    def _discriminator_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        losses, critic = self.config.losses, self.engine.networks["discriminator"]
        with self.engine.autocast():
            fake = critic(batch["output"].detach()).float()
            real = critic(batch["gt"]).float()
        out = {"l_d_real": self.gan_loss(real, True, is_disc=True),
               "l_d_fake": self.gan_loss(fake, False, is_disc=True)}
        if losses.r1_weight > 0 and self.engine.step % losses.r1_every == 0:
            images = batch["gt"].detach().requires_grad_(True)
            score = critic(images)
            (grad,) = torch.autograd.grad(score.sum(), images, create_graph=True)
            penalty = grad.pow(2).flatten(1).sum(1).mean()
            out["l_d_r1"] = losses.r1_weight / 2 * penalty * losses.r1_every + 0 * score[0, 0]
        return out

    def _component_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        fakes, reals = self._crops(batch["output"].detach(), batch["boxes"]), self._crops(batch["gt"], batch["boxes"])
        out = {}
        for part in COMPONENTS:
            critic = self.engine.networks[f"d_{part}"]
            with self.engine.autocast():
                real, _ = critic(reals[part])
                fake, _ = critic(fakes[part])
            out[f"l_d_{part}"] = (self.component_loss(real.float(), True, is_disc=True)
                                  + self.component_loss(fake.float(), False, is_disc=True))
        return out

    # --- files, validation ------------------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        net = self.engine.network
        out = {"net_g": {"params": net("generator").state_dict(), "params_ema": self.engine.emas["ema"].state_dict()},
               "net_d": {"params": net("discriminator").state_dict()}}
        if self.components:
            out.update({f"net_d_{part}": {"params": net(f"d_{part}").state_dict()} for part in COMPONENTS})
        return out

    @property
    def validates(self) -> bool:
        return bool(self.val_faces)

    def validate(self, preview: Path) -> dict:
        return validate_faces(self.engine.emas["ema"].network, self.val_faces, self.engine.device, preview)


def validate_faces(network: nn.Module, faces, device, preview: Path | None = None) -> dict:
    """PSNR / SSIM (luma) of ``network``'s restorations and of the degraded inputs, against the targets.

    The stored noise is used (``noise=None``): the same face always gives the same output.
    """
    from ...components.metrics import psnr, ssim

    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_input": [], "ssim_input": []}
    with torch.no_grad():
        for index, (lq, gt) in enumerate(faces):
            out = ((network(lq.to(device) * 2 - 1)[0].float().cpu() + 1) / 2).clamp(0, 1)
            scores["psnr"].append(psnr(out, gt))
            scores["ssim"].append(ssim(out, gt))
            scores["psnr_input"].append(psnr(lq, gt))
            scores["ssim_input"].append(ssim(lq, gt))
            if index == 0 and preview is not None:
                write_strip(preview, [lq, out, gt])
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _grey_128(images: torch.Tensor) -> torch.Tensor:
    """What the identity network sees: luma of the [-1, 1] image, bilinear to 128×128 (as the official)."""
    grey = (0.2989 * images[:, 0] + 0.5870 * images[:, 1] + 0.1140 * images[:, 2])[:, None]
    return F.interpolate(grey, size=(EMBEDDING_INPUT, EMBEDDING_INPUT), mode="bilinear", align_corners=False)


def _pyramid(gt: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The target at the U-Net's RGB sizes, smallest first (bilinear halvings, as the official)."""
    images = [gt]
    for _ in range(levels - 1):
        images.insert(0, F.interpolate(images[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return images


def _load_discriminator(path: str, architecture: str, setting: str, models_dir) -> nn.Module:
    model = load_model(path, models_dir=models_dir)
    if model.architecture != architecture:
        raise ConfigError(f"{setting}: {path} is a {model.architecture}, not a {architecture} "
                          "(GFPGAN's released v1 discriminators: GFPGANv1_net_d.pth, GFPGANv1_net_d_left_eye.pth, ...)")
    return trainable(model.module)
