"""The GFPGAN recipe's config: data, generator, discriminators, losses, and the engine's two sections.

Defaults are ``train_gfpgan_v1.yml``'s losses and weights (TencentARC/GFPGAN) with fine-tuning
rates: the official 2e-3 trained from scratch, and the community reports loss spikes and NaN at
2e-4 … 2e-3 on the clean files (GFPGAN #270, #19; GFPGAN-1024 #5). Here learning rates are in
equalised-LR units (see ``generator.py``), so one number means the same step for every layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config_schema import ConfigError
from ...degradation.face import FaceDegradationSettings
from ...engine.config import OptimConfig, RunConfig, positive, validate_engine_sections


@dataclass
class DataConfig:
    dir: str = ""
    """Photos with faces, any size: each face is detected, aligned to the FFHQ template and cached."""
    aligned: bool = False
    """The photos are aligned square face crops already (FFHQ-style): no detection, boxes from the template."""
    val_dir: str | None = None
    """Held-out photos, prepared the same way and degraded once with a fixed seed: PSNR / SSIM and a preview."""
    detector: str = "retinaface_resnet50"
    """RetinaFace file or known name (``retinaface_mobilenet0.25`` is smaller)."""
    threshold: float = 0.97
    """The detector's confidence a face needs (0–1); lower it when faces are missed."""
    min_face_size: float = 64.0
    """Faces whose box's shorter side is smaller, in the photo's pixels, are left out: their crop would
    only be upscaled blur. The log names each photo whose faces were all too small, with the size found;
    lower this (``--set data.min_face_size=32``) to train on them anyway."""
    max_faces_per_image: int = 0
    """0: every face found; n: the n largest."""
    cache_dir: str | None = None
    """Where aligned crops are cached (default: ``<run.output_dir>/face_cache``)."""
    use_hflip: bool = True
    batch_size: int = 4
    num_workers: int = 0
    val_max_faces: int = 8


@dataclass
class GeneratorConfig:
    pretrained: str | None = None
    """A GFPGANv1Clean file or known name (GFPGANv1.4, GFPGANv1.3); its ``params_ema`` when present."""
    train: Literal["encoder", "all"] = "encoder"
    """encoder: the U-Net, its SFT conditions and style codes learn, the StyleGAN2 decoder stays frozen
    (the safe default: the decoder is the face prior); all: the decoder learns too."""
    out_size: int = 512
    """A fresh generator's shape (no ``pretrained``): tests and from-scratch runs."""
    num_style_feat: int = 512
    channel_multiplier: float = 2
    narrow: float = 1
    num_mlp: int = 8


@dataclass
class DiscriminatorConfig:
    pretrained: str | None = None
    """GFPGANv1_net_d.pth (512 px, multiplier 1); fresh when not given."""
    left_eye: str | None = None
    """GFPGANv1_net_d_left_eye.pth; and the same for the right eye and the mouth."""
    right_eye: str | None = None
    mouth: str | None = None
    channel_multiplier: float = 1
    narrow: float = 1
    component_num_feat: int = 64
    warmup_steps: int = 5000
    """Steps at the start that train only the discriminators, the generator frozen (a fresh D would
    otherwise hand it random gradients; cszn/KAIR#94). 0 with released discriminators."""


@dataclass
class LossConfig:
    pixel_weight: float = 0.1
    pyramid_weight: float = 1.0
    """L1 of the U-Net's RGB outputs at every level against the downscaled target."""
    pyramid_until: int = 50000
    """The pyramid loss stops after this step (the official drops its weight to 1e-12)."""
    perceptual_weight: float = 1.0
    style_weight: float = 50.0
    perceptual_layers: dict[str, float] = field(
        default_factory=lambda: {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0})
    vgg_weights: str | None = None
    """torchvision's vgg19-dcbb9e9d.pth (downloaded when absent); ``random`` runs the VGG losses on a
    random VGG19 (tests, offline machines: it then measures nothing a person sees; the run says so)."""
    gan_weight: float = 0.1
    r1_weight: float = 10.0
    r1_every: int = 16
    component_weight: float = 1.0
    """GAN loss of the eye and mouth discriminators (0: no component discriminators at all)."""
    component_style_weight: float = 200.0
    """Gram-matrix L1 of the component discriminators' conv3 (×0.5) and conv5 (×1) features."""
    identity_weight: float = 10.0
    arcface_weights: str | None = None
    """arcface_resnet18.pth (GFPGAN v0.1.0 release): L1 between the ArcFace embeddings of output and target
    (grey, 128 px). Without the file the identity loss is off, and the run's log says so."""


@dataclass
class GFPGANConfig:
    data: DataConfig = field(default_factory=DataConfig)
    degradation: FaceDegradationSettings = field(default_factory=FaceDegradationSettings)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> "GFPGANConfig":
        positive("data.batch_size", self.data.batch_size)
        validate_engine_sections(self.optim, self.run)
        if self.losses.r1_every < 1:
            raise ConfigError(f"losses.r1_every: {self.losses.r1_every} must be 1 or more")
        if self.discriminator.warmup_steps < 0:
            raise ConfigError("discriminator.warmup_steps: must be 0 or more")
        size = self.generator.out_size
        if size & (size - 1) or size < 8:
            raise ConfigError(f"generator.out_size: {size} must be a power of two of at least 8")
        return self


# Fine-tuning the released clean models: official losses and betas, EMA 0.5^(32/10⁴), a constant
# 2e-4 for G (a tenth of the official from-scratch rate, in equalised units) and D, gradient
# clipping at 1000 as NVlabs/GOHA fine-tunes GFPGAN v1.3.
_FINETUNE: dict = {
    "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.0, 0.99], "schedule": "constant",
              "ema_decay": 0.5 ** (32 / 10000), "grad_clip": 1000.0},
    "run": {"total_steps": 20000, "log_every": 50, "save_every": 1000, "val_every": 1000, "channels_last": False},
}
PRESETS: dict[str, dict] = {"gfpgan-v1.4-finetune": _FINETUNE}
DEFAULT_PRESET = "gfpgan-v1.4-finetune"
