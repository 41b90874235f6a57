"""The pix2pix and CycleGAN configs: shared sections, each recipe's official defaults as its preset.

The dataclass defaults are pix2pix's official options; CycleGAN's preset changes what its paper
changes (ResNet generator, instance norm, LSGAN, image pools, cycle and identity losses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config_schema import ConfigError
from ...engine.config import OptimConfig, RunConfig, positive, validate_engine_sections
from .networks import generator_shape

Norm = Literal["batch", "instance", "none"]


@dataclass
class DataConfig:
    dir: str = ""
    """pix2pix: a folder of the official aligned images (A | B side by side in one file)."""
    dir_a: str | None = None
    """Domain A images: paired with ``dir_b`` by file name (pix2pix), or unpaired (CycleGAN)."""
    dir_b: str | None = None
    val_dir: str | None = None
    """Held-out aligned A|B images: PSNR of the translation against B, and a preview strip."""
    val_dir_a: str | None = None
    """Held-out pairs by file name (both recipes); the first image makes the preview."""
    val_dir_b: str | None = None
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    preprocess: Literal["resize_and_crop", "crop"] = "resize_and_crop"
    """resize_and_crop: resize to load_size² then take a random crop_size² crop (official); crop: crop only."""
    resize: Literal["float", "pil"] = "float"
    """float: bicubic in floating point (16-bit images keep their precision); pil: the official transform's
    PIL bicubic on 8-bit pixels, rounded to 8 bits (mean 0.3/255 apart on photos)."""
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    batch_size: int = 1
    num_workers: int = 0
    val_max_images: int = 8


@dataclass
class GeneratorConfig:
    net: str = "unet_256"
    """unet_<side> (unet_256, unet_128, …: the side is 2 ** levels) or resnet_<n>blocks (resnet_9blocks, …)."""
    num_feat: int = 64
    norm: Norm = "batch"
    dropout: bool = True
    pretrained: str | None = None
    """A checkpoint to fine-tune (G, or CycleGAN's G_A); its architecture then comes from the file."""
    pretrained_b: str | None = None
    """CycleGAN's G_B checkpoint; without it G_B starts fresh with G_A's architecture."""


@dataclass
class Pix2PixGeneratorConfig(GeneratorConfig):
    train: Literal["all", "decoder"] = "all"
    """all: every layer learns; decoder (ResNet generators): the layers up to the last residual block keep
    the pretrained weights and only the up-sampling and output layers learn (a fine-tune that keeps what
    the file has learnt about the image and changes how it is rendered; backward passes cost less)."""


@dataclass
class DiscriminatorConfig:
    net: Literal["basic", "n_layers", "pixel"] = "basic"
    """basic: the 70×70 PatchGAN (n_layers 3); n_layers: a PatchGAN of ``num_layers``; pixel: 1×1 PixelGAN."""
    num_layers: int = 3
    num_feat: int = 64
    norm: Norm = "batch"
    pretrained: str | None = None
    """A discriminator checkpoint (D, or CycleGAN's D_A) to continue from."""
    pretrained_b: str | None = None


@dataclass
class Pix2PixDiscriminatorConfig(DiscriminatorConfig):
    update_first: bool = True
    """Step D on each batch before G's GAN loss sees it, as the official pix2pix does (needs
    optim.accumulation 1); false: G's loss sees D as it was before this step and both step at the end."""


@dataclass
class LossConfig:
    gan_mode: Literal["vanilla", "lsgan", "wgangp"] = "vanilla"
    l1_weight: float = 100.0
    """pix2pix: L1 between the translation and B (λ_L1)."""
    cycle_weight: float = 10.0
    """CycleGAN: λ_A = λ_B, the weight of ‖G_B(G_A(A)) − A‖₁ and ‖G_A(G_B(B)) − B‖₁."""
    identity_weight: float = 0.5
    """CycleGAN: ‖G_A(B) − B‖₁ (and the other way) weighted by this × cycle_weight; 0 turns it off."""
    pool_size: int = 0
    """Past fakes the discriminators also see (CycleGAN: 50; 0 = off)."""
    gp_weight: float = 10.0
    """wgangp only: the gradient penalty's λ."""


def _translation_checks(cfg) -> None:
    d = cfg.data
    positive("data.batch_size", d.batch_size)
    positive("data.crop_size", d.crop_size)
    validate_engine_sections(cfg.optim, cfg.run)
    if d.preprocess == "resize_and_crop" and d.load_size < d.crop_size:
        raise ConfigError(f"data.load_size: {d.load_size} is smaller than data.crop_size {d.crop_size}; "
                          "images are resized to load_size before the crop")
    if not cfg.generator.pretrained:
        multiple = generator_shape(cfg.generator.net, "generator.net")[2]
        if d.crop_size % multiple:
            raise ConfigError(f"data.crop_size: {d.crop_size} is not a multiple of {multiple}, the side "
                              f"{cfg.generator.net} needs; pick a crop of {multiple}·k or a smaller U-Net "
                              "(e.g. generator.net = \"unet_128\")")
    if d.val_dir_a and not d.val_dir_b or d.val_dir_b and not d.val_dir_a:
        raise ConfigError("data.val_dir_a and data.val_dir_b: give both (held-out pairs by file name) or neither")


@dataclass
class Pix2PixConfig:
    data: DataConfig = field(default_factory=DataConfig)
    generator: Pix2PixGeneratorConfig = field(default_factory=Pix2PixGeneratorConfig)
    discriminator: Pix2PixDiscriminatorConfig = field(default_factory=Pix2PixDiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> "Pix2PixConfig":
        _translation_checks(self)
        d = self.data
        if d.dir and (d.dir_a or d.dir_b):
            raise ConfigError("data.dir and data.dir_a/dir_b: give the aligned A|B folder or the two folders "
                              "paired by name, not both")
        if bool(d.dir_a) != bool(d.dir_b):
            raise ConfigError("data.dir_a and data.dir_b: pairs by file name need both folders")
        if self.discriminator.update_first and self.optim.accumulation > 1:
            raise ConfigError(f"optim.accumulation: {self.optim.accumulation} needs discriminator.update_first = "
                              "false; D cannot take its step before G's loss while its gradient is still being "
                              "accumulated")
        return self


@dataclass
class CycleGANConfig:
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> "CycleGANConfig":
        _translation_checks(self)
        if self.data.dir:
            raise ConfigError("data.dir: CycleGAN trains on two unpaired folders; give data.dir_a and data.dir_b")
        return self


# Options shared by both official recipes (pytorch-CycleGAN-and-pix2pix's train options):
# Adam 2e-4 with β1 0.5, constant for half the run then linear decay to 0; batch 1; load 286, crop 256.
_OFFICIAL_OPTIM = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999], "schedule": "linear_decay", "decay_start": 0}
_OFFICIAL_RUN = {"total_steps": 200000, "log_every": 100, "save_every": 5000, "val_every": 5000,
                 "channels_last": False}

# pix2pix: U-Net 256 with batch norm and dropout, 70×70 PatchGAN on cat(A, B), vanilla GAN + 100·L1.
PIX2PIX_PRESETS: dict[str, dict] = {
    "pix2pix": {
        "generator": {"net": "unet_256", "norm": "batch", "dropout": True},
        "discriminator": {"net": "basic", "norm": "batch"},
        "losses": {"gan_mode": "vanilla", "l1_weight": 100.0, "pool_size": 0},
        "optim": _OFFICIAL_OPTIM, "run": _OFFICIAL_RUN,
    },
    # Fine-tuning a working translator (--pretrained, a ResNet generator) to a new look on a few photos.
    # Chosen by bench/finetune_translate.py (bench/FINETUNE.md): the official recipe finds the look in a
    # minute, then its adversarial steps at 2e-4 wreck it. Here: only the decoder learns (the encoder
    # keeps what the file knows about images; steps are 2.4x cheaper), L1 dominates (Adam ignores the
    # loss scale, so λ_L1 = 10^4 leaves the GAN term 1/100 of the official weight), lr 1e-4 decaying to 0
    # over the second half, and whole photos resized to 256² (crops give the instance norms statistics
    # they never see on whole images).
    "pix2pix-finetune": {
        "data": {"load_size": 256, "crop_size": 256},
        "generator": {"net": "resnet_9blocks", "norm": "instance", "dropout": False, "train": "decoder"},
        "discriminator": {"net": "basic", "norm": "batch"},
        "losses": {"gan_mode": "vanilla", "l1_weight": 10000.0, "pool_size": 0},
        "optim": {**_OFFICIAL_OPTIM, "lr_g": 1e-4, "lr_d": 1e-4},
        "run": {**_OFFICIAL_RUN, "total_steps": 1200, "log_every": 20, "save_every": 200, "val_every": 200},
    },
}

# CycleGAN: ResNet 9 blocks with instance norm and no dropout, LSGAN, cycle 10, identity 0.5, pools of 50.
CYCLEGAN_PRESETS: dict[str, dict] = {
    "cyclegan": {
        "generator": {"net": "resnet_9blocks", "norm": "instance", "dropout": False},
        "discriminator": {"net": "basic", "norm": "instance"},
        "losses": {"gan_mode": "lsgan", "cycle_weight": 10.0, "identity_weight": 0.5, "pool_size": 50},
        "optim": _OFFICIAL_OPTIM, "run": _OFFICIAL_RUN,
    },
}
