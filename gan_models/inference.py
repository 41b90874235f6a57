"""The inference core: tiled, memory-bounded, precision-safe upscaling of ``1×C×H×W`` tensors."""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .descriptor import ModelDescriptor
from .tiling import plan_axis, ramp

log = logging.getLogger(__name__)

MIN_TILE = 32
MAX_AUTO_TILE = 1024
CPU_TILE_BUDGET = 2 << 30  # bytes of activations per tile on CPU when free memory is unknown
CPU_BUDGET_SHARE = 0.25  # of available RAM; fewer, larger tiles waste less compute on context margins
CPU_BUDGET_RANGE = (1 << 30, 8 << 30)


def context_margin(model: ModelDescriptor) -> int:
    """Input pixels of context each tile reads beyond what it keeps.

    A compact net's receptive field is exactly num_conv + 2 convolutions, so that margin makes
    tiling exact. RRDBNet's field is far wider than its useful reach; 32 px measured well
    (see DESIGN.md's tiling table).
    """
    if model.architecture == "SRVGGNetCompact":
        return model.hyperparameters["num_conv"] + 2
    return 32


def blend_overlap(model: ModelDescriptor) -> int:
    return 0 if model.architecture == "SRVGGNetCompact" else 16


def activation_bytes_per_pixel(model: ModelDescriptor, dtype: torch.dtype) -> int:
    """Rough peak activation memory per *input* pixel: a few feature maps at output resolution."""
    feat = model.hyperparameters.get("num_feat", 64)
    size = torch.tensor([], dtype=dtype).element_size()
    return size * (3 * feat * model.scale**2 + 8 * feat)


def auto_tile(model: ModelDescriptor, device: torch.device, dtype: torch.dtype) -> int:
    per_px = activation_bytes_per_pixel(model, dtype)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free * 0.6
    else:
        budget = cpu_tile_budget()
    side = int(math.sqrt(budget / per_px)) - 2 * context_margin(model)
    return max(MIN_TILE, min(MAX_AUTO_TILE, side // 8 * 8))


def cpu_tile_budget() -> float:
    """Activation bytes one CPU tile may use: a share of the RAM available now, within bounds."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # Windows, macOS: not reported this way
        return CPU_TILE_BUDGET
    low, high = CPU_BUDGET_RANGE
    return min(high, max(low, available * CPU_BUDGET_SHARE))


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                              or "defaultcpuallocator" in text)


@dataclass
class TileRunner:
    """Runs the network on one tile in the working dtype, recomputing in fp32 if it overflows."""

    model: ModelDescriptor
    device: torch.device
    dtype: torch.dtype
    channels_last: bool = True

    def __post_init__(self):
        fp32 = self.model.module.to(self.device)
        if self.channels_last and self.device.type in ("cpu", "cuda"):
            fp32 = fp32.to(memory_format=torch.channels_last)
        self._fp32 = fp32
        self._working = fp32 if self.dtype == torch.float32 else copy.deepcopy(fp32).to(self.dtype)
        self.fp32_fallbacks = 0

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self._forward(self._working, x, self.dtype)
        if self.dtype != torch.float32 and not torch.isfinite(out).all():
            self.fp32_fallbacks += 1
            log.warning("%s overflowed in %s on a tile; recomputed it in fp32", self.model.name, self.dtype)
            out = self._forward(self._fp32, x, torch.float32)
        return out

    def _forward(self, module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        multiple = self.model.size_multiple
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % multiple, (-w) % multiple
        x = x.to(self.device, dtype)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        if self.channels_last and self.device.type in ("cpu", "cuda"):
            x = x.contiguous(memory_format=torch.channels_last)
        out = module(x)
        s = self.model.scale
        return out[..., : h * s, : w * s].float()

    def release(self) -> None:
        """Give device memory back: the descriptor's module returns to the CPU."""
        self.model.module.to("cpu")
        self._working = self._fp32 = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def upscale_tensor(
    runner: TileRunner,
    image: torch.Tensor,
    *,
    tile: int,
    out: torch.Tensor | None = None,
    on_tile: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Upscale one ``1×C×H×W`` float image in [0, 1] tile by tile into ``out`` (``C×sH×sW``).

    ``tile`` ≥ the image size runs it in one pass. ``on_tile`` is called after every tile
    (progress, cancellation). Out-of-memory errors propagate; :func:`upscale_with_fallback`
    retries them with smaller tiles.
    """
    model, s = runner.model, runner.model.scale
    _, c, h, w = image.shape
    if out is None:
        out = torch.empty(c, h * s, w * s)
    margin, overlap = context_margin(model), blend_overlap(model)
    rows, cols = plan_axis(h, tile, margin, overlap), plan_axis(w, tile, margin, overlap)
    for ry in rows:
        wy = ramp(ry.keep_end - ry.keep_start, ry.fade_in, ry.fade_out, s).view(-1, 1)
        for rx in cols:
            result = runner(image[..., ry.read_start:ry.read_end, rx.read_start:rx.read_end])[0].cpu()
            top, left = (ry.keep_start - ry.read_start) * s, (rx.keep_start - rx.read_start) * s
            kept = result[:, top: top + (ry.keep_end - ry.keep_start) * s, left: left + (rx.keep_end - rx.keep_start) * s]
            region = out[:, ry.keep_start * s: ry.keep_end * s, rx.keep_start * s: rx.keep_end * s]
            if ry.fade_in or rx.fade_in or ry.fade_out or rx.fade_out:
                weight = wy * ramp(rx.keep_end - rx.keep_start, rx.fade_in, rx.fade_out, s).view(1, -1)
                _blend_into(region, kept, weight, ry.fade_in * s, rx.fade_in * s)
            else:
                region.copy_(kept)
            if on_tile:
                on_tile()
    return out


def _blend_into(region: torch.Tensor, kept: torch.Tensor, weight: torch.Tensor, top: int, left: int) -> None:
    """Add ``kept * weight`` where a neighbour already wrote, overwrite where nobody did yet.

    Tiles go in raster order, so the ``top`` rows (written by the row above) and the ``left``
    columns (written by the tile to the left) hold the neighbours' weighted contributions;
    everything else is still uninitialised memory.
    """
    contribution = kept * weight
    fresh = torch.ones(region.shape[-2:], dtype=torch.bool)
    fresh[:top, :] = False
    fresh[:, :left] = False
    region.copy_(torch.where(fresh, contribution, region + contribution))
