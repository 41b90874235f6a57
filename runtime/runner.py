"""The task-neutral runner: any model of the registry on images of any size, in bounded memory.

It owns what every task needs and nothing task-specific: the working copy of the network on the
device in the compute dtype (the loaded module is never touched), the value-range mapping and
size rules of the model contract, tiling with a discarded context margin, windows of one size
batched on the device (as many as its free memory holds), out-of-memory retries with halved
batches then halved tiles, recomputing in fp32 any tile that overflows in half precision,
progress, cancellation and giving the device memory back. Batches of equal windows that are not
tiles of one image (aligned face crops, images for a detector) take the same path through
:meth:`Runner.run_windows`: sized from memory, halved on out-of-memory, fp32 where half overflows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..gan_models.contract import ModelDescriptor, AtInference
from ..gan_models.errors import CancelledError, ImageInputError, InvalidOptionError, OutOfMemoryError
from .memory import MIN_TILE, auto_batch, auto_tile, estimate_bytes, is_out_of_memory
from .precision import DTYPE_NAMES, resolve_device, resolve_dtype
from .tiling import Span, fill_window, plan_axis, ramp, tile_count

log = logging.getLogger(__name__)
MAX_CPU_COPIES = 2  # e.g. the bf16 working copy and, after an overflow, the fp32 one


def working_copy(model: ModelDescriptor, device: torch.device, dtype: torch.dtype, channels_last: bool) -> nn.Module:
    """The network converted for ``device``/``dtype``; ``model.module`` itself is never modified.

    CPU copies are kept on the descriptor for the next call; device copies are made per run and
    dropped by :meth:`Runner.release`, so GPU memory is held only while a run needs it. Each
    tensor is converted straight into the copy, so no second fp32 copy of the weights is ever
    made (a 2.4 GB fp32 AuraSR gets a 1.2 GB half copy, not 2.4 GB more on the way), and a copy
    that needs no conversion (fp32 on the CPU) shares the loaded parameters' memory (the runner
    never writes to them; buffers, which batch statistics update, are always copied).
    """
    key = (str(device), dtype, channels_last, model.contract.test_time)  # a task may ask for either mode
    cache = model.working_copies
    if key in cache:
        return cache[key]
    converted = {}
    for tensor in model.module.parameters():
        converted[id(tensor)] = nn.Parameter(tensor.detach().to(device, dtype), requires_grad=False)
    for tensor in model.module.buffers():  # always copied: batch statistics update them in place
        converted[id(tensor)] = tensor.detach().to(device, dtype if tensor.is_floating_point() else tensor.dtype,
                                                   copy=True)
    module = copy.deepcopy(model.module, memo=converted)
    if channels_last:  # 4-D tensors only: StyleGAN2's modulated convs keep 5-D weights, which NHWC refuses
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.ndim == 4:
                tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    module.train(model.contract.test_time == AtInference.AS_TRAINED).requires_grad_(False)
    if device.type == "cpu":
        while len(cache) >= MAX_CPU_COPIES:
            cache.pop(next(iter(cache)))
        cache[key] = module
    return module


def _uses_channels_last(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")  # oneDNN and cuDNN convolutions prefer NHWC; MPS does not


@dataclass
class _Progress:
    callback: Callable[[int, int], None] | None
    cancel: Callable[[], bool | None] | None
    total: int
    done: int = 0

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.callback:
            self.callback(self.done, self.total)
        if self.cancel and self.cancel():
            raise CancelledError("cancelled")

    def rewind(self, done: int, extra: int) -> None:
        self.done, self.total = done, self.total + extra


class Runner:
    """Runs one model; use as a context manager (or call :meth:`release`) to give memory back.

    Images are ``1×C×H×W`` float tensors in [0, 1] on the CPU with the model's input channels;
    results are ``C×(sH)×(sW)`` float32 in [0, 1] (unclamped) on the CPU, ``s`` the contract's scale.
    """

    def __init__(self, model: ModelDescriptor, *, device: str | torch.device | None = None,
                 precision: str = "auto", progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool | None] | None = None):
        self.model, self.contract = model, model.contract
        for name, given in (("progress", progress), ("cancel", cancel)):
            if given is not None and not callable(given):
                raise InvalidOptionError(f"{name} must be a function (or None), not {given!r}")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(model, precision, self.device)
        self.channels_last = _uses_channels_last(self.device) and self.contract.channels_last
        self.progress, self.cancel = progress, cancel
        self.fp32_fallbacks = 0
        self._module: nn.Module | None = working_copy(model, self.device, self.dtype, self.channels_last)
        log.info("%s on %s in %s", model.name, self.device, self.precision_name)

    @property
    def precision_name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------------------------ planning
    def tile_side(self, tile: int | str, height: int, width: int) -> int:
        """``"auto"`` → from free memory; 0 → one pass; else checked. Fixed-window models cap it."""
        if tile == "auto":
            side = auto_tile(self.model, self.device, self.dtype)
        elif isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
            raise InvalidOptionError(f"tile must be 'auto', 0 (no tiling) or a positive number of pixels, not {tile!r}")
        elif tile == 0:
            side = max(height, width)
        elif tile < MIN_TILE:
            raise InvalidOptionError(f"tile {tile} is below the minimum of {MIN_TILE} px")
        else:
            side = tile
        fixed = self.contract.size.fixed
        if fixed:  # a tile reads its core, the cross-fade and the margin: all of it must fit the window
            policy = self.contract.tiling
            side = min(side, max(1, fixed - 2 * policy.margin - policy.overlap))
        return side

    def estimate_bytes(self, tile_side: int) -> int:
        return estimate_bytes(self.model, self.dtype, tile_side)

    def batch_size(self, batch: int | str, tile_side: int) -> int:
        """``"auto"`` → as many tile reads as fit the device's free memory; else checked."""
        read = self.contract.size.fixed or tile_side + 2 * self.contract.tiling.margin
        return self._windows_per_forward(batch, (read, read))

    def _windows_per_forward(self, batch: int | str, window: tuple[int, int]) -> int:
        """``"auto"`` → as many ``window``-sized reads (h, w) as fit the device's free memory; else checked."""
        if self.contract.test_time == AtInference.AS_TRAINED:
            return 1  # batch statistics would mix the windows of a batch (and differ from one redone alone)
        if batch == "auto":
            fixed = self.contract.size.fixed
            window = (_padded(window[0], self.contract.size), _padded(window[1], self.contract.size))
            if fixed:
                window = (max(window[0], fixed), max(window[1], fixed))
            return auto_batch(self.model, self.device, self.dtype, window)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidOptionError(f"batch must be 'auto' or a positive number of tiles per forward, not {batch!r}")
        return batch

    def _halved_batch(self, err: BaseException, batch: int, what: str) -> int | None:
        """After an error in a forward of ``batch`` windows: re-raise anything but out-of-memory; else give the
        device cache back and return the halved batch to retry with (None when one window already failed)."""
        if not is_out_of_memory(err):
            raise err
        self._empty_device_cache()
        if batch <= 1:
            return None
        log.warning("out of memory with %d %s per forward on %s; retrying with %d", batch, what, self.device,
                    batch // 2)
        return batch // 2

    # ------------------------------------------------------------------------------ running
    def run(self, images: Iterable[torch.Tensor], tile: int | str = "auto", batch: int | str = "auto",
            **options) -> Iterator[torch.Tensor]:
        """Yield each image's result in turn; progress counts the windows of all of them.

        ``batch``: tiles per forward (tiles of one size only), ``"auto"`` from free memory.
        ``options`` go to every forward (those the contract lists, e.g. AuraSR's ``seed``).
        """
        images = list(images)
        if not images:
            return
        for image in images:
            self._check(image)
        sizes = [image.shape[-2:] for image in images]
        side = self.tile_side(tile, max(h for h, _ in sizes), max(w for _, w in sizes))
        size = self.batch_size(batch, side)
        counter = _Progress(self.progress, self.cancel, sum(tile_count(h, w, side) for h, w in sizes))
        for run in _same_size_runs(images):
            if len(run) > 1 and self._whole_images_batch(run[0], side):
                yield from self._run_whole(run, batch, side, size, counter, options)
                continue
            for image in run:
                result, side, size = self._run_with_fallback(image, side, size, counter, options)
                yield result
        if self.fp32_fallbacks:
            log.warning("%d tile(s) overflowed in %s and were recomputed in fp32", self.fp32_fallbacks,
                        self.precision_name)

    def run_windows(self, windows: torch.Tensor, batch: int | str = "auto",
                    finish: Callable[[torch.Tensor], torch.Tensor] | None = None, **options) -> torch.Tensor:
        """A batch of equal windows (``N×C×h×w`` in [0, 1], e.g. aligned face crops), not tiles of one image:
        each goes through the network whole, as many per forward as the device's memory holds.

        The machinery is the tiles': ``batch`` (``"auto"``: sized from free memory) halved after every
        out-of-memory error down to one window, windows that overflow in half precision recomputed in
        fp32, progress and the cancel check after every forward. ``finish`` maps each forward's output
        (``B×C'×sh×sw`` float32 on the device, or a detector's decoded ``B×P×D``) before it is kept, so a
        large output (a parser's logits) never piles up; ``options`` go to every forward. Returns the
        results in order, on the windows' device.
        """
        if windows.ndim != 4 or windows.shape[1] != self.contract.in_channels:
            raise ImageInputError(f"{self.model.name} takes N×{self.contract.in_channels}×H×W windows, "
                                  f"not {tuple(windows.shape)}")
        count, before = windows.shape[0], self.fp32_fallbacks
        size = self._windows_per_forward(batch, tuple(windows.shape[-2:])) if count else 1
        counter = _Progress(self.progress, self.cancel, count)
        results: list[torch.Tensor] = []
        start = 0
        while start < count:
            try:
                out = self.forward(windows[start: start + size], **options)
                if finish is not None:
                    out = finish(out)
            except (RuntimeError, torch.OutOfMemoryError) as err:
                halved = self._halved_batch(err, size, "windows")
                if halved is None:
                    raise OutOfMemoryError(
                        f"out of memory on {self.device} with one {windows.shape[-1]}×{windows.shape[-2]} window "
                        f"through {self.model.name}. Free memory (close other models), or use device='cpu'."
                    ) from err
                size = halved
                continue
            results.append(out.to(windows.device))
            start += out.shape[0]
            counter.step(out.shape[0])
        if self.fp32_fallbacks > before:
            log.warning("%d window(s) overflowed in %s and were recomputed in fp32", self.fp32_fallbacks - before,
                        self.precision_name)
        if not results:
            return self._no_windows(windows, finish, options)
        return torch.cat(results)

    def _no_windows(self, windows: torch.Tensor, finish, options: dict) -> torch.Tensor:
        """The result of zero windows, shaped as a forward's: known from the contract for images; a decoded or
        finished output's shape is found by one forward of a blank window."""
        h, w, s = *windows.shape[-2:], self.contract.scale
        if finish is None and self.contract.decode is None:
            return torch.empty(0, self.contract.out_channels, h * s, w * s, device=windows.device)
        out = self.forward(windows.new_zeros(1, *windows.shape[1:]), **options)
        return (out if finish is None else finish(out))[:0].to(windows.device)

    def _check(self, image: torch.Tensor) -> None:
        if image.ndim != 4 or image.shape[0] != 1:
            raise ImageInputError(f"the runner takes one 1×C×H×W image at a time, not {tuple(image.shape)}")
        if image.shape[1] != self.contract.in_channels:
            raise ImageInputError(f"{self.model.name} takes {self.contract.in_channels}-channel input, "
                                  f"not {image.shape[1]} channels.")

    def _whole_images_batch(self, image: torch.Tensor, side: int) -> bool:
        """Whether images of this one's size go through the network whole, several per forward: each is a
        single tile, the window is not fixed, and the network has no batch statistics to mix."""
        h, w = image.shape[-2:]
        return (tile_count(h, w, side) == 1 and not self.contract.size.fixed
                and self.contract.test_time != AtInference.AS_TRAINED)

    def _run_whole(self, images: list[torch.Tensor], batch: int | str, side: int, tile_batch: int,
                   counter: _Progress, options: dict) -> Iterator[torch.Tensor]:
        """Images of one size, each one tile, as many per forward as fit (halved after out-of-memory; one at
        a time through the tiled path when even two do not fit)."""
        per_forward = self._windows_per_forward(batch, tuple(images[0].shape[-2:]))
        start = 0
        while start < len(images):
            chunk = images[start: start + per_forward]
            if len(chunk) == 1:
                result, side, tile_batch = self._run_with_fallback(chunk[0], side, tile_batch, counter, options)
                yield result
                start += 1
                continue
            try:
                out = self.forward(torch.cat(chunk), **options).cpu()
            except (RuntimeError, torch.OutOfMemoryError) as err:
                per_forward = self._halved_batch(err, per_forward, "images") or 1
                continue
            counter.step(len(chunk))
            for result in out:
                yield result.clone()  # a tensor of its own: callers change results in place (inference tensors refuse)
            start += len(chunk)

    def _run_with_fallback(self, image: torch.Tensor, side: int, batch: int, counter: _Progress,
                           options: dict) -> tuple[torch.Tensor, int, int]:
        """Run one image; after every out-of-memory error halve the batch, then the tile, down to the floor."""
        _, _, h, w = image.shape
        s = self.contract.scale
        try:
            out = torch.empty(self.contract.out_channels, h * s, w * s)
        except RuntimeError as err:  # the allocator's own words would be a traceback
            if not is_out_of_memory(err):
                raise
            raise OutOfMemoryError(
                f"the {w * s}×{h * s} output of {self.model.name} for a {w}×{h} image does not fit in memory "
                f"({self.contract.out_channels * h * s * w * s * 4 / 1e9:.1f} GB); split the image into parts."
            ) from err
        while True:
            start = counter.done
            try:
                return self._tiled(image, side, batch, out, counter, options), side, batch
            except (RuntimeError, torch.OutOfMemoryError) as err:
                halved = self._halved_batch(err, batch, "tiles")
                if halved is not None:
                    counter.rewind(start, extra=0)
                    batch = halved
                    continue
                smaller = min(side, max(h, w)) // 2
                if smaller < MIN_TILE:
                    raise OutOfMemoryError(
                        f"out of memory on {self.device} even with {side} px tiles for a {w}×{h} image with "
                        f"{self.model.name}. Free memory (close other models), use device='cpu', or a smaller image."
                    ) from err
                log.warning("out of memory with %d px tiles on %s; retrying with %d px", side, self.device, smaller)
                counter.rewind(start, extra=tile_count(h, w, smaller) - tile_count(h, w, side))
                side = smaller

    def _tiled(self, image: torch.Tensor, side: int, batch: int, out: torch.Tensor, counter: _Progress,
               options: dict) -> torch.Tensor:
        """Tile ``image`` into ``out``: each tile keeps its core plus blend zone, its margin is discarded.

        Consecutive tiles whose reads have one size go through the network together, ``batch``
        at a time; results are stitched in raster order, as the cross-fade expects.
        """
        policy, fixed = self.contract.tiling, self.contract.size.fixed
        _, _, h, w = image.shape
        # An exact policy also needs tiles on the network's stride grid (e.g. ×4 for a stride-4 body).
        align = self.contract.size.multiple if policy.exact else 1
        rows = plan_axis(h, side, policy.margin, policy.overlap, align)
        cols = plan_axis(w, side, policy.margin, policy.overlap, align)
        if fixed:
            rows = [fill_window(span, h, fixed) for span in rows]
            cols = [fill_window(span, w, fixed) for span in cols]
        pending: list[tuple[Span, Span]] = []
        for ry in rows:
            for rx in cols:
                if pending and (len(pending) == batch or _read_size(ry, rx) != _read_size(*pending[0])):
                    self._run_batch(image, pending, out, counter, options)
                    pending = []
                pending.append((ry, rx))
        self._run_batch(image, pending, out, counter, options)
        return out

    def _run_batch(self, image: torch.Tensor, tiles: list[tuple[Span, Span]], out: torch.Tensor,
                   counter: _Progress, options: dict) -> None:
        s = self.contract.scale
        reads = [image[0, :, ry.read_start:ry.read_end, rx.read_start:rx.read_end] for ry, rx in tiles]
        results = self.forward(torch.stack(reads), **options).cpu()
        for (ry, rx), result in zip(tiles, results):
            top, left = (ry.keep_start - ry.read_start) * s, (rx.keep_start - rx.read_start) * s
            kept = result[:, top: top + (ry.keep_end - ry.keep_start) * s,
                          left: left + (rx.keep_end - rx.keep_start) * s]
            region = out[:, ry.keep_start * s: ry.keep_end * s, rx.keep_start * s: rx.keep_end * s]
            if ry.fade_in or rx.fade_in or ry.fade_out or rx.fade_out:
                weight = (ramp(ry.keep_end - ry.keep_start, ry.fade_in, ry.fade_out, s).view(-1, 1)
                          * ramp(rx.keep_end - rx.keep_start, rx.fade_in, rx.fade_out, s).view(1, -1))
                _blend_into(region, kept, weight, ry.fade_in * s, rx.fade_in * s)
            else:
                region.copy_(kept)
            counter.step()

    @torch.inference_mode()
    def forward(self, x: torch.Tensor, **options) -> torch.Tensor:
        """A batch of windows through the network: ``B×C×h×w`` in [0, 1] → ``B×C×sh×sw`` float32 in [0, 1]
        (for a model whose contract declares ``decode``, the decoded ``B×P×D`` instead).

        ``options`` go to the network's forward; only those its contract lists are accepted.
        """
        unknown = set(options) - set(self.contract.call_options)
        if unknown:
            raise InvalidOptionError(f"{self.model.name} takes no {', '.join(sorted(unknown))} option "
                                     f"(it takes: {', '.join(self.contract.call_options) or 'none'}).")
        out = self._forward(self._module, x, self.dtype, options)
        if self.dtype != torch.float32:
            bad = ~torch.isfinite(out).flatten(1).all(dim=1)
            if bad.any():  # only the windows that overflowed are redone
                self.fp32_fallbacks += int(bad.sum())
                log.warning("%s overflowed in %s on %d tile(s); recomputing in fp32", self.model.name,
                            self.precision_name, int(bad.sum()))
                fp32 = working_copy(self.model, self.device, torch.float32, self.channels_last)
                out[bad.to(out.device)] = self._forward(fp32, x[bad.to(x.device)], torch.float32, options)
                del fp32  # a device copy goes now; a CPU copy stays cached on the descriptor
        return out

    def _forward(self, module: nn.Module, x: torch.Tensor, dtype: torch.dtype, options: dict) -> torch.Tensor:
        rule, s = self.contract.size, self.contract.scale
        h, w = x.shape[-2:]
        target_h, target_w = _padded(h, rule), _padded(w, rule)
        low, high = self.contract.value_range
        x = x.to(self.device, dtype)
        if (low, high) != (0.0, 1.0):
            x = x * (high - low) + low
        if (target_h, target_w) != (h, w):
            x = _pad(x, target_h - h, target_w - w)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.contract.decode is not None:  # a detector: its outputs decoded, in the (padded) input's pixels
            return self.contract.decode(module(x, **options), (target_h, target_w)).float()
        out = self.contract.output_adapter(module(x, **options))[..., : h * s, : w * s].float()
        if (low, high) != (0.0, 1.0):
            out = (out - low) / (high - low)
        return out

    # ------------------------------------------------------------------------------ release
    def release(self) -> None:
        """Drop the device copy and give cached device memory back; CPU copies stay for the next call."""
        self._module = None
        self._empty_device_cache()

    def _empty_device_cache(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        elif self.device.type == "mps":
            torch.mps.empty_cache()


def _same_size_runs(images: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive images of one shape, together."""
    runs: list[list[torch.Tensor]] = []
    for image in images:
        if runs and runs[-1][0].shape == image.shape:
            runs[-1].append(image)
        else:
            runs.append([image])
    return runs


def _read_size(ry: Span, rx: Span) -> tuple[int, int]:
    return ry.read_end - ry.read_start, rx.read_end - rx.read_start


def _padded(length: int, rule) -> int:
    if rule.fixed:
        return max(rule.fixed, length)
    length = max(length, rule.minimum)
    return length + (-length) % rule.multiple


def _pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflect where the image is large enough to mirror, replicate otherwise (reflect needs pad < size)."""
    h, w = x.shape[-2:]
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


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
