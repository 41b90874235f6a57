"""GPEN's blind face restorer (``FullGenerator``): a StyleGAN2 decoder fed by a U-Net encoder, in plain PyTorch.

Parameter names follow the official ``face_model/gpen_model.py`` so the released GPEN-BFR files load
strict. The official layers call compiled CUDA ops; here each is what it computes:

- ``fused_leaky_relu``: add the bias, leaky ReLU 0.2, times √2;
- ``upfirdn2d``: zero-insert upsampling, zero padding (negative = crop), a 2-D FIR filter, subsampling.

Equalized learning rate: weights are stored unscaled and scaled by 1/√fan-in (× ``lr_mul`` in the
style MLP) at every call, as officially. The FIR kernels are the checkpoint's own buffers
(``*.kernel``), so the filter runs with exactly the numbers the file carries.

How GPEN differs from StyleGAN2: the encoder's feature map at each resolution is the "noise" of the
decoder's style convs there, scaled by the layer's noise weight and *concatenated* to the conv's
output (``isconcat``; otherwise added), and the encoder's 4×4 code, through a linear layer and the
style MLP, is the style of every layer. The network therefore draws no random numbers at all:
the same face in gives the same face out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BLUR_KERNEL = (1, 3, 3, 1)
SQRT2 = math.sqrt(2)


def channel_widths(channel_multiplier: float, narrow: float) -> dict[int, int]:
    """The official ``channels`` table: 512·narrow up to 32 px, then halving per level from 64 px, × the multiplier."""
    widths = {res: int(512 * narrow) for res in (4, 8, 16, 32)}
    for res, base in ((64, 256), (128, 128), (256, 64), (512, 32), (1024, 16), (2048, 8)):
        widths[res] = int(base * channel_multiplier * narrow)
    return widths


def fir_kernel(taps=BLUR_KERNEL, gain: float = 1.0) -> torch.Tensor:
    """The normalised outer product of ``taps`` (the official ``make_kernel``), times ``gain``."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by inserting zeros, pad (both axes alike), filter with ``kernel`` (a true convolution:
    the kernel flipped), keep every ``down``-th sample: the official op's CPU path, per channel."""
    batch, channels, height, width = x.shape
    channels = int(channels)  # a constant in a traced (ONNX) graph too: the filter's shape must be known there
    if up > 1:  # each sample followed by up - 1 zeros along both axes (a pad and a reshape: exportable)
        spread = F.pad(x.reshape(batch, channels, height, 1, width, 1), (0, up - 1, 0, 0, 0, up - 1))
        x = spread.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))  # negative pads crop, as officially
    weight = kernel.flip((0, 1)).to(x.dtype).expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=channels)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)).to(x.dtype), negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Bias, leaky ReLU 0.2, ×√2 (key ``bias``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * SQRT2


class Blur(nn.Module):
    """An FIR filter with fixed padding; ``kernel`` is a buffer the official files store."""

    def __init__(self, pad: tuple[int, int], gain: float = 1.0, taps=BLUR_KERNEL):
        super().__init__()
        self.register_buffer("kernel", fir_kernel(taps, gain))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×2 FIR upsampling of the RGB skip (``kernel`` = the blur ×4, stored in the files)."""

    def __init__(self, taps=BLUR_KERNEL, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", fir_kernel(taps, factor**2))
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class EqualLinear(nn.Module):
    """A linear layer with equalized LR; ``lr_mul`` scales weight and bias at run time (the style MLP's 0.01)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul, self.activate = lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight.to(x.dtype) * self.scale, self.bias.to(x.dtype) * self.lr_mul
        if self.activate:
            return fused_leaky_relu(F.linear(x, weight), bias)
        return F.linear(x, weight, bias)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """StyleGAN2's modulated conv; ``upsample``: a stride-2 transposed conv, then the FIR blur (×4 gain).

    The per-sample weights are built in fp32 whatever the activations' dtype (in fp16 the 1e-8 eps
    underflows and the sum of squares can overflow); the convolution runs in the activations' dtype.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, taps=BLUR_KERNEL):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        if upsample:
            factor = 2
            p = (len(taps) - factor) - (kernel_size - 1)
            self.blur = Blur(((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor**2, taps=taps)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)

    one_face = False
    """The ONNX export's path (``gpen/export.py``): the batch is one face, so the kernel is built without folding
    the batch into the channels and every size in the graph stays a constant (a traced ``groups=batch`` kernel
    has sizes the exporter cannot read). The same numbers as the folded path for one face."""

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.one_face:
            return self._one_face(x, style)
        batch, _, height, width = x.shape
        style = self.modulation(style.float()).view(batch, 1, self.in_channels, 1, 1)
        weight = self.scale * self.weight.float() * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        weight = weight.to(x.dtype)
        k = self.kernel_size
        x = x.reshape(1, batch * self.in_channels, height, width)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * self.in_channels, self.out_channels, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=batch)
            return self.blur(out.view(batch, self.out_channels, *out.shape[-2:]))
        out = F.conv2d(x, weight.reshape(batch * self.out_channels, self.in_channels, k, k), padding=self.padding,
                       groups=batch)
        return out.view(batch, self.out_channels, *out.shape[-2:])

    def _one_face(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        style = self.modulation(style.float()).view(1, self.in_channels, 1, 1)
        weight = self.scale * self.weight[0].float() * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        weight = weight.to(x.dtype)
        if self.upsample:
            return self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        return F.conv2d(x, weight, padding=self.padding)


class NoiseInjection(nn.Module):
    """The encoder's features at this resolution, scaled by ``weight``: concatenated (``isconcat``) or added."""

    def __init__(self, isconcat: bool = True):
        super().__init__()
        self.isconcat = isconcat
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        scaled = self.weight.to(x.dtype) * noise
        return torch.cat((x, scaled), dim=1) if self.isconcat else x + scaled


class StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool = False,
                 isconcat: bool = True, taps=BLUR_KERNEL):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample, taps=taps)
        self.noise = NoiseInjection(isconcat)
        self.activate = FusedLeakyReLU(out_channels * (2 if isconcat else 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True, taps=BLUR_KERNEL):
        super().__init__()
        if upsample:
            self.upsample = Upsample(taps)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias.to(x.dtype)
        return out if skip is None else out + self.upsample(skip)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


def conv_layer(in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
               taps=BLUR_KERNEL) -> nn.Sequential:
    """The official ``ConvLayer`` with bias and activation: [blur,] equalized conv, fused leaky ReLU."""
    layers: list[nn.Module] = []
    if downsample:
        p = (len(taps) - 2) + (kernel_size - 1)
        layers.append(Blur(((p + 1) // 2, p // 2), taps=taps))
    layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=2 if downsample else 1,
                              padding=0 if downsample else kernel_size // 2, bias=False))
    layers.append(FusedLeakyReLU(out_channels))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """The StyleGAN2 decoder (official ``Generator``), run with one style for every layer and the encoder's
    features as its per-layer noise."""

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2,
                 lr_mlp: float = 0.01, isconcat: bool = True, narrow: float = 1, taps=BLUR_KERNEL):
        super().__init__()
        self.size, self.n_mlp, self.style_dim = size, n_mlp, style_dim
        self.log_size = int(math.log2(size))
        feat = 2 if isconcat else 1
        widths = channel_widths(channel_multiplier, narrow)
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True)
                                                 for _ in range(n_mlp)])
        self.input = ConstantInput(widths[4])
        self.conv1 = StyledConv(widths[4], widths[4], style_dim, isconcat=isconcat, taps=taps)
        self.to_rgb1 = ToRGB(widths[4] * feat, style_dim, upsample=False, taps=taps)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = widths[4]
        for level in range(3, self.log_size + 1):
            out_channels = widths[2**level]
            self.convs.append(StyledConv(in_channels * feat, out_channels, style_dim, upsample=True,
                                         isconcat=isconcat, taps=taps))
            self.convs.append(StyledConv(out_channels * feat, out_channels, style_dim, isconcat=isconcat, taps=taps))
            self.to_rgbs.append(ToRGB(out_channels * feat, style_dim, taps=taps))
            in_channels = out_channels

    def forward(self, code: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        """The image for a ``B×style_dim`` code (mapped by the style MLP) and one noise map per style conv."""
        style = self.style(code.float())  # the MLP in fp32: its pixel norm squares the code
        out = self.conv1(self.input(code.shape[0]).to(noise[0].dtype), style, noise[0])
        skip = self.to_rgb1(out, style)
        for index, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * index](out, style, noise[2 * index + 1])
            out = self.convs[2 * index + 1](out, style, noise[2 * index + 2])
            skip = to_rgb(out, style, skip)
        return skip


class FullGenerator(nn.Module):
    """GPEN for blind face restoration: ``size``² faces in [-1, 1] (RGB) to restored faces of the same size.

    The encoder halves the face down to 4×4 with strided convs (``ecd0`` … ``ecd{log2(size)-2}``); its
    flattened 4×4 map makes the style code, and every level's features feed the decoder level of the
    same size. The official forward returns ``(image, None)``; this one returns the image.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2,
                 lr_mlp: float = 0.01, isconcat: bool = True, narrow: float = 1, taps=BLUR_KERNEL):
        super().__init__()
        widths = channel_widths(channel_multiplier, narrow)
        self.size = size
        self.log_size = int(math.log2(size))
        if 2**self.log_size != size or not 8 <= size <= 2048:
            raise ValueError(f"GPEN's face size is a power of two from 8 to 2048, not {size}")
        self.generator = Generator(size, style_dim, n_mlp, channel_multiplier, lr_mlp, isconcat, narrow, taps)
        self.ecd0 = nn.Sequential(conv_layer(3, widths[size], 1))
        in_channels = widths[size]
        self.names = [f"ecd{i}" for i in range(self.log_size - 1)]
        for level in range(self.log_size, 2, -1):
            out_channels = widths[2 ** (level - 1)]
            setattr(self, self.names[self.log_size - level + 1],
                    nn.Sequential(conv_layer(in_channels, out_channels, 3, downsample=True, taps=taps)))
            in_channels = out_channels
        self.final_linear = nn.Sequential(EqualLinear(widths[4] * 16, style_dim, activate=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        for name in self.names:
            x = getattr(self, name)(x)
            features.append(x)
        code = self.final_linear(x.flatten(1))
        # 4×4 once (the first style conv), then each level's map twice, coarse to fine
        noise = [features[-1]] + [f for f in reversed(features[:-1]) for _ in range(2)]
        return self.generator(code, noise)
