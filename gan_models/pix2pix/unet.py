"""pix2pix's UnetGenerator, official nested ``model.model.1.model.3…`` keys.

Each level halves the resolution with a 4×4 stride-2 convolution and doubles it back with a
transposed one; every level but the outermost returns ``cat([x, up(down(x))])``, the skip. With
``num_downs`` levels the bottleneck is 1×1 at an input side of ``2**num_downs`` (256 for
``unet_256``), and any input side must be a multiple of that.
"""

from __future__ import annotations

import torch
from torch import nn

from .norms import check_norm, conv_bias, init_weights, norm_layer

MIN_DOWNS = 5  # the four outer levels (ngf, 2·ngf, 4·ngf, 8·ngf) plus the innermost one
MAX_MULT = 8


class UnetBlock(nn.Module):
    """One level of the U: ``model`` holds down, the inner level (``submodule``), up.

    outermost: [conv, inner, ReLU, convT (with bias), tanh]
    innermost: [LReLU, conv, ReLU, convT, norm]
    middle:    [LReLU, conv, norm, inner, ReLU, convT, norm, (dropout)]
    """

    def __init__(self, outer: int, inner: int, *, in_channels: int | None = None, submodule: nn.Module | None = None,
                 role: str = "middle", norm: str = "batch", affine: bool = False, dropout: bool = False):
        super().__init__()
        self.outermost = role == "outermost"
        bias = conv_bias(norm)
        down = nn.Conv2d(in_channels or outer, inner, 4, stride=2, padding=1, bias=bias)
        if role == "outermost":
            layers = [down, submodule, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif role == "innermost":
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), norm_layer(norm, outer, affine)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner, affine), submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=bias), norm_layer(norm, outer, affine)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Input and output in [-1, 1] (tanh); ``unet_256`` is ``num_downs=8``, ``unet_128`` 7.

    Dropout sits in the ``num_downs - 5`` innermost middle levels (the 8·ngf-wide ones); it has no
    weights, so a file cannot say whether it was trained with it.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, num_feat: int = 64,
                 norm: str = "batch", affine: bool = False, dropout: bool = False):
        super().__init__()
        check_norm(norm)
        if num_downs < MIN_DOWNS:
            raise ValueError(f"a U-Net needs at least {MIN_DOWNS} levels (num_downs), not {num_downs}")
        widest = num_feat * MAX_MULT
        block = UnetBlock(widest, widest, role="innermost", norm=norm, affine=affine)
        for _ in range(num_downs - MIN_DOWNS):
            block = UnetBlock(widest, widest, submodule=block, norm=norm, affine=affine, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetBlock(num_feat * mult, num_feat * mult * 2, submodule=block, norm=norm, affine=affine)
        self.model = UnetBlock(out_channels, num_feat, in_channels=in_channels, submodule=block,
                               role="outermost", norm=norm)
        self.size_multiple = 2 ** num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_unet(in_channels: int = 3, out_channels: int = 3, *, num_downs: int = 8, num_feat: int = 64,
               norm: str = "batch", affine: bool = False, dropout: bool = True, init: bool = True) -> UnetGenerator:
    """A fresh generator from options (pix2pix's defaults: unet_256, batch norm, dropout), official init."""
    net = UnetGenerator(in_channels, out_channels, num_downs, num_feat, norm, affine, dropout)
    if init:
        init_weights(net)
    return net
