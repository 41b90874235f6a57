"""Real-ESRGAN's second-order degradation, run on whole batches on the training device.

Each stage: blur → random resize → Gaussian or Poisson noise → JPEG; the second ends with a
resize to the output size plus a sinc filter, before or after its JPEG. All randomness comes from
the CPU ``torch.Generator`` passed in (per-image noise is drawn from a seed taken from it), so one
seed gives the same inputs on the same device. Also here: the unsharp mask the official recipe
applies to targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .jpeg import jpeg_compress
from .kernels import KIND_PROBS, KINDS, sample_final_kernel, sample_kernel

RESIZE_MODES = ("area", "bilinear", "bicubic")


# ------------------------------------------------------------------------------------------ settings
@dataclass
class DegradationStage:
    """One stage's settings; the defaults are the official first stage."""

    kernel_kinds: tuple[str, ...] = KINDS
    kernel_probs: tuple[float, ...] = KIND_PROBS
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    sinc_prob: float = 0.1
    blur_prob: float = 1.0
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    """Probabilities of up, down and keep."""
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)


def _second_stage() -> DegradationStage:
    return DegradationStage(blur_sigma=(0.2, 1.5), blur_prob=0.8, resize_prob=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
                            noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5))


@dataclass
class DegradationSettings:
    """The official Real-ESRGAN defaults (options/train_realesrgan_x4plus.yml)."""

    stage1: DegradationStage = field(default_factory=DegradationStage)
    stage2: DegradationStage = field(default_factory=_second_stage)
    final_sinc_prob: float = 0.8
    resize_modes: tuple[str, ...] = RESIZE_MODES


# ------------------------------------------------------------------------------------------ filters
def _reflect_pad(images: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect padding (OpenCV's BORDER_REFLECT_101) of any width, even wider than the image."""
    h, w = images.shape[-2:]
    if max(top, bottom) < h and max(left, right) < w:
        return F.pad(images, (left, right, top, bottom), mode="reflect")
    # F.pad's reflect needs pad < size; fold the indices back repeatedly instead, as OpenCV does.
    rows = _reflect_indices(h, top, bottom, images.device)
    cols = _reflect_indices(w, left, right, images.device)
    return images.index_select(-2, rows).index_select(-1, cols)


def _reflect_indices(n: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    idx = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


def filter2d(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own kernel (``B×k×k``, k odd), reflect-padded so the size is kept."""
    b, c, h, w = images.shape
    r = kernels.shape[-1] // 2
    padded = _reflect_pad(images, r, r, r, r)
    # Grouped conv: one group per (image, channel), each image's kernel repeated for its channels.
    weight = kernels.to(images.device, images.dtype)[:, None].repeat_interleave(c, dim=0)
    out = F.conv2d(padded.reshape(1, b * c, *padded.shape[-2:]), weight, groups=b * c)
    return out.view(b, c, h, w)


def _opencv_gaussian_1d(size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for GaussianBlur(..., sigma=0)
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(device, dtype)


def _separable_blur(images: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Blur every channel with the 1-D kernel ``g`` along rows, then columns (two cheap passes)."""
    b, c, h, w = images.shape
    r = g.numel() // 2
    x = _reflect_pad(images.reshape(b * c, 1, h, w), r, r, r, r)
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return x.view(b, c, h, w)


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10, radius: int = 50) -> torch.Tensor:
    """Unsharp masking as the official recipe sharpens its targets (BasicSR's ``USMSharp``).

    ``img`` is ``B×C×H×W`` in [0, 1]. As officially, ``radius`` is the Gaussian's size, made odd
    (50 → 51 taps, OpenCV's default σ = 8), padding reflects (BORDER_REFLECT_101), the sharpened
    image is clipped to [0, 1] before mixing, and the edit is weighted by the blurred mask of
    where detail exceeds ``threshold``/255, so it fades in. The official 2-D kernel is separable:
    two 1-D passes give the same result to float rounding, at a fraction of the cost.
    """
    size = radius if radius % 2 else radius + 1
    g = _opencv_gaussian_1d(size, img.device, img.dtype)
    residual = img - _separable_blur(img, g)
    mask = (residual.abs() * 255 > threshold).to(img.dtype)
    soft_mask = _separable_blur(mask, g)
    sharp = (img + weight * residual).clamp(0, 1)
    return soft_mask * sharp + (1 - soft_mask) * img


# ------------------------------------------------------------------------------------------ randomness
def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _uniform(generator: torch.Generator, low: float, high: float, n: int) -> torch.Tensor:
    return low + (high - low) * _rand(generator, n)


def _pick(options: Sequence, generator: torch.Generator):
    return options[int(torch.randint(0, len(options), (), generator=generator))]


class _DeviceRandom:
    """Image-sized noise drawn reproducibly on the images' device from one seed of the CPU generator.

    CUDA (and CPU) draw in place with a generator of their own, seeded from that number, so no image
    crosses to the CPU. Other devices (MPS, XPU, …) differ in which random ops take a generator
    (``torch.poisson`` in particular), so there the noise is drawn on the CPU and moved.
    """

    def __init__(self, generator: torch.Generator, device: torch.device):
        self.device = device
        seed = int(torch.randint(0, 2 ** 62, (), generator=generator))
        self.draw_device = device if device.type in ("cpu", "cuda") else torch.device("cpu")
        self.generator = torch.Generator(device=self.draw_device).manual_seed(seed)

    def randn(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        noise = torch.randn(tuple(shape), generator=self.generator, device=self.draw_device, dtype=dtype)
        return noise.to(self.device)

    def poisson(self, rates: torch.Tensor) -> torch.Tensor:
        return torch.poisson(rates.to(self.draw_device), generator=self.generator).to(self.device)


def _per_image(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """B values (drawn on the CPU) → B×1×1×1 on ``like``'s device and dtype."""
    return values.to(like.device, like.dtype).view(-1, 1, 1, 1)


# ------------------------------------------------------------------------------------------ steps
def _kernels(sample: Callable[[torch.Generator], np.ndarray], n: int, generator: torch.Generator,
             device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.stack([sample(generator) for _ in range(n)])).float().to(device)


def _resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def _resize_factor(stage: DegradationStage, generator: torch.Generator) -> float:
    choice = int(torch.multinomial(torch.tensor(stage.resize_prob, dtype=torch.float64), 1, generator=generator))
    low, high = stage.resize_range
    if choice == 0:  # up
        return _uniform(generator, 1.0, high, 1).item()
    if choice == 1:  # down
        return _uniform(generator, low, 1.0, 1).item()
    return 1.0


def _gaussian_noise(images: torch.Tensor, stage: DegradationStage, generator: torch.Generator) -> torch.Tensor:
    b, _, h, w = images.shape
    sigma = _per_image(_uniform(generator, *stage.noise_range, b) / 255.0, images)
    gray = _per_image((_rand(generator, b) < stage.gray_noise_prob).double(), images)
    rng = _DeviceRandom(generator, images.device)
    colour = rng.randn(images.shape, images.dtype)
    grey = rng.randn((b, 1, h, w), images.dtype)  # one field for all channels: luminance-only noise
    return images + (gray * grey + (1 - gray) * colour) * sigma


def _shot_noise(x: torch.Tensor, rng: _DeviceRandom) -> torch.Tensor:
    """Poisson noise of 8-bit images; photon count per level = 2^ceil(log2(distinct values)), as official."""
    quantised = torch.round(x.clamp(0, 1) * 255) / 255
    levels = torch.tensor([len(torch.unique(q)) for q in quantised], device=x.device, dtype=x.dtype)
    vals = (2 ** torch.ceil(torch.log2(levels.clamp(min=2)))).view(-1, 1, 1, 1)
    return rng.poisson(quantised * vals) / vals - quantised


def _poisson_noise(images: torch.Tensor, stage: DegradationStage, generator: torch.Generator) -> torch.Tensor:
    b = images.shape[0]
    scale = _per_image(_uniform(generator, *stage.poisson_scale_range, b), images)
    is_gray = _rand(generator, b) < stage.gray_noise_prob
    gray = _per_image(is_gray.double(), images)
    rng = _DeviceRandom(generator, images.device)
    noise = torch.zeros_like(images)
    # Only draw the kinds some image uses (Poisson sampling is the slow part).
    if (~is_gray).any():
        noise = noise + (1 - gray) * _shot_noise(images, rng)
    if is_gray.any():
        luma = 0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3]
        noise = noise + gray * _shot_noise(luma, rng)
    return images + noise * scale


def _noise(images: torch.Tensor, stage: DegradationStage, generator: torch.Generator) -> torch.Tensor:
    # One kind of noise per batch, as the official code chooses; levels differ per image.
    if _rand(generator, 1).item() < stage.gaussian_noise_prob:
        return _gaussian_noise(images, stage, generator).clamp(0, 1)
    return _poisson_noise(images, stage, generator).clamp(0, 1)


def _jpeg(images: torch.Tensor, stage: DegradationStage, generator: torch.Generator) -> torch.Tensor:
    # Fractional qualities, as officially (the table scale is continuous in the quality); inputs clamped first.
    quality = _uniform(generator, *stage.jpeg_range, images.shape[0]).to(images.device)
    return jpeg_compress(images.clamp(0, 1), quality)


# ------------------------------------------------------------------------------------------ pipeline
class SecondOrderDegradation:
    """``gt`` (B×3×H×W in [0, 1]) → low-resolution input (B×3×H/scale×W/scale) on 8-bit levels."""

    def __init__(self, settings: DegradationSettings, scale: int):
        self.settings, self.scale = settings, scale

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        s, device = self.settings, gt.device
        b, _, h, w = gt.shape
        out_h, out_w = h // self.scale, w // self.scale

        # Stage 1. The resize factor and mode are shared by the batch, as officially (the pool mixes them).
        out = gt
        if _rand(generator, 1).item() < s.stage1.blur_prob:
            out = filter2d(out, _kernels(lambda g: sample_kernel(s.stage1, g), b, generator, device))
        factor = _resize_factor(s.stage1, generator)
        # Deliberate fix: resize to a size. The official stage 1 passes ``scale_factor`` to F.interpolate;
        # its bilinear and bicubic modes then sample at the factor's spacing, not the whole-pixel output
        # size's, so the content drifts against the target (up to almost one output pixel at the far edge).
        size = (max(1, int(h * factor)), max(1, int(w * factor)))
        out = _resize(out, size, _pick(s.resize_modes, generator))
        out = _noise(out, s.stage1, generator)
        out = _jpeg(out, s.stage1, generator)

        # Stage 2: its resize is relative to the output size, not to stage 1's.
        if _rand(generator, 1).item() < s.stage2.blur_prob:
            out = filter2d(out, _kernels(lambda g: sample_kernel(s.stage2, g), b, generator, device))
        factor = _resize_factor(s.stage2, generator)
        size = (max(1, int(h / self.scale * factor)), max(1, int(w / self.scale * factor)))
        out = _resize(out, size, _pick(s.resize_modes, generator))
        out = _noise(out, s.stage2, generator)

        # Resize + sinc before or after the last JPEG; other orders make twisted lines.
        sinc = _kernels(lambda g: sample_final_kernel(s.final_sinc_prob, g), b, generator, device)
        mode = _pick(s.resize_modes, generator)
        if _rand(generator, 1).item() < 0.5:
            out = filter2d(_resize(out, (out_h, out_w), mode), sinc)
            out = _jpeg(out, s.stage2, generator)
        else:
            out = _jpeg(out, s.stage2, generator)
            out = filter2d(_resize(out, (out_h, out_w), mode), sinc)
        return torch.round(out.clamp(0, 1) * 255) / 255
