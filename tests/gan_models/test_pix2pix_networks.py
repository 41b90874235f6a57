"""pix2pix/CycleGAN networks: official layouts and sizes, every option read back from the tensors."""

import pytest
import torch

from helpers.models import shared_weight
from ganpost import load_model
from ganpost.gan_models.contract import AtInference, Task
from ganpost.gan_models.errors import UnsupportedModelError
from ganpost.gan_models.loader import describe_state_dict
from ganpost.gan_models.pix2pix import (NLayerDiscriminator, PixelDiscriminator, ResnetGenerator, UnetGenerator,
                                        build_resnet, build_unet, init_weights)
from ganpost.gan_models.pix2pix.resnet import receptive_radius
from helpers.pix2pix import randomised


def _params(module):
    return sum(p.numel() for p in module.parameters())


# --- sizes the official code has (architectures.md, verified) ---------------------------------

def test_official_sizes():
    unet_256 = build_unet(init=False)
    assert (_params(unet_256), len(unet_256.state_dict())) == (54_413_955, 82)
    assert _params(build_unet(num_downs=7, init=False)) == 41_828_995
    resnet_9 = build_resnet(init=False)
    assert (_params(resnet_9), len(resnet_9.state_dict())) == (11_378_179, 48)
    assert _params(build_resnet(num_blocks=6, init=False)) == 7_837_699
    assert _params(NLayerDiscriminator(6, 64, 3, "batch")) == 2_768_705


def test_official_key_names():
    unet = build_unet(num_downs=6, num_feat=4, init=False).state_dict()
    assert "model.model.0.weight" in unet and "model.model.0.bias" not in unet  # batch norm: no bias
    assert "model.model.1.model.3.model.3.model.2.running_mean" in unet
    assert "model.model.3.bias" in unet  # the outermost transposed conv always has one
    plain = build_resnet(num_blocks=2, num_feat=4, init=False).state_dict()
    assert {k for k in plain if "conv_block" in k} == {f"model.{b}.conv_block.{i}.{p}" for b in (10, 11)
                                                       for i in (1, 5) for p in ("weight", "bias")}
    dropout = build_resnet(num_blocks=2, num_feat=4, dropout=True, init=False).state_dict()
    assert "model.10.conv_block.6.weight" in dropout and "model.10.conv_block.5.weight" not in dropout
    assert {"model.19.weight", "model.19.bias"} <= set(plain)  # 10 + 2 blocks + (convT, norm, relu) ×2 + pad
    assert set(PixelDiscriminator(3, 8, "batch").state_dict()) >= {"net.0.bias", "net.3.running_mean", "net.5.weight"}


# --- reading the options back from a file ----------------------------------------------------

RESNET_CASES = [
    dict(in_channels=3, out_channels=3, num_feat=8, num_blocks=3, norm="instance", affine=False, dropout=False),
    dict(in_channels=1, out_channels=3, num_feat=4, num_blocks=2, norm="instance", affine=True, dropout=True),
    dict(in_channels=3, out_channels=1, num_feat=4, num_blocks=1, norm="batch", affine=True, dropout=False),
    dict(in_channels=3, out_channels=3, num_feat=4, num_blocks=2, norm="none", affine=False, dropout=True),
]
UNET_CASES = [
    dict(in_channels=3, out_channels=3, num_downs=5, num_feat=4, norm="batch", affine=True, dropout=True),
    dict(in_channels=1, out_channels=3, num_downs=6, num_feat=2, norm="instance", affine=False, dropout=True),
    dict(in_channels=3, out_channels=1, num_downs=5, num_feat=2, norm="instance", affine=True, dropout=True),
    dict(in_channels=3, out_channels=3, num_downs=7, num_feat=2, norm="none", affine=False, dropout=True),
]


@pytest.mark.parametrize("hp", RESNET_CASES)
def test_resnet_options_read_from_tensors(hp):
    net = randomised(ResnetGenerator(**hp))
    model = describe_state_dict(net.state_dict())
    assert model.architecture == "ResnetGenerator" and model.hyperparameters == hp
    x = torch.rand(1, hp["in_channels"], 20, 24) * 2 - 1
    assert torch.equal(model.module(x), net(x))
    assert model.contract.task == Task.TRANSLATE and model.size_multiple == 4
    assert (model.in_channels, model.out_channels) == (hp["in_channels"], hp["out_channels"])


@pytest.mark.parametrize("hp", UNET_CASES)
def test_unet_options_read_from_tensors(hp):
    net = randomised(UnetGenerator(**hp))
    model = describe_state_dict(net.state_dict())
    assert model.architecture == "UnetGenerator" and model.hyperparameters == hp
    x = torch.rand(1, hp["in_channels"], 2 ** hp["num_downs"], 2 ** hp["num_downs"]) * 2 - 1
    assert torch.equal(model.module(x), net(x))
    assert model.size_multiple == 2 ** hp["num_downs"]


def test_unet_dropout_is_an_option_because_the_file_cannot_tell():
    sd = randomised(UnetGenerator(num_downs=6, num_feat=2)).state_dict()  # dropout in num_downs - 5 levels
    with_dropout = describe_state_dict(sd)
    without = describe_state_dict(sd, dropout=False)
    assert with_dropout.hyperparameters["dropout"] and not without.hyperparameters["dropout"]
    assert any(isinstance(m, torch.nn.Dropout) for m in with_dropout.module.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in without.module.modules())
    with pytest.raises(Exception, match="dropout"):
        describe_state_dict(randomised(ResnetGenerator(num_feat=4, num_blocks=1)).state_dict(), dropout=True)


def test_module_prefix_and_old_instance_norm_buffers(tmp_path):
    net = randomised(ResnetGenerator(num_feat=4, num_blocks=2, norm="instance"))
    sd = dict(net.state_dict())
    for key in [k for k in sd if k.endswith("conv_block.1.weight")] + ["model.1.weight"]:
        norm = key.replace("1.weight", "2.")
        sd.update({norm + "running_mean": torch.zeros(4 * (4 if "block" in key else 1)),
                   norm + "running_var": torch.ones(4 * (4 if "block" in key else 1)),
                   norm + "num_batches_tracked": torch.tensor(0)})
    path = tmp_path / "latest_net_G_A.pth"
    torch.save({f"module.{k}": v for k, v in sd.items()}, path)  # saved from DataParallel, pre-0.4 buffers
    model = load_model(path)
    assert model.hyperparameters["norm"] == "instance" and not model.hyperparameters["affine"]
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(model.module(x), net(x))


def test_detection_tells_the_pix2pix_networks_apart():
    found = {type(net).__name__: describe_state_dict(randomised(net).state_dict()).architecture for net in (
        ResnetGenerator(num_feat=4, num_blocks=1), UnetGenerator(num_downs=5, num_feat=2),
        NLayerDiscriminator(6, 4, 3, "batch"), NLayerDiscriminator(3, 4, 2, "none"),
        PixelDiscriminator(6, 4, "instance"))}
    assert found == {name: name for name in found}
    assert describe_state_dict(randomised(NLayerDiscriminator(3, 4, 2, "none")).state_dict()).hyperparameters[
        "norm"] == "none"


def test_a_too_shallow_unet_is_refused_with_a_reason():
    sd = randomised(UnetGenerator(num_downs=5, num_feat=2)).state_dict()
    shallow = {k: v for k, v in sd.items() if ".model.3.model.3.model.3." not in k}  # cut the innermost levels
    with pytest.raises(UnsupportedModelError, match="levels"):
        describe_state_dict(shallow)


# --- contracts -------------------------------------------------------------------------------

def test_test_time_defaults_reproduce_the_official_test_script():
    def test_time(net):
        return describe_state_dict(randomised(net).state_dict()).contract.test_time

    assert test_time(UnetGenerator(num_downs=5, num_feat=2, norm="batch")) == AtInference.AS_TRAINED
    assert test_time(ResnetGenerator(num_feat=4, num_blocks=1, norm="batch")) == AtInference.AS_TRAINED
    assert test_time(ResnetGenerator(num_feat=4, num_blocks=1, dropout=True)) == AtInference.AS_TRAINED
    # instance norm without dropout: train and eval mode give the same output, eval is the plain choice
    assert test_time(ResnetGenerator(num_feat=4, num_blocks=1)) == AtInference.EVAL


def test_resnet_receptive_radius_bounds_what_an_output_pixel_sees():
    net = randomised(ResnetGenerator(num_feat=4, num_blocks=2, norm="none"))
    reach = 0
    for p in range(48, 52):  # the four phases of the ×4 grid
        x = torch.rand(1, 3, 96, 96, requires_grad=True)
        net(x)[0, :, p, p].sum().backward()
        rows = torch.nonzero(x.grad.abs().sum((0, 1, 3)))
        reach = max(reach, p - rows.min().item(), rows.max().item() - p)
    assert reach == receptive_radius(2)


def test_init_weights_is_the_official_normal_init():
    net = build_unet(num_downs=5, num_feat=8)
    conv = net.model.model[0]
    assert abs(conv.weight.std().item() - 0.02) < 0.005 and conv.bias is None
    norm = net.model.model[1].model[2]
    assert abs(norm.weight.mean().item() - 1) < 0.01 and torch.equal(norm.bias, torch.zeros_like(norm.bias))
    fresh = ResnetGenerator(num_feat=8, num_blocks=1)
    init_weights(fresh)
    assert torch.equal(fresh.model[1].bias, torch.zeros(8))
    assert describe_state_dict(fresh.state_dict()).contract.init_weights is init_weights


# --- real weights ----------------------------------------------------------------------------

def test_real_cyclegan_generator_loads_strictly():
    model = load_model(shared_weight("cyclegan_modern2vintage_net_G.pth"))
    assert model.architecture == "ResnetGenerator"
    assert model.hyperparameters == dict(in_channels=3, out_channels=3, num_feat=64, num_blocks=9,
                                         norm="instance", affine=True, dropout=False)
    norm_widths = [64, 128, 256] + [256] * 18 + [128, 64]
    assert model.param_count == 11_378_179 + 2 * sum(norm_widths)  # plus each affine instance norm's scale, shift
    assert model.contract.test_time == AtInference.EVAL
