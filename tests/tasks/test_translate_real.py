"""The real CycleGAN generator (modern → vintage photos) on a real photo; skipped without ../shared."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers.models import shared_weight
from ganpost import load_model, translate
from helpers.isolated_import import isolated_modules, load_file
from helpers.tolerance import assert_close_to_scale

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def vintage():
    return load_model(shared_weight("cyclegan_modern2vintage_net_G.pth"))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return skimage_data.astronaut()[40:169, 120:278].copy()  # 129 × 158: not a multiple of 4


def test_translates_a_real_photo_at_its_own_size(vintage, photo):
    out = np.asarray(translate(Image.fromarray(photo), vintage, precision="fp32")).astype(float)
    assert out.shape == photo.shape
    change = np.abs(out - photo).mean()
    assert 2 < change < 40  # a visible but gentle grade, not noise and not a copy
    # what the network gives on the reflect-padded photo, cropped back (±1 for 8-bit rounding)
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    with torch.no_grad():
        net = vintage.module(F.pad(x, (0, 2, 0, 3), mode="reflect"))[..., :129, :158]
    expected = ((net[0].permute(1, 2, 0) + 1) / 2 * 255).clamp(0, 255).round().numpy()
    assert np.abs(out - expected).max() <= 1


def test_bf16_stays_close_to_fp32(vintage, photo):
    x = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    fp32 = translate(x, vintage, precision="fp32")
    bf16 = translate(x, vintage, precision="bf16")
    assert (bf16 - fp32).abs().mean() * 255 < 0.5


def test_matches_vintagify_its_source_package(vintage, photo):
    spec = importlib.util.find_spec("vintagify")
    if spec is None:
        pytest.skip("vintagify not installed (pip install --no-deps vintagify==0.1.2)")
    folder = Path(spec.origin).parent
    with isolated_modules("vintagify"):  # its package __init__ imports torchvision: load the network file alone
        generator = load_file("vintagify.generator", str(folder / "generator.py"))
        reference = generator.ResnetGenerator().eval()
    reference.load_state_dict(torch.load(folder / "resources" / "G_A2B_epoch33.pth", map_location="cpu",
                                         weights_only=True))
    x = torch.from_numpy(photo[:128, :156]).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        expected = ((reference(x[None] * 2 - 1)[0] + 1) / 2).clamp(0, 1)
    assert_close_to_scale(translate(x, vintage, precision="fp32"), expected)
