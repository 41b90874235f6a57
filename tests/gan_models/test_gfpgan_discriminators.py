"""GFPGAN's v1 training discriminators: the official key layouts load strict through the registry, and
outputs (and features) equal the official classes' on random weights."""

from __future__ import annotations

import pytest
import torch
from helpers.gfpgan import official_gfpgan_v1_archs
from helpers.tolerance import assert_close_to_scale

from ganpost.gan_models import load_model, registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.gfpgan import FacialComponentDiscriminator, StyleGAN2Discriminator


def _perturbed(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Biases start at zero: give every tensor a value so each one is checked."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return net.eval()


@pytest.fixture(scope="module")
def official():
    return official_gfpgan_v1_archs()


@pytest.mark.parametrize("shape", [dict(out_size=64, channel_multiplier=1, narrow=0.125),
                                   dict(out_size=32, channel_multiplier=2, narrow=0.0625)])
def test_stylegan2_discriminator_matches_the_official_class(official, shape):
    theirs = _perturbed(official["stylegan2"].StyleGAN2Discriminator(**shape), 0)
    ours = StyleGAN2Discriminator(**shape)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(4, 3, shape["out_size"], shape["out_size"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close_to_scale(ours(x), theirs(x))


def test_released_width_has_the_documented_keys_and_size(official):
    ours = StyleGAN2Discriminator(512, channel_multiplier=1)
    sd = ours.state_dict()
    assert len(sd) == 43
    assert sum(p.numel() for p in ours.parameters()) == 24_030_753
    assert sd["final_conv.0.weight"].shape == (512, 513, 3, 3)
    assert set(sd) == set(official["stylegan2"].StyleGAN2Discriminator(512, channel_multiplier=1).state_dict())
    component = FacialComponentDiscriminator()
    assert len(component.state_dict()) == 12
    assert sum(p.numel() for p in component.parameters()) == 1_110_785


def test_component_discriminator_matches_the_official_class_with_features(official):
    theirs = _perturbed(official["v1"].FacialComponentDiscriminator(), 2)
    ours = FacialComponentDiscriminator()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    eye = torch.randn(2, 3, 80, 80, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out, feats = ours(eye, return_feats=True)
        ref, ref_feats = theirs(eye, return_feats=True)
    assert out.shape == (2, 1, 20, 20)
    assert_close_to_scale(out, ref)
    for a, b in zip(feats, ref_feats, strict=True):
        assert_close_to_scale(a, b)


def test_both_load_strict_through_the_registry_from_official_payloads(tmp_path):
    d = _perturbed(StyleGAN2Discriminator(64, narrow=0.125), 4)
    c = _perturbed(FacialComponentDiscriminator(num_feat=8), 5)
    torch.save({"params": d.state_dict()}, tmp_path / "GFPGANv1_net_d.pth")
    torch.save({"params": c.state_dict()}, tmp_path / "GFPGANv1_net_d_left_eye.pth")
    model = load_model(tmp_path / "GFPGANv1_net_d.pth")
    assert model.architecture == "StyleGAN2Discriminator" and model.task == Task.DISCRIMINATOR.value
    assert model.hyperparameters["out_size"] == 64 and model.hyperparameters["narrow"] == 0.125
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.module(x), d(x))
    eye = load_model(tmp_path / "GFPGANv1_net_d_left_eye.pth")
    assert eye.architecture == "FacialComponentDiscriminator" and eye.hyperparameters == {"num_feat": 8}
    assert registry.detect(c.state_dict(), "x").architecture == "FacialComponentDiscriminator"


def test_arcface_matches_the_official_identity_network(official, tmp_path):
    from ganpost.gan_models.gfpgan.arcface import ResNetArcFace, load_arcface

    theirs = official["arcface"].ResNetArcFace("IRBlock", [2, 2, 2, 2], use_se=False)
    assert sum(p.numel() for p in theirs.parameters()) == 25_627_081
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():  # random statistics too: eval-mode batch norm must use them the same way
        for name, tensor in theirs.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(torch.rand(tensor.shape, generator=g) * 0.1 if "running_var" in name
                            else torch.randn(tensor.shape, generator=g) * 0.05)
    torch.save({"params": theirs.state_dict()}, tmp_path / "arcface_resnet18.pth")
    ours = load_arcface(tmp_path / "arcface_resnet18.pth")
    assert isinstance(ours, ResNetArcFace) and not any(p.requires_grad for p in ours.parameters())
    faces = torch.rand(2, 1, 128, 128, generator=g) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(ours(faces), theirs.eval()(faces), atol=1e-4, rtol=1e-4)
