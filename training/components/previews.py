"""Preview strips: the images of one validation side by side, written where the engine asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...runtime.imaging.files import write_image


def write_strip(path: Path, panels: list[torch.Tensor]) -> Path:
    """Panels side by side with a white gap: input | translation | target (| the way back)."""
    gap = torch.ones(3, panels[0].shape[-2], 4)
    strip = torch.cat([x for p in panels for x in (p[0], gap)][:-1], dim=2)
    pixels = (strip.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    return write_image(path, pixels)
