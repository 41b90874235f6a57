"""Prior boxes and their decoding for RetinaFace, in torch on any device (suppression: runtime/faces/boxes.py)."""

from __future__ import annotations

import math

import torch

from .retinaface import ANCHORS, Anchors


def prior_boxes(height: int, width: int, device: torch.device, anchors: Anchors = ANCHORS) -> torch.Tensor:
    """P×4 priors (centre x, centre y, width, height) as fractions of the image, in the heads' order:
    level, then row, then column, then anchor size. Computed in float64 on the CPU (as facexlib's
    Python floats; MPS has no float64), then float32 on ``device``."""
    levels = []
    for step, sizes in zip(anchors.steps, anchors.sizes):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy = (torch.arange(rows, dtype=torch.float64) + 0.5) * step / height
        cx = (torch.arange(cols, dtype=torch.float64) + 0.5) * step / width
        cy, cx = torch.meshgrid(cy, cx, indexing="ij")
        per_size = [torch.stack([cx, cy, torch.full_like(cx, s / width), torch.full_like(cy, s / height)], dim=-1)
                    for s in sizes]
        levels.append(torch.stack(per_size, dim=2).reshape(-1, 4))
    return torch.cat(levels).to(device, torch.float32)


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, variances=ANCHORS.variances) -> torch.Tensor:
    """…×P×4 regressed offsets → corner boxes (x1, y1, x2, y2) as fractions of the image."""
    centre = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    size = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    top_left = centre - size / 2
    return torch.cat([top_left, top_left + size], dim=-1)


def decode_landmarks(pre: torch.Tensor, priors: torch.Tensor, variances=ANCHORS.variances) -> torch.Tensor:
    """…×P×10 regressed offsets → five (x, y) points per prior (…×P×5×2) as fractions of the image."""
    points = pre.reshape(*pre.shape[:-1], 5, 2)
    return priors[..., None, :2] + points * variances[0] * priors[..., None, 2:]
