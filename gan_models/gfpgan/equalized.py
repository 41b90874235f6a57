"""StyleGAN2's equalized-learning-rate layers in pure PyTorch, with BasicSR's parameter names.

The official discriminators use BasicSR's compiled ``FusedLeakyReLU`` (no CPU path) and
``upfirdn2d``. Here the fused op is what it computes: add the bias, leaky ReLU 0.2, times √2;
the blur before a stride-2 conv is a depthwise convolution with the normalised outer product of
``(1, 3, 3, 1)``. Weights are stored unscaled (N(0, 1)) and scaled by 1/√fan-in at every call, so
Adam's steps are the same size for every layer whatever its width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BLUR_KERNEL = (1, 3, 3, 1)


class FusedLeakyReLU(nn.Module):
    """Bias, leaky ReLU 0.2, then ×√2 to keep the activations' variance (key ``bias``)."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = math.sqrt(2)):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


class ScaledLeakyReLU(nn.Module):
    """Leaky ReLU 0.2 ×√2 without a bias (the skip convs of a residual block have none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class Blur(nn.Module):
    """Low-pass filter before a stride-2 conv: pads so that the conv that follows halves the size exactly."""

    def __init__(self, kernel_size: int, taps: tuple[int, ...] = BLUR_KERNEL):
        super().__init__()
        k = torch.tensor(taps, dtype=torch.float32)
        k = k[None, :] * k[:, None]
        self.register_buffer("kernel", k / k.sum(), persistent=False)  # not in the official files
        pad = len(taps) - 2 + kernel_size - 1
        self.pad = ((pad + 1) // 2, pad // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        x = F.pad(x, (self.pad[0], self.pad[1], self.pad[0], self.pad[1]))
        weight = self.kernel.flip((0, 1)).to(x.dtype).expand(channels, 1, *self.kernel.shape)
        return F.conv2d(x, weight, groups=channels)


class EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class EqualLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, activate: bool = False):
        super().__init__()
        self.scale = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias)
        return F.linear(x, self.weight * self.scale, self.bias)


def conv_layer(in_channels: int, out_channels: int, kernel_size: int, *, downsample: bool = False,
               bias: bool = True, activate: bool = True) -> nn.Sequential:
    """BasicSR's ``ConvLayer``: [blur,] conv[, activation] under the indices the official keys use."""
    layers: list[nn.Module] = []
    if downsample:
        layers.append(Blur(kernel_size))
    stride, padding = (2, 0) if downsample else (1, kernel_size // 2)
    layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias and not activate))
    if activate:
        layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU())
    return nn.Sequential(*layers)
