"""How big a tile fits, how much memory a run needs, and recognising out-of-memory errors."""

from __future__ import annotations

import math
import os

import torch

from ..gan_models.contract import ModelDescriptor

MIN_TILE = 32
MAX_AUTO_TILE = 1024
CPU_TILE_BUDGET = 2 << 30  # bytes of activations per tile on CPU when available memory is unknown
CPU_BUDGET_SHARE = 0.25  # of available RAM; fewer, larger tiles waste less compute on context margins
CPU_BUDGET_RANGE = (1 << 30, 8 << 30)
CUDA_BUDGET_SHARE = 0.6  # of free device memory: the allocator's fragmentation and cuDNN workspaces need the rest
MAX_AUTO_BATCH = 16  # windows per forward: beyond this a GPU gains little and the last batch's idle share grows


def auto_tile(model: ModelDescriptor, device: torch.device, dtype: torch.dtype) -> int:
    """The largest tile side whose activations fit the device's budget (multiple of 8, within bounds)."""
    per_px = model.contract.activation_bytes_per_pixel(dtype)
    side = int(math.sqrt(activation_budget(device) / per_px)) - 2 * model.contract.tiling.margin
    return max(MIN_TILE, min(MAX_AUTO_TILE, side // 8 * 8))


def auto_batch(model: ModelDescriptor, device: torch.device, dtype: torch.dtype, window: tuple[int, int]) -> int:
    """How many ``window``-sized reads (h, w in input pixels) one forward may take in the device's budget."""
    per_window = model.contract.activation_bytes_per_pixel(dtype) * window[0] * window[1]
    return max(1, min(MAX_AUTO_BATCH, int(activation_budget(device) // max(per_window, 1))))


def activation_budget(device: torch.device) -> float:
    """Bytes of activations one forward may use on ``device`` now."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free * CUDA_BUDGET_SHARE
    return cpu_tile_budget()


def cpu_tile_budget(available: int | None = None) -> float:
    """Activation bytes one CPU tile may use: a share of the RAM available now, within bounds."""
    if available is None:
        available = available_ram()
    if available is None:
        return CPU_TILE_BUDGET
    low, high = CPU_BUDGET_RANGE
    return min(high, max(low, available * CPU_BUDGET_SHARE))


def available_ram() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # Windows, macOS: not reported this way
        return None


def estimate_bytes(model: ModelDescriptor, dtype: torch.dtype, tile_side: int) -> int:
    """Device bytes for one run: the weights in ``dtype`` plus one tile's activations (with its margin)."""
    element = torch.empty((), dtype=dtype).element_size()
    side = tile_side + 2 * model.contract.tiling.margin
    return model.param_count * element + model.contract.activation_bytes_per_pixel(dtype) * side * side


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                              or "defaultcpuallocator" in text)
