"""The config sections the engine reads, shared by every recipe: ``optim`` and ``run``.

A recipe's config is a dataclass with these two sections plus its own (data, networks, losses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config_schema import ConfigError


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    """Learning rate of the generator optimizer(s)."""
    lr_d: float = 1e-4
    """Learning rate of the discriminator optimizer(s)."""
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    schedule: Literal["multistep", "cosine", "constant", "linear_decay"] = "multistep"
    milestones: tuple[int, ...] = (400000,)
    decay_start: int = 0
    """linear_decay: the step from which the rate falls linearly to 0 at the end (0 = half-way, as pix2pix)."""
    gamma: float = 0.5
    warmup_steps: int = 0
    grad_clip: float = 0.0
    """Max global gradient norm per optimizer (0 = off)."""
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


def validate_engine_sections(optim: OptimConfig, run: RunConfig) -> None:
    positive("run.total_steps", run.total_steps)
    positive("optim.accumulation", optim.accumulation)
    positive("optim.lr_g", optim.lr_g)
    if not 0.0 <= optim.ema_decay < 1.0:
        raise ConfigError(f"optim.ema_decay: {optim.ema_decay} must be in [0, 1)")
    if optim.schedule == "linear_decay" and optim.decay_start >= run.total_steps:
        raise ConfigError(f"optim.decay_start: {optim.decay_start} must be below run.total_steps ({run.total_steps}); "
                          "0 starts the decay half-way")
    if run.keep_checkpoints < 1:
        raise ConfigError("run.keep_checkpoints: keep at least 1")


def positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name}: must be above 0, got {value}")
