"""JPEG compression simulated on tensors, batched, one quality per image, on any device.

This is the official Real-ESRGAN simulation (BasicSR's ``DiffJPEG(differentiable=False)``), not
libjpeg: pad to 16×16 macroblocks with black → YCbCr (JFIF full range) → 4:2:0 chroma by 2×2
averaging → 8×8 DCT → quantise with the Annex K tables times the IJG quality factor (5000/q or
200 − 2q, over 100; not floored or clamped to 1..255 as libjpeg does) → round → dequantise →
inverse DCT → chroma repeated ×2 (nearest) → RGB, clamped to [0, 1]. Nothing is rounded to 8-bit
samples between steps. It differs from a real encoder (Pillow/libjpeg) by about 1.4–3.8/255
on average on photo crops at qualities 30–95. Used to degrade training inputs on the GPU without
a CPU round trip. Not differentiable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA_TABLE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
CHROMA_TABLE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32
RGB_TO_YCBCR = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
YCBCR_TO_RGB = [[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]]


def quality_factor(quality: torch.Tensor) -> torch.Tensor:
    """The IJG scale of the Annex K tables for (possibly fractional) qualities 1..100; 0 at 100."""
    q = quality.float().clamp(1, 100)
    return torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q) / 100.0


def quality_tables(quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image 8×8 luma and chroma quantisation tables (B×8×8, float32), indexed [vertical, horizontal] frequency.

    As in the official simulation the Annex K tables are used transposed (its port stores them
    transposed, then indexes them by [vertical, horizontal]); kept so that the training inputs
    match the official recipe's.
    """
    factor = quality_factor(quality)[:, None, None]
    tables = []
    for base in (LUMA_TABLE, CHROMA_TABLE):
        t = torch.tensor(base, dtype=torch.float32, device=quality.device).view(8, 8).T
        tables.append(t[None] * factor)
    return tables[0], tables[1]


def _dct_matrix(device, dtype) -> torch.Tensor:
    n = torch.arange(8, dtype=torch.float64)
    matrix = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    matrix[0] /= math.sqrt(2)
    return matrix.to(device, dtype)


def _blocks(plane: torch.Tensor) -> torch.Tensor:
    """B×H×W → B×(H/8)×(W/8)×8×8."""
    b, h, w = plane.shape
    return plane.reshape(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)


def _unblocks(blocks: torch.Tensor) -> torch.Tensor:
    b, bh, bw = blocks.shape[:3]
    return blocks.permute(0, 1, 3, 2, 4).reshape(b, bh * 8, bw * 8)


def _quantise(plane: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Plane (B×H×W, 0..255, H and W multiples of 8) → level shift, DCT → quantise/dequantise → inverse DCT."""
    blocks = _blocks(plane - 128.0)
    coefficients = dct @ blocks @ dct.T  # orthonormal DCT-II of every 8×8 block at once
    t = table[:, None, None]  # one table per image, broadcast over its blocks
    # Quality 100 makes the official table 0 (and its output NaN); its limit is no quantisation.
    restored = torch.where(t > 0, torch.round(coefficients / t) * t, coefficients)
    return _unblocks(dct.T @ restored @ dct) + 128.0


@torch.no_grad()
def jpeg_compress(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Compress-decompress ``B×3×H×W`` images in [0, 1] at per-image ``quality`` (B values in 1..100, fractional ok).

    Only the output is clamped, as officially: callers clamp the input (the pipeline does).
    """
    h, w = images.shape[-2:]
    # 4:2:0 works on 16×16 macroblocks: pad with black (as officially), crop back at the end.
    x = F.pad(images.float() * 255.0, (0, (-w) % 16, 0, (-h) % 16), mode="constant", value=0.0)
    to_ycc = torch.tensor(RGB_TO_YCBCR, dtype=torch.float32, device=images.device)
    shift = torch.tensor([0.0, 128.0, 128.0], device=images.device).view(1, 3, 1, 1)
    ycc = torch.einsum("kc,bchw->bkhw", to_ycc, x) + shift
    luma_table, chroma_table = quality_tables(quality.to(images.device))
    dct = _dct_matrix(images.device, torch.float32)
    y = _quantise(ycc[:, 0], luma_table, dct)
    chroma = F.avg_pool2d(ycc[:, 1:], 2)  # 4:2:0: 2×2 average
    cb, cr = (_quantise(chroma[:, i], chroma_table, dct) for i in (0, 1))
    # Chroma back to full size by repeating each sample 2×2 (the official nearest upsampling).
    chroma = F.interpolate(torch.stack([cb, cr], dim=1), scale_factor=2, mode="nearest")
    ycc = torch.cat([y[:, None], chroma], dim=1) - shift
    to_rgb = torch.tensor(YCBCR_TO_RGB, dtype=torch.float32, device=images.device)
    rgb = torch.einsum("kc,bchw->bkhw", to_rgb, ycc)
    return (rgb[..., :h, :w].clamp(0, 255) / 255.0).to(images.dtype)
