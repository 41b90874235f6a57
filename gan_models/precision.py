"""Choosing the device and the compute dtype for a model."""

from __future__ import annotations

import torch

from .descriptor import ModelDescriptor
from .errors import InvalidOptionError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(model: ModelDescriptor, precision: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA where the model is fp16-safe, else fp32. Explicit choices are checked."""
    if precision not in PRECISIONS:
        raise InvalidOptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return torch.float16 if device.type == "cuda" and model.fp16_safe else torch.float32
    if precision == "fp16" and not model.fp16_safe:
        raise InvalidOptionError(f"{model.name} is not safe in fp16 (it overflows); use bf16 or fp32.")
    if precision == "bf16" and not model.bf16_safe:
        raise InvalidOptionError(f"{model.name} is not safe in bf16; use fp32.")
    if precision == "fp16" and device.type == "cpu":
        raise InvalidOptionError("fp16 convolutions are slow or missing on CPU; use fp32 or bf16 there.")
    return DTYPES[precision]
