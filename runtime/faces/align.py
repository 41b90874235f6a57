"""Faces aligned to the FFHQ template: the one place crops are cut from landmarks.

Used by face restoration (the restorer's crops), the Detect Faces node (aligned crops of what it
found) and training's face data (crops and the maps that place the eye and mouth boxes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...gan_models.errors import InvalidOptionError
from .similarity import similarity_transform
from .template import face_template
from .warp import CROP_BORDER, crop_faces


def align_faces(rgb: torch.Tensor, faces, size: int, device: str | torch.device | None = None, *,
                image_index: Sequence[int] | None = None,
                border_value: float | Sequence[float] = CROP_BORDER, template: torch.Tensor | None = None,
                robust: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(crops, matrices)``: each face cut from ``rgb`` and aligned to the template of a ``size`` px crop.

    ``rgb`` is ``3×H×W`` or ``B×3×H×W`` (float, [0, 1]); ``faces`` are objects with five ``landmarks``
    (detected :class:`~ganpost.tasks.detect_faces.Face`) or a ``K×5×2`` tensor / nested list of (x, y) in
    ``rgb``'s pixels. ``image_index`` says which image of the batch each face is in (default: all in the
    first). The crops are ``K×3×size×size`` on ``device`` (default: ``rgb``'s) in ``rgb``'s dtype; the
    matrices ``K×2×3`` map image pixels to crop pixels (pixel centres on integers), fitted as OpenCV's
    LMedS ``estimateAffinePartial2D`` fits them. Where a crop runs off the image it is filled with the
    official helper's grey (``border_value``). ``template``: other landmark places for a ``size`` px crop
    (``5×2``; default the FFHQ template); ``robust=False`` fits all points by plain least squares.
    """
    images = rgb[None] if rgb.ndim == 3 else rgb
    if images.ndim != 4:
        raise InvalidOptionError(f"align_faces takes a 3×H×W or B×3×H×W image, not {tuple(rgb.shape)}")
    device = images.device if device is None else torch.device(device)
    dtype = images.dtype if images.is_floating_point() else torch.float32
    points = landmark_tensor(faces, dtype=dtype, device=device)
    if points.shape[0] == 0:
        return (torch.empty(0, images.shape[1], size, size, dtype=dtype, device=device),
                torch.empty(0, 2, 3, dtype=dtype, device=device))
    places = face_template(size, device=device, dtype=dtype) if template is None else template.to(device, dtype)
    matrices = similarity_transform(points, places, robust=robust)
    owners = [0] * points.shape[0] if image_index is None else list(image_index)
    crops = crop_faces(images.to(device, dtype), matrices, owners, size, border_value)
    return crops, matrices


def landmark_tensor(faces, *, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``K×P×2`` landmarks from faces (``.landmarks``), a tensor, or nested (x, y) lists."""
    if isinstance(faces, torch.Tensor):
        points = faces.to(device, dtype)
    else:
        faces = list(faces)
        rows = [face.landmarks if hasattr(face, "landmarks") else face for face in faces]
        points = torch.tensor(rows, dtype=dtype, device=device) if rows else torch.empty(0, 5, 2, dtype=dtype,
                                                                                         device=device)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise InvalidOptionError(f"landmarks must be K×P×2 (x, y) points, got shape {tuple(points.shape)}")
    return points
