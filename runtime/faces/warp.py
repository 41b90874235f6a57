"""Affine warps with the device's bilinear sampler, in OpenCV's pixel convention."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...gan_models.errors import InvalidOptionError
from .similarity import invert_affine

# The grey the official helper fills crops with where the face runs off the image (BGR 135,133,132), as RGB.
CROP_BORDER = (132 / 255, 133 / 255, 135 / 255)


def warp_affine(images: torch.Tensor, matrices: torch.Tensor, size: int | tuple[int, int],
                border_value: float | Sequence[float] = 0.0) -> torch.Tensor:
    """``cv2.warpAffine`` (bilinear, constant border) for ``N×C×H×W`` images, or one image and N matrices.

    ``matrices`` (``N×2×3``) map source pixel coordinates to output ones, pixel centres on integers; the
    output is ``N×C×height×width`` (``size`` is ``(height, width)`` or one side). Samples that fall
    outside the source blend with ``border_value`` exactly as OpenCV's BORDER_CONSTANT does.
    """
    height, width = (size, size) if isinstance(size, int) else size
    count = matrices.shape[0]
    if images.ndim != 4 or images.shape[0] not in (1, count):
        raise InvalidOptionError(
            f"warp_affine takes N×C×H×W images with N = 1 or the {count} matrices, got {tuple(images.shape)}")
    grid = _sampling_grid(invert_affine(matrices.to(images.dtype)), height, width, images.shape[-2:])
    values = [float(border_value)] if isinstance(border_value, (int, float)) else [float(v) for v in border_value]
    border = torch.tensor(values, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    plain = not any(values)
    shifted = images if plain else images - border  # the sampler pads with zeros: shift the border to 0
    if images.shape[0] == 1 and count > 1:  # one image, many crops: stack the grids instead of copying it
        stacked = F.grid_sample(shifted, grid.reshape(1, count * height, width, 2),
                                mode="bilinear", padding_mode="zeros", align_corners=False)
        out = stacked.reshape(images.shape[1], count, height, width).transpose(0, 1)
    else:
        out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out if plain else out + border


def crop_faces(images: torch.Tensor, matrices: torch.Tensor, image_index: Sequence[int] | torch.Tensor,
               size: int, border_value: float | Sequence[float] = CROP_BORDER) -> torch.Tensor:
    """Aligned ``N×C×size×size`` crops: face ``k`` taken from ``images[image_index[k]]`` with ``matrices[k]``.

    One sampler call per source image covers all of its faces; images are never copied per face.
    """
    owners = _owners(image_index, matrices.shape[0], images.shape[0])
    crops = images.new_empty(matrices.shape[0], images.shape[1], size, size)
    for image, faces in owners.items():
        crops[faces] = warp_affine(images[image: image + 1], matrices[faces], size, border_value)
    return crops


def _owners(image_index, count: int, batch: int) -> dict[int, list[int]]:
    """Faces grouped by the image they belong to (a host read of N small integers, never of pixels)."""
    index = image_index.tolist() if isinstance(image_index, torch.Tensor) else list(image_index)
    if len(index) != count or any(not 0 <= i < batch for i in index):
        raise InvalidOptionError(f"image_index must give, for each of the {count} faces, an image in 0..{batch - 1};"
                                 f" got {index}")
    owners: dict[int, list[int]] = {}
    for face, image in enumerate(index):
        owners.setdefault(int(image), []).append(face)
    return owners


def _sampling_grid(inverse: torch.Tensor, height: int, width: int, source_size) -> torch.Tensor:
    """``N×h×w×2`` sampler coordinates of each output pixel centre (align_corners=False normalisation)."""
    ys = torch.arange(height, dtype=inverse.dtype, device=inverse.device)
    xs = torch.arange(width, dtype=inverse.dtype, device=inverse.device)
    y, x = ys[None, :, None], xs[None, None, :]
    src_x = inverse[:, 0, 0, None, None] * x + inverse[:, 0, 1, None, None] * y + inverse[:, 0, 2, None, None]
    src_y = inverse[:, 1, 0, None, None] * x + inverse[:, 1, 1, None, None] * y + inverse[:, 1, 2, None, None]
    source_height, source_width = source_size
    return torch.stack([(2 * src_x + 1) / source_width - 1, (2 * src_y + 1) / source_height - 1], dim=-1)
