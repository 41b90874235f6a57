"""Parity with the reference implementations on the same weights: spandrel and BasicSR itself."""

import pytest
import torch

from helpers.models import save_official, tiny_compact, tiny_rrdbnet
from ganpost import load_model
from reference import basicsr_rrdbnet, spandrel
from helpers.realesrgan_layouts import to_bsrgan, to_legacy_esrgan
from helpers.tolerance import assert_close_to_scale

def _spandrel_output(path, x):
    descriptor = spandrel().ModelLoader().load_from_file(str(path)).eval()
    with torch.no_grad():
        return descriptor.model(x)


def _ours(path, x):
    with torch.no_grad():
        return load_model(path).module(x)


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_matches_spandrel(tmp_path, scale):
    path = save_official(tiny_rrdbnet(scale=scale, num_block=3, num_feat=16, num_grow_ch=32), tmp_path / "m.pth")
    x = torch.rand(1, 3, 16, 20)
    assert_close_to_scale(_ours(path, x), _spandrel_output(path, x))


@pytest.mark.parametrize("convert", [to_legacy_esrgan, to_bsrgan])
def test_legacy_layouts_match_spandrel(tmp_path, convert):
    net = tiny_rrdbnet(num_block=2, num_feat=16, num_grow_ch=32)
    path = tmp_path / "legacy.pth"
    torch.save(convert(net.state_dict()), path)
    x = torch.rand(1, 3, 12, 12)
    assert_close_to_scale(_ours(path, x), _spandrel_output(path, x))


@pytest.mark.parametrize("num_conv, scale", [(4, 4), (6, 2)])
def test_compact_matches_spandrel(tmp_path, num_conv, scale):
    path = save_official(tiny_compact(scale=scale, num_conv=num_conv, num_feat=16), tmp_path / "c.pth", key="params")
    x = torch.rand(1, 3, 14, 10)
    assert_close_to_scale(_ours(path, x), _spandrel_output(path, x))


@pytest.mark.parametrize("scale, grow", [(4, 16), (2, 8), (1, 48)])
def test_rrdbnet_growth_channels_match_basicsr(tmp_path, scale, grow):
    """spandrel 0.4.2 assumes 32 growth channels; BasicSR's own class is the reference here."""
    reference = basicsr_rrdbnet()(3, 3, scale=scale, num_feat=16, num_block=2, num_grow_ch=grow).eval()
    path = save_official(reference, tmp_path / "g.pth")
    x = torch.rand(1, 3, 8, 12)
    with torch.no_grad():
        assert_close_to_scale(_ours(path, x), reference(x))
    assert load_model(path).hyperparameters["num_grow_ch"] == grow
