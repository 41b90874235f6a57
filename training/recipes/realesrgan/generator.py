"""The generator to train: an official checkpoint loaded through our loader, or a fresh network.

Architectures come from the registry's ``realesrgan`` family; nothing here lists them.
"""

from __future__ import annotations

import inspect

from torch import nn

from ....gan_models import registry
from ....gan_models.loader import load_model
from ...config_schema import ConfigError
from ...engine.networks import fresh_network, trainable

FAMILY = "realesrgan"


def check_generator(cfg) -> None:
    """``generator.arch`` is a Real-ESRGAN architecture and ``generator.scale`` one it can build."""
    known = registry.architectures(FAMILY)
    if cfg.arch not in known:
        raise ConfigError(f"generator.arch: {cfg.arch!r} is not allowed. Allowed values: "
                          f"{', '.join(map(repr, known))}")
    allowed = [s for s in (1, 2, 3, 4, 8) if _buildable(cfg, s)]
    if cfg.scale not in allowed:
        raise ConfigError(f"generator.scale: {cfg.scale} is not allowed for {cfg.arch}. "
                          f"Allowed values: {', '.join(map(str, allowed))}")


def _buildable(cfg, scale: int) -> bool:
    entry = registry.entry_for(cfg.arch)
    try:
        entry.contract(fresh_hyperparameters(cfg, scale))  # the contract knows the scales the layout has
    except (KeyError, ValueError):
        return False
    return True


def fresh_hyperparameters(cfg, scale: int | None = None) -> dict:
    """Constructor arguments from the generator section: those this architecture's constructor takes.

    The section holds the shape fields of every Real-ESRGAN network; each takes its own subset
    (the compact net calls the scale ``upscale``).
    """
    scale = cfg.scale if scale is None else scale
    offered = {"num_in_ch": 3, "num_out_ch": 3, "scale": scale, "upscale": scale, "num_feat": cfg.num_feat,
               "num_block": cfg.num_block, "num_grow_ch": cfg.num_grow_ch, "num_conv": cfg.num_conv,
               "act_type": cfg.act_type}
    accepted = inspect.signature(registry.entry_for(cfg.arch).create).parameters
    return {k: v for k, v in offered.items() if k in accepted}


def build_generator(cfg, models_dir=None, initial: nn.Module | None = None) -> nn.Module:
    """A trainable generator with the official parameter names (so what we save loads everywhere).

    ``initial`` (an already loaded network) is deep-copied, so the caller's model stays untouched.
    """
    if initial is not None:
        module = trainable(initial)
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
    else:
        module = fresh_network(cfg.arch, fresh_hyperparameters(cfg))
    for p in module.parameters():
        p.requires_grad_(True)
    return module.train()
