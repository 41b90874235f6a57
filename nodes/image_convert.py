"""ComfyUI IMAGE (B×H×W×C) and MASK (B×H×W, 1 = transparent) ↔ the core's B×C×H×W tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def image_to_core(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """B×C×H×W float32 on the CPU; a 4th channel (alpha) comes from the image or ``1 − mask``."""
    batch = image.detach().float().cpu().movedim(-1, 1)
    if batch.shape[1] == 4:
        return batch
    alpha = _mask_to_alpha(mask, batch)
    return batch if alpha is None else torch.cat([batch[:, :3], alpha], 1)


def _mask_to_alpha(mask: torch.Tensor | None, batch: torch.Tensor) -> torch.Tensor | None:
    # LoadImage gives an all-zero 64×64 mask for images without alpha: that means "opaque".
    if mask is None or not mask.any():
        return None
    mask = mask.detach().float().cpu()
    if mask.ndim == 2:
        mask = mask[None]
    mask = mask[:, None]
    if mask.shape[-2:] != batch.shape[-2:]:
        mask = F.interpolate(mask, size=batch.shape[-2:], mode="bilinear", align_corners=False)
    if mask.shape[0] not in (1, batch.shape[0]):
        raise ValueError(f"the mask batch ({mask.shape[0]}) does not match the image batch ({batch.shape[0]}).")
    return (1 - mask).expand(batch.shape[0], -1, -1, -1)


def core_to_comfy(result: torch.Tensor, had_alpha_channel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(IMAGE, MASK): the image keeps a 4th channel only if it came with one; MASK = 1 − alpha."""
    result = result.float().cpu().clamp(0, 1)
    b, c, h, w = result.shape
    mask = 1 - result[:, 3] if c == 4 else torch.zeros(b, h, w)
    image = result if (c == 4 and had_alpha_channel) else result[:, :3]
    return image.movedim(1, -1).contiguous(), mask.contiguous()
