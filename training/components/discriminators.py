"""Discriminators with the official parameter names, so released ones load and ours load elsewhere.

- ``UNetDiscriminatorSN``: Real-ESRGAN's (``RealESRGAN_x4plus_netD.pth`` loads strict).
- ``PatchGANDiscriminator``: pix2pix's N-layer PatchGAN (``model.N`` keys), for later families.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ...gan_models.checkpoint_io import read_checkpoint, save_state_dict, unwrap_state_dict
from ...gan_models.errors import UnsupportedModelError

NORMS = ("batch", "instance", "none")


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


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class PatchGANDiscriminator(nn.Module):
    """pix2pix's N-layer PatchGAN (70×70 receptive field at 3 layers); logits per patch, no sigmoid."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_layers: int = 3, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")
        bias = norm != "batch"  # batch norm's shift makes a bias redundant
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = num_feat
        for n in range(1, num_layers):
            out = num_feat * min(2 ** n, 8)
            layers += [nn.Conv2d(channels, out, 4, 2, 1, bias=bias), _norm(norm, out), nn.LeakyReLU(0.2, True)]
            channels = out
        out = num_feat * min(2 ** num_layers, 8)
        layers += [nn.Conv2d(channels, out, 4, 1, 1, bias=bias), _norm(norm, out), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(out, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build_discriminator(kind: str, **kwargs) -> nn.Module:
    if kind == "unet":
        return UNetDiscriminatorSN(**kwargs)
    if kind == "patchgan":
        return PatchGANDiscriminator(**kwargs)
    raise ValueError(f"discriminator kind must be 'unet' or 'patchgan', not {kind!r}")


def _patchgan_shape(sd: dict[str, torch.Tensor]) -> dict:
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4)
    has_running = any(k.endswith("running_mean") for k in sd)
    first = sd[f"model.{convs[0]}.weight"]
    norm = "batch" if has_running else ("instance" if f"model.{convs[1]}.bias" in sd else "none")
    # Instance norm (no affine) leaves no tensors, so a file cannot tell it from "none": we pick
    # instance, pix2pix/CycleGAN's choice whenever biases are present.
    return dict(in_channels=first.shape[1], num_feat=first.shape[0], num_layers=len(convs) - 2, norm=norm)


def describe_discriminator(sd: dict[str, torch.Tensor], label: str = "state dict") -> nn.Module:
    """Detect the discriminator in a flat state dict and build it, loaded strict."""
    if "conv0.weight" in sd and "conv1.weight_orig" in sd:
        network = UNetDiscriminatorSN(sd["conv0.weight"].shape[1], sd["conv0.weight"].shape[0],
                                      skip_connection=True)
    elif "model.0.weight" in sd and sd["model.0.weight"].ndim == 4 and sd["model.0.weight"].shape[-1] == 4:
        network = PatchGANDiscriminator(**_patchgan_shape(sd))
    else:
        keys = ", ".join(list(sd)[:5])
        raise UnsupportedModelError(f"{label}: {len(sd)} tensors ({keys}, …) match no discriminator we know "
                                    "(tried UNetDiscriminatorSN, PatchGAN)")
    try:
        network.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise UnsupportedModelError(f"{label}: looks like {type(network).__name__} but does not load "
                                    f"({str(err).splitlines()[0]})") from err
    return network


def load_discriminator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    sd = unwrap_state_dict(read_checkpoint(path))
    return describe_discriminator(sd, str(path)).to(device)


def save_discriminator(path: str | os.PathLike, network: nn.Module) -> Path:
    return save_state_dict(path, {"params": network.state_dict()})
