"""ganpost.translate: any size kept, image kinds in and out, test-time modes, tiling, directions, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers.models import natural_image, tiny_compact
from ganpost import translate
from ganpost.gan_models.contract import AtInference
from ganpost.gan_models.errors import CancelledError, InvalidOptionError
from ganpost.gan_models.loader import describe_state_dict
from ganpost.gan_models.pix2pix import NLayerDiscriminator, ResnetGenerator, UnetGenerator
from ganpost.runtime.imaging.resize import resize
from helpers.pix2pix import randomised
from helpers.tolerance import assert_close_to_scale


def _resnet(**options):
    hp = dict(num_feat=4, num_blocks=1) | options
    return describe_state_dict(randomised(ResnetGenerator(**hp)).state_dict())


def _unet(**options):
    hp = dict(num_downs=6, num_feat=2, dropout=True) | options
    return describe_state_dict(randomised(UnetGenerator(**hp)).state_dict(), dropout=hp["dropout"])


def _network(model, x01, multiple, train=False, seed=0):
    """The network on the reflect-padded ``1×C×H×W`` image in [0, 1], cropped back: what we promise."""
    h, w = x01.shape[-2:]
    x = F.pad(x01 * 2 - 1, (0, -w % multiple, 0, -h % multiple), mode="reflect")
    net = model.module.train(train)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = net(x)[..., :h, :w]
    model.module.eval()
    return ((out + 1) / 2).clamp(0, 1)


# --- sizes, kinds, channels ------------------------------------------------------------------

def test_any_size_is_kept_and_equals_the_network_on_the_padded_image():
    model = _resnet()
    x = torch.rand(3, 37, 45)
    out = translate(x, model, precision="fp32")
    assert out.shape == x.shape
    assert_close_to_scale(out, _network(model, x[None], 4)[0])


def test_image_kinds_modes_and_alpha_come_back_as_given():
    model = _resnet()
    alpha = np.linspace(0, 255, 30 * 22).reshape(30, 22).astype(np.uint8)
    out = translate(Image.fromarray(np.dstack([natural_image(30, 22), alpha]), "RGBA"), model)
    assert out.mode == "RGBA" and out.size == (22, 30)
    assert np.array_equal(np.asarray(out)[..., 3], alpha)  # alpha kept exactly
    grey = translate(natural_image(17, 19)[..., 0], model)
    assert grey.shape == (17, 19) and grey.dtype == np.uint8
    assert translate(torch.rand(2, 3, 12, 16), model).shape == (2, 3, 12, 16)
    pair = translate([Image.fromarray(natural_image(8, 8)), Image.fromarray(natural_image(9, 5))], model)
    assert [im.size for im in pair] == [(8, 8), (5, 9)]


def test_a_grey_model_reads_the_luma_and_the_output_follows_the_input():
    model = _resnet(in_channels=1, out_channels=1)
    colour = torch.rand(3, 16, 20)
    out = translate(colour, model, precision="fp32")
    assert out.shape == (3, 16, 20) and torch.equal(out[0], out[1])  # colour in, RGB out (grey content)
    luma = (colour * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    assert_close_to_scale(out[:1], _network(model, luma[None], 4)[0])
    assert translate(Image.fromarray(natural_image(16, 20)).convert("L"), model).mode == "L"


def test_resize_mode_runs_at_the_training_size_and_gives_the_input_size_back():
    model = _unet()
    x = torch.rand(3, 50, 70)
    out = translate(x, model, size_mode="resize", train_size=64, test_time="eval", precision="fp32")
    assert out.shape == (3, 50, 70)
    expected = resize(_network(model, resize(x, 64, 64)[None], 64)[0], 50, 70)
    assert_close_to_scale(out, expected)


def test_a_unet_keeps_images_smaller_than_its_native_window():
    model = _unet()  # native window 64 px
    out = translate(torch.rand(3, 20, 33), model, test_time="eval")
    assert out.shape == (3, 20, 33) and torch.isfinite(out).all()


# --- test-time behaviour ---------------------------------------------------------------------

def test_as_trained_is_the_default_for_batch_norm_and_reproduces_the_official_train_mode_run():
    model = _unet(norm="batch", dropout=False)
    assert model.contract.test_time == AtInference.AS_TRAINED
    x = torch.rand(3, 64, 64)
    as_trained = translate(x, model, precision="fp32")
    assert_close_to_scale(as_trained, _network(model, x[None], 64, train=True)[0])  # the image's statistics
    evaluated = translate(x, model, precision="fp32", test_time="eval")
    assert_close_to_scale(evaluated, _network(model, x[None], 64)[0])  # running statistics
    assert (evaluated - as_trained).abs().max() > 1e-3
    # each mode has its own working copy: the as-trained run's statistics updates never reach eval
    assert torch.equal(evaluated, translate(x, model, precision="fp32", test_time="eval"))


def test_dropout_is_seeded_so_results_can_be_reproduced():
    model = _unet(norm="batch", dropout=True)
    x = torch.rand(3, 64, 64)
    first = translate(x, model, precision="fp32", seed=3)
    assert torch.equal(first, translate(x, model, precision="fp32", seed=3))
    assert not torch.equal(first, translate(x, model, precision="fp32", seed=4))
    assert not torch.equal(first, translate(x, model, precision="fp32", seed=3, test_time="eval"))


def test_test_time_is_checked():
    with pytest.raises(InvalidOptionError, match="test_time"):
        translate(torch.rand(3, 8, 8), _resnet(), test_time="train")


def test_instance_norm_generators_run_in_nchw_the_others_in_nhwc():
    # Instance norm has no NHWC kernel; the runner's layout copies around it cost more than NHWC saves.
    assert not _resnet(norm="instance").contract.channels_last
    assert not _unet(norm="instance").contract.channels_last
    assert _resnet(norm="batch").contract.channels_last and _unet(norm="batch").contract.channels_last
    model = _resnet(norm="instance", affine=True)
    x = torch.rand(3, 20, 28)
    assert_close_to_scale(translate(x, model, precision="fp32"), _network(model, x[None], 4)[0])


# --- tiling ----------------------------------------------------------------------------------

def test_resnet_tiles_are_exact_without_image_statistics():
    model = _resnet(norm="none", num_blocks=2)
    assert model.contract.tiling.exact
    x = torch.rand(3, 70, 93)
    whole = translate(x, model, precision="fp32", tile=0)
    tiled = translate(x, model, precision="fp32", tile=32)
    assert_close_to_scale(tiled, whole)


def test_unet_tiles_are_native_windows_blended():
    model = _unet(norm="none")
    x = torch.rand(3, 100, 150)
    seen = []
    tiled = translate(x, model, precision="fp32", tile=40, test_time="eval",
                      progress=lambda done, total: seen.append((done, total)))
    assert tiled.shape == x.shape and torch.isfinite(tiled).all()
    assert seen[-1][0] == seen[-1][1] > 1


def test_progress_counts_the_windows_of_the_whole_list():
    seen = []
    translate([torch.rand(3, 20, 24), torch.rand(3, 30, 18)], _resnet(), progress=lambda *p: seen.append(p))
    assert seen == [(1, 2), (2, 2)]  # each image fits: one pass each


def test_cancel_stops_between_tiles():
    with pytest.raises(CancelledError):
        translate(torch.rand(3, 80, 80), _resnet(), tile=32, cancel=lambda: True)


# --- CycleGAN directions ---------------------------------------------------------------------

def test_direction_picks_the_generator_of_a_pair():
    g_a, g_b = _resnet(), _resnet()
    x = torch.rand(3, 16, 16)
    assert torch.equal(translate(x, g_a, model_b=g_b), translate(x, g_a))
    assert torch.equal(translate(x, g_a, model_b=g_b, direction="BtoA"), translate(x, g_b))
    with pytest.raises(InvalidOptionError, match="model_b"):
        translate(x, g_a, direction="BtoA")
    with pytest.raises(InvalidOptionError, match="direction"):
        translate(x, g_a, direction="A2B")


# --- bad input -------------------------------------------------------------------------------

def test_a_discriminator_or_an_upscaler_is_refused_with_the_fix():
    disc = describe_state_dict(randomised(NLayerDiscriminator(3, 4, 2, "batch")).state_dict())
    with pytest.raises(InvalidOptionError, match="discriminator.*generator file"):
        translate(torch.rand(3, 16, 16), disc)
    upscaler = describe_state_dict(tiny_compact().state_dict())
    with pytest.raises(InvalidOptionError, match="ganpost.upscale"):
        translate(torch.rand(3, 16, 16), upscaler)
    with pytest.raises(InvalidOptionError, match="model_b"):
        translate(torch.rand(3, 16, 16), _resnet(), model_b=disc)


def test_bad_options_are_refused():
    model = _resnet()
    with pytest.raises(InvalidOptionError, match="size_mode"):
        translate(torch.rand(3, 8, 8), model, size_mode="crop")
    with pytest.raises(InvalidOptionError, match="train_size"):
        translate(torch.rand(3, 8, 8), model, train_size=256)
    with pytest.raises(InvalidOptionError, match="train_size"):
        translate(torch.rand(3, 8, 8), model, size_mode="resize", train_size=0)
