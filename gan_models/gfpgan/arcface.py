"""The identity network of GFPGAN's training: ArcFace ResNet-18 (IR blocks, no squeeze-excitation).

Key names follow GFPGAN's ``arcface_arch.py`` (``ResNetArcFace(IRBlock, [2, 2, 2, 2], use_se=False)``),
so the released ``arcface_resnet18.pth`` loads strict. It maps a 128×128 grey face to a
512-d embedding; the recipe compares the embeddings of output and target. It has no registry
entry: it is a loss's instrument, never a model a user runs.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..checkpoint_io import read_checkpoint, unwrap_state_dict
from ..errors import ModelFileError

EMBEDDING_INPUT = 128


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)


class IRBlock(nn.Module):
    """BN, conv, BN, PReLU, conv (maybe strided), BN, plus the (projected) input, then the same PReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, in_channels)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.prelu = nn.PReLU()
        self.conv2 = _conv3x3(in_channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + residual)


class ResNetArcFace(nn.Module):
    """128×128 grey faces (B×1×128×128) → B×512 embeddings. ``width`` 64 is the released network."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        channels = width
        for index, count in enumerate(blocks):
            out = width * 2**index
            stride = 1 if index == 0 else 2
            layer = [IRBlock(channels, out, stride)] + [IRBlock(out, out) for _ in range(count - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
            channels = out
        self.bn4 = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout()
        side = EMBEDDING_INPUT // 2 // 2 ** (len(blocks) - 1)
        self.fc5 = nn.Linear(channels * side * side, 8 * width)
        self.bn5 = nn.BatchNorm1d(8 * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(x.flatten(1)))


def load_arcface(path: str | os.PathLike) -> ResNetArcFace:
    """``arcface_resnet18.pth`` (any width of this layout), strict, in eval mode and frozen."""
    sd = unwrap_state_dict(read_checkpoint(path))
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if "conv1.weight" not in sd or "fc5.weight" not in sd or "layer1.0.bn0.weight" not in sd:
        raise ModelFileError(f"{path}: not an ArcFace ResNet in GFPGAN's layout (expected conv1, layer1.0.bn0, fc5 "
                             "keys, as in arcface_resnet18.pth from the GFPGAN v0.1.0 release)")
    network = ResNetArcFace(width=sd["conv1.weight"].shape[0])
    try:
        network.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: an ArcFace file of another shape ({str(err).splitlines()[0]}); "
                             "use arcface_resnet18.pth") from err
    return network.eval().requires_grad_(False)
