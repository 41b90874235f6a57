"""Mixed precision for training: which autocast dtype a run uses on its device."""

from __future__ import annotations

import torch

from ...gan_models.errors import GanpostError
from ...runtime.precision import DTYPES, warn_if_bf16_is_emulated


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None runs in fp32; auto is bf16 (or fp16) on CUDA and fp32 elsewhere."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise GanpostError("run.precision fp16 needs a CUDA device; use bf16 or fp32 on this machine")
    if precision == "bf16":
        warn_if_bf16_is_emulated(device)
    return DTYPES[precision]
