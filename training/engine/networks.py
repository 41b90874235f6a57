"""Small helpers recipes use on their networks: a fresh one from the registry, a trainable copy, a frozen pass."""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn

from ...gan_models import registry


def fresh_network(architecture: str, hyperparameters: dict) -> nn.Module:
    """A new network through the registry, with its contract's weight init when it has one."""
    entry = registry.entry_for(architecture)
    module = entry.create(**hyperparameters)
    init = entry.contract(hyperparameters).init_weights
    if init is not None:
        init(module)
    return module


def trainable(module: nn.Module) -> nn.Module:
    """A float32 copy with fresh tensors (weights loaded under inference_mode, as ComfyUI loads them,
    cannot join autograd), requiring gradients, in train mode; ``module`` itself stays untouched."""
    module = copy.deepcopy(module).float()
    with torch.inference_mode(False), torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.data = tensor.data.clone()
    return module.requires_grad_(True).train()


@contextmanager
def frozen(network: nn.Module):
    """No gradients into ``network``'s weights while inside (a D pass in the generator's loss);
    afterwards each parameter requires a gradient again only if it did before (frozen parts stay so)."""
    before = [(p, p.requires_grad) for p in network.parameters()]
    network.requires_grad_(False)
    try:
        yield network
    finally:
        for parameter, flag in before:
            parameter.requires_grad_(flag)
