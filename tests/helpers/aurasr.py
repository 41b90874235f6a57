"""A small random AuraSR UnetUpsampler in the official layout, and fal's own code for parity."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from ganpost.gan_models.aurasr import UnetUpsampler

# The released layout (five up stages, three down, attention at the two coarsest up levels and the
# middle), narrowed: 8 heads as released so the heads can be inferred; six blocks per stage as the
# official class hard-codes.
TINY = dict(dim=4, image_size=256, input_image_size=64,
            style_network={"dim_in": 16, "dim_out": 32, "depth": 2},
            self_attn_dim_head=4, self_attn_heads=8, attn_depths=(1, 1, 1, 1, 2), mid_attn_depth=1,
            skip_connect_scale=0.4)


# The AuraSR recipe's settings cut down for tests: its discriminator, and a CPU run on 64 px crops.
TINY_D = ["discriminator.dim_capacity=4", "discriminator.dim_max=16", "discriminator.multiscale_inputs=[32]",
          "discriminator.attn_resolutions=[8]", "discriminator.attn_heads=2", "discriminator.attn_dim_head=4",
          "discriminator.excite_skip=2", "discriminator.recon_resolution=8"]
TINY_RUN = ["data.gt_size=64", "data.batch_size=2", "losses.perceptual_weight=0", "run.device=cpu",
            "run.precision=fp32", "run.log_every=1", "run.save_every=2"]


def tiny_aurasr(**overrides) -> UnetUpsampler:
    net = UnetUpsampler(**{**TINY, **overrides})
    with torch.no_grad():  # zero biases and unit norms at init: exercise them all
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval().requires_grad_(False)


def save_tiny_aurasr(path: str | Path, seed: int = 0) -> Path:
    """A tiny AuraSR as the releases ship it: ``<stem>.safetensors`` and its config as ``<stem>.json``."""
    path = Path(path)
    torch.manual_seed(seed)
    net = tiny_aurasr()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps(TINY))
    return path


def official_aurasr_module():
    """fal's ``aura_sr`` module (PyPI aura-sr 0.0.4), imported under a torchvision stub."""
    import pytest

    pytest.importorskip("einops")
    from helpers.isolated_import import isolated_modules
    from helpers.torchvision_stub import install_torchvision_stub

    with isolated_modules("torchvision", "aura_sr"):
        install_torchvision_stub()
        return pytest.importorskip("aura_sr")
