"""A soft mask of the face parts in each aligned crop, from a face parser's per-pixel labels.

As GFPGAN's ``use_parse``: skin, brows, eyes, glasses, ears, earrings, nose, mouth, lips and hair are
face; background, hat, neck, necklace and cloth are not (so a restored face never repaints the collar
or the backdrop). The binary map is blurred twice with a Gaussian (σ = 11 px at 512, kernel 101) and
its outer 10 px are zeroed; both scale with the crop, so any crop size gets the same shape of mask.
Parts are chosen by the names the parser's contract gives its channels, never by index.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...gan_models.errors import InvalidOptionError
from .official_paste import _gaussian_blur

FACE_PARTS = frozenset({"skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "ear_r",
                        "mouth", "u_lip", "l_lip", "hair"})
REFERENCE_SIDE = 512  # the official blur and border are given for a 512 px crop
BLUR_KERNEL, BLUR_SIGMA, BORDER = 101, 11.0, 10


def face_channels(labels: tuple[str, ...], model_name: str = "the parser") -> list[int]:
    """Indices of the face-part channels, or an error naming what the parser's labels are."""
    channels = [k for k, name in enumerate(labels) if name in FACE_PARTS]
    if not channels:
        raise InvalidOptionError(f"{model_name} labels its {len(labels)} channels "
                                 f"{', '.join(labels[:6]) or '(unnamed)'}…; none is a face part "
                                 f"({', '.join(sorted(FACE_PARTS))}). Use a CelebAMask-HQ parser (ParseNet, BiSeNet).")
    return channels


def parsing_mask(logits: torch.Tensor, channels: list[int], size: int) -> torch.Tensor:
    """``N×K×h×w`` parser logits → ``N×1×size×size`` soft face mask in [0, 1]."""
    labels = logits.argmax(dim=1, keepdim=True)
    binary = torch.isin(labels, torch.tensor(channels, device=labels.device)).to(torch.float32)
    side = binary.shape[-1]
    ratio = side / REFERENCE_SIDE
    kernel = max(3, int(round(BLUR_KERNEL * ratio)) | 1)
    soft = _gaussian_blur(_gaussian_blur(binary, kernel, BLUR_SIGMA * ratio), kernel, BLUR_SIGMA * ratio)
    border = max(1, int(round(BORDER * ratio)))
    soft[..., :border, :] = 0
    soft[..., -border:, :] = 0
    soft[..., :, :border] = 0
    soft[..., :, -border:] = 0
    if side != size:
        soft = F.interpolate(soft, size=(size, size), mode="bilinear", align_corners=False)
    return soft.clamp(0, 1)
