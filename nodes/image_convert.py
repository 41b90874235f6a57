"""ComfyUI IMAGE (B×H×W×C) and MASK (B×H×W, 1 = transparent) ↔ the core's B×C×H×W tensors.

Rules for the optional mask (ComfyUI masks are ``1 − alpha``):

* no mask, or a mask of all zeros → no alpha. ``LoadImage`` hands out a 64×64 zero mask for
  images without transparency, so that placeholder means "opaque" whatever the image size.
* an image that already has 4 channels (e.g. from ``JoinImageWithAlpha``) keeps its own alpha;
  the mask is not used.
* a constant mask of any size is that constant alpha everywhere.
* a mask of another size is resized (bilinear) when its aspect ratio matches the image's within
  2 %; otherwise it is refused, because stretching it would put transparency in the wrong place.
* mask batch 1 applies to every image; otherwise the batches must match.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..gan_models.errors import ImageInputError

log = logging.getLogger(__name__)
ASPECT_TOLERANCE = 0.02


def image_to_core(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """B×C×H×W float32 on the CPU (C = 3, or 4 with alpha from the image or ``1 − mask``)."""
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        raise ImageInputError(f"expected a ComfyUI IMAGE tensor (B×H×W×C), got {_describe(image)}.")
    if image.ndim == 3:
        image = image[None]
    batch = image.detach().cpu().float().movedim(-1, 1)
    channels = batch.shape[1]
    if channels == 1:
        batch = batch.expand(-1, 3, -1, -1)
    elif channels not in (3, 4):
        raise ImageInputError(
            f"IMAGE of shape {tuple(image.shape)} has {channels} channels; expected 3 (RGB) or 4 (RGBA).")
    if channels == 4:
        if mask is not None and mask.any():
            log.info("the image has its own alpha channel; the mask input is not used")
        return batch.contiguous()
    alpha = mask_to_alpha(mask, batch.shape[0], batch.shape[-2], batch.shape[-1])
    return batch.contiguous() if alpha is None else torch.cat([batch, alpha], 1)


def mask_to_alpha(mask: torch.Tensor | None, batch: int, height: int, width: int) -> torch.Tensor | None:
    """B×1×H×W alpha (= 1 − mask), or None when the mask means "fully opaque"."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise ImageInputError(f"expected a ComfyUI MASK tensor (B×H×W), got {_describe(mask)}.")
    mask = mask.detach().cpu().float()
    if not mask.any():
        return None
    if mask.ndim == 2:
        mask = mask[None]
    if mask.shape[0] not in (1, batch):
        raise ImageInputError(
            f"the mask batch has {mask.shape[0]} masks but the image batch has {batch} images; "
            "give one mask for all images or one per image.")
    mask = mask[:, None]
    mh, mw = mask.shape[-2:]
    if (mh, mw) != (height, width):
        if bool((mask == mask.flatten()[0]).all()):
            mask = mask.flatten()[:1].view(1, 1, 1, 1).expand(mask.shape[0], 1, height, width)
        elif abs((mw / mh) / (width / height) - 1) <= ASPECT_TOLERANCE:
            log.info("resizing the %dx%d mask to the %dx%d image", mw, mh, width, height)
            mask = F.interpolate(mask, size=(height, width), mode="bilinear", align_corners=False).clamp_(0, 1)
        else:
            raise ImageInputError(
                f"the mask is {mw}×{mh} but the image is {width}×{height} (a different aspect ratio); "
                "give a mask of the image's size, or disconnect it.")
    return (1 - mask).expand(batch, -1, -1, -1).contiguous()


def core_to_comfy(result: torch.Tensor, keep_alpha_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(IMAGE, MASK), float32 on the CPU. MASK = 1 − alpha (zeros without alpha).

    The IMAGE keeps a 4th channel only if the input IMAGE had one, so RGB in gives RGB out.
    """
    result = result.detach().float().cpu().clamp(0, 1)
    b, c, h, w = result.shape
    mask = 1 - result[:, 3] if c == 4 else torch.zeros(b, h, w)
    image = result if (c == 4 and keep_alpha_channel) else result[:, :3]
    return image.movedim(1, -1).contiguous(), mask.contiguous()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__
