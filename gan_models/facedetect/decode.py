"""RetinaFace's raw outputs decoded into candidates, the contract's ``decode`` for this family.

The network gives, per prior box, encoded offsets (N×P×4), a softmax over (background, face)
(N×P×2) and encoded landmark offsets (N×P×10). Decoding follows facexlib: priors from the input's
size (:func:`boxes.prior_boxes`), centre/size offsets scaled by the variances, then corner boxes
and the five points in the input's pixels. Thresholds and suppression are the task's.
"""

from __future__ import annotations

import torch

from .boxes import decode_boxes, decode_landmarks, prior_boxes

LANDMARKS = 5
"""Points per face: left eye, right eye, nose tip, left and right mouth corners (as seen in the image)."""


def decode_retinaface(raw: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                      size: tuple[int, int]) -> torch.Tensor:
    """``(loc, scores, landmarks)`` for a ``B×3×height×width`` input → ``B×P×15``: x1, y1, x2, y2, the face
    score, then five (x, y), in the input's pixels (float32)."""
    loc, scores, landmarks = raw
    height, width = size
    priors = prior_boxes(height, width, device=loc.device)
    scale = torch.tensor([width, height], device=loc.device, dtype=torch.float32)
    boxes = decode_boxes(loc.float(), priors) * scale.repeat(2)
    points = decode_landmarks(landmarks.float(), priors) * scale
    return torch.cat([boxes, scores[..., 1:2].float(), points.flatten(-2)], dim=-1)
