"""The AuraSR recipe's networks: the generator to fine-tune (with the config that describes it) and
a fresh or continued discriminator."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from ....gan_models import registry
from ....gan_models.atomic import atomic_write
from ....gan_models.aurasr import GigaGANDiscriminator
from ....gan_models.aurasr.config import read_config
from ....gan_models.aurasr.unet_upsampler import Attend
from ....gan_models.loader import load_model
from ...components.discriminators import load_discriminator
from ...config_schema import ConfigError

ARCHITECTURE = "UnetUpsampler"
# The keyword arguments fal's UnetUpsampler takes: config.json holds only these, so the official
# AuraSR(config) builds from it (ours also takes block_count, which the release fixes at 6).
OFFICIAL_KEYS = ("dim", "image_size", "input_image_size", "init_dim", "out_dim", "style_network", "up_dim_mults",
                 "down_dim_mults", "channels", "resnet_block_groups", "full_attn", "flash_attn", "self_attn_dim_head",
                 "self_attn_heads", "attn_depths", "mid_attn_depth", "num_conv_kernels", "resize_mode",
                 "unconditional", "skip_connect_scale")
OFFICIAL_BLOCK_COUNT = 6


def require_aurasr(model, what: str) -> None:
    """Refuse anything but an AuraSR generator, naming ``what`` it came from and the fix."""
    found = getattr(model, "architecture", type(model).__name__)
    if found != ARCHITECTURE:
        raise ConfigError(f"{what} is a {found}, not AuraSR ({ARCHITECTURE}); give an AuraSR file "
                          "(e.g. AuraSR-v2.safetensors) or the name AuraSR-v2")


def build_generator(cfg, models_dir=None, initial=None) -> tuple[nn.Module, dict]:
    """A trainable UnetUpsampler (official parameter names) and its constructor arguments.

    ``initial`` is an already loaded AuraSR descriptor (ComfyUI); it is copied, never changed.
    """
    if initial is not None:
        require_aurasr(initial, "the model given to train")
        module, hp = initial.module, dict(initial.hyperparameters)
    elif cfg.pretrained:
        options = {"config": cfg.config} if cfg.config else {}
        model = load_model(cfg.pretrained, models_dir=models_dir, **options)
        require_aurasr(model, f"generator.pretrained: {cfg.pretrained}")
        module, hp = model.module, dict(model.hyperparameters)
    else:
        hp, _ = read_config(Path(cfg.config))
        module = registry.entry_for(ARCHITECTURE).create(**hp)
    module = copy.deepcopy(module).float()
    with torch.inference_mode(False), torch.no_grad():
        for tensor in module.parameters():  # loaded under inference_mode (ComfyUI): fresh tensors join autograd
            tensor.data = tensor.data.clone()
    module.requires_grad_(True)
    module.style_network.requires_grad_(cfg.train_style_network)
    for attend in (m for m in module.modules() if isinstance(m, Attend)):
        # Stored for strict loading, never read: it never gets a gradient, and DDP (which waits for a
        # gradient of every trainable parameter) would stop the second step. Adam skipped it anyway.
        attend.scale.requires_grad_(False)
    module.gradient_checkpointing = cfg.gradient_checkpointing
    return module.train(), hp


def official_config(hp: dict) -> dict:
    """The config.json for ``hp``: fal's keys only, with the release's sizes where ``hp`` omits them."""
    if hp.get("block_count", OFFICIAL_BLOCK_COUNT) != OFFICIAL_BLOCK_COUNT:
        raise ConfigError(f"generator: a network with {hp['block_count']} blocks per stage cannot be saved for fal's "
                          f"AuraSR class, which builds {OFFICIAL_BLOCK_COUNT}")
    config = {"image_size": 256, "input_image_size": 64, **{k: v for k, v in hp.items() if k in OFFICIAL_KEYS}}
    return json.loads(json.dumps(config))  # tuples → lists, as a JSON round trip gives them


def write_config(path: Path, hp: dict) -> Path:
    text = json.dumps(official_config(hp), indent=2)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def build_discriminator(cfg, gt_size: int, resuming: bool) -> nn.Module:
    if cfg.pretrained and not resuming:
        network = load_discriminator(cfg.pretrained)
        if not isinstance(network, GigaGANDiscriminator) or network.image_size != gt_size:
            raise ConfigError(f"discriminator.pretrained: {cfg.pretrained} is not an AuraSR run's discriminator for "
                              f"{gt_size}² crops (data.gt_size); start a fresh one (leave it unset)")
        return network.train()
    return GigaGANDiscriminator(
        gt_size, dim_capacity=cfg.dim_capacity, dim_max=cfg.dim_max, multiscale_inputs=cfg.multiscale_inputs,
        multiscale_output_skip=cfg.multiscale_output_skip, attn_resolutions=cfg.attn_resolutions,
        attn_heads=cfg.attn_heads, attn_dim_head=cfg.attn_dim_head, excite_skip=cfg.excite_skip,
        recon_resolution=cfg.recon_resolution).train()
