"""GFPGAN's face degradation (``FFHQDegradationDataset``), batched on the device.

Per image, in the official order: a Gaussian blur (41 taps, isotropic or anisotropic, σ 0.1–10),
a bilinear downscale by U(0.8, 8), colour Gaussian noise σ U(0, 20)/255, JPEG at U(60, 100), a
bilinear resize back; then with p 0.3 a per-channel colour shift of ±20/255, with p 0.01 grey
(the target too, as ``gt_gray``), with p 0.3 a colour jitter (brightness and contrast 0.5–1.5,
saturation 0–1.5, hue ±0.1; applied in that fixed order, where torchvision shuffles it), and a
rounding to 8 bits. Every draw comes from one CPU generator, so a micro-batch's degradation is a
function of its seed. Blur, noise, JPEG and the jitter reuse the Real-ESRGAN pipeline's parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .jpeg import jpeg_compress
from .kernels import sample_mixed_kernel
from .second_order import _DeviceRandom, _per_image, _rand, _uniform, filter2d

LUMA = (0.299, 0.587, 0.114)


@dataclass
class FaceDegradationSettings:
    blur_kernel_size: int = 41
    kernel_kinds: tuple[str, ...] = ("iso", "aniso")
    kernel_probs: tuple[float, ...] = (0.5, 0.5)
    blur_sigma: tuple[float, float] = (0.1, 10.0)
    downsample_range: tuple[float, float] = (0.8, 8.0)
    noise_range: tuple[float, float] = (0.0, 20.0)
    """Gaussian noise σ on the 0–255 scale."""
    jpeg_range: tuple[float, float] = (60.0, 100.0)
    color_jitter_prob: float = 0.3
    color_jitter_shift: float = 20.0
    """Largest per-channel shift, on the 0–255 scale."""
    color_jitter_pt_prob: float = 0.3
    brightness: tuple[float, float] = (0.5, 1.5)
    contrast: tuple[float, float] = (0.5, 1.5)
    saturation: tuple[float, float] = (0.0, 1.5)
    hue: tuple[float, float] = (-0.1, 0.1)
    gray_prob: float = 0.01
    gt_gray: bool = True


class FaceDegradation:
    def __init__(self, settings: FaceDegradationSettings | None = None):
        self.s = settings or FaceDegradationSettings()

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lq, gt)`` from ``gt`` (B×3×S×S in [0, 1]); both in [0, 1], ``gt`` grey where ``lq`` went grey."""
        s, (b, _, h, w) = self.s, gt.shape
        kernels = torch.stack([torch.from_numpy(sample_mixed_kernel(
            s.blur_kernel_size, s.kernel_kinds, s.kernel_probs, sigma_range=s.blur_sigma, generator=generator))
            for _ in range(b)]).float()
        blurred = filter2d(gt, kernels.to(gt.device))
        scales = _uniform(generator, *s.downsample_range, b)
        sigmas = _uniform(generator, *s.noise_range, b) / 255.0
        qualities = _uniform(generator, *s.jpeg_range, b)
        noise = _DeviceRandom(generator, gt.device)
        small = []
        for i in range(b):  # each image has its own size until it is resized back
            size = (max(1, int(h // scales[i].item())), max(1, int(w // scales[i].item())))
            x = F.interpolate(blurred[i:i + 1], size=size, mode="bilinear", align_corners=False)
            x = (x + noise.randn(x.shape, x.dtype) * sigmas[i].item()).clamp(0, 1)
            x = jpeg_compress(x, qualities[i:i + 1].float())
            small.append(F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False))
        lq = torch.cat(small)
        shift = _rand(generator, b) < s.color_jitter_prob
        offsets = (_rand(generator, b, 3) * 2 - 1) * s.color_jitter_shift / 255.0
        lq = torch.where(_per_image(shift, lq).bool(), (lq + offsets.to(lq).view(b, 3, 1, 1)).clamp(0, 1), lq)
        grey = _per_image(_rand(generator, b) < s.gray_prob, lq).bool()
        lq = torch.where(grey, to_grey(lq), lq)
        if s.gt_gray:
            gt = torch.where(grey, to_grey(gt), gt)
        jitter = _per_image(_rand(generator, b) < s.color_jitter_pt_prob, lq).bool()
        factors = [_uniform(generator, *r, b) for r in (s.brightness, s.contrast, s.saturation, s.hue)]
        lq = torch.where(jitter, color_jitter(lq, *(_per_image(f, lq) for f in factors)), lq)
        return (lq * 255).round().clamp(0, 255) / 255, gt


def to_grey(rgb: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(1, keepdim=True).expand_as(rgb)


def color_jitter(rgb: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor,
                 hue: torch.Tensor) -> torch.Tensor:
    """torchvision's brightness, contrast, saturation and hue adjustments with per-image factors (B×1×1×1)."""
    x = (rgb * brightness).clamp(0, 1)
    mean = to_grey(x)[:, :1].mean((2, 3), keepdim=True)
    x = (contrast * x + (1 - contrast) * mean).clamp(0, 1)
    x = (saturation * x + (1 - saturation) * to_grey(x)).clamp(0, 1)
    return _shift_hue(x, hue)


def _shift_hue(rgb: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns (HSV round trip, as torchvision's ``adjust_hue``)."""
    r, g, b = rgb.unbind(1)
    top, _ = rgb.max(1)
    bottom, _ = rgb.min(1)
    chroma = top - bottom
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(top == r, ((g - b) / safe) % 6, torch.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(chroma > 0, hue / 6, torch.zeros_like(hue))
    hue = (hue + shift[:, 0]) % 1.0
    saturation = torch.where(top > 0, chroma / torch.where(top > 0, top, torch.ones_like(top)), torch.zeros_like(top))
    k = (torch.tensor([5.0, 3.0, 1.0], device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1) + hue[:, None] * 6) % 6
    weight = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return top[:, None] - top[:, None] * saturation[:, None] * weight
