"""pix2pix's N-layer PatchGAN discriminator (70×70 receptive field at 3 layers), official ``model.N`` keys.

Its ``model.N`` keys look like legacy ESRGAN's, so the registry tests it after RRDBNet (whose
detection needs ``model.1.sub.…``); a 4×4 first convolution tells it apart.
"""

from __future__ import annotations

import torch
from torch import nn

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..family import Built, FamilyEntry, Tensors

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class NLayerDiscriminator(nn.Module):
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


def _nlayer_shape(sd: Tensors) -> dict:
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4)
    has_running = any(k.endswith("running_mean") for k in sd)
    first = sd[f"model.{convs[0]}.weight"]
    norm = "batch" if has_running else ("instance" if f"model.{convs[1]}.bias" in sd else "none")
    # Instance norm (no affine) leaves no tensors, so a file cannot tell it from "none": we pick
    # instance, pix2pix/CycleGAN's choice whenever biases are present.
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
        activation_elements=2 * hp["num_feat"], fp16_safe=True, bf16_safe=True,
    )


NLAYER_DISCRIMINATOR = FamilyEntry(
    architecture="NLayerDiscriminator", family="pix2pix", detect=looks_like_nlayer_discriminator,
    build=build_nlayer_discriminator, contract=nlayer_discriminator_contract, create=NLayerDiscriminator,
)
