"""ComfyUI core's upscale path ("Upscale Image (using Model)"), re-created from its description.

Not copied: the model loaded by spandrel and called through its descriptor, fp32, 512 px tiles
with a 32 px overlap on a stride of tile - overlap, every output tile weighted by a linear feather
over overlap*scale pixels on each edge, accumulated into full-size ``out`` and ``out_div`` buffers
on the CPU, divided at the end and clamped to [0, 1]; an image that fits in one tile runs in one
call. Used by bench/upscale.py and bench/gpu_check.py as the baseline to beat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

CORE_TILE, CORE_OVERLAP = 512, 32


def import_spandrel():
    """spandrel, importable without torchvision through the tests' one stub (ImportError if absent)."""
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from helpers.torchvision_stub import import_spandrel as _import

    return _import()


def _core_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride tile - overlap; the last tile is cut at the edge."""
    if length <= tile:
        return [0]
    starts = []
    for s in range(0, length - overlap, tile - overlap):
        starts.append(max(0, min(s, length - overlap)))
    return starts


def _feather(h: int, w: int, width: int) -> torch.Tensor:
    """H×W weights: a linear ramp (1/width, 2/width, ..., 1) inward from all four edges."""
    mask = torch.ones(h, w)
    for axis, n in ((0, h), (1, w)):
        if width >= n:
            continue
        ramp = torch.ones(n)
        steps = torch.arange(1, width + 1, dtype=torch.float32) / width
        ramp[:width] *= steps
        ramp[n - width:] *= steps.flip(0)
        mask *= ramp.view(-1, 1) if axis == 0 else ramp.view(1, -1)
    return mask


@torch.inference_mode()
def core_tiled_scale(fn, image: torch.Tensor, scale: int, out_channels: int = 3,
                     tile: int = CORE_TILE, overlap: int = CORE_OVERLAP, output_device="cpu") -> torch.Tensor:
    """B×C×H×W → B×out_channels×sH×sW by feathered, accumulated tiles (fp32, out and out_div)."""
    b, _, h, w = image.shape
    results = []
    for i in range(b):
        x = image[i: i + 1]
        if h <= tile and w <= tile:
            results.append(fn(x).to(output_device))
            continue
        out = torch.zeros(1, out_channels, h * scale, w * scale, device=output_device)
        out_div = torch.zeros_like(out)
        for y in _core_starts(h, tile, overlap):
            for xo in _core_starts(w, tile, overlap):
                th, tw = min(tile, h - y), min(tile, w - xo)
                result = fn(x[..., y: y + th, xo: xo + tw]).to(output_device)
                mask = _feather(result.shape[-2], result.shape[-1], round(overlap * scale)).to(output_device)
                oy, ox = y * scale, xo * scale
                region = (..., slice(oy, oy + result.shape[-2]), slice(ox, ox + result.shape[-1]))
                out[region] += result * mask
                out_div[region] += mask
        results.append(out / out_div)
    return torch.cat(results)


def core_upscale(descriptor, image: np.ndarray, device: torch.device) -> np.ndarray:
    """The node's whole call: model to device, HWC→BCHW, tiled fp32, model back to CPU, clamp."""
    descriptor.to(device)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].to(device)
    s = core_tiled_scale(lambda a: descriptor(a), x, descriptor.scale, descriptor.output_channels)
    descriptor.to("cpu")
    return torch.clamp(s[0].permute(1, 2, 0), 0, 1).numpy()


def core_tile_count(h: int, w: int) -> int:
    return len(_core_starts(h, CORE_TILE, CORE_OVERLAP)) * len(_core_starts(w, CORE_TILE, CORE_OVERLAP))


def load_core_model(source):
    """spandrel's descriptor for a weights file or a state dict, in eval mode; None when spandrel sees
    no image model in it. ImportError when spandrel is not installed."""
    spandrel = import_spandrel()
    loader = spandrel.ModelLoader()
    model = loader.load_from_state_dict(source) if isinstance(source, dict) else loader.load_from_file(str(source))
    model.eval()
    return model if isinstance(model, spandrel.ImageModelDescriptor) else None
