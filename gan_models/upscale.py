"""``upscale(model, image)``: the public entry point of the inference core."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from . import images
from .descriptor import ModelDescriptor
from .errors import CancelledError, ImageInputError, InvalidOptionError, OutOfMemoryError
from .inference import MIN_TILE, TileRunner, auto_tile, is_out_of_memory, upscale_tensor
from .precision import default_device, resolve_dtype
from .resize import resize, target_size
from .tiling import tile_count

log = logging.getLogger(__name__)
ALPHA_MODES = ("network", "resize")


def upscale(
    model: ModelDescriptor,
    image,
    *,
    tile: int | str = "auto",
    outscale: float | None = None,
    size: tuple[int, int] | None = None,
    precision: str = "auto",
    device: str | torch.device | None = None,
    alpha_mode: str = "network",
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
):
    """Upscale a PIL image (or list), numpy array (8/16-bit or float) or tensor; returns the same kind.

    tile:       input tile side in pixels, ``"auto"`` (from free memory), or 0 for one pass.
    outscale:   final scale relative to the input (e.g. 1.5 with a ×4 model); ``size`` = (W, H) instead.
    precision:  auto | fp32 | fp16 | bf16. A tile that overflows in half precision is redone in fp32.
    alpha_mode: "network" runs alpha through the model as grey; "resize" resizes it bicubically.
    progress:   called as ``progress(done_tiles, total_tiles)``.
    cancel:     checked between tiles; returning True (or raising) stops the run.
    """
    if model.task != "upscale":
        raise InvalidOptionError(f"{model.name} is a {model.task} model, not an upscaler.")
    if alpha_mode not in ALPHA_MODES:
        raise InvalidOptionError(f"alpha_mode must be one of {ALPHA_MODES}, not {alpha_mode!r}")
    if model.in_channels != 3:
        raise ImageInputError(f"{model.name} takes {model.in_channels}-channel input; only RGB models are supported.")
    rgb, alpha, spec = images.to_core(image)
    device = torch.device(device) if device is not None else default_device()
    dtype = resolve_dtype(model, precision, device)
    batch, _, h, w = rgb.shape
    out_h, out_w = target_size(h, w, model.scale, outscale, size)

    runner = TileRunner(model, device, dtype)
    try:
        tile_side = _initial_tile(tile, runner, h, w)
        alpha_passes = [a is not None and alpha_mode == "network" and not _constant(a) for a in _alphas(alpha, batch)]
        counter = _Progress(progress, cancel, tile_count(h, w, tile_side) * (batch + sum(alpha_passes)))
        rgb_out, alpha_out = [], []
        for i in range(batch):
            up, tile_side = _upscale_with_fallback(runner, rgb[i: i + 1], tile_side, counter)
            rgb_out.append(resize(up, out_h, out_w))
            if alpha is not None:
                alpha_out.append(_upscale_alpha(runner, alpha[i: i + 1], alpha_passes[i], tile_side, counter,
                                                out_h, out_w))
        if runner.fp32_fallbacks:
            log.warning("%d tile(s) overflowed in %s and were recomputed in fp32", runner.fp32_fallbacks, dtype)
    finally:
        runner.release()
    # One image (the large case) needs no stacked copy of its full-size output.
    rgb_batch = rgb_out[0][None] if batch == 1 else torch.stack(rgb_out)
    del rgb_out
    alpha_batch = None if alpha is None else (alpha_out[0][None] if batch == 1 else torch.stack(alpha_out))
    return images.from_core(rgb_batch, alpha_batch, spec)


def _alphas(alpha, batch):
    return [None] * batch if alpha is None else [alpha[i] for i in range(batch)]


def _constant(alpha: torch.Tensor) -> bool:
    return bool((alpha == alpha.flatten()[0]).all())


def _initial_tile(tile, runner: TileRunner, h: int, w: int) -> int:
    if tile == "auto":
        return auto_tile(runner.model, runner.device, runner.dtype)
    if not isinstance(tile, int) or tile < 0:
        raise InvalidOptionError(f"tile must be 'auto', 0 (no tiling) or a positive number of pixels, not {tile!r}")
    if tile == 0:
        return max(h, w)
    if tile < MIN_TILE:
        raise InvalidOptionError(f"tile {tile} is below the minimum of {MIN_TILE} px")
    return tile


def _upscale_alpha(runner, alpha, through_network: bool, tile: int, counter, out_h: int, out_w: int):
    if through_network:
        up, _ = _upscale_with_fallback(runner, alpha.expand(-1, 3, -1, -1), tile, counter)
        return resize(up.mean(0, keepdim=True).clamp_(0, 1), out_h, out_w)
    if _constant(alpha):
        return torch.full((1, out_h, out_w), alpha.flatten()[0].item())
    return resize(alpha[0], out_h, out_w)


def _upscale_with_fallback(runner: TileRunner, image: torch.Tensor, tile: int, counter) -> tuple[torch.Tensor, int]:
    """Upscale one image, halving the tile after every out-of-memory error down to the floor."""
    _, c, h, w = image.shape
    out = torch.empty(c, h * runner.model.scale, w * runner.model.scale)
    while True:
        start = counter.done
        try:
            return upscale_tensor(runner, image, tile=tile, out=out, on_tile=counter.step), tile
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err):
                raise
            if runner.device.type == "cuda":
                torch.cuda.empty_cache()
            smaller = min(tile, max(h, w)) // 2
            if smaller < MIN_TILE:
                raise OutOfMemoryError(
                    f"out of memory on {runner.device} even with {tile} px tiles for a {w}×{h} image with "
                    f"{runner.model.name}. Free memory (close other models), use --device cpu, or a smaller image."
                ) from err
            log.warning("out of memory with %d px tiles on %s; retrying with %d px", tile, runner.device, smaller)
            counter.rewind(start, extra=tile_count(h, w, smaller) - tile_count(h, w, tile))
            tile = smaller


class _Progress:
    def __init__(self, callback, cancel, total: int):
        self.callback, self.cancel, self.total, self.done = callback, cancel, total, 0

    def step(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(self.done, self.total)
        if self.cancel and self.cancel():
            raise CancelledError("cancelled")

    def rewind(self, done: int, extra: int) -> None:
        self.done, self.total = done, self.total + extra
