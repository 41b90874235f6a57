"""AuraSR against fal's own code (PyPI ``aura-sr`` 0.0.4, with einops; skipped when absent): the same
state dict loads strictly both ways and, given the same noise, the forwards agree in fp32."""

from __future__ import annotations

import pytest
import torch
from helpers.aurasr import TINY, official_aurasr_module, tiny_aurasr
from helpers.tolerance import assert_close_to_scale

from ganpost.gan_models.aurasr import UnetUpsampler


@pytest.fixture(scope="module")
def official():
    return official_aurasr_module()


def test_the_state_dict_loads_strictly_both_ways(official):
    theirs = official.UnetUpsampler(**TINY)
    ours = UnetUpsampler(**TINY)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    official.UnetUpsampler(**TINY).load_state_dict(tiny_aurasr().state_dict(), strict=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_forward_equals_the_official_one_with_the_same_noise(official):
    ours = tiny_aurasr()
    theirs = official.UnetUpsampler(**TINY).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        # A generator seeded like torch's global one: both noises drawn in the official order.
        torch.manual_seed(7)
        expected = theirs(x)
        got = ours(x, generator=torch.Generator().manual_seed(7))
        assert_close_to_scale(got, expected)
        # Both noise sources given explicitly: the official input noise is its first global draw.
        input_noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(11))
        style_noise = torch.randn(2, TINY["style_network"]["dim_in"])
        torch.manual_seed(11)
        expected = theirs(x, noise=style_noise)
        got = ours(x, noise=input_noise, style_noise=style_noise)
        assert_close_to_scale(got, expected)
        assert expected.abs().mean() > 1e-3  # a real signal, not two zero images
        # A one-item window with a seed is the official call after torch.manual_seed(seed).
        torch.manual_seed(3)
        expected = theirs(x[:1])
        assert_close_to_scale(ours(x[:1], seed=3), expected)
