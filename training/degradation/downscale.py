"""The clean low-resolution input of a target: what validation and the "bicubic" recipe both use."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bicubic_downscale(gt: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic ÷``scale`` (like PIL's and MATLAB's imresize), rounded to 8 bits like a saved file."""
    h, w = gt.shape[-2] // scale, gt.shape[-1] // scale
    lq = F.interpolate(gt, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    return torch.round(lq.clamp(0, 1) * 255) / 255
