"""pix2pix's PatchGAN discriminators, official keys: the N-layer one (``model.N``; 70×70 receptive
field at 3 layers) and the 1×1 PixelGAN (``net.N``). Both give logits per patch, no sigmoid.

The N-layer one's ``model.N`` keys look like legacy ESRGAN's, so the registry tests it after
RRDBNet (whose detection needs ``model.1.sub.…``); a 4×4 first convolution tells it apart.
"""

from __future__ import annotations

import torch
from torch import nn

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..family import Built, FamilyEntry, Tensors
from .norms import NORMS, check_norm, conv_bias, init_weights, norm_layer

__all__ = ["NORMS", "NLayerDiscriminator", "PixelDiscriminator", "NLAYER_DISCRIMINATOR", "PIXEL_DISCRIMINATOR"]


class NLayerDiscriminator(nn.Module):
    """pix2pix's N-layer PatchGAN (70×70 receptive field at 3 layers); logits per patch, no sigmoid."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, num_layers: int = 3, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        bias = conv_bias(norm)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = num_feat
        for n in range(1, num_layers):
            out = num_feat * min(2 ** n, 8)
            layers += [nn.Conv2d(channels, out, 4, 2, 1, bias=bias), norm_layer(norm, out), nn.LeakyReLU(0.2, True)]
            channels = out
        out = num_feat * min(2 ** num_layers, 8)
        layers += [nn.Conv2d(channels, out, 4, 1, 1, bias=bias), norm_layer(norm, out), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(out, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The 1×1 PatchGAN ("PixelGAN"): judges each pixel's colour alone."""

    def __init__(self, in_channels: int = 3, num_feat: int = 64, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat, num_feat * 2, 1, bias=bias), norm_layer(norm, num_feat * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(num_feat * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _norm_from_tensors(sd: Tensors, norm_prefix: str, conv_prefix: str) -> str:
    # Batch norm keeps running statistics; instance norm (no affine) leaves no tensors but its
    # convolution keeps a bias, which the official code drops for batch norm and for no norm.
    if f"{norm_prefix}.running_mean" in sd:
        return "batch"
    return "instance" if f"{conv_prefix}.bias" in sd else "none"


def _nlayer_shape(sd: Tensors) -> dict:
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4)
    first = sd[f"model.{convs[0]}.weight"]
    norm = _norm_from_tensors(sd, f"model.{convs[1] + 1}", f"model.{convs[1]}")
    return dict(in_channels=first.shape[1], num_feat=first.shape[0], num_layers=len(convs) - 2, norm=norm)


def looks_like_nlayer_discriminator(sd: Tensors) -> bool:
    first = sd.get("model.0.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (4, 4)
            and all(k.startswith("model.") for k in sd))


def build_nlayer_discriminator(sd: Tensors, options: dict) -> Built:
    hp = _nlayer_shape(sd)
    return Built(NLayerDiscriminator(**hp), hp, dict(sd))


def nlayer_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp["in_channels"], out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(minimum=2 ** (hp["num_layers"] + 2)), tiling=TilingPolicy(margin=0),
        activation_elements=2 * hp["num_feat"], fp16_safe=True, bf16_safe=True, init_weights=init_weights,
    )


def looks_like_pixel_discriminator(sd: Tensors) -> bool:
    first = sd.get("net.0.weight")
    return (first is not None and first.ndim == 4 and tuple(first.shape[-2:]) == (1, 1)
            and "net.2.weight" in sd and all(k.startswith("net.") for k in sd))


def build_pixel_discriminator(sd: Tensors, options: dict) -> Built:
    first = sd["net.0.weight"]
    hp = dict(in_channels=first.shape[1], num_feat=first.shape[0], norm=_norm_from_tensors(sd, "net.3", "net.2"))
    return Built(PixelDiscriminator(**hp), hp, dict(sd))


def pixel_discriminator_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.DISCRIMINATOR, scale=1, in_channels=hp["in_channels"], out_channels=1, value_range=(-1.0, 1.0),
        size=SizeRule(), tiling=TilingPolicy(margin=0, exact=hp["norm"] != "instance"),
        activation_elements=4 * hp["num_feat"], fp16_safe=True, bf16_safe=True, init_weights=init_weights,
    )


NLAYER_DISCRIMINATOR = FamilyEntry(
    architecture="NLayerDiscriminator", family="pix2pix", detect=looks_like_nlayer_discriminator,
    build=build_nlayer_discriminator, contract=nlayer_discriminator_contract, create=NLayerDiscriminator,
)
PIXEL_DISCRIMINATOR = FamilyEntry(
    architecture="PixelDiscriminator", family="pix2pix", detect=looks_like_pixel_discriminator,
    build=build_pixel_discriminator, contract=pixel_discriminator_contract, create=PixelDiscriminator,
)
