"""GFPGANv1Clean: a U-Net encoder whose features steer a StyleGAN2 face prior (GFPGAN v1.2 / v1.3 / v1.4).

Parameter names follow GFPGAN's ``gfpganv1_clean_arch.py`` so the released files load strict.
The encoder halves an aligned ``out_size``² face down to 4×4, turns it into one style code per
decoder layer, then climbs back up; at every level two small conv stacks make the scale and
shift maps (SFT conditions) that modulate the StyleGAN2 decoder's features.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImageInputError
from .stylegan2_clean import NoiseChoice, StyleGAN2GeneratorCSFT, channel_widths


class ResBlock(nn.Module):
    """Two 3×3 convs around a bilinear resize (×½ or ×2), plus a resized 1×1 skip; no residual scaling."""

    def __init__(self, in_channels: int, out_channels: int, factor: float):
        super().__init__()
        self.factor = factor
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), 0.2)
        out = F.leaky_relu(self.conv2(self._resize(out)), 0.2)
        return out + self.skip(self._resize(x))


def _condition(channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels, out_channels, 3, 1, 1))


class GFPGANv1Clean(nn.Module):
    """Blind face restoration on aligned ``out_size``² crops in [-1, 1]; returns ``(image, rgb_pyramid)``.

    Defaults are the configuration of every released clean model (v1.2, v1.3, v1.4), which
    ``GFPGANer(arch='clean')`` builds; the official class's defaults differ. The decoder's
    ``style_mlp`` is stored but unused when ``input_is_latent`` (the released models).
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 2,
                 num_mlp: int = 8, input_is_latent: bool = True, different_w: bool = True, narrow: float = 1,
                 sft_half: bool = True):
        super().__init__()
        self.out_size = out_size
        self.num_style_feat = num_style_feat
        self.input_is_latent = input_is_latent
        self.different_w = different_w
        self.log_size = int(math.log2(out_size))
        if 2**self.log_size != out_size or self.log_size < 3:
            raise ValueError(f"out_size must be a power of two of at least 8, not {out_size}")
        widths = channel_widths(channel_multiplier, narrow * 0.5)  # the U-Net is half as wide as the decoder
        up_sides = [2**level for level in range(3, self.log_size + 1)]  # 8 … out_size

        self.conv_body_first = nn.Conv2d(3, widths[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(widths[2**level], widths[2 ** (level - 1)], 0.5) for level in range(self.log_size, 2, -1)
        )
        self.final_conv = nn.Conv2d(widths[4], widths[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList(ResBlock(widths[side // 2], widths[side], 2) for side in up_sides)
        self.toRGB = nn.ModuleList(nn.Conv2d(widths[side], 3, 1) for side in up_sides)
        codes = (self.log_size * 2 - 2) if different_w else 1
        self.final_linear = nn.Linear(widths[4] * 4 * 4, codes * num_style_feat)
        self.stylegan_decoder = StyleGAN2GeneratorCSFT(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                       narrow, sft_half)
        sft_factor = 1 if sft_half else 2
        self.condition_scale = nn.ModuleList(_condition(widths[side], widths[side] * sft_factor) for side in up_sides)
        self.condition_shift = nn.ModuleList(_condition(widths[side], widths[side] * sft_factor) for side in up_sides)

    def forward(self, x: torch.Tensor, return_rgb: bool = False,
                noise: NoiseChoice = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x``: ``B×3×S×S`` aligned faces in [-1, 1], S = ``out_size``.

        ``noise``: ``None`` (default) uses the checkpoint's stored noise, so the same face gives
        the same result; an int seed or a ``torch.Generator`` draws reproducible fresh noise;
        ``"random"`` draws from the global RNG like the official code. ``return_rgb`` also
        returns the U-Net's RGB image at each level (training's pyramid loss), else an empty list.
        """
        if x.ndim != 4 or tuple(x.shape[-2:]) != (self.out_size, self.out_size):
            raise ImageInputError(f"GFPGANv1Clean takes B×3×{self.out_size}×{self.out_size} aligned face crops, "
                                  f"not {tuple(x.shape)}. Align and resize the face to {self.out_size} px first.")
        skips = []
        feat = F.leaky_relu(self.conv_body_first(x), 0.2)
        for down in self.conv_body_down:
            feat = down(feat)
            skips.append(feat)
        feat = F.leaky_relu(self.final_conv(feat), 0.2)
        style_code = self.final_linear(feat.flatten(1))
        if self.different_w:
            style_code = style_code.view(style_code.shape[0], -1, self.num_style_feat)

        conditions, rgbs = [], []
        for level, up in enumerate(self.conv_body_up):
            feat = up(feat + skips[-1 - level])
            conditions.append((self.condition_scale[level](feat), self.condition_shift[level](feat)))
            if return_rgb:
                rgbs.append(self.toRGB[level](feat))
        image = self.stylegan_decoder(style_code, conditions, input_is_latent=self.input_is_latent, noise=noise)
        return image, rgbs
