"""The global RNG seeded for one piece of work and restored after it."""

from __future__ import annotations

import contextlib
import numbers

import torch

from ..gan_models.errors import InvalidOptionError


@contextlib.contextmanager
def seeded_rng(seed: int | None, device: torch.device):
    """Seed torch's global RNG (and ``device``'s, on CUDA) for the block, then restore it.

    The hook for networks that draw from the global RNG (GFPGAN's ``randomize_noise``, pix2pix's
    dropout at test time): the same seed gives the same image, and the caller's own random stream is
    left as it was. ``None`` leaves the RNG alone.
    """
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidOptionError(f"seed must be a whole number (or None), not {seed!r}")
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield
