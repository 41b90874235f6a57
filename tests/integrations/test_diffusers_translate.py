"""diffusers: translating pipeline outputs, the generators as ModelMixin wrappers, the modular translate block."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image, save_official, shared_weight, tiny_compact
from ganpost import load_model, translate
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.gan_models.pix2pix import ResnetGenerator, UnetGenerator
from helpers.pix2pix import randomised, save_cyclegan_pair, save_random

diffusers = pytest.importorskip("diffusers")
from ganpost.integrations import diffusers as ds  # noqa: E402


@pytest.fixture
def pair(tmp_path):
    """A tiny CycleGAN pair as the official code saves it."""
    return save_cyclegan_pair(tmp_path)


def test_the_post_processor_translates_each_output_kind_at_its_size(pair):
    post = ds.GANPostProcessor(translator=pair[0], precision="fp32")
    pil = [Image.fromarray(natural_image(20, 28)), Image.fromarray(natural_image(20, 28, seed=1))]
    out = post(pil)
    assert [im.size for im in out] == [(28, 20)] * 2
    assert np.array_equal(np.asarray(out[0]), np.asarray(translate(pil[0], load_model(pair[0]), precision="fp32")))
    pt = torch.rand(2, 3, 20, 28, dtype=torch.float16)
    assert post(pt).shape == pt.shape and post(pt).dtype == torch.float16
    assert post(pt, output_type="np").shape == (2, 20, 28, 3)


def test_direction_picks_translator_b(pair):
    x = torch.rand(1, 3, 16, 16)
    post = ds.GANPostProcessor(translator=pair[0], translator_b=pair[1], direction="BtoA", precision="fp32")
    assert torch.equal(post(x), translate(x, load_model(pair[1]), precision="fp32"))
    assert torch.equal(post(x, direction="AtoB"), translate(x, load_model(pair[0]), precision="fp32"))


def test_a_translator_works_alone_and_no_translator_is_refused(pair, tmp_path):
    upscaler = save_official(tiny_compact(), tmp_path / "up.pth")
    with pytest.raises(InvalidOptionError, match="chain two processors"):
        ds.GANPostProcessor(upscaler, translator=pair[0])
    with pytest.raises(InvalidOptionError, match="translator="):
        ds.GANPostProcessor(translator_b=pair[1])
    with pytest.raises(InvalidOptionError, match="not an image-to-image translator"):
        ds.GANPostProcessor(translator=upscaler)(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("cls, net", [
    ("ResnetGeneratorModel", lambda: ResnetGenerator(num_feat=4, num_blocks=2, affine=True)),
    ("UnetGeneratorModel", lambda: UnetGenerator(num_downs=5, num_feat=2, dropout=False)),
])
def test_model_mixin_round_trip_keeps_the_official_keys(tmp_path, cls, net):
    net = randomised(net())
    path = save_random(net, tmp_path / "latest_net_G.pth")
    options = {"dropout": False} if cls.startswith("Unet") else {}  # a U-Net's file cannot say
    wrapper = getattr(ds, cls).from_single_file(path, **options)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(wrapper(x), net(x))
    wrapper.save_pretrained(tmp_path / "saved")
    again = getattr(ds, cls).from_pretrained(tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(again.eval()(x), net(x))
    loaded = load_model(tmp_path / "saved" / "diffusion_pytorch_model.safetensors", **options)
    assert set(loaded.module.state_dict()) == set(net.state_dict())
    image = torch.rand(1, 3, 24, 40)
    assert torch.equal(ds.GANPostProcessor(translator=again)(image), translate(image, load_model(path, **options)))


def test_the_wrong_wrapper_is_refused(pair):
    with pytest.raises(InvalidOptionError, match="is a ResnetGenerator, not a UnetGenerator"):
        ds.UnetGeneratorModel.from_single_file(pair[0])


def test_modular_translate_step_with_both_directions(pair):
    from diffusers.modular_pipelines import SequentialPipelineBlocks

    blocks = SequentialPipelineBlocks.from_blocks_dict({"translate": ds.GANTranslateStep()})
    pipeline = blocks.init_pipeline()
    pipeline.update_components(translator=ds.ResnetGeneratorModel.from_single_file(pair[0]),
                               translator_b=ds.ResnetGeneratorModel.from_single_file(pair[1]))
    photo = Image.fromarray(natural_image(18, 30))
    forward = pipeline(images=[photo], output="images")
    backward = pipeline(images=[photo], direction="BtoA", output="images")
    assert forward[0].size == backward[0].size == (30, 18)
    assert np.array_equal(np.asarray(forward[0]), np.asarray(translate(photo, load_model(pair[0]))))
    assert np.array_equal(np.asarray(backward[0]), np.asarray(translate(photo, load_model(pair[1]))))

    alone = SequentialPipelineBlocks.from_blocks_dict({"translate": ds.GANTranslateStep()}).init_pipeline()
    alone.update_components(translator=ds.ResnetGeneratorModel.from_single_file(pair[0]))
    assert np.array_equal(np.asarray(alone(images=[photo], output="images")[0]), np.asarray(forward[0]))
    with pytest.raises(InvalidOptionError, match="needs model_b"):
        alone(images=[photo], direction="BtoA", output="images")


def test_the_real_vintage_generator_as_a_component():
    weights = shared_weight("cyclegan_modern2vintage_net_G.pth")
    vintage = ds.ResnetGeneratorModel.from_single_file(weights)
    assert vintage.config["affine"] is True and vintage.config["num_blocks"] == 9
    photo = Image.fromarray(natural_image(40, 52))
    out = ds.GANPostProcessor(translator=vintage)([photo])
    assert np.array_equal(np.asarray(out[0]), np.asarray(translate(photo, load_model(weights))))
