"""pix2pix's PatchGAN discriminators, official keys: the N-layer one (``model.N``; 70×70 receptive
field at 3 layers) and the 1×1 PixelGAN (``net.N``). Both give logits per patch, no sigmoid.

Their registry entries (detection, shapes, contracts) are in ``registration.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from .norms import NORMS, check_norm, conv_bias, norm_layer

__all__ = ["NORMS", "NLayerDiscriminator", "PixelDiscriminator"]


class NLayerDiscriminator(nn.Module):
    """pix2pix's N-layer PatchGAN (70×70 receptive field at 3 layers); logits per patch, no sigmoid."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_layers: int = 3, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = num_feat
        for n in range(1, num_layers):
            out = num_feat * min(2 ** n, 8)
            layers += [nn.Conv2d(channels, out, 4, 2, 1, bias=bias), norm_layer(norm, out), nn.LeakyReLU(0.2, True)]
            channels = out
        out = num_feat * min(2 ** num_layers, 8)
        layers += [nn.Conv2d(channels, out, 4, 1, 1, bias=bias), norm_layer(norm, out), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(out, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The 1×1 PatchGAN ("PixelGAN"): judges each pixel's colour alone."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat, num_feat * 2, 1, bias=bias), norm_layer(norm, num_feat * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
