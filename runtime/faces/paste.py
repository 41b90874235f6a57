"""Paste restored crops back: inverse warp, a soft mask that scales with the face, overlapping faces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ...gan_models.errors import InvalidOptionError
from .warp import _owners, warp_affine


@dataclass(frozen=True)
class MaskShape:
    """The soft square mask, in fractions of the crop side, so it scales with the face wherever it lands.

    ``erosion``: the band at each crop edge left at 0 (the official helper zeroes 10 px of 512 on its
    parsing mask, ≈0.02). ``feather``: the width over which the mask rises 0→1 with a smoothstep, whose
    slope is continuous at both ends (no Mach band). The official square mask blurs a Gaussian of
    σ ≈ 0.015 of the face side (a 10–90 % rise over ≈0.04); 0.12 spreads the same step three times wider.
    """

    erosion: float = 0.02
    feather: float = 0.12

    def __post_init__(self):
        if not (0 <= self.erosion and 0 < self.feather and self.erosion + self.feather <= 0.5):
            raise InvalidOptionError(f"mask erosion {self.erosion} and feather {self.feather} must be ≥ 0 and > 0,"
                                     " with erosion + feather ≤ 0.5 of the crop (e.g. 0.02 and 0.12)")


class Pasted(NamedTuple):
    image: torch.Tensor  # B×C×H×W: the background with the faces blended in
    mask: torch.Tensor   # B×1×H×W: how much of each pixel comes from the faces (0 = untouched)


def crop_mask(size: int, shape: MaskShape = MaskShape(), *, device=None, dtype=torch.float32) -> torch.Tensor:
    """``size×size`` mask in crop coordinates: a product of two 1-D smoothstep ramps (rounded corners)."""
    centres = torch.arange(size, device=device, dtype=dtype) + 0.5
    to_edge = torch.minimum(centres, size - centres) / size
    t = ((to_edge - shape.erosion) / shape.feather).clamp(0, 1)
    ramp = t * t * (3 - 2 * t)
    return ramp[:, None] * ramp[None, :]


def paste_back(background: torch.Tensor, faces: torch.Tensor, inverse: torch.Tensor,
               image_index: Sequence[int] | torch.Tensor, shape: MaskShape = MaskShape(),
               masks: torch.Tensor | None = None) -> Pasted:
    """Blend ``faces`` (``N×C×S×S``) into ``background`` (``B×C×H×W``) through ``inverse`` (crop→image maps).

    Each face is warped with its mask premultiplied, so the sampler's zero padding never darkens an edge.
    Where faces overlap, their colours average weighted by their masks (a pixel deep inside one face and at
    the edge of another follows the first) and the coverage is ``1 − Π(1 − mᵢ)``: no seam, no order
    dependence. Pixels no mask reaches are returned bit for bit. Each face is sampled only over its own
    bounding box (one host read of N×4 integers sizes the boxes). ``masks`` (``N×1×S×S``, e.g. a parsing
    mask) multiply each face's square mask.
    """
    batch, channels, height, width = background.shape
    count, size = faces.shape[0], faces.shape[-1]
    if faces.ndim != 4 or faces.shape[1] != channels or faces.shape[-2] != size or inverse.shape[0] != count:
        raise InvalidOptionError(f"paste_back needs N×{channels}×S×S faces and N inverse matrices; got faces "
                                 f"{tuple(faces.shape)} and matrices {tuple(inverse.shape)}")
    owners = _owners(image_index, count, batch)
    inverse = inverse.to(background.dtype)
    mask = crop_mask(size, shape, device=faces.device, dtype=background.dtype).expand(count, 1, size, size)
    if masks is not None:
        mask = mask * masks.to(mask)
    layers = torch.cat([faces.to(background.dtype) * mask, mask], dim=1)

    boxes = _boxes(inverse, size, height, width)
    colour = torch.zeros_like(background)
    weight = background.new_zeros(batch, 1, height, width)
    uncovered = background.new_ones(batch, 1, height, width)
    live = [k for k, (x0, y0, x1, y1) in enumerate(boxes) if x1 > x0 and y1 > y0]
    if live:
        patch_h = max(boxes[k][3] - boxes[k][1] for k in live)
        patch_w = max(boxes[k][2] - boxes[k][0] for k in live)
        origins = torch.tensor([[boxes[k][0], boxes[k][1]] for k in live], dtype=inverse.dtype, device=inverse.device)
        to_patch = inverse[live].clone()
        to_patch[:, :, 2] -= origins
        patches = warp_affine(layers[live], to_patch, (patch_h, patch_w))
        image_of = {face: image for image, faces_of in owners.items() for face in faces_of}
        for patch, k in zip(patches, live):
            x0, y0, x1, y1 = boxes[k]
            region = (image_of[k], slice(None), slice(y0, y1), slice(x0, x1))
            patch = patch[:, : y1 - y0, : x1 - x0]
            colour[region] += patch[:channels]
            weight[region] += patch[channels:]
            uncovered[region] *= 1 - patch[channels:]
    coverage = 1 - uncovered
    face_colour = colour / weight.clamp_min(torch.finfo(weight.dtype).tiny)
    return Pasted(coverage * face_colour + uncovered * background, coverage)


def _boxes(inverse: torch.Tensor, size: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """Integer boxes (x0, y0, x1, y1) around each warped crop, clipped to the image, with a pixel to spare."""
    corners = inverse.new_tensor([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                                  [size - 0.5, size - 0.5, 1]])
    points = corners @ inverse.transpose(-1, -2)  # N×4×2
    low, high = points.amin(dim=1).floor() - 1, points.amax(dim=1).ceil() + 2
    limit = low.new_tensor([width, height])
    low, high = torch.minimum(low.clamp_min(0), limit), torch.minimum(high.clamp_min(0), limit)
    return [tuple(int(v) for v in row) for row in torch.cat([low, high], dim=1).tolist()]


def seam_strength(face_layer: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image: the mean step the blend adds across the mask border, in the images' units.

    Compositing ``m·f + (1 − m)·b`` adds ``(f − b)·∇m`` to the gradient: a seam. At every pair of
    neighbouring pixels (across or down) on which the mask crosses 0.5, this takes the mask's step times
    the channel-mean ``|f − b|`` there, and averages over those pairs. A hard-edged paste scores
    ``|f − b|``; a feather over w pixels about ``|f − b| / w``. NaN when the mask never crosses 0.5.
    """
    gap = (face_layer - background).abs().mean(dim=1, keepdim=True)
    totals, counts = [], []
    for dim in (-1, -2):
        n = mask.shape[dim]
        a, b = mask.narrow(dim, 0, n - 1), mask.narrow(dim, 1, n - 1)
        crossing = (a >= 0.5) != (b >= 0.5)
        local_gap = (gap.narrow(dim, 0, n - 1) + gap.narrow(dim, 1, n - 1)) / 2
        totals.append(((b - a).abs() * local_gap * crossing).flatten(1).sum(1))
        counts.append(crossing.flatten(1).sum(1))
    return sum(totals) / sum(counts).to(mask.dtype)
