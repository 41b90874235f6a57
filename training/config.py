"""The typed training config, its presets, and loading it from a file plus command-line overrides.

A run is described by one :class:`TrainConfig`. Presets are plain dicts layered under the user's
file, so ``--preset realesrnet-x4plus --config mine.toml --set optim.lr_g=5e-5`` reads left to right.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .config_schema import ConfigError, from_dict, merge, parse_override, set_dotted, toml_module
from .degradation import DegradationSettings

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
    arch: Literal["RRDBNet", "SRVGGNetCompact"] = "RRDBNet"
    pretrained: str | None = None
    """A checkpoint file or official model name; the network's shape then comes from the file."""
    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    num_conv: int = 16
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
    """Path to torchvision's vgg19-dcbb9e9d.pth; downloaded into the models cache when absent."""
    gan_kind: Literal["vanilla", "lsgan", "hinge", "wgan_softplus"] = "vanilla"
    gan_weight: float = 0.1
    sharpen_pixel_target: bool = True
    sharpen_perceptual_target: bool = True
    sharpen_gan_target: bool = False


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: Literal["multistep", "cosine", "constant"] = "multistep"
    milestones: tuple[int, ...] = (400000,)
    gamma: float = 0.5
    warmup_steps: int = 0
    grad_clip: float = 0.0
    """Max global gradient norm (0 = off)."""
    accumulation: int = 1
    ema_decay: float = 0.999
    ema_warmup: bool = False
    """Let the EMA follow the live weights early on; turn on when training from scratch."""


@dataclass
class RunConfig:
    output_dir: str = "runs/ganpost"
    total_steps: int = 400000
    seed: int = 0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool = True
    log_every: int = 100
    save_every: int = 5000
    val_every: int = 5000
    keep_checkpoints: int = 3
    max_bad_steps: int = 10
    """Consecutive steps with a NaN/inf loss before the run stops."""


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
        d, o, r, g = self.data, self.optim, self.run, self.generator
        _positive("data.batch_size", d.batch_size)
        _positive("run.total_steps", r.total_steps)
        _positive("optim.accumulation", o.accumulation)
        _positive("optim.lr_g", o.lr_g)
        if g.scale not in (1, 2, 4) and g.arch == "RRDBNet":
            raise ConfigError(f"generator.scale: {g.scale} is not allowed for RRDBNet. Allowed values: 1, 2, 4")
        if d.gt_size % (g.scale * 4):
            raise ConfigError(f"data.gt_size: {d.gt_size} must be a multiple of 4 × the scale ({g.scale * 4})")
        if self.discriminator.kind == "unet" and self.losses.gan_weight > 0 and d.gt_size % 8:
            raise ConfigError(f"data.gt_size: {d.gt_size} must be a multiple of 8 for the U-Net discriminator")
        if d.degradation == "paired" and not d.lq_dir:
            raise ConfigError("data.degradation is 'paired' but data.lq_dir is not set: give the low-resolution folder")
        if not 0.0 <= o.ema_decay < 1.0:
            raise ConfigError(f"optim.ema_decay: {o.ema_decay} must be in [0, 1)")
        if r.keep_checkpoints < 1:
            raise ConfigError("run.keep_checkpoints: keep at least 1")
        return self


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name}: must be above 0, got {value}")


# The official finetune_realesrgan_x4plus recipe (Real-ESRGAN a4abfb2): G from RealESRNet, D from netD.
_REALESRGAN_X4PLUS: dict = {}

# train_realesrnet_x4plus: L1 only, lr 2e-4, no discriminator.
_REALESRNET_X4PLUS: dict = {
    "discriminator": {"kind": "none"},
    "losses": {"perceptual_weight": 0.0, "gan_weight": 0.0},
    "optim": {"lr_g": 2e-4, "milestones": [1000000], "ema_decay": 0.999},
    "run": {"total_steps": 1000000},
}

# The recipe of the model ganpost ships (see README, "The default model"): a small compact ×4
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


def load_config(
    path: str | os.PathLike | None = None,
    *,
    preset: str | None = None,
    base: dict | None = None,
    overrides: dict | None = None,
    sets: list[str] | tuple[str, ...] = (),
) -> TrainConfig:
    """Preset (or ``base``, a saved config), then the file (TOML or YAML; it may name its own ``preset``),
    then ``overrides``, then ``--set``s."""
    file_data = read_config_file(path) if path else {}
    preset = preset or file_data.pop("preset", None) or DEFAULT_PRESET
    file_data.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"preset: {preset!r} is not known. Allowed values: {', '.join(PRESETS)}")
    data = merge(merge(base if base is not None else PRESETS[preset], file_data), overrides or {})
    for text in sets:
        key, value = parse_override(text)
        set_dotted(data, key, value)
    return from_dict(TrainConfig, data).validate()


def read_config_file(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        tomllib = toml_module()
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML ({err})") from err
    if suffix in (".yml", ".yaml"):
        try:
            import yaml
        except ImportError as err:
            raise ConfigError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or use a .toml file") from err
        try:
            loaded = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        return loaded
    raise ConfigError(f"{path}: config files must be .toml, .yaml or .yml")
