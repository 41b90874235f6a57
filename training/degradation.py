"""Real-ESRGAN's second-order degradation, run on whole batches on the training device.

Each stage: blur → random resize → Gaussian or Poisson noise → JPEG; the second ends with a
resize to the input size plus a sinc filter, before or after its JPEG. All randomness comes from
the ``torch.Generator`` passed in, so one seed gives the same inputs on the same device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .jpeg import jpeg_compress
from .kernels import KINDS, sample_blur_kernel, sample_final_kernel

log = logging.getLogger(__name__)
RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass
class DegradationStage:
    kernel_kinds: tuple[str, ...] = KINDS
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
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


def _rand(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _uniform(generator, low: float, high: float, n: int) -> torch.Tensor:
    return low + (high - low) * _rand(generator, n)


def _device_generator(generator: torch.Generator, device: torch.device) -> torch.Generator:
    """A generator on ``device`` seeded from the CPU one: device-side noise stays reproducible."""
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def filter2d(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own kernel (``B×k×k``), reflect-padded so the size is kept."""
    b, c, h, w = images.shape
    k = kernels.shape[-1]
    mode = "reflect" if k // 2 < min(h, w) else "replicate"
    padded = F.pad(images, (k // 2,) * 4, mode=mode)
    weight = kernels.to(images.dtype)[:, None].repeat_interleave(c, dim=0)
    out = F.conv2d(padded.reshape(1, b * c, *padded.shape[-2:]), weight, groups=b * c)
    return out.view(b, c, h, w)


def _gaussian_1d(radius: int, device, dtype) -> torch.Tensor:
    size = 2 * radius + 1
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's choice for sigma = 0
    x = torch.arange(size, dtype=torch.float64) - radius
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(device, dtype)


def _separable_blur(images: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    b, c, h, w = images.shape
    r = g.numel() // 2
    mode = "reflect" if r < min(h, w) else "replicate"
    x = F.pad(images.reshape(b * c, 1, h, w), (r, r, r, r), mode=mode)
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return x.view(b, c, h, w)


def usm_sharpen(images: torch.Tensor, weight: float = 0.5, threshold: float = 10, radius: int = 50) -> torch.Tensor:
    """Unsharp masking as the official recipe sharpens its targets: only where detail exceeds ``threshold``/255."""
    g = _gaussian_1d(radius, images.device, images.dtype)
    residual = images - _separable_blur(images, g)
    mask = (residual.abs() * 255 > threshold).to(images.dtype)
    soft_mask = _separable_blur(mask, g)
    sharp = (images + weight * residual).clamp(0, 1)
    return soft_mask * sharp + (1 - soft_mask) * images


def _kernels(sample, n: int, generator, device) -> torch.Tensor:
    return torch.from_numpy(np.stack([sample(generator) for _ in range(n)])).float().to(device)


def _resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def _pick(options, generator):
    return options[int(torch.randint(0, len(options), (), generator=generator))]


def _gaussian_noise(images, stage: DegradationStage, generator) -> torch.Tensor:
    b, c, h, w = images.shape
    sigma = (_uniform(generator, *stage.noise_range, b) / 255.0).float().to(images.device).view(b, 1, 1, 1)
    gray = (_rand(generator, b) < stage.gray_noise_prob).float().to(images.device).view(b, 1, 1, 1)
    device_gen = _device_generator(generator, images.device)
    colour = torch.randn(images.shape, generator=device_gen, device=images.device, dtype=images.dtype)
    grey = torch.randn((b, 1, h, w), generator=device_gen, device=images.device, dtype=images.dtype)
    noise = (gray * grey + (1 - gray) * colour) * sigma
    return images + noise


def _poisson_noise(images, stage: DegradationStage, generator) -> torch.Tensor:
    """Shot noise; its level follows the number of distinct values per image as the official code does."""
    b = images.shape[0]
    scale = _uniform(generator, *stage.poisson_scale_range, b).float().to(images.device).view(b, 1, 1, 1)
    gray = (_rand(generator, b) < stage.gray_noise_prob).float().to(images.device).view(b, 1, 1, 1)
    device_gen = _device_generator(generator, images.device)
    clean = images.clamp(0, 1)

    def shot(x: torch.Tensor) -> torch.Tensor:
        quantised = torch.round(x * 255) / 255
        levels = torch.tensor([len(torch.unique(q)) for q in quantised], device=x.device, dtype=x.dtype)
        vals = (2 ** torch.ceil(torch.log2(levels.clamp(min=2)))).view(-1, 1, 1, 1)
        return torch.poisson(quantised * vals, generator=device_gen) / vals - quantised

    luma = (0.299 * clean[:, 0:1] + 0.587 * clean[:, 1:2] + 0.114 * clean[:, 2:3])
    noise = gray * shot(luma) + (1 - gray) * shot(clean)
    return images + noise * scale


def _noise(images, stage: DegradationStage, generator) -> torch.Tensor:
    # One kind of noise per batch, as the official code chooses; levels differ per image.
    if _rand(generator, 1).item() < stage.gaussian_noise_prob:
        return _gaussian_noise(images, stage, generator).clamp(0, 1)
    return _poisson_noise(images, stage, generator).clamp(0, 1)


def _jpeg(images, stage: DegradationStage, generator) -> torch.Tensor:
    quality = _uniform(generator, *stage.jpeg_range, images.shape[0]).round().to(images.device)
    return jpeg_compress(images.clamp(0, 1), quality)


def _resize_factor(stage: DegradationStage, generator) -> float:
    choice = int(torch.multinomial(torch.tensor(stage.resize_prob, dtype=torch.float64), 1, generator=generator))
    low, high = stage.resize_range
    if choice == 0:
        return _uniform(generator, 1.0, high, 1).item()
    if choice == 1:
        return _uniform(generator, low, 1.0, 1).item()
    return 1.0


class SecondOrderDegradation:
    """``gt`` (B×3×H×W in [0, 1]) → low-resolution input (B×3×H/scale×W/scale) on 8-bit levels."""

    def __init__(self, settings: DegradationSettings, scale: int):
        self.settings, self.scale = settings, scale

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        s, device = self.settings, gt.device
        b, _, h, w = gt.shape
        out_h, out_w = h // self.scale, w // self.scale

        # Stage 1
        out = filter2d(gt, _kernels(lambda g: sample_blur_kernel(s.stage1, g), b, generator, device))
        factor = _resize_factor(s.stage1, generator)
        size = (max(1, int(h * factor)), max(1, int(w * factor)))
        out = _resize(out, size, _pick(s.resize_modes, generator))
        out = _noise(out, s.stage1, generator)
        out = _jpeg(out, s.stage1, generator)

        # Stage 2
        if _rand(generator, 1).item() < s.stage2.blur_prob:
            out = filter2d(out, _kernels(lambda g: sample_blur_kernel(s.stage2, g), b, generator, device))
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


class TrainingPairPool:
    """The official training-pair pool: mixes (input, target) pairs across batches.

    A batch shares one resize factor, so swapping samples with a shuffled pool gives each batch a
    mix of degradations. Any size works: it is rounded down to a multiple of the batch size.
    """

    def __init__(self, size: int):
        self.size = size
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.filled = 0

    def push_pull(self, lq: torch.Tensor, gt: torch.Tensor, generator: torch.Generator):
        b = lq.shape[0]
        capacity = max(b, self.size // b * b)
        if self.lq is None:
            if capacity != self.size:
                log.info("training-pair pool: %d rounded to %d (a multiple of the batch size %d)", self.size, capacity, b)
            self.lq = lq.new_empty((capacity, *lq.shape[1:]))
            self.gt = gt.new_empty((capacity, *gt.shape[1:]))
        if self.filled < self.lq.shape[0]:
            self.lq[self.filled: self.filled + b] = lq
            self.gt[self.filled: self.filled + b] = gt
            self.filled += b
            return lq, gt
        order = torch.randperm(self.lq.shape[0], generator=generator).to(lq.device)
        self.lq, self.gt = self.lq[order], self.gt[order]
        out_lq, out_gt = self.lq[:b].clone(), self.gt[:b].clone()
        self.lq[:b], self.gt[:b] = lq, gt
        return out_lq, out_gt

    def state_dict(self) -> dict:
        if self.lq is None:
            return {"filled": 0}
        return {"filled": self.filled, "lq": self.lq.cpu(), "gt": self.gt.cpu()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.filled = int(state["filled"])
        self.lq = state["lq"].to(device) if "lq" in state else None
        self.gt = state["gt"].to(device) if "gt" in state else None
