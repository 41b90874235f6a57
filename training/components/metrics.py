"""PSNR and SSIM on luma with a shaved border, the way SR papers and BasicSR report them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 studio-range Y in [16/255, 235/255] from RGB in [0, 1] (``B×3×H×W`` → ``B×1×H×W``)."""
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _prepare(image: torch.Tensor, border: int) -> torch.Tensor:
    # Scores are taken on 8-bit values, as saved images would be.
    y = torch.round(luma(image.clamp(0, 1).double()) * 255.0)
    return y[..., border: y.shape[-2] - border, border: y.shape[-1] - border] if border else y


def psnr(output: torch.Tensor, target: torch.Tensor, border: int = 0) -> float:
    mse = torch.mean((_prepare(output, border) - _prepare(target, border)) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(output: torch.Tensor, target: torch.Tensor, border: int = 0) -> float:
    """Mean SSIM with an 11×11 Gaussian window (σ 1.5), valid region only, on 8-bit luma."""
    x, y = _prepare(output, border), _prepare(target, border)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5 ** 2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    sxx = F.conv2d(x * x, window) - mu_x ** 2
    syy = F.conv2d(y * y, window) - mu_y ** 2
    sxy = F.conv2d(x * y, window) - mu_x * mu_y
    score = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(score.mean())


def psnr_rgb(output: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR over all three 8-bit channels: colour changes (a translator's job) count, not only luma."""
    x, y = (torch.round(t.clamp(0, 1).double() * 255.0) for t in (output, target))
    mse = torch.mean((x - y) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)
