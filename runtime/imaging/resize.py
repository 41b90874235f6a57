"""The final resize to an arbitrary output size (antialiased when shrinking)."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from ...gan_models.errors import ImageInputError, InvalidOptionError

MAX_OUTPUT_PIXELS = 1 << 32


def target_size(height: int, width: int, scale: int, outscale: float | None, size: tuple[int, int] | None):
    """(height, width) of the final image: the native scale, ``outscale`` × input, or ``size`` = (W, H)."""
    if outscale is not None and size is not None:
        raise InvalidOptionError("give either outscale or size, not both")
    if size is not None:
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(_is_whole(v) for v in size)):
            raise InvalidOptionError(f"size must be (width, height) in pixels, e.g. (1920, 1080), not {size!r}.")
        w, h = size
        if w < 1 or h < 1:
            raise InvalidOptionError(f"output size {w}×{h} must be positive, e.g. 1920x1080.")
    elif outscale is not None:
        if not (isinstance(outscale, numbers.Real) and not isinstance(outscale, bool) and math.isfinite(outscale)
                and outscale > 0):  # inf would overflow round(); nan compares false
            raise InvalidOptionError(f"outscale must be a positive finite number such as 2 or 1.5, not {outscale!r}.")
        h, w = max(1, round(height * outscale)), max(1, round(width * outscale))
    else:
        h, w = height * scale, width * scale
    if h * w > MAX_OUTPUT_PIXELS:
        raise ImageInputError(f"output size {w}×{h} is over {MAX_OUTPUT_PIXELS:,} pixels; ask for a smaller scale.")
    return h, w


def _is_whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic resize of ``C×H×W`` (antialiased when shrinking); identity when the size matches."""
    if image.shape[-2:] == (height, width):
        return image
    shrinking = height < image.shape[-2] or width < image.shape[-1]
    out = F.interpolate(image[None], size=(height, width), mode="bicubic", align_corners=False, antialias=shrinking)
    return out[0].clamp_(0, 1)
