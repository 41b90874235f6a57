"""GFPGAN's v1 training discriminators with the official key names, pure PyTorch.

* :class:`StyleGAN2Discriminator` judges whole faces (BasicSR's class as ``train_gfpgan_v1.yml``
  builds it: 512 px, channel multiplier 1; the released ``GFPGANv1_net_d.pth`` holds its
  ``params``): residual blocks that blur and halve down to 4×4, a minibatch-stddev channel, then
  two linear layers to one logit per image.
* :class:`FacialComponentDiscriminator` judges an eye or mouth crop (the released
  ``GFPGANv1_net_d_left_eye.pth`` / ``_right_eye`` / ``_mouth``): five VGG-style conv layers, two
  of which halve, to one logit per patch; it also returns the conv3 and conv5 features the
  recipe's Gram-matrix style loss compares.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .equalized import EqualLinear, conv_layer


def discriminator_widths(channel_multiplier: float, narrow: float) -> dict[int, int]:
    """Feature channels per resolution, as the official class sets them."""
    widths = {size: int(512 * narrow) for size in (4, 8, 16, 32)}
    widths.update({size: int(256 * 64 // size * channel_multiplier * narrow) for size in (64, 128, 256, 512, 1024)})
    return widths


class ResBlock(nn.Module):
    """conv 3×3, conv 3×3 halving, plus a halving 1×1 skip; the sum is divided by √2."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = conv_layer(in_channels, in_channels, 3)
        self.conv2 = conv_layer(in_channels, out_channels, 3, downsample=True)
        self.skip = conv_layer(in_channels, out_channels, 1, downsample=True, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    """One logit per ``out_size``² image in [-1, 1]. Defaults: GFPGAN v1's (512 px, multiplier 1)."""

    def __init__(self, out_size: int = 512, channel_multiplier: float = 1, narrow: float = 1, stddev_group: int = 4):
        super().__init__()
        widths = discriminator_widths(channel_multiplier, narrow)
        self.out_size = out_size
        body: list[nn.Module] = [conv_layer(3, widths[out_size], 1)]
        channels = widths[out_size]
        for level in range(int(math.log2(out_size)), 2, -1):
            body.append(ResBlock(channels, widths[2 ** (level - 1)]))
            channels = widths[2 ** (level - 1)]
        self.conv_body = nn.Sequential(*body)
        self.final_conv = conv_layer(channels + 1, widths[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(widths[4] * 16, widths[4], activate=True),
                                          EqualLinear(widths[4], 1))
        self.stddev_group = stddev_group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_body(x)
        b, c, h, w = out.shape
        # How much the images of a group differ: lets D see a generator that makes one face for all.
        group = min(b, self.stddev_group)
        grouped = out.view(group, -1, 1, c, h, w)
        stddev = torch.sqrt(grouped.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, stddev.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).view(b, -1))


class FacialComponentDiscriminator(nn.Module):
    """Patch logits for an eye or mouth crop, and (``return_feats``) the conv3 / conv5 features.

    ``num_feat`` 64 is the released width (the official class has no width argument; smaller
    widths are for tests).
    """

    def __init__(self, num_feat: int = 64):
        super().__init__()
        f = num_feat
        self.conv1 = conv_layer(3, f, 3)
        self.conv2 = conv_layer(f, 2 * f, 3, downsample=True)
        self.conv3 = conv_layer(2 * f, 2 * f, 3)
        self.conv4 = conv_layer(2 * f, 4 * f, 3, downsample=True)
        self.conv5 = conv_layer(4 * f, 4 * f, 3)
        self.final_conv = conv_layer(4 * f, 1, 3, activate=False)

    def forward(self, x: torch.Tensor, return_feats: bool = False):
        middle = self.conv3(self.conv2(self.conv1(x)))
        last = self.conv5(self.conv4(middle))
        out = self.final_conv(last)
        return (out, [middle, last]) if return_feats else (out, None)
