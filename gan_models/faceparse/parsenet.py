"""ParseNet (PSFRGAN's face parser, as facexlib ships it): a residual encoder–body–decoder at one scale in, one out.

Written from the layer list that the official key names imply; every width is given per block, read
from the tensor shapes (entry.py), so narrower test networks load as the 512 px release does. Only the
mask head is used for paste-back; the image head is kept so the official file loads strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Conv(nn.Module):
    """Reflection-padded 3×3 convolution, optionally strided (down) or after a nearest ×2 (up), BN and activation.

    The official layer keeps its parts as ``conv2d`` and ``norm.norm`` (and ``relu.func`` for PReLU).
    """

    def __init__(self, cin: int, cout: int, resample: str = "none", norm: bool = False, act: str = "none"):
        super().__init__()
        self.resample = resample
        self.conv2d = nn.Conv2d(cin, cout, 3, 2 if resample == "down" else 1, bias=not norm)
        self.norm = _Holder("norm", nn.BatchNorm2d(cout)) if norm else None
        self.relu = _Holder("func", nn.PReLU(cout)) if act == "prelu" else None
        self.leaky = act == "leakyrelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        if self.norm is not None:
            x = self.norm.inner(x)
        if self.relu is not None:
            x = self.relu.inner(x)
        elif self.leaky:
            x = F.leaky_relu(x, 0.2)
        return x


class _Holder(nn.Module):
    """One sub-module under a given attribute name (the official ``norm.norm`` / ``relu.func`` nesting)."""

    def __init__(self, name: str, module: nn.Module):
        super().__init__()
        self.name = name
        self.add_module(name, module)

    @property
    def inner(self) -> nn.Module:
        return getattr(self, self.name)


class ResBlock(nn.Module):
    """Two convs (the second without activation) plus a shortcut: identity, or a plain conv when the size
    or width changes. Down: the second conv strides; up: the first conv upsamples."""

    def __init__(self, cin: int, cout: int, resample: str, act: str):
        super().__init__()
        self.shortcut_func = None if resample == "none" and cin == cout else Conv(cin, cout, resample)
        first, second = {"down": ("none", "down"), "up": ("up", "none")}.get(resample, ("none", "none"))
        self.conv1 = Conv(cin, cout, first, norm=True, act=act)
        self.conv2 = Conv(cout, cout, second, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut_func is None else self.shortcut_func(x)
        return shortcut + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """``encoder`` (a stem then down blocks) → ``feat + body(feat)`` → ``decoder`` (up blocks) → two heads.

    ``down``/``body``/``up`` list each block's (in, out) widths; ``stem`` is the first conv's width.
    forward returns ``(parsing logits, image)`` as the official module does, at the input size.
    """

    def __init__(self, stem: int = 64, down=((64, 128), (128, 256), (256, 256), (256, 256)), body=((256, 256),) * 10,
                 up=((256, 256), (256, 256), (256, 128), (128, 64)), num_class: int = 19, act: str = "leakyrelu"):
        super().__init__()
        self.encoder = nn.Sequential(Conv(3, stem), *(ResBlock(i, o, "down", act) for i, o in down))
        self.body = nn.Sequential(*(ResBlock(i, o, "none", act) for i, o in body))
        self.decoder = nn.Sequential(*(ResBlock(i, o, "up", act) for i, o in up))
        width = up[-1][1] if up else (body[-1][1] if body else down[-1][1])
        self.out_img_conv = Conv(width, 3)
        self.out_mask_conv = Conv(width, num_class)

    def forward(self, x: torch.Tensor):
        feat = self.encoder(x)
        x = self.decoder(feat + self.body(feat))
        return self.out_mask_conv(x), self.out_img_conv(x)
