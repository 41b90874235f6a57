"""The Real-ESRGAN recipe's config: its sections, the engine's two, and its presets.

Presets are plain dicts layered under the user's file, so ``--preset realesrnet-x4plus --config
mine.toml --set optim.lr_g=5e-5`` reads left to right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config_schema import ConfigError
from ...degradation import DegradationSettings
from ...engine.config import OptimConfig, RunConfig, positive, validate_engine_sections
from .generator import check_generator

Degradation = Literal["realesrgan", "bicubic", "paired"]


@dataclass
class DataConfig:
    train_dir: str = ""
    """High-resolution images; with ``lq_dir`` set, the high-resolution half of the pairs."""
    lq_dir: str | None = None
    """Low-resolution images matched to ``train_dir`` by file name (paired training)."""
    val_dir: str | None = None
    """Held-out high-resolution images, validated against their bicubic downscale."""
    val_lq_dir: str | None = None
    degradation: Degradation = "realesrgan"
    """How inputs are made: Real-ESRGAN's second-order pipeline, a clean bicubic downscale, or read from lq_dir."""
    gt_size: int = 256
    batch_size: int = 12
    use_hflip: bool = True
    use_rot: bool = False
    pool_size: int = 180
    """Training-pair pool that mixes degradations across batches (0 turns it off)."""
    num_workers: int = 0
    val_max_images: int = 8
    val_crop: int = 0
    """Centre-crop validation targets to this side first (0 = whole images)."""


@dataclass
class GeneratorConfig:
    arch: str = "RRDBNet"
    """One of the registry's Real-ESRGAN architectures (``registry.architectures("realesrgan")``)."""
    pretrained: str | None = None
    """A checkpoint file or official model name; the network's shape then comes from the file."""
    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    num_conv: int = 16
    """The shape fields a fresh network's constructor takes are used; the others are ignored."""
    act_type: Literal["prelu", "relu", "leakyrelu"] = "prelu"


@dataclass
class DiscriminatorConfig:
    kind: Literal["unet", "patchgan", "none"] = "unet"
    pretrained: str | None = None
    num_feat: int = 64
    skip_connection: bool = True


@dataclass
class LossConfig:
    pixel_kind: Literal["l1", "mse", "charbonnier"] = "l1"
    pixel_weight: float = 1.0
    perceptual_weight: float = 1.0
    perceptual_layers: dict[str, float] = field(
        default_factory=lambda: {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0})
    vgg_weights: str | None = None
    """torchvision's vgg19-dcbb9e9d.pth (downloaded into the models cache when absent); ``random`` runs the
    perceptual loss on a random VGG19 (tests, offline machines: it then measures nothing a person sees; the
    run says so)."""
    gan_kind: Literal["vanilla", "lsgan", "hinge", "wgan_softplus"] = "vanilla"
    gan_weight: float = 0.1
    sharpen_pixel_target: bool = True
    sharpen_perceptual_target: bool = True
    sharpen_gan_target: bool = False


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> "TrainConfig":
        """Checks that involve more than one field's type."""
        d, g = self.data, self.generator
        positive("data.batch_size", d.batch_size)
        validate_engine_sections(self.optim, self.run)
        check_generator(g)
        if d.gt_size % (g.scale * 4):
            raise ConfigError(f"data.gt_size: {d.gt_size} must be a multiple of 4 × the scale ({g.scale * 4})")
        if self.discriminator.kind == "unet" and self.losses.gan_weight > 0 and d.gt_size % 8:
            raise ConfigError(f"data.gt_size: {d.gt_size} must be a multiple of 8 for the U-Net discriminator")
        if d.degradation == "paired" and not d.lq_dir:
            raise ConfigError("data.degradation is 'paired' but data.lq_dir is not set: give the low-resolution folder")
        return self


# The official finetune_realesrgan_x4plus recipe (Real-ESRGAN a4abfb2): G from RealESRNet, D from netD.
_REALESRGAN_X4PLUS: dict = {}

# train_realesrnet_x4plus: L1 only, lr 2e-4, no discriminator.
_REALESRNET_X4PLUS: dict = {
    "discriminator": {"kind": "none"},
    "losses": {"perceptual_weight": 0.0, "gan_weight": 0.0},
    "optim": {"lr_g": 2e-4, "milestones": [1000000], "ema_decay": 0.999},
    "run": {"total_steps": 1000000},
}

# The recipe of the model ganpost ships (docs/training/builtin-model.md): a small compact ×4
# network trained from scratch with L1 on clean bicubic downscales of scikit-image's photos.
_COMPACT_X4_CLEAN: dict = {
    "data": {"degradation": "bicubic", "gt_size": 128, "batch_size": 16, "use_rot": True, "pool_size": 0,
             "val_max_images": 8},
    "generator": {"arch": "SRVGGNetCompact", "num_feat": 32, "num_conv": 12, "act_type": "prelu"},
    "discriminator": {"kind": "none"},
    "losses": {"perceptual_weight": 0.0, "gan_weight": 0.0, "sharpen_pixel_target": False,
               "sharpen_perceptual_target": False},
    "optim": {"lr_g": 1e-3, "schedule": "cosine", "warmup_steps": 200, "ema_decay": 0.999},
    "run": {"total_steps": 6000, "log_every": 50, "save_every": 500, "val_every": 1000},
}

PRESETS: dict[str, dict] = {
    "realesrgan-x4plus": _REALESRGAN_X4PLUS,
    "realesrnet-x4plus": _REALESRNET_X4PLUS,
    "compact-x4-clean": _COMPACT_X4_CLEAN,
}
DEFAULT_PRESET = "realesrgan-x4plus"
