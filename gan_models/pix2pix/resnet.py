"""CycleGAN's ResnetGenerator (Johnson et al.'s transformer net), official ``model.N`` keys.

Two stride-2 convolutions down, ``num_blocks`` residual blocks at a quarter of the resolution,
two transposed convolutions back up; reflection padding throughout. Any input whose sides are
multiples of 4 comes out the same size.
"""

from __future__ import annotations

import torch
from torch import nn

from .norms import check_norm, conv_bias, init_weights, norm_layer

DOWNSAMPLINGS = 2
SIZE_MULTIPLE = 2 ** DOWNSAMPLINGS


class ResnetBlock(nn.Module):
    """``x + conv_block(x)``; with dropout the second convolution moves from index 5 to 6."""

    def __init__(self, channels: int, norm: str, affine: bool, dropout: bool):
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   norm_layer(norm, channels, affine), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                   norm_layer(norm, channels, affine)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Input and output in [-1, 1] (tanh); ``resnet_9blocks`` is ``num_blocks=9``, ``resnet_6blocks`` 6."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64, num_blocks: int = 9,
                 norm: str = "instance", affine: bool = False, dropout: bool = False):
        super().__init__()
        check_norm(norm)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, num_feat, 7, bias=bias),
                                   norm_layer(norm, num_feat, affine), nn.ReLU(True)]
        channels = num_feat
        for _ in range(DOWNSAMPLINGS):
            layers += [nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(norm, channels * 2, affine), nn.ReLU(True)]
            channels *= 2
        layers += [ResnetBlock(channels, norm, affine, dropout) for _ in range(num_blocks)]
        for _ in range(DOWNSAMPLINGS):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       norm_layer(norm, channels // 2, affine), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_radius(num_blocks: int) -> int:
    """Input pixels on each side that can reach one output pixel (norm statistics aside).

    Down: the 7×7 conv reads 3 px, the stride-2 3×3 convs one step of their input grid (1, then
    2 px). Each residual 3×3 conv reads one step of the quarter-resolution grid: 4 px. Up: a
    stride-2 transposed conv's output reads one or two neighbouring inputs, half a step each side
    (2, then 1 px), and the last 7×7 conv 3 px. Measured by gradients: exact, not just a bound.
    """
    return (3 + 1 + 2) + 2 * num_blocks * 4 + (2 + 1 + 3)


def build_resnet(in_channels: int = 3, out_channels: int = 3, *, num_feat: int = 64, num_blocks: int = 9,
                 norm: str = "instance", affine: bool = False, dropout: bool = False,
                 init: bool = True) -> ResnetGenerator:
    """A fresh generator from options (CycleGAN's defaults), initialised as the official code does."""
    net = ResnetGenerator(in_channels, out_channels, num_feat, num_blocks, norm, affine, dropout)
    if init:
        init_weights(net)
    return net
