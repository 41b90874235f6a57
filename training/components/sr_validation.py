"""Super-resolution validation on held-out images: PSNR/SSIM of the model against bicubic, a preview strip,
and :func:`evaluate` (``ganpost evaluate``): the same scores per image for any upscaler. Used by the
Real-ESRGAN and AuraSR recipes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...gan_models.loader import describe_state_dict, load_model
from ...runtime.imaging.files import write_image
from ...tasks.upscale import upscale
from ..degradation.downscale import bicubic_downscale
from .metrics import psnr, ssim
from .sr_data import validation_images

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
        out = upscale(lq, model, tile="auto", precision="fp32", device=device)
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


def scores_text(metrics: dict) -> str:
    """``PSNR 27.31 dB (bicubic 25.90), SSIM 0.8123``."""
    return (f"PSNR {metrics['psnr']:.2f} dB (bicubic {metrics['psnr_bicubic']:.2f}), "
            f"SSIM {metrics['ssim']:.4f}")


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


def evaluate(model_name: str, data: Path, lq: Path | None = None, device: str = "cpu",
             max_images: int = 100) -> list[tuple[str, dict]]:
    """(image name, scores) for each held-out image: ``model_name`` (a file or a name) against bicubic.

    Each target is downscaled with antialiased bicubic (rounded to 8 bits) unless ``lq`` gives the inputs."""
    model = load_model(model_name)
    rows = []
    for item in validation_images(data, model.scale, lq_folder=lq, max_images=max_images):
        rows.append((item[0], validate(model.module, [item], model.scale, torch.device(device))))
    return rows
