"""Exponential moving average of a network's parameters (buffers are copied as they are)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """It starts as a copy of the network, so fine-tuning averages from the pretrained weights."""

    def __init__(self, network: nn.Module, decay: float, warmup: bool = False):
        self.decay, self.warmup = decay, warmup
        self.network = copy.deepcopy(network).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """With warm-up, early averages follow the live weights ((1+n)/(10+n)) instead of keeping
        a large share of the starting point: needed from scratch, harmless when fine-tuning."""
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, network: nn.Module, step: int = 0) -> None:
        decay = self.decay_at(step)
        live = dict(network.named_parameters())
        for name, param in self.network.named_parameters():
            param.lerp_(live[name].detach().to(param.dtype), 1.0 - decay)
        live_buffers = dict(network.named_buffers())
        for name, buffer in self.network.named_buffers():
            buffer.copy_(live_buffers[name])

    def state_dict(self) -> dict:
        return self.network.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.network.load_state_dict(state, strict=True)
