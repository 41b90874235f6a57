"""Seeds: the global RNGs at the start of a run, and one number per micro-batch for a recipe's own draws."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def mix_seeds(*numbers: int) -> int:
    """A 63-bit seed from several integers (e.g. seed, step, micro-batch, rank: a degradation's draws)."""
    value = 0x9E3779B97F4A7C15
    for n in numbers:
        value = (value ^ (n + 0x632BE59BD9B4E019 + (value << 6) + (value >> 2))) & ((1 << 64) - 1)
    return value & ((1 << 63) - 1)
