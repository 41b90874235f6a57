"""The AuraSR recipe's config and preset.

fal published no training code for AuraSR; the preset takes GigaGAN's upsampler recipe where
lucidrains/gigagan-pytorch states it (hinge loss, multi-scale loss ×0.1, zero-centred gradient
penalty ×10 every 4 steps, auxiliary reconstruction ×1, Adam β (0.5, 0.9)) and adds what
fine-tuning a released model needs: L1 and perceptual anchors to the target (ours, so the
generator cannot drift from the image it was given), a lower generator rate, the style network
frozen, and a discriminator warm-up with the generator frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config_schema import ConfigError
from ...degradation import DegradationSettings
from ...engine.config import OptimConfig, RunConfig, positive, validate_engine_sections

SCALE = 4


@dataclass
class DataConfig:
    train_dir: str = ""
    """High-resolution images; inputs are made from them."""
    val_dir: str | None = None
    """Held-out high-resolution images, validated against their bicubic downscale."""
    degradation: Literal["realesrgan", "bicubic"] = "realesrgan"
    """Real-ESRGAN's second-order degradation, or a clean bicubic downscale."""
    gt_size: int = 256
    """Training crop side at the output resolution (AuraSR's tile: 256, from a 64 px input)."""
    batch_size: int = 4
    use_hflip: bool = True
    use_rot: bool = False
    num_workers: int = 0
    val_max_images: int = 4
    val_crop: int = 256
    """Centre-crop validation targets to this side first (0 = whole images)."""


@dataclass
class GeneratorConfig:
    pretrained: str | None = None
    """An AuraSR file our loader reads (``model.safetensors`` with its config.json, a ``.ckpt``…) or
    a known name (``AuraSR-v2``, ``AuraSR``); without it the network starts fresh from ``config``."""
    config: str | None = None
    """A config.json for the network (the shape of a fresh one; or the file's when it has none beside it)."""
    gradient_checkpointing: bool = True
    """Recompute blocks in the backward pass: same results, far less activation memory."""
    train_style_network: bool = False
    """Train the style mapping network too (frozen by default: fine-tuning keeps the released styles)."""
    ema: bool = True
    """Keep an average of the weights and save it (needs one more copy of the generator in memory)."""


@dataclass
class DiscriminatorConfig:
    pretrained: str | None = None
    """A discriminator saved by an earlier run (``net_d.safetensors``) to continue from."""
    warmup_steps: int = 1000
    """Steps that train only the discriminator, the generator frozen (a fresh D must learn first)."""
    dim_capacity: int = 16
    dim_max: int = 512
    multiscale_inputs: tuple[int, ...] = (128,)
    """Resolutions (below data.gt_size) at which a resized copy of the image enters."""
    multiscale_output_skip: int = 1
    attn_resolutions: tuple[int, ...] = (32, 16)
    attn_heads: int = 8
    attn_dim_head: int = 64
    excite_skip: int = 4
    recon_resolution: int = 8
    """The stage whose features reconstruct the real image (0 = no auxiliary decoder)."""


@dataclass
class LossConfig:
    pixel_weight: float = 1.0
    """L1 to the target: an anchor, our addition to GigaGAN's recipe."""
    perceptual_weight: float = 1.0
    """VGG19 perceptual loss to the target: the second anchor (needs torchvision's VGG19 weights)."""
    perceptual_layers: dict[str, float] = field(
        default_factory=lambda: {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0})
    vgg_weights: str | None = None
    """torchvision's vgg19-dcbb9e9d.pth (downloaded into the models cache when absent); ``random`` runs the
    perceptual loss on a random VGG19 (tests, offline machines: it then measures nothing a person sees; the
    run says so)."""
    gan_weight: float = 0.1
    """The generator's hinge loss weight (0 with pixel/perceptual only: no discriminator is built)."""
    multiscale_weight: float = 0.1
    """Weight of the patch predictors' hinge losses relative to the main one (GigaGAN: 0.1)."""
    gp_weight: float = 10.0
    """Zero-centred gradient penalty on real and fake images (GigaGAN: 10)."""
    gp_every: int = 4
    recon_weight: float = 1.0
    """The discriminator's auxiliary reconstruction (MSE) of the real image."""


@dataclass
class AuraSRConfig:
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationSettings = field(default_factory=DegradationSettings)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def adversarial(self) -> bool:
        return self.losses.gan_weight > 0

    def validate(self) -> "AuraSRConfig":
        d, disc, losses = self.data, self.discriminator, self.losses
        positive("data.batch_size", d.batch_size)
        validate_engine_sections(self.optim, self.run)
        if d.gt_size < 32 or d.gt_size & (d.gt_size - 1):
            raise ConfigError(f"data.gt_size: {d.gt_size} must be a power of two of at least 32 (the input, "
                              f"gt_size / {SCALE}, must be a multiple of 8); AuraSR's own tile is 256")
        if self.adversarial:
            below = [r for r in disc.multiscale_inputs if r >= d.gt_size or r & (r - 1)]
            if below:
                raise ConfigError(f"discriminator.multiscale_inputs: {below[0]} must be a power of two below "
                                  f"data.gt_size ({d.gt_size}), e.g. [{d.gt_size // 2}]")
            positive("losses.gp_every", losses.gp_every)
        if not (losses.pixel_weight > 0 or losses.perceptual_weight > 0 or self.adversarial):
            raise ConfigError("losses: every weight is 0; set pixel_weight, perceptual_weight or gan_weight")
        if not self.generator.pretrained and not self.generator.config:
            raise ConfigError("generator: give pretrained (a file or AuraSR-v2) to fine-tune, or config (a "
                              "config.json) to start a fresh network")
        return self


# GigaGAN's optimiser (Adam 2e-4, β (0.5, 0.9)) for the fresh discriminator; the released
# generator moves ten times slower, with a constant rate and an average of its weights.
AURASR_PRESETS: dict[str, dict] = {
    "aurasr-finetune": {
        "optim": {"lr_g": 2e-5, "lr_d": 2e-4, "betas": [0.5, 0.9], "schedule": "constant", "ema_decay": 0.999},
        "run": {"total_steps": 20000, "log_every": 50, "save_every": 1000, "val_every": 1000,
                "channels_last": False},
    },
}
