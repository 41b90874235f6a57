"""facexlib's paste-back, for runs that must match the official pipeline's output.

Faces are pasted one after another (a later face covers an earlier one) through a mask made in the
output image: the crop square warped there, eroded by 2·upscale px, then eroded by 2e and blurred
with a Gaussian over 2e + 1 px, where e = ⌊√(mask area)⌋ // 20 (about a tenth of the face side).
Its seams are stronger than :func:`.paste.paste_back`'s (measured in bench/faces.py); use it for parity.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from .paste import Pasted, _boxes
from .warp import _owners, warp_affine

SMALL_KERNELS = {3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                 7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}


def paste_back_official(background: torch.Tensor, faces: torch.Tensor, inverse: torch.Tensor,
                        image_index, upscale: float = 1.0, masks: torch.Tensor | None = None,
                        within_square: bool = False) -> Pasted:
    """Blend ``faces`` (``N×C×S×S``) into ``background`` (``B×C×H×W``) as facexlib does.

    ``masks`` (``N×1×S×S``, from :func:`.parse_mask.parsing_mask`): facexlib's ``use_parse`` path, each
    face pasted through its own warped parsing mask instead of the eroded, blurred square;
    ``within_square``: through the smaller of the two, as CodeFormer's helper does.
    """
    batch, channels, height, width = background.shape
    size = faces.shape[-1]
    owners = _owners(image_index, faces.shape[0], batch)
    inverse = inverse.to(background.dtype)
    out = background.clone()
    coverage = background.new_zeros(batch, 1, height, width)
    ones = faces.new_ones(1, 1, size, size, dtype=background.dtype)
    for image, face_ids in owners.items():
        for k in face_ids:
            x0, y0, x1, y1 = _boxes(inverse[k: k + 1], size, height, width)[0]
            if x1 <= x0 or y1 <= y0:
                continue
            to_patch = inverse[k: k + 1].clone()
            to_patch[:, :, 2] -= to_patch.new_tensor([x0, y0])
            patch = (y1 - y0, x1 - x0)
            face = warp_affine(faces[k: k + 1].to(background.dtype), to_patch, patch)
            region = (image, slice(None), slice(y0, y1), slice(x0, x1))
            if masks is None or within_square:  # the eroded, blurred square (the parse path alone needs none)
                square = _erode(warp_affine(ones, to_patch, patch), int(2 * upscale))
                edge = int(float(square.sum()) ** 0.5) // 20
                soft = _gaussian_blur(_erode(square, edge * 2), edge * 2 + 1)
            if masks is not None:
                parse = warp_affine(masks[k: k + 1].to(background.dtype), to_patch, patch)
                soft = torch.minimum(parse, soft) if within_square else parse
                out[region] = soft[0] * face[0] + (1 - soft[0]) * out[region]
                coverage[region] = soft[0] + (1 - soft[0]) * coverage[region]
                continue
            out[region] = soft[0] * (square * face)[0] + (1 - soft[0]) * out[region]
            coverage[region] = soft[0] + (1 - soft[0]) * coverage[region]
    return Pasted(out, coverage)


def _erode(mask: torch.Tensor, side: int) -> torch.Tensor:
    """``cv2.erode`` with a ``side``×``side`` square (anchor at its centre, ⌊side/2⌋), image borders not eroding."""
    if side <= 1:
        return mask
    before = side // 2
    padded = F.pad(mask, (before, side - 1 - before, before, side - 1 - before), value=float("inf"))
    return -F.max_pool2d(-padded, side, stride=1)


def _gaussian_blur(mask: torch.Tensor, ksize: int, sigma: float = 0) -> torch.Tensor:
    """``cv2.GaussianBlur(mask, (ksize, ksize), sigma)``, reflect-101 borders; σ = 0: OpenCV's σ for the size."""
    if ksize <= 1:
        return mask
    if ksize in SMALL_KERNELS and sigma <= 0:  # OpenCV's fixed kernels for sizes up to 7 with σ = 0
        g = torch.tensor(SMALL_KERNELS[ksize], dtype=torch.float64)
    else:
        sigma = sigma if sigma > 0 else 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
        x = torch.arange(ksize, dtype=torch.float64) - (ksize - 1) / 2
        g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = (g / g.sum()).to(mask)
    r = ksize // 2
    h, w = mask.shape[-2:]
    padded = F.pad(mask, (min(r, w - 1), min(r, w - 1), min(r, h - 1), min(r, h - 1)), mode="reflect")
    padded = F.pad(padded, (r - min(r, w - 1), r - min(r, w - 1), r - min(r, h - 1), r - min(r, h - 1)),
                   mode="replicate")
    out = F.conv2d(padded, g.view(1, 1, 1, -1))
    return F.conv2d(out, g.view(1, 1, -1, 1))


__all__ = ["paste_back_official"]
