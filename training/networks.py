"""The generator to train: an official checkpoint loaded through our loader, or a fresh network."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..gan_models.realesrgan import RRDBNet, SRVGGNetCompact
from ..gan_models.loader import load_model
from .config import GeneratorConfig
from .config_schema import ConfigError


def build_generator(cfg: GeneratorConfig, models_dir=None, initial: nn.Module | None = None) -> nn.Module:
    """A trainable generator with the official parameter names (so what we save loads everywhere).

    ``initial`` (an already loaded network) is deep-copied, so the caller's model stays untouched.
    """
    if initial is not None:
        module = copy.deepcopy(initial).float()
        with torch.inference_mode(False), torch.no_grad():
            # Weights loaded under inference_mode (ComfyUI) cannot join autograd; fresh copies can.
            for tensor in [*module.parameters(), *module.buffers()]:
                tensor.data = tensor.data.clone()
    elif cfg.pretrained:
        act = cfg.act_type if cfg.act_type != "prelu" else None
        model = load_model(cfg.pretrained, act_type=act, models_dir=models_dir)
        if model.scale != cfg.scale:
            raise ConfigError(f"generator.scale is {cfg.scale} but {cfg.pretrained} is a ×{model.scale} model; "
                              f"set generator.scale = {model.scale}")
        if model.architecture != cfg.arch:
            raise ConfigError(f"generator.arch is {cfg.arch!r} but {cfg.pretrained} is {model.architecture!r}; "
                              f"set generator.arch = {model.architecture!r}")
        module = model.module
    elif cfg.arch == "RRDBNet":
        module = RRDBNet(3, 3, scale=cfg.scale, num_feat=cfg.num_feat, num_block=cfg.num_block,
                         num_grow_ch=cfg.num_grow_ch)
    else:
        module = SRVGGNetCompact(3, 3, num_feat=cfg.num_feat, num_conv=cfg.num_conv, upscale=cfg.scale,
                                 act_type=cfg.act_type)
    for p in module.parameters():
        p.requires_grad_(True)
    return module.train()


class EMA:
    """Exponential moving average of the generator's parameters (buffers are copied as they are).

    It starts as a copy of the network, so fine-tuning averages from the pretrained weights.
    """

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
