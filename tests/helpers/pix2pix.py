"""Small pix2pix/CycleGAN networks with random weights, and the official networks when available.

The official ``models/networks.py`` (junyanz/pytorch-CycleGAN-and-pix2pix) ships in no wheel; set
``GANPOST_PIX2PIX_NETWORKS`` to a local copy of it to run the parity tests.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import pytest
import torch
from torch import nn


def randomised(module: nn.Module) -> nn.Module:
    """Every weight, bias and running statistic drawn at random, so each one shows in the output."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            else:
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    return module.eval()


def official_networks():
    path = os.environ.get("GANPOST_PIX2PIX_NETWORKS")
    if not path or not os.path.isfile(path):
        pytest.skip("set GANPOST_PIX2PIX_NETWORKS to the official models/networks.py for parity checks")
    spec = importlib.util.spec_from_file_location("official_pix2pix_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_norm_layer(norm: str, affine: bool = False):
    """The official ``get_norm_layer`` of today's code (instance norm without running statistics)."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=affine, track_running_stats=False)
    return lambda channels: nn.Identity()
