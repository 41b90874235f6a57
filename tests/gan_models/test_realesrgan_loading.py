"""Loading: round trips, official key names, legacy layouts, hyper-parameter inference."""

import pytest
import torch

from helpers.models import save_official, tiny_compact, tiny_rrdbnet
from helpers.realesrgan_layouts import to_bsrgan, to_legacy_esrgan
from ganpost import load_model
from ganpost.gan_models import UnsupportedModelError, describe_state_dict
from ganpost.gan_models.realesrgan import RRDBNet, SRVGGNetCompact
from ganpost.gan_models.checkpoint_io import save_state_dict


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_round_trip_all_scales(tmp_path, scale):
    net = tiny_rrdbnet(scale=scale, num_block=3, num_feat=12, num_grow_ch=6)
    model = load_model(save_official(net, tmp_path / "m.pth"))
    assert model.architecture == "RRDBNet" and model.scale == scale
    assert model.hyperparameters == dict(num_in_ch=3, num_out_ch=3, scale=scale, num_feat=12, num_block=3, num_grow_ch=6)
    assert model.size_multiple == {4: 1, 2: 2, 1: 4}[scale]
    x = torch.rand(1, 3, 8, 12)
    assert torch.equal(model.module(x), net(x))


@pytest.mark.parametrize("act", ["prelu", "relu", "leakyrelu"])
def test_compact_round_trip(tmp_path, act):
    net = tiny_compact(scale=3, num_conv=5, num_feat=10, act_type=act)
    path = save_official(net, tmp_path / "c.pth", key="params")
    model = load_model(path, act_type=None if act == "prelu" else act)
    assert model.hyperparameters == dict(num_in_ch=3, num_out_ch=3, num_feat=10, num_conv=5, upscale=3, act_type=act)
    x = torch.rand(1, 3, 9, 7)
    assert torch.equal(model.module(x), net(x))


def test_compact_without_prelu_asks_for_activation(tmp_path):
    path = save_official(tiny_compact(act_type="relu"), tmp_path / "c.pth")
    with pytest.raises(UnsupportedModelError, match="act_type"):
        load_model(path)


def test_official_key_names_are_strict():
    keys = set(RRDBNet(num_block=1).state_dict())
    assert {"conv_first.weight", "body.0.rdb1.conv1.weight", "body.0.rdb3.conv5.bias", "conv_body.weight",
            "conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"} <= keys
    compact = set(SRVGGNetCompact(num_conv=16).state_dict())
    assert "body.34.weight" in compact and "body.1.weight" in compact and "body.35.weight" not in compact


@pytest.mark.parametrize("kwargs, expected", [
    (dict(scale=4, num_block=23), 16_697_987),
    (dict(scale=2, num_block=23), 16_703_171),
    (dict(scale=1, num_block=23), 16_723_907),
    (dict(scale=4, num_block=6), 4_467_779),
])
def test_official_rrdbnet_parameter_counts(kwargs, expected):
    assert sum(p.numel() for p in RRDBNet(**kwargs).parameters()) == expected


def test_official_compact_parameter_counts():
    assert sum(p.numel() for p in SRVGGNetCompact(num_conv=16).parameters()) == 621_424
    assert sum(p.numel() for p in SRVGGNetCompact(num_conv=32).parameters()) == 1_213_296


@pytest.mark.parametrize("convert", [to_legacy_esrgan, to_bsrgan])
def test_legacy_layouts_load_as_official(tmp_path, convert):
    net = tiny_rrdbnet()
    torch.save(convert(net.state_dict()), tmp_path / "legacy.pth")
    model = load_model(tmp_path / "legacy.pth")
    assert set(model.module.state_dict()) == set(net.state_dict())
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(model.module(x), net(x))


def test_legacy_x2_unshuffle_layout(tmp_path):
    net = tiny_rrdbnet(scale=2)
    torch.save(to_legacy_esrgan(net.state_dict()), tmp_path / "legacy2.pth")
    assert load_model(tmp_path / "legacy2.pth").scale == 2


def test_wrappers_and_module_prefix(tmp_path):
    net = tiny_compact()
    ema = {f"module.{k}": v for k, v in net.state_dict().items()}
    other = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    torch.save({"params": other, "params_ema": ema}, tmp_path / "w.pth")
    model = load_model(tmp_path / "w.pth")
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(model.module(x), net(x)), "params_ema must win over params"
    torch.save({"state_dict": net.state_dict()}, tmp_path / "s.pth")
    assert torch.equal(load_model(tmp_path / "s.pth").module(x), net(x))


def test_safetensors_round_trip(tmp_path):
    net = tiny_rrdbnet(scale=2)
    path = save_state_dict(tmp_path / "m.safetensors", {"params_ema": net.state_dict()})
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(load_model(path).module(x), net(x))


def test_pth_save_keeps_official_wrappers(tmp_path):
    net = tiny_rrdbnet()
    path = save_state_dict(tmp_path / "g.pth", {"params": net.state_dict(), "params_ema": net.state_dict()})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"params", "params_ema"} and "conv_first.weight" in raw["params_ema"]


def test_denoise_strength_interpolates_with_companion(tmp_path):
    strong, weak = tiny_compact(num_conv=2), tiny_compact(num_conv=2)
    save_official(strong, tmp_path / "realesr-general-x4v3.pth", key="params")
    save_official(weak, tmp_path / "realesr-general-wdn-x4v3.pth", key="params")
    model = load_model(tmp_path / "realesr-general-x4v3.pth", denoise_strength=0.3, download=False)
    for name, value in model.module.state_dict().items():
        expected = 0.3 * strong.state_dict()[name] + 0.7 * weak.state_dict()[name]
        torch.testing.assert_close(value, expected)


def test_descriptor_fields(tmp_path):
    model = describe_state_dict(tiny_rrdbnet().state_dict())
    assert model.task == "upscale" and model.input_range == (0.0, 1.0)
    assert model.fp16_safe and model.bf16_safe and model.param_count > 0
    with pytest.raises(Exception):
        model.scale = 2  # frozen
