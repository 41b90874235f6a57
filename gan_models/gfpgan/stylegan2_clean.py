"""The "clean" StyleGAN2 generator GFPGAN decodes with: pure PyTorch, no compiled ops.

Parameter names follow GFPGAN's ``stylegan2_clean_arch.py`` so released checkpoints load strict.
"Clean" means: weights are stored already scaled (no equalized learning rate at run time),
upsampling is a bilinear ×2 before each conv (no FIR blur, no transposed conv) and the
activation is a plain LeakyReLU(0.2).

Noise injection is deterministic by default here (the buffers stored in the checkpoint, the
official ``randomize_noise=False``); see :func:`noise_maps` for the other choices.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NoiseChoice = int | torch.Generator | str | None
RANDOM = "random"  # the official default: fresh noise from the global RNG on every call


def channel_widths(channel_multiplier: float, narrow: float) -> dict[int, int]:
    """StyleGAN2's feature width at each resolution: wide at low resolutions, narrowing from 64 px up."""
    widths = {res: int(512 * narrow) for res in (4, 8, 16, 32)}
    for res, base in ((64, 256), (128, 128), (256, 64), (512, 32), (1024, 16)):
        widths[res] = int(base * channel_multiplier * narrow)
    return widths


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class NormStyleCode(nn.Module):
    """Scale each code to unit root-mean-square along dim 1 (the official behaviour, even for 3-D codes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wide = x.float()  # in fp16 the eps underflows and the mean of squares can overflow
        return (wide * torch.rsqrt(wide.pow(2).mean(dim=1, keepdim=True) + 1e-8)).to(x.dtype)


class ModulatedConv2d(nn.Module):
    """A conv whose input channels are scaled per sample by an affine map of the style code.

    The per-sample weights run as one grouped convolution; ``demodulate`` rescales each output
    channel to unit norm. ``upsample`` doubles the input bilinearly before the convolution.
    The weights are modulated and demodulated in fp32 whatever the activations' dtype: in fp16
    the 1e-8 eps underflows and the sum of squared weights can overflow (GFPGAN#50: ``.half()``
    breaks the official code); only the convolution itself runs in the activations' dtype.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False, eps: float = 1e-8):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.modulation = nn.Linear(num_style_feat, in_channels)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
            / math.sqrt(in_channels * kernel_size**2))
        with torch.no_grad():  # the official init: an identity-ish modulation (bias 1)
            nn.init.kaiming_normal_(self.modulation.weight, a=0, mode="fan_in", nonlinearity="linear")
            self.modulation.bias.fill_(1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        scales = F.linear(style.float(), self.modulation.weight.float(), self.modulation.bias.float())
        weight = self.weight.float() * scales.view(batch, 1, self.in_channels, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        weight = weight.to(x.dtype)
        if self.upsample:
            x = upsample2(x)
        height, width = x.shape[-2:]
        out = F.conv2d(x.reshape(1, batch * self.in_channels, height, width),
                       weight.reshape(batch * self.out_channels, self.in_channels, self.kernel_size, self.kernel_size),
                       padding=self.kernel_size // 2, groups=batch)
        return out.view(batch, self.out_channels, *out.shape[-2:])


class StyleConv(nn.Module):
    """Modulated 3×3 conv, scaled noise, bias, LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, num_style_feat: int, upsample: bool = False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 3, num_style_feat, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, style) * 2**0.5  # the gain of the leaky ReLU, folded in as officially
        out = out + self.weight * noise + self.bias
        return F.leaky_relu(out, 0.2)


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB (no demodulation), added to the upsampled image of the level below."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (upsample2(skip) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.expand(batch, -1, -1, -1)


class StyleGAN2GeneratorClean(nn.Module):
    """A 4×4 constant refined by pairs of style convs per doubling up to ``out_size``; RGB summed across levels."""

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 narrow: float = 1):
        super().__init__()
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1  # style convs, each with its noise map
        self.num_latent = self.log_size * 2 - 2  # style codes consumed: convs plus to-RGB layers
        widths = channel_widths(channel_multiplier, narrow)

        mlp: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            mlp += [nn.Linear(num_style_feat, num_style_feat), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*mlp)
        for layer in self.style_mlp:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
                nn.init.zeros_(layer.bias)

        self.constant_input = ConstantInput(widths[4], 4)
        self.style_conv1 = StyleConv(widths[4], widths[4], num_style_feat)
        self.to_rgb1 = ToRGB(widths[4], num_style_feat, upsample=False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for index, side in enumerate(self.noise_sides()):
            self.noises.register_buffer(f"noise{index}", torch.randn(1, 1, side, side))
        in_channels = widths[4]
        for level in range(3, self.log_size + 1):
            out_channels = widths[2**level]
            self.style_convs.append(StyleConv(in_channels, out_channels, num_style_feat, upsample=True))
            self.style_convs.append(StyleConv(out_channels, out_channels, num_style_feat))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat))
            in_channels = out_channels

    def noise_sides(self) -> list[int]:
        """The side of each style conv's noise map: 4, then two per level 8, 16, … out_size."""
        return [2 ** ((index + 5) // 2) for index in range(self.num_layers)]

    def noise_maps(self, batch: int, noise: NoiseChoice, device: torch.device,
                   dtype: torch.dtype) -> list[torch.Tensor]:
        """The noise each style conv adds.

        ``None``: the stored buffers (deterministic, the official ``randomize_noise=False``).
        An int seed or a ``torch.Generator``: one map per layer shared by the whole batch, so a
        face's result does not depend on which batch or chunk it runs in; an int seeds a CPU
        generator, so the same seed gives the same noise on every device.
        ``"random"``: per-sample maps from the global RNG, drawn in the official order (what
        GFPGANer does on every call).
        """
        sides = self.noise_sides()
        if noise is None:
            return [getattr(self.noises, f"noise{i}").to(dtype) for i in range(len(sides))]
        if isinstance(noise, str):
            if noise != RANDOM:
                raise ValueError(f"noise must be None, a seed, a torch.Generator or {RANDOM!r}, not {noise!r}")
            return [torch.randn(batch, 1, s, s, device=device, dtype=dtype) for s in sides]
        if isinstance(noise, bool) or not isinstance(noise, (int, torch.Generator)):
            raise ValueError(f"noise must be None, a seed, a torch.Generator or {RANDOM!r}, not {noise!r}")
        generator = noise if isinstance(noise, torch.Generator) else torch.Generator().manual_seed(noise)
        return [torch.randn(1, 1, s, s, generator=generator, device=generator.device).to(device, dtype)
                for s in sides]

    def latents(self, styles: torch.Tensor, input_is_latent: bool) -> torch.Tensor:
        """``B×num_latent×F`` codes from one code per sample (repeated) or one per layer."""
        if not input_is_latent:
            styles = self.style_mlp(styles)
        if styles.ndim == 2:
            styles = styles.unsqueeze(1).expand(-1, self.num_latent, -1)
        return styles

    def synthesise(self, latent: torch.Tensor, noise: list[torch.Tensor], modulate=None) -> torch.Tensor:
        """The image from ``B×num_latent×F`` codes; ``modulate(level, features)`` may edit each level's features."""
        out = self.style_conv1(self.constant_input(latent.shape[0]), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        for level, to_rgb in enumerate(self.to_rgbs):
            first, second = self.style_convs[2 * level], self.style_convs[2 * level + 1]
            code = 2 * level + 1
            out = first(out, latent[:, code], noise[code])
            if modulate is not None:
                out = modulate(level, out)
            out = second(out, latent[:, code + 1], noise[code + 1])
            skip = to_rgb(out, latent[:, code + 2], skip)
        return skip

    def forward(self, styles: torch.Tensor, input_is_latent: bool = False, noise: NoiseChoice = None) -> torch.Tensor:
        latent = self.latents(styles, input_is_latent)
        return self.synthesise(latent, self.noise_maps(latent.shape[0], noise, latent.device, latent.dtype))


class StyleGAN2GeneratorCSFT(StyleGAN2GeneratorClean):
    """The clean generator with spatial feature transforms: per-level scale and shift maps from the encoder.

    With ``sft_half`` only the second half of the channels is transformed; the first half keeps
    the generative prior untouched (GFPGAN v1.2–1.4).
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 narrow: float = 1, sft_half: bool = False):
        super().__init__(out_size, num_style_feat, num_mlp, channel_multiplier, narrow)
        self.sft_half = sft_half

    def forward(self, styles: torch.Tensor, conditions: list[tuple[torch.Tensor, torch.Tensor]],
                input_is_latent: bool = False, noise: NoiseChoice = None) -> torch.Tensor:
        latent = self.latents(styles, input_is_latent)

        def modulate(level: int, out: torch.Tensor) -> torch.Tensor:
            if level >= len(conditions):
                return out
            scale, shift = conditions[level]
            if not self.sft_half:
                return out * scale + shift
            kept, transformed = out.split(out.shape[1] // 2, dim=1)
            return torch.cat([kept, transformed * scale + shift], dim=1)

        return self.synthesise(latent, self.noise_maps(latent.shape[0], noise, latent.device, latent.dtype), modulate)
