"""Choosing the device and the compute dtype for a model."""

from __future__ import annotations

import functools
import logging

import torch

from ..gan_models.contract import ModelDescriptor
from ..gan_models.errors import DeviceError, InvalidOptionError

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
DEVICE_ALIASES = {"gpu": "cuda"}


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` → the best available; anything else is checked to exist on this machine."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return default_device()
    if not isinstance(device, (str, torch.device)):
        raise DeviceError(f"device must be a name such as 'cpu', 'cuda', 'cuda:1' or 'mps' (or a torch.device), "
                          f"not {device!r}.")
    if isinstance(device, str):
        text = device.strip().lower()
        base, _, index = text.partition(":")
        text = DEVICE_ALIASES.get(base, base) + (f":{index}" if index else "")
        try:
            device = torch.device(text)
        except RuntimeError as err:
            raise DeviceError(f"device {device!r} is not a device name; use cpu, cuda, cuda:N or mps.") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r}: no CUDA GPU is usable here (torch {torch.__version__}, "
                              f"CUDA build: {torch.version.cuda or 'no'}). Use device='cpu', or install a CUDA build "
                              "of torch.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                              f"numbered 0–{torch.cuda.device_count() - 1}.")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"device {str(device)!r}: Apple's MPS is not available here. Use device='cpu'.")
    elif device.type != "cpu":
        raise DeviceError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or mps.")
    return device


@functools.cache
def cpu_has_bf16_matmul() -> bool:
    """True on CPUs with native bf16 matrix instructions (AMX-BF16 or AVX512-BF16), where bf16
    convolutions run faster than fp32: 2.0–2.2× our fp32 path with AVX512-BF16 alone (AMD Zen 4,
    bench/upscale.py), more with AMX's tile units."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as info:
            for line in info:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def resolve_dtype(model: ModelDescriptor, precision: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on CUDA and bf16 on CPUs with bf16 matrix units where the contract says it is safe,
    else fp32. Explicit choices are checked against the contract."""
    if precision not in PRECISIONS:
        raise InvalidOptionError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if not model.contract.auto_half:
            return torch.float32
        if device.type == "cuda" and model.fp16_safe:
            return torch.float16
        if device.type == "cpu" and model.bf16_safe and cpu_has_bf16_matmul():
            return torch.bfloat16
        return torch.float32
    if precision == "fp16" and not model.fp16_safe:
        raise InvalidOptionError(f"{model.name} is not safe in fp16 (it overflows); use bf16 or fp32.")
    if precision == "bf16" and not model.bf16_safe:
        raise InvalidOptionError(f"{model.name} is not safe in bf16; use fp32.")
    if precision == "fp16" and device.type == "cpu":
        raise InvalidOptionError("fp16 convolutions are slow or missing on CPU; use fp32 or bf16 there.")
    if precision == "bf16":
        warn_if_bf16_is_emulated(device)
    return DTYPES[precision]


def warn_if_bf16_is_emulated(device: torch.device) -> None:
    """bf16 asked for on a CPU without bf16 matrix units: it works, emulated, and slower than fp32
    (3.5× slower in one training run on an AVX2 CPU). Said once per process."""
    if device.type == "cpu" and not cpu_has_bf16_matmul():
        _warn_bf16_emulated_once()


@functools.cache
def _warn_bf16_emulated_once() -> None:
    log.warning("bf16 on this CPU is emulated (no AMX or AVX512-BF16 units) and runs slower than fp32; "
                "fp32 (or auto, which picks it here) is faster")
