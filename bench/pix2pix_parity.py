"""ganpost's pix2pix/CycleGAN networks against the official ``models/networks.py``, random weights.

The official file (junyanz/pytorch-CycleGAN-and-pix2pix) ships in no wheel, so this runs where a
copy of it is at hand rather than in CI. For every norm kind, with and without dropout, in eval and
train mode (the official test script's batch statistics and dropout), the official module's
weights are loaded into ours through ganpost's own detection, and the largest |ours − official| is
printed; the check passes at ≤1e-5.

    python bench/pix2pix_parity.py --official path/to/models/networks.py
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys

import torch
from torch import nn

from ganpost.gan_models.loader import describe_state_dict

TOLERANCE = 1e-5


def load_official(path: str):
    spec = importlib.util.spec_from_file_location("official_pix2pix_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def norm_layer(norm: str, affine: bool = False):
    """Today's official ``get_norm_layer`` (instance norm without running statistics)."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=affine, track_running_stats=False)
    return lambda channels: nn.Identity()


def randomised(module: nn.Module) -> nn.Module:
    """Every weight, bias and running statistic drawn at random, so each one shows in the output."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5) if name.endswith("running_var") else tensor.copy_(torch.randn_like(tensor) * 0.1)
    return module


def largest_difference(official_net: nn.Module, side: int, *, dropout: bool | None = None, train: bool) -> float:
    options = {} if dropout is None else {"dropout": dropout}
    ours = describe_state_dict(official_net.state_dict(), **options).module
    in_channels = next(iter(official_net.state_dict().values())).shape[1]
    x = torch.rand(2, in_channels, side, side) * 2 - 1
    official_net.train(train), ours.train(train)
    with torch.no_grad():
        torch.manual_seed(1)
        expected = official_net(x)
        torch.manual_seed(1)  # the same dropout masks where both draw them in the same order
        return float((ours(x) - expected).abs().max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="the official models/networks.py")
    args = parser.parse_args(argv)
    official = load_official(args.official)
    torch.manual_seed(0)
    rows = []
    for norm, affine, dropout in [("batch", True, True), ("instance", False, False), ("instance", True, True),
                                  ("none", False, False)]:
        layer = norm_layer(norm, affine)
        for train in (False, True):
            resnet = randomised(official.ResnetGenerator(3, 3, 8, norm_layer=layer, use_dropout=dropout, n_blocks=3))
            unet = randomised(official.UnetGenerator(1, 3, 6, 4, norm_layer=layer, use_dropout=dropout))
            mode = "train" if train else "eval"
            rows.append((f"resnet {norm} affine={affine} dropout={dropout} {mode}", largest_difference(resnet, 36, train=train)))
            rows.append((f"unet {norm} affine={affine} dropout={dropout} {mode}",
                         largest_difference(unet, 128, dropout=dropout, train=train)))
    for norm in ("batch", "instance", "none"):
        for name, net in (("nlayer", official.NLayerDiscriminator(6, 8, 3, norm_layer=norm_layer(norm))),
                          ("pixel", official.PixelDiscriminator(6, 8, norm_layer=norm_layer(norm)))):
            rows.append((f"{name} D {norm}", largest_difference(randomised(net), 64, train=False)))
    for label, error in rows:
        print(f"{label:48s} max |Δ| {error:.2e}  {'ok' if error <= TOLERANCE else 'FAIL'}")
    return 0 if all(error <= TOLERANCE for _, error in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
