"""RetinaFace's two backbones, under the parameter names facexlib's checkpoints use.

facexlib wraps each backbone in torchvision's ``IntermediateLayerGetter``, which keeps the
children up to the last returned stage and drops the classifier, so the keys are
``body.stage1...`` (MobileNet-0.25) and ``body.conv1`` / ``body.layer1...`` (torchvision's
ResNet-50 names). Both modules here return the three feature maps (strides 8, 16, 32) that the
FPN reads, and hold no classifier tensors, so those files load strict.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, leaky: float | None = 0.0,
            groups: int = 1) -> list[nn.Module]:
    """Convolution (no bias: the norm shifts), batch norm and an optional leaky ReLU, as a layer list."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return layers


def depthwise_separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    """MobileNetV1's block: a 3×3 depthwise then a 1×1 pointwise convolution, each normed and activated."""
    return nn.Sequential(*conv_bn(cin, cin, 3, stride, 0.1, groups=cin), *conv_bn(cin, cout, 1, 1, 0.1))


class MobileNetV1Quarter(nn.Module):
    """MobileNetV1 at width 0.25 (8 → 256 channels); stage outputs are 64, 128 and 256 channels."""

    out_channels = (64, 128, 256)

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(
            nn.Sequential(*conv_bn(3, 8, 3, 2, 0.1)),
            depthwise_separable(8, 16, 1),
            depthwise_separable(16, 32, 2),
            depthwise_separable(32, 32, 1),
            depthwise_separable(32, 64, 2),
            depthwise_separable(64, 64, 1),
        )
        self.stage2 = nn.Sequential(depthwise_separable(64, 128, 2),
                                    *(depthwise_separable(128, 128, 1) for _ in range(5)))
        self.stage3 = nn.Sequential(depthwise_separable(128, 256, 2), depthwise_separable(256, 256, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c3 = self.stage1(x)
        c4 = self.stage2(c3)
        return [c3, c4, self.stage3(c4)]


class Bottleneck(nn.Module):
    """torchvision's ResNet bottleneck (stride on the 3×3 convolution), same child names."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet50Features(nn.Module):
    """ResNet-50 without its classifier (``avgpool``/``fc``); returns layer2, layer3 and layer4."""

    out_channels = (512, 1024, 2048)
    BLOCKS = (3, 4, 6, 3)

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for index, (blocks, width) in enumerate(zip(self.BLOCKS, (64, 128, 256, 512)), start=1):
            stride = 1 if index == 1 else 2
            layer = [Bottleneck(cin, width, stride)]
            cin = width * Bottleneck.expansion
            layer += [Bottleneck(cin, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]
