"""Colour correction of restored faces towards the crops they came from (restorers shift tone and tint)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

COLOR_FIXES = ("none", "adain", "wavelet")
WAVELET_LEVELS = 5  # à trous levels: the low band keeps detail coarser than ≈2⁵ px of a 512 px face


def color_fix(restored: torch.Tensor, original: torch.Tensor, mode: str) -> torch.Tensor:
    """``N×3×S×S`` restored faces with the colour of ``original`` (same shape), by ``mode``."""
    if mode == "adain":
        return adain(restored, original)
    if mode == "wavelet":
        return wavelet_fix(restored, original)
    return restored


def adain(restored: torch.Tensor, original: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per face and channel, the mean and spread of ``original`` given to ``restored``."""
    mean_r, std_r = restored.mean((-2, -1), keepdim=True), restored.std((-2, -1), keepdim=True)
    mean_o, std_o = original.mean((-2, -1), keepdim=True), original.std((-2, -1), keepdim=True)
    return ((restored - mean_r) / (std_r + eps) * std_o + mean_o).clamp(0, 1)


def wavelet_fix(restored: torch.Tensor, original: torch.Tensor, levels: int = WAVELET_LEVELS) -> torch.Tensor:
    """The restored face's detail on the original's low-frequency band (tone and colour follow the original).

    The low band is what is left after ``levels`` à trous steps of a separable [1, 2, 1]/4 blur with
    the holes doubling each level: a smooth image whose colours are the original's, locally.
    """
    return (restored - low_band(restored, levels) + low_band(original, levels)).clamp(0, 1)


def low_band(images: torch.Tensor, levels: int = WAVELET_LEVELS) -> torch.Tensor:
    channels = images.shape[1]
    kernel = images.new_tensor([0.25, 0.5, 0.25])
    horizontal = kernel.view(1, 1, 1, 3).expand(channels, 1, 1, 3)
    vertical = kernel.view(1, 1, 3, 1).expand(channels, 1, 3, 1)
    low = images
    for level in range(levels):
        step = 2 ** level
        if step >= min(images.shape[-2:]):
            break
        low = F.pad(low, (step, step, 0, 0), mode="replicate")
        low = F.conv2d(low, horizontal, dilation=(1, step), groups=channels)
        low = F.pad(low, (0, 0, step, step), mode="replicate")
        low = F.conv2d(low, vertical, dilation=(step, 1), groups=channels)
    return low
