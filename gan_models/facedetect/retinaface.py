"""RetinaFace (Deng et al. 2019) in facexlib's layout: backbone, FPN, SSH context modules, heads.

Parameter names follow facexlib (itself from biubug6/Pytorch_Retinaface), so
``detection_Resnet50_Final.pth`` and ``detection_mobilenet0.25_Final.pth`` load strict.

The network was trained on BGR pixels in 0..255 minus the mean (104, 117, 123). ``forward``
takes what every ganpost model takes, RGB in [0, 1], and converts inside, so callers never see
that convention; ``raw_forward`` is the trained network itself, on its own input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import MobileNetV1Quarter, ResNet50Features, conv_bn

MEAN_BGR = (104.0, 117.0, 123.0)
BACKBONES = ("mobilenet0.25", "resnet50")


@dataclass(frozen=True)
class Anchors:
    """The prior boxes of the trained networks (the same for both backbones)."""

    steps: tuple[int, ...] = (8, 16, 32)
    """Stride of each pyramid level, in input pixels."""
    sizes: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
    """Square prior sides per level, in input pixels: two anchors per cell."""
    variances: tuple[float, float] = (0.1, 0.2)
    """Scales of the regressed centre offsets and log-sizes."""


ANCHORS = Anchors()


class FPN(nn.Module):
    """Lateral 1×1 convolutions, then the coarser level upsampled (nearest) and added, then a 3×3 merge."""

    def __init__(self, in_channels: tuple[int, int, int], channels: int):
        super().__init__()
        leaky = 0.1 if channels <= 64 else 0.0
        self.output1 = nn.Sequential(*conv_bn(in_channels[0], channels, 1, 1, leaky))
        self.output2 = nn.Sequential(*conv_bn(in_channels[1], channels, 1, 1, leaky))
        self.output3 = nn.Sequential(*conv_bn(in_channels[2], channels, 1, 1, leaky))
        self.merge1 = nn.Sequential(*conv_bn(channels, channels, 3, 1, leaky))
        self.merge2 = nn.Sequential(*conv_bn(channels, channels, 3, 1, leaky))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        fine, middle, coarse = self.output1(features[0]), self.output2(features[1]), self.output3(features[2])
        middle = self.merge2(middle + F.interpolate(coarse, size=middle.shape[-2:], mode="nearest"))
        fine = self.merge1(fine + F.interpolate(middle, size=fine.shape[-2:], mode="nearest"))
        return [fine, middle, coarse]


class SSH(nn.Module):
    """Single Stage Headless context module: 3×3, 5×5 and 7×7 receptive fields (stacked 3×3s), concatenated."""

    def __init__(self, channels: int):
        super().__init__()
        leaky = 0.1 if channels <= 64 else 0.0
        quarter = channels // 4
        self.conv3X3 = nn.Sequential(*conv_bn(channels, channels // 2, 3, 1, None))
        self.conv5X5_1 = nn.Sequential(*conv_bn(channels, quarter, 3, 1, leaky))
        self.conv5X5_2 = nn.Sequential(*conv_bn(quarter, quarter, 3, 1, None))
        self.conv7X7_2 = nn.Sequential(*conv_bn(quarter, quarter, 3, 1, leaky))
        self.conv7x7_3 = nn.Sequential(*conv_bn(quarter, quarter, 3, 1, None))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        five_in = self.conv5X5_1(x)
        seven_in = self.conv7X7_2(five_in)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(five_in), self.conv7x7_3(seven_in)], dim=1))


class Head(nn.Module):
    """A 1×1 convolution giving ``values`` numbers per anchor, flattened to N × (H·W·anchors) × values."""

    def __init__(self, channels: int, anchors: int, values: int):
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(channels, anchors * values, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


class RetinaFace(nn.Module):
    """Face boxes, scores and five landmarks per prior box (see :data:`ANCHORS`).

    ``forward`` returns, for RGB images in [0, 1], ``(loc, scores, landmarks)``: the encoded box
    offsets (N×P×4), the softmax over (background, face) (N×P×2) and the encoded landmark
    offsets (N×P×10). ``detect.py`` decodes them into pixels.
    """

    def __init__(self, backbone: str = "mobilenet0.25"):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, not {backbone!r}")
        self.backbone = backbone
        self.body = MobileNetV1Quarter() if backbone == "mobilenet0.25" else ResNet50Features()
        channels = 64 if backbone == "mobilenet0.25" else 256
        self.fpn = FPN(self.body.out_channels, channels)
        self.ssh1, self.ssh2, self.ssh3 = SSH(channels), SSH(channels), SSH(channels)
        anchors = len(ANCHORS.sizes[0])
        self.ClassHead = nn.ModuleList(Head(channels, anchors, 2) for _ in ANCHORS.steps)
        self.BboxHead = nn.ModuleList(Head(channels, anchors, 4) for _ in ANCHORS.steps)
        self.LandmarkHead = nn.ModuleList(Head(channels, anchors, 10) for _ in ANCHORS.steps)
        # Not a parameter: the checkpoints do not hold it, and strict loading must not expect it.
        self.register_buffer("mean_bgr", torch.tensor(MEAN_BGR).view(1, 3, 1, 1), persistent=False)

    def to_network_input(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] → what the network was trained on: BGR in 0..255 minus the mean."""
        return rgb.flip(1).mul_(255.0).sub_(self.mean_bgr.to(rgb.dtype))  # flip copies: in place after it

    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.raw_forward(self.to_network_input(rgb))

    def raw_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The trained network on its own input (BGR, 0..255, mean subtracted), as facexlib runs it."""
        features = [ssh(level) for ssh, level in zip((self.ssh1, self.ssh2, self.ssh3), self.fpn(self.body(x)))]
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, features)], dim=1)
        logits = torch.cat([head(f) for head, f in zip(self.ClassHead, features)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features)], dim=1)
        return loc, logits.softmax(dim=-1), landmarks
