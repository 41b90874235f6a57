"""diffusers: one processor per task (options from the task's declarations, checked when built), the
GANPostProcessor shorthand, family forward options end to end, the wrappers' forward keywords, block inputs."""

import dataclasses
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from ganpost import load_model, translate, upscale
from ganpost.gan_models import registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.gan_models.options import Option
from ganpost.gan_models.pix2pix import ResnetGenerator
from ganpost.gan_models.realesrgan import SRVGGNetCompact
from helpers.pix2pix import randomised

diffusers = pytest.importorskip("diffusers")
from ganpost.integrations import diffusers as ds  # noqa: E402

TASK_OPTIONS = {"UpscaleProcessor": "ganpost.tasks.upscale", "FaceRestoreProcessor": "ganpost.tasks.restore_faces",
                "TranslateProcessor": "ganpost.tasks.translate"}


@pytest.fixture
def compact(tmp_path):
    return save_official(tiny_compact(scale=2), tmp_path / "c.pth")


@pytest.fixture
def gfpgan(tmp_path):
    from helpers.gfpgan import tiny_gfpgan

    path = tmp_path / "GFPGANtiny.pth"
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, path)
    return path


@pytest.fixture
def pair(tmp_path):
    paths = tmp_path / "latest_net_G_A.pth", tmp_path / "latest_net_G_B.pth"
    for path in paths:
        torch.save(randomised(ResnetGenerator(num_feat=4, num_blocks=1)).state_dict(), path)
    return paths


@pytest.mark.parametrize("name", TASK_OPTIONS)
def test_the_keywords_are_the_task_options_offered_to_diffusers(name):
    import sys

    from ganpost.tasks.shared_options import forward_options

    cls = getattr(ds, name)
    declared = sys.modules[TASK_OPTIONS[name]].OPTIONS
    assert cls.accepted_options().names() == (*(o.name for o in declared.offered_to("diffusers")),
                                              *forward_options(cls.task).names())


def test_upscale_processor_keeps_each_form_and_matches_the_task(compact):
    post = ds.UpscaleProcessor(compact, tile=0, outscale=1.5)
    pil = [Image.fromarray(natural_image(12, 20)), Image.fromarray(natural_image(12, 20, seed=1))]
    out = post(SimpleNamespace(images=pil))  # a pipeline output object
    assert [im.size for im in out] == [(30, 18)] * 2
    assert np.array_equal(np.asarray(out[1]), np.asarray(upscale(pil[1], compact, tile=0, outscale=1.5)))
    arrays = np.stack([np.asarray(im, np.float32) / 255 for im in pil])
    assert post(arrays).shape == (2, 18, 30, 3) and post(arrays).dtype == np.float32
    pt = torch.rand(2, 3, 12, 20).to(torch.bfloat16)
    assert post(pt).dtype == torch.bfloat16 and post(pt).shape == (2, 3, 18, 30)
    assert post(pt, outscale=2).shape == (2, 3, 24, 40)  # a call's keyword overrides the built option
    assert post(pt, output_type="pil")[0].size == (30, 18)
    assert post.options == {"tile": 0, "outscale": 1.5}


def test_bad_options_are_refused_when_built_not_when_called(compact, gfpgan, pair):
    with pytest.raises(InvalidOptionError, match="tile must be"):
        ds.UpscaleProcessor(compact, tile=3)
    with pytest.raises(InvalidOptionError, match="give outscale= or size=, not both"):
        ds.UpscaleProcessor(compact, outscale=2, size=(64, 64))
    with pytest.raises(InvalidOptionError, match=r"UpscaleProcessor takes no strength option; it takes: tile, "):
        ds.UpscaleProcessor(compact, strength=0.5)
    with pytest.raises(InvalidOptionError, match="strength must be a number from 0 to 1"):
        ds.FaceRestoreProcessor(gfpgan, strength=2)
    with pytest.raises(InvalidOptionError, match="not a face restorer|a face restorer"):
        ds.FaceRestoreProcessor(compact)
    with pytest.raises(InvalidOptionError, match="color_fix must be one of"):
        ds.FaceRestoreProcessor(gfpgan, upscaler=compact, color_fix="sepia")
    with pytest.raises(InvalidOptionError, match="needs model_b"):
        ds.TranslateProcessor(pair[0], direction="BtoA")
    with pytest.raises(InvalidOptionError, match="train_size applies to size_mode='resize' only"):
        ds.TranslateProcessor(pair[0], train_size=128)
    with pytest.raises(InvalidOptionError, match="model_b.*not an image-to-image translator"):
        ds.TranslateProcessor(pair[0], model_b=compact)
    post = ds.UpscaleProcessor(compact)
    with pytest.raises(InvalidOptionError, match="alpha_mode must be one of"):
        post(torch.rand(1, 3, 8, 8), alpha_mode="drop")  # a call's keywords are checked as well


def test_face_processor_defaults_upscale_to_the_upscaler(gfpgan, compact):
    post = ds.FaceRestoreProcessor(gfpgan, upscaler=compact, strength=0.5)
    assert post.options == {"strength": 0.5, "upscale": 2.0}
    assert post.models["upscaler"].scale == 2 and post.models["detector"] is None
    assert ds.FaceRestoreProcessor(gfpgan, upscaler=compact, upscale=1).options["upscale"] == 1


def test_translate_processor_runs_either_generator(pair):
    x = torch.rand(1, 3, 16, 16)
    post = ds.TranslateProcessor(pair[0], model_b=pair[1], direction="BtoA", precision="fp32")
    assert torch.equal(post(x), translate(x, load_model(pair[1]), precision="fp32"))
    assert torch.equal(post(x, direction="AtoB"), translate(x, load_model(pair[0]), precision="fp32"))


def test_gan_post_processor_builds_the_one_processor_its_keywords_name(compact, gfpgan, pair):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shorthand is not deprecated: each keyword set names one task
        assert type(ds.GANPostProcessor(compact, tile=0)) is ds.UpscaleProcessor
        assert type(ds.GANPostProcessor(model=compact)) is ds.UpscaleProcessor
        faces = ds.GANPostProcessor(compact, faces=gfpgan, strength=0.8)
        assert type(faces) is ds.FaceRestoreProcessor and faces.options == {"strength": 0.8, "upscale": 2.0}
        assert faces.models["upscaler"].scale == 2
        assert type(ds.GANPostProcessor(faces=gfpgan)) is ds.FaceRestoreProcessor
        translator = ds.GANPostProcessor(translator=pair[0], translator_b=pair[1], direction="BtoA")
        assert type(translator) is ds.TranslateProcessor and str(translator.models["model_b"].source) == str(pair[1])
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(ds.GANPostProcessor(compact, tile=0)(x), ds.UpscaleProcessor(compact, tile=0)(x))
    # code from before the split that checks the type still sees a GANPostProcessor
    assert isinstance(ds.UpscaleProcessor(compact), ds.GANPostProcessor) and not isinstance(x, ds.GANPostProcessor)
    with pytest.raises(InvalidOptionError, match="tile must be"):
        ds.GANPostProcessor(compact, tile=3)  # checked when built now, as the processors are
    with pytest.raises(InvalidOptionError, match="give a face model"):
        ds.GANPostProcessor(compact, detector="retinaface_resnet50")
    with pytest.raises(InvalidOptionError, match="positionally or as model=, not both"):
        ds.GANPostProcessor(compact, model=compact)


# ------------------------------------------------------------------------------ a family's forward option
@pytest.fixture
def gain_option(monkeypatch):
    """The compact upscaler's family declares a forward option ``gain`` (network keyword ``gain_factor``), and its
    network takes it: what a new family option (a CodeFormer fidelity) looks like, with no edit in the integration."""
    gain = Option("gain", float, 1.0, "output gain", minimum=0, maximum=4, forward="gain_factor")
    declares = dict(task=Task.UPSCALE, forward_options=(gain,))
    entries = tuple(dataclasses.replace(e, **declares) if e.create is SRVGGNetCompact else e
                    for e in registry.DETECTION_ORDER)
    monkeypatch.setattr(registry, "DETECTION_ORDER", entries)
    seen = []
    plain_forward = SRVGGNetCompact.forward

    def forward(self, x, gain_factor=1.0):
        seen.append(gain_factor)
        return plain_forward(self, x) * gain_factor

    monkeypatch.setattr(SRVGGNetCompact, "forward", forward)
    return seen


def test_a_family_forward_option_reaches_the_network(gain_option, compact):
    x = torch.rand(1, 3, 8, 8) * 0.2
    post = ds.UpscaleProcessor(compact, gain=0.5, tile=0, precision="fp32")
    assert "gain" in ds.UpscaleProcessor.accepted_options().names()
    half = post(x)
    assert gain_option == [0.5]
    assert torch.allclose(post(x, gain=1.0) * 0.5, half, atol=1e-6) and gain_option == [0.5, 1.0]
    with pytest.raises(InvalidOptionError, match="gain must be a number from 0 to 4"):
        ds.UpscaleProcessor(compact, gain=9)  # refused when built, by the family's declaration
    with pytest.raises(InvalidOptionError, match="gain must be"):
        ds.GANPostProcessor(compact, gain="loud")


def test_a_family_forward_option_is_a_block_input(gain_option, compact):
    from diffusers.modular_pipelines import SequentialPipelineBlocks

    step = ds.GANUpscaleStep()
    assert "gain" in [param.name for param in step.inputs]
    pipeline = SequentialPipelineBlocks.from_blocks_dict({"gan_upscale": step}).init_pipeline()
    pipeline.update_components(upscaler=ds.SRVGGNetCompactModel.from_single_file(compact))
    out = pipeline(images=torch.rand(1, 3, 8, 8), gain=0.25, output_type="pt", output="images")
    assert out.shape == (1, 3, 16, 16) and gain_option[-1] == 0.25


# ------------------------------------------------------------------------------ blocks and wrappers
@pytest.mark.parametrize("block, processor, models, renamed", [
    ("GANUpscaleStep", "UpscaleProcessor", [], {"seed": "upscale_seed"}),
    ("GANFaceRestoreStep", "FaceRestoreProcessor", ["face_detector", "face_parser"],
     {"strength": "face_strength", "threshold": "face_threshold", "seed": "face_seed"}),
    ("GANTranslateStep", "TranslateProcessor", [], {"seed": "translate_seed"}),
])
def test_block_inputs_are_the_processor_options(block, processor, models, renamed):
    inputs = getattr(ds, block)().inputs
    options = getattr(ds, processor).accepted_options()
    assert [p.name for p in inputs] == ["images", "output_type", *models,
                                        *(renamed.get(name, name) for name in options.names())]
    defaults = {p.name: p.default for p in inputs}
    assert all(defaults[renamed.get(o.name, o.name)] == o.default for o in options)


def test_wrapper_forward_passes_the_official_keywords(gfpgan, tmp_path):
    from helpers.aurasr import save_tiny_aurasr

    wrapper = ds.GFPGANModel.from_single_file(gfpgan)
    net = load_model(gfpgan).module
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(wrapper(x, noise=3)[0], net(x, noise=3)[0])
        assert not torch.equal(wrapper(x, noise=3)[0], wrapper(x)[0])  # fresh noise, not the stored maps
    path = save_tiny_aurasr(tmp_path / "AuraSR-tiny.safetensors")
    aura, official = ds.AuraSRModel.from_single_file(path), load_model(path).module
    lowres = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(aura(lowres, seed=3), official(lowres, seed=3))
        assert not torch.equal(aura(lowres, seed=3), aura(lowres, seed=4))
