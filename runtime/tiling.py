"""Where the tiles go and how their outputs are stitched.

Each tile owns a *core* span of the image. Its input is the core widened by ``overlap/2`` (the
blend zone) and by a ``margin`` of context on every side, clipped to the image. Only the core
plus blend zone of its output is kept: pixels near a tile's border see too little context to be
trusted, so the margin is thrown away, and neighbours are cross-faded only across the blend
zone, where both have a full margin of context. The ramps of two neighbours sum to one, so the
stitched result needs no weight buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in input pixels."""

    keep_start: int  # first pixel whose output this tile contributes (core widened by half the overlap)
    keep_end: int
    read_start: int  # input read by the network: the kept span plus the context margin, clipped
    read_end: int
    fade_in: int  # width of the cross-fade at keep_start (0 at the image border)
    fade_out: int


def plan_axis(length: int, tile: int, margin: int, overlap: int, align: int = 1) -> list[Span]:
    """``align``: reads start on multiples of it (more context, never less)."""
    count = max(1, math.ceil(length / max(tile, 1)))
    bounds = [round(k * length / count) for k in range(count + 1)]
    half = overlap // 2
    spans = []
    for k in range(count):
        fade_in = 0 if k == 0 else min(2 * half, bounds[k] - bounds[k - 1], bounds[k + 1] - bounds[k])
        fade_out = 0 if k == count - 1 else min(2 * half, bounds[k + 1] - bounds[k], bounds[k + 2] - bounds[k + 1])
        keep_start = bounds[k] - fade_in // 2
        keep_end = bounds[k + 1] + (fade_out - fade_out // 2)
        read_start = max(0, keep_start - margin)
        spans.append(Span(keep_start, keep_end, read_start - read_start % align, min(length, keep_end + margin),
                          fade_in, fade_out))
    return spans


def ramp(length: int, fade_in: int, fade_out: int, scale: int, device=None) -> torch.Tensor:
    """Per-output-pixel weight along one axis: rises over the fade-in, falls over the fade-out."""
    n = length * scale
    w = torch.ones(n, device=device)
    if fade_in:
        k = fade_in * scale
        w[:k] = (torch.arange(k, device=device) + 0.5) / k
    if fade_out:
        k = fade_out * scale
        w[n - k:] = torch.minimum(w[n - k:], 1 - (torch.arange(k, device=device) + 0.5) / k)
    return w


def tile_count(height: int, width: int, tile: int) -> int:
    return max(1, math.ceil(height / max(tile, 1))) * max(1, math.ceil(width / max(tile, 1)))


def fill_window(span: Span, length: int, window: int) -> Span:
    """Widen a tile's read to exactly ``window`` pixels, shifted to stay inside the image.

    A fixed-window network reads ``window`` pixels whatever the tile keeps: real neighbouring
    pixels are better context than the mirror padding a clipped read would get, and windows of
    one size can run as one batch. An image shorter than the window is read whole (and padded).
    """
    if length <= window:
        return Span(span.keep_start, span.keep_end, 0, length, span.fade_in, span.fade_out)
    start = min(max(0, span.keep_start - (window - (span.keep_end - span.keep_start)) // 2), length - window)
    return Span(span.keep_start, span.keep_end, start, start + window, span.fade_in, span.fade_out)
