"""Discriminators, the VGG19 feature network and the losses."""

from __future__ import annotations

import hashlib
import http.server
import math
import threading

import pytest
import torch
from helpers.tolerance import assert_close_to_scale

from ganpost.gan_models.errors import DownloadError, ModelFileError, ModelNotFoundError, UnsupportedModelError
from ganpost.gan_models.pix2pix import NLayerDiscriminator
from ganpost.gan_models.realesrgan import UNetDiscriminatorSN
from ganpost.training.components.discriminators import load_discriminator, save_discriminator
from ganpost.training.components.losses import GANLoss, PerceptualLoss, PixelLoss
from ganpost.training.components.vgg import VGG19Features, load_vgg19_features, resolve_vgg19_weights


def test_unet_discriminator_has_the_official_layout():
    d = UNetDiscriminatorSN()
    sd = d.state_dict()
    assert len(sd) == 28 and sum(p.numel() for p in d.parameters()) == 4_376_897
    assert {"conv1.weight_orig", "conv1.weight_u", "conv1.weight_v", "conv0.bias", "conv9.bias"} <= set(sd)
    assert d(torch.rand(2, 3, 32, 40)).shape == (2, 1, 32, 40)


def test_unet_discriminator_matches_basicsr(tmp_path):
    from reference import basicsr_discriminator

    theirs_cls = basicsr_discriminator()
    ours = UNetDiscriminatorSN(3, 16).eval()
    theirs = theirs_cls(3, 16, skip_connection=True).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert_close_to_scale(ours(x), theirs(x))


def test_discriminators_round_trip_through_files(tmp_path):
    for network in (UNetDiscriminatorSN(3, 8).eval(), NLayerDiscriminator(6, 8, 3, "batch").eval(),
                    NLayerDiscriminator(3, 8, 2, "instance").eval()):
        path = save_discriminator(tmp_path / f"{type(network).__name__}.pth", network)
        assert set(torch.load(path, weights_only=True)) == {"params"}
        loaded = load_discriminator(path).eval()
        x = torch.rand(1, network.state_dict()[next(iter(network.state_dict()))].shape[1], 64, 64)
        with torch.no_grad():
            assert torch.equal(network(x), loaded(x))


def test_discriminator_safetensors_file_is_flat(tmp_path):
    from safetensors.torch import load_file

    network = NLayerDiscriminator(3, 8, 2, "batch").eval()
    path = save_discriminator(tmp_path / "d.safetensors", network)
    assert set(load_file(str(path))) == set(network.state_dict())  # no 'params.' prefix: safetensors is flat
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(network(x), load_discriminator(path).eval()(x))


def test_patchgan_shapes_and_sizes():
    assert sum(p.numel() for p in NLayerDiscriminator(6, 64, 3, "batch").parameters()) == 2_768_705
    assert NLayerDiscriminator(3, 4, 3, "instance")(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_unknown_discriminator_file_is_refused(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"params": {"foo.weight": torch.zeros(3)}}, path)
    with pytest.raises(UnsupportedModelError, match="1 tensors .*foo.weight"):
        load_discriminator(path)


@pytest.fixture(scope="module")
def random_vgg(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    state = VGG19Features().state_dict()
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision's file has these; they are ignored
    torch.save(state, path)
    return path


def test_vgg_features_load_and_read_before_relu(random_vgg):
    vgg = load_vgg19_features(random_vgg)
    assert not any(p.requires_grad for p in vgg.parameters())
    layers = ["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"]
    out = vgg(torch.rand(1, 3, 64, 64), layers)
    assert [out[k].shape[1] for k in layers] == [64, 128, 256, 512, 512]
    assert [out[k].shape[-1] for k in layers] == [64, 32, 16, 8, 4]
    assert (out["conv1_2"] < 0).any()  # pre-activation
    with pytest.raises(ValueError, match="unknown VGG19 layer 'conv9_9'"):
        vgg(torch.rand(1, 3, 8, 8), ["conv9_9"])


def test_vgg_file_without_features_is_refused(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"classifier.0.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelFileError, match="not torchvision's VGG19 weights .*features.0.bias"):
        load_vgg19_features(path)


def test_perceptual_loss(random_vgg):
    loss = PerceptualLoss(load_vgg19_features(random_vgg), style_weight=1.0)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    percep, style = loss(a, a.clone())
    assert percep.item() == 0 and style.item() == 0
    a.requires_grad_(True)
    percep, style = loss(a, b)
    assert percep.item() > 0 and style.item() > 0
    percep.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert PerceptualLoss(load_vgg19_features(random_vgg))(a, b)[1] is None


def test_gan_and_pixel_losses_have_the_textbook_values():
    zero = torch.zeros(4)
    assert math.isclose(GANLoss("vanilla")(zero, True, is_disc=True).item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(GANLoss("vanilla", weight=0.1)(zero, True).item(), 0.1 * math.log(2), rel_tol=1e-6)
    assert GANLoss("hinge")(torch.full((4,), 2.0), True, is_disc=True).item() == 0
    assert GANLoss("hinge")(torch.full((4,), 2.0), False, is_disc=True).item() == 3
    assert GANLoss("hinge", weight=2.0)(torch.full((4,), 2.0), True).item() == -4
    assert GANLoss("lsgan")(torch.full((4,), 0.5), False, is_disc=True).item() == 0.25
    assert math.isclose(GANLoss("wgan_softplus")(zero, False, is_disc=True).item(), math.log(2), rel_tol=1e-6)
    assert PixelLoss("l1", 2.0)(torch.ones(2), torch.zeros(2)).item() == 2
    with pytest.raises(ValueError, match="GAN loss must be one of"):
        GANLoss("wgan")


def test_a_random_vgg_is_the_same_every_time_and_leaves_the_runs_random_numbers_alone(caplog):
    from ganpost.training.components.vgg import perceptual_vgg19

    torch.manual_seed(3)
    expected_next = torch.rand(1)
    torch.manual_seed(3)
    first, second = perceptual_vgg19("random"), perceptual_vgg19("random")
    assert torch.equal(torch.rand(1), expected_next)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert sum("RANDOM VGG19" in r.getMessage() for r in caplog.records) == 2


def test_vgg_weights_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPOST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelNotFoundError, match="no such VGG19 weights file"):
        resolve_vgg19_weights(tmp_path / "missing.pth")
    with pytest.raises(ModelNotFoundError, match="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"):
        resolve_vgg19_weights(download=False)

    served = tmp_path / "served"
    served.mkdir()
    (served / "vgg19-dcbb9e9d.pth").write_bytes(b"definitely not vgg")
    assert not hashlib.sha256(b"definitely not vgg").hexdigest().startswith("dcbb9e9d")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("GANPOST_DOWNLOAD_BASE", f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(DownloadError, match="checksum mismatch"):
            resolve_vgg19_weights(models_dir=tmp_path / "models")
    finally:
        server.shutdown()
    assert not list((tmp_path / "models").iterdir())


def test_vgg_download_failure_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPOST_DOWNLOAD_BASE", "http://127.0.0.1:9")  # nothing listens
    with pytest.raises(DownloadError) as err:
        resolve_vgg19_weights(models_dir=tmp_path)
    assert f"put it at {tmp_path / 'vgg19-dcbb9e9d.pth'}," in str(err.value)
    assert "losses.perceptual_weight = 0" in str(err.value) and not list(tmp_path.iterdir())
