"""GPEN test pieces: tiny seeded FullGenerators (the stored parity references' configs) and, for the bench,
GPEN's own ``face_model/gpen_model.py`` loaded from a checkout given at run time (never committed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from ganpost.gan_models.gpen import FullGenerator

# The configs of tests/fixtures/gpen_parity.json: tiny, but every branch of the official code
# (concatenated and added encoder features, both channel multipliers, odd MLP depths).
PARITY_CONFIGS = {
    "concat16": dict(size=16, style_dim=16, n_mlp=2, channel_multiplier=2, narrow=1 / 32, isconcat=True),
    "add32": dict(size=32, style_dim=8, n_mlp=3, channel_multiplier=1, narrow=1 / 16, isconcat=False),
    "concat64": dict(size=64, style_dim=16, n_mlp=1, channel_multiplier=2, narrow=1 / 32, isconcat=True),
}
TINY = PARITY_CONFIGS["concat64"]


def tiny_gpen(seed: int = 0, **config) -> FullGenerator:
    """A FullGenerator with seeded weights: our init, then every tensor nudged (the noise weights and biases
    start at zero; nudged, every path counts)."""
    torch.manual_seed(seed)
    net = FullGenerator(**(config or TINY))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def parity_input(size: int, seed: int = 1, batch: int = 2) -> torch.Tensor:
    """Smooth random faces in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(batch, 3, max(size // 8, 2), max(size // 8, 2), generator=g)
    return torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False) * 2 - 1


def official_root() -> Path | None:
    """A GPEN checkout (``$GPEN_OFFICIAL``, default /tmp/gpen_official), or None when absent."""
    root = Path(os.environ.get("GPEN_OFFICIAL", "/tmp/gpen_official"))
    return root if (root / "face_model" / "gpen_model.py").is_file() else None


def official_gpen_model(root: Path):
    """GPEN's ``gpen_model`` module. Its ``op`` package compiles CUDA ops only where CUDA is available; on
    CPU it runs its own pure-PyTorch paths (``upfirdn2d_native``, leaky ReLU ×√2), which is what runs here."""
    path = str(root / "face_model")
    if path not in sys.path:
        sys.path.insert(0, path)
    import gpen_model  # noqa: PLC0415 (the official module, found on the path just added)

    return gpen_model
