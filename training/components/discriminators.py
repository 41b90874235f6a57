"""Discriminators for training, loaded from a file through the model registry (a recipe builds fresh ones
from its own family's classes).

The networks live in their families with the official parameter names, so released ones load
strict and what we train loads in the official code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ...gan_models.checkpoint_io import read_checkpoint, save_state_dict, unwrap_state_dict
from ...gan_models.contract import Task
from ...gan_models.errors import UnsupportedModelError
from ...gan_models.loader import describe_state_dict


def describe_discriminator(sd: dict[str, torch.Tensor], label: str = "state dict") -> nn.Module:
    """Detect the discriminator in a flat state dict and build it, loaded strict."""
    model = describe_state_dict(sd, source=Path(label))
    if model.contract.task != Task.DISCRIMINATOR:
        raise UnsupportedModelError(f"{label}: is a {model.architecture} ({model.task} model), not a discriminator. "
                                    "Pass the discriminator's file.")
    return model.module.requires_grad_(True)


def load_discriminator(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    sd = unwrap_state_dict(read_checkpoint(path))
    return describe_discriminator(sd, str(path)).to(device)


def save_discriminator(path: str | os.PathLike, network: nn.Module) -> Path:
    return save_state_dict(path, {"params": network.state_dict()})
