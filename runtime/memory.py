"""How big a tile fits, how much memory a run needs (and whether the machine has it), and recognising
out-of-memory errors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..gan_models.contract import ModelDescriptor
from ..gan_models.errors import GanpostError, OutOfMemoryError

MIN_TILE = 32
MAX_AUTO_TILE = 1024
CPU_TILE_BUDGET = 2 << 30  # bytes of activations per tile on CPU when available memory is unknown
CPU_BUDGET_SHARE = 0.25  # of available RAM; fewer, larger tiles waste less compute on context margins
CPU_BUDGET_RANGE = (1 << 30, 8 << 30)
CUDA_BUDGET_SHARE = 0.6  # of free device memory: the allocator's fragmentation and cuDNN workspaces need the rest
FLOAT_BYTES = 4  # the core's working copies are float32
PLANNING_TILE = 512  # tile side a run with tile='auto' is planned for before it starts (auto then picks)
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


def available_host_memory() -> int | None:
    """Bytes the machine can give this process now without swapping, or None where that is unknown.

    Linux's MemAvailable (free memory plus the page cache it can reclaim; the free pages alone, which
    ``available_ram`` reports, undercount it), within a cgroup v2 memory limit (containers); elsewhere
    psutil's figure if psutil is installed (it is not a dependency).
    """
    available = _meminfo_available()
    if available is None:
        try:
            import psutil
        except ImportError:
            return available_ram()
        return int(psutil.virtual_memory().available)
    return min(available, _cgroup_room() or available)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """What a cgroup v2 memory limit leaves (``memory.max`` minus ``memory.current``), None without one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def image_job_bytes(in_pixels: int, net_pixels: int, out_pixels: int, *, channels: int = 3, sample_bytes: int = 1,
                    with_input: bool = True) -> int:
    """About the host bytes one image's job holds at its peak, outside the network.

    ``in_pixels`` are read, the network writes ``net_pixels`` (input × its scale), resized to
    ``out_pixels``. Counted: the decoded file and its float32 working copy (``with_input``, for a
    front-end that has not read it yet), the network's float32 output (alpha goes through it as a
    second 3-channel image), the resized float32 copy when the sizes differ, and the output as
    integers plus the encoder's copy (Pillow keeps RGB in 4 bytes a pixel). Tiles bound the network's
    own activations (``cpu_tile_budget``), so they are not counted.
    """
    alpha = channels in (2, 4)
    need = net_pixels * FLOAT_BYTES * (6 if alpha else 3)
    if out_pixels != net_pixels:
        need += out_pixels * FLOAT_BYTES * (4 if alpha else 3)
    need += out_pixels * sample_bytes * (channels + 4)
    if with_input:
        need += in_pixels * (channels * sample_bytes + FLOAT_BYTES * (channels + 3))
    return need


def require_memory(needed: int, what: str, fix: str) -> None:
    """Refuse, before allocating, a job the machine's available memory cannot hold (unknown: let it run)."""
    available = available_host_memory()
    if available is not None and needed > available:
        raise OutOfMemoryError(f"{what} needs about {_in_units(needed)} of memory; {_in_units(available)} is "
                               f"available. {fix}.")


def _in_units(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count / 1e3:.0f} kB"


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


def placed_bytes(placed, precision: str, device) -> int:
    """Device bytes a run's models need before it starts, for hosts that free memory first (ComfyUI):
    ``placed`` holds (model, window side) pairs, side None for weights only. A precision a model cannot take
    counts as fp32 (the task refuses it with its own message); anything not a loaded model counts nothing."""
    from .precision import resolve_device, resolve_dtype

    device, total = resolve_device(device), 0
    for model, side in placed:
        if isinstance(model, ModelDescriptor):
            try:
                dtype = resolve_dtype(model, precision, device)
            except GanpostError:
                dtype = torch.float32
            total += model.param_count * dtype.itemsize if side is None else estimate_bytes(model, dtype, side)
    return total
