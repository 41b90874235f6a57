"""The translation nodes called the way ComfyUI calls them (fake ComfyUI), with tiny generators and the real
vintage CycleGAN generator.

The real-ComfyUI run is `example_workflows/api/translate_workflow_api.json` through ../shared/tools/comfy_e2e.py.
"""

import importlib

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.paths import REPO
from helpers.models import save_official, shared_weight, tiny_compact
from ganpost import load_model, translate
from ganpost.gan_models.pix2pix import NLayerDiscriminator, ResnetGenerator, UnetGenerator
from helpers import fake_comfy
from helpers.fake_comfy import Interrupted
from helpers.pix2pix import randomised

EXAMPLES = REPO / "examples"


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    """The fake ComfyUI with an empty models/translation_models."""
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.translators = tmp_path / "models" / "translation_models"
    state.translators.mkdir(parents=True)
    state.nodes = importlib.import_module("ganpost.nodes.translate_nodes")
    importlib.import_module("ganpost.nodes.model_cache").clear()
    yield state
    fake_comfy.forget_modules()


def _save(comfy, module, name):
    torch.save(randomised(module).state_dict(), comfy.translators / name)
    return comfy.translators / name


def _pair(comfy):
    torch.manual_seed(0)
    _save(comfy, ResnetGenerator(num_feat=4, num_blocks=1), "latest_net_G_A.pth")
    _save(comfy, ResnetGenerator(num_feat=4, num_blocks=1), "latest_net_G_B.pth")
    load = comfy.nodes.GanpostLoadTranslator.execute
    return load(model_name="latest_net_G_A.pth")[0], load(model_name="latest_net_G_B.pth")[0]


def _translate(comfy, translator, image, **overrides):
    args = dict(direction="AtoB", size_mode="pad", train_size=256, test_time="model default", seed=0, tile=0,
                precision="fp32") | overrides
    return comfy.nodes.GanpostTranslateImage.execute(translator=translator, image=image, **args)


def test_the_loader_lists_its_folder_loads_and_caches(comfy):
    a, _ = _pair(comfy)
    options = comfy.nodes.GanpostLoadTranslator.define_schema().inputs[0].options
    assert options == ["latest_net_G_A.pth", "latest_net_G_B.pth"]
    assert a.task == "translate" and a.architecture == "ResnetGenerator"
    assert comfy.nodes.GanpostLoadTranslator.execute(model_name="latest_net_G_A.pth")[0] is a


def test_a_folder_from_extra_model_paths_is_kept_and_searched_first(comfy, tmp_path):
    import folder_paths

    theirs = tmp_path / "elsewhere"
    theirs.mkdir()
    folder_paths.folder_names_and_paths["translation_models"] = ([str(theirs)], {".pth"})
    torch.save(randomised(ResnetGenerator(num_feat=4, num_blocks=1)).state_dict(), theirs / "mine.pth")
    assert "mine.pth" in comfy.nodes.GanpostLoadTranslator.define_schema().inputs[0].options
    assert folder_paths.folder_names_and_paths["translation_models"][0][0] == str(theirs)
    assert comfy.nodes.GanpostLoadTranslator.execute(model_name="mine.pth")[0].task == "translate"


def test_the_batch_keeps_its_size_and_equals_the_api(comfy):
    a, b = _pair(comfy)
    image = torch.rand(2, 37, 45, 3)
    out, mask = _translate(comfy, a, image)
    assert out.shape == (2, 37, 45, 3) and mask.shape == (2, 37, 45) and not mask.any()
    expected = translate(image.permute(0, 3, 1, 2), a, precision="fp32").permute(0, 2, 3, 1)
    assert (out - expected).abs().max() <= 1e-6
    back, _ = _translate(comfy, a, image, translator_b=b, direction="BtoA")
    assert (back - translate(image.permute(0, 3, 1, 2), b, precision="fp32").permute(0, 2, 3, 1)).abs().max() <= 1e-6
    assert comfy.emptied >= 2 and comfy.freed


def test_transparency_is_kept(comfy):
    a, _ = _pair(comfy)
    mask = torch.zeros(1, 20, 24)
    mask[:, :, :10] = 1  # LoadImage's mask: 1 = transparent
    _, alpha_mask = _translate(comfy, a, torch.rand(1, 20, 24, 3), mask=mask)
    assert torch.equal(alpha_mask, mask)
    rgba, _ = _translate(comfy, a, torch.cat([torch.rand(1, 20, 24, 3), 1 - mask[..., None]], -1))
    assert rgba.shape[-1] == 4 and torch.equal(rgba[..., 3], 1 - mask)


def test_resize_mode_test_time_seed_and_unet_dropout(comfy):
    torch.manual_seed(0)
    _save(comfy, UnetGenerator(num_downs=6, num_feat=2, dropout=True), "unet.pth")
    load = comfy.nodes.GanpostLoadTranslator.execute
    unet = load(model_name="unet.pth")[0]
    image = torch.rand(1, 50, 70, 3)
    first, _ = _translate(comfy, unet, image, size_mode="resize", train_size=64, seed=5)
    again, _ = _translate(comfy, unet, image, size_mode="resize", train_size=64, seed=5)
    other, _ = _translate(comfy, unet, image, size_mode="resize", train_size=64, seed=6)
    assert first.shape == (1, 50, 70, 3) and torch.equal(first, again) and not torch.equal(first, other)
    without = load(model_name="unet.pth", unet_dropout=False)[0]
    assert without.hyperparameters["dropout"] is False and unet.hyperparameters["dropout"] is True
    eval_out, _ = _translate(comfy, without, image, test_time="eval")
    expected = translate(image.permute(0, 3, 1, 2), load_model(comfy.translators / "unet.pth", dropout=False),
                         test_time="eval", precision="fp32").permute(0, 2, 3, 1)
    assert (eval_out - expected).abs().max() <= 1e-6


def test_progress_and_interrupt_pass_through(comfy):
    a, _ = _pair(comfy)
    _translate(comfy, a, torch.rand(1, 96, 96, 3), tile=32)
    assert comfy.progress and comfy.progress[-1][0] == comfy.progress[-1][1] > 1
    comfy.progress.clear()
    comfy.interrupt_after = 1
    with pytest.raises(Interrupted):
        _translate(comfy, a, torch.rand(1, 96, 96, 3), tile=32)


@pytest.mark.parametrize("kind, says", [("upscaler", "upscale_models"), ("discriminator", "latest_net_G.pth")])
def test_a_file_that_is_no_translator_is_refused_with_where_it_belongs(comfy, kind, says):
    if kind == "upscaler":
        save_official(tiny_compact(), comfy.translators / "wrong.pth")
    else:
        _save(comfy, NLayerDiscriminator(in_channels=6, num_feat=4, num_layers=2), "wrong.pth")
    with pytest.raises(RuntimeError, match="not an image-to-image translator") as caught:
        comfy.nodes.GanpostLoadTranslator.execute(model_name="wrong.pth")
    assert says in str(caught.value) and "wrong.pth" in str(caught.value)


def test_bad_options_are_refused_before_any_work(comfy):
    a, _ = _pair(comfy)
    with pytest.raises(RuntimeError, match="translator_b"):
        _translate(comfy, a, torch.rand(1, 16, 16, 3), direction="BtoA")
    with pytest.raises(RuntimeError, match="tile must be .* ≥ 32, not 8"):
        _translate(comfy, a, torch.rand(1, 16, 16, 3), tile=8)
    assert not comfy.progress


def test_the_real_vintage_generator(comfy):
    weights = shared_weight("cyclegan_modern2vintage_net_G.pth")
    (comfy.translators / "vintage.pth").symlink_to(weights)
    vintage = comfy.nodes.GanpostLoadTranslator.execute(model_name="vintage.pth")[0]
    photo = np.asarray(Image.open(EXAMPLES / "astronaut_crop.png").convert("RGB"))[:60, :84]
    image = torch.from_numpy(photo.copy()).float()[None] / 255
    out, _ = _translate(comfy, vintage, image)
    assert out.shape == image.shape
    assert 0 < (out - image).abs().mean() < 0.15  # a change of tone, not a new picture
    expected = translate(image.permute(0, 3, 1, 2), load_model(weights), precision="fp32").permute(0, 2, 3, 1)
    assert (out - expected).abs().max() <= 1e-6


def test_an_exported_unet_keeps_its_dropout_and_says_so(comfy):
    from helpers.onnx_models import require_onnx

    require_onnx()
    from ganpost import export_onnx

    torch.manual_seed(0)
    export_onnx(load_model(_save(comfy, UnetGenerator(num_downs=6, num_feat=2, dropout=True), "unet.pth")),
                comfy.translators / "unet.onnx")
    load = comfy.nodes.GanpostLoadTranslator.execute
    assert load(model_name="unet.onnx")[0].hyperparameters["dropout"] is True
    with pytest.raises(RuntimeError, match=r"unet.onnx was exported with its dropout on; export it again"):
        load(model_name="unet.onnx", unet_dropout=False)
