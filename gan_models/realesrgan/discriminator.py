"""Real-ESRGAN's discriminator: a U-Net with spectral norm that scores every pixel.

Official parameter names (``conv0``, ``conv1.weight_orig`` …), so the released
``RealESRGAN_x4plus_netD.pth`` loads strict and what ganpost trains loads in BasicSR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm



class UNetDiscriminatorSN(nn.Module):
    """A U-Net with spectral norm that scores every pixel (logits at the input resolution)."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        nf, self.skip_connection = num_feat, skip_connection

        def sn_conv(cin, cout, kernel, stride, padding):
            return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False))

        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        self.conv1 = sn_conv(nf, nf * 2, 4, 2, 1)
        self.conv2 = sn_conv(nf * 2, nf * 4, 4, 2, 1)
        self.conv3 = sn_conv(nf * 4, nf * 8, 4, 2, 1)
        self.conv4 = sn_conv(nf * 8, nf * 4, 3, 1, 1)
        self.conv5 = sn_conv(nf * 4, nf * 2, 3, 1, 1)
        self.conv6 = sn_conv(nf * 2, nf, 3, 1, 1)
        self.conv7 = sn_conv(nf, nf, 3, 1, 1)
        self.conv8 = sn_conv(nf, nf, 3, 1, 1)
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2, inplace=True)  # noqa: E731
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)
