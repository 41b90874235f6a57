"""Tiny random models in the official file layouts, images the tests make, and the real weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganpost.gan_models.realesrgan import RRDBNet, SRVGGNetCompact

SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


def tiny_rrdbnet(scale: int = 4, num_block: int = 2, num_feat: int = 8, num_grow_ch: int = 4) -> RRDBNet:
    return _randomise(RRDBNet(3, 3, scale=scale, num_feat=num_feat, num_block=num_block, num_grow_ch=num_grow_ch))


def tiny_compact(scale: int = 4, num_conv: int = 3, num_feat: int = 8, act_type: str = "prelu") -> SRVGGNetCompact:
    return _randomise(SRVGGNetCompact(3, 3, num_feat=num_feat, num_conv=num_conv, upscale=scale, act_type=act_type))


def _randomise(module):
    # Default inits give near-zero residuals; random PReLU slopes and biases exercise every parameter.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return module.eval()


def save_official(module, path: Path, key: str = "params_ema") -> Path:
    torch.save({key: module.state_dict()}, path)
    return path


def natural_image(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """A crop of a real photo (scikit-image's astronaut) when available, else smooth random texture."""
    try:
        from skimage import data

        photo = data.astronaut()
        rng = np.random.default_rng(seed)
        y, x = rng.integers(0, photo.shape[0] - height), rng.integers(0, photo.shape[1] - width)
        return photo[y: y + height, x: x + width].copy()
    except ImportError:
        rng = np.random.default_rng(seed)
        small = rng.random((height // 8 + 1, width // 8 + 1, 3))
        return (np.kron(small, np.ones((8, 8, 1)))[:height, :width] * 255).astype(np.uint8)


def shared_weight(name: str) -> Path:
    path = SHARED_WEIGHTS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (real-weight checks need ../shared/weights)")
    return path


class FakeSpandrelDescriptor:
    """A spandrel-shaped descriptor with the awkward parts: a tuple output, a square-only network."""

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x):
            assert x.shape[-1] == x.shape[-2] and x.shape[-1] % 4 == 0
            return F.pixel_shuffle(self.conv(x), 2), "extra"

    def __init__(self, purpose="SR"):
        self.model = self.Network().eval()
        self.scale, self.input_channels, self.output_channels, self.purpose = 2, 3, 3, purpose
        self.size_requirements = type("Req", (), {"minimum": 8, "multiple_of": 4, "square": True})()
        self.supports_half = self.supports_bfloat16 = False
        self.architecture = type("Arch", (), {"name": "Toy", "id": "Toy"})()
        self._call_fn = lambda model, x: model(x)[0]
