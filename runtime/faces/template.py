"""Where the five landmarks sit in an aligned face crop."""

from __future__ import annotations

import torch

# Eyes (left, right in the image), nose tip, mouth corners (left, right) of an FFHQ-aligned 512×512 face, in
# pixel coordinates with pixel centres on integers: the points GFPGAN's training crops were made with.
FFHQ_512_TEMPLATE = torch.tensor([
    [192.98138, 239.94708],
    [318.90277, 240.19360],
    [256.63416, 314.01935],
    [201.26117, 371.41043],
    [313.08905, 371.15118],
], dtype=torch.float64)


def face_template(size: int = 512, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """The 5×2 template for a ``size``×``size`` crop (scaled about the origin, as the official helper does)."""
    return (FFHQ_512_TEMPLATE * (size / 512.0)).to(device=device, dtype=dtype)
