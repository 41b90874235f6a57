"""Validation on held-out images: PSNR/SSIM of the model against bicubic, and a preview strip."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.imaging.files import write_image
from ..gan_models.loader import describe_state_dict
from ..tasks.upscale import upscale
from .degradation.downscale import bicubic_downscale
from .components.metrics import psnr, ssim

log = logging.getLogger(__name__)
PREVIEW_SIDE = 192  # target-resolution crop shown per panel


def bicubic_upscale(lq: torch.Tensor, scale: int) -> torch.Tensor:
    up = F.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False)
    return up.clamp(0, 1)


def validate(network: nn.Module, images, scale: int, device: torch.device, preview_path: Path | None = None,
             **load_options) -> dict:
    """Mean metrics over ``images`` ((name, gt, lq|None) triples); the first image makes the preview.

    ``load_options`` describe what the tensors cannot tell (AuraSR: ``config``)."""
    model = describe_state_dict({k: v.detach().float().cpu() for k, v in network.state_dict().items()},
                                **load_options)
    scores = {"psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []}
    for index, (name, gt, lq) in enumerate(images):
        lq = bicubic_downscale(gt, scale) if lq is None else lq
        out = upscale(model, lq, tile="auto", precision="fp32", device=device)
        out = torch.round(out.clamp(0, 1) * 255) / 255
        base = bicubic_upscale(lq, scale)
        scores["psnr"].append(psnr(out, gt, scale))
        scores["ssim"].append(ssim(out, gt, scale))
        scores["psnr_bicubic"].append(psnr(base, gt, scale))
        scores["ssim_bicubic"].append(ssim(base, gt, scale))
        if index == 0 and preview_path is not None:
            write_preview(preview_path, lq, base, out, gt, scale)
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    means["psnr_gain"] = means["psnr"] - means["psnr_bicubic"]
    return means


def write_preview(path: Path, lq, bicubic, output, target, scale: int) -> Path:
    """input (nearest) | bicubic | model | target, cropped from the centre so the file stays small."""
    nearest = F.interpolate(lq, scale_factor=scale, mode="nearest")
    panels = [_centre(p[0], PREVIEW_SIDE) for p in (nearest, bicubic, output, target)]
    gap = torch.ones(3, panels[0].shape[1], 4)
    strip = torch.cat([x for p in panels for x in (p, gap)][:-1], dim=2)
    pixels = (strip.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return write_image(path, pixels)


def _centre(image: torch.Tensor, side: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[:, top: top + side, left: left + side]
