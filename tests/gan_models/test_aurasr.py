"""AuraSR: the shape from config.json or the tensors, strict loading, clear refusals, the contract through
the runner and the upscale task, seeded noise.

``PYTHONPATH=tests python tests/gan_models/test_aurasr.py``
measures bf16/fp16 against fp32 at a reduced width with random
weights (the figures behind the contract's precision flags).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.aurasr import TINY, tiny_aurasr
from helpers.tolerance import assert_close_to_scale
from safetensors.torch import save_file

from ganpost.gan_models import catalogue, load_model, registry
from ganpost.gan_models.aurasr import AURASR, UnetUpsampler, infer_config
from ganpost.gan_models.aurasr.config import RELEASE_CONFIG
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import ModelFileError, UnsupportedModelError
from ganpost.gan_models.loader import describe_state_dict
from ganpost.runtime.runner import Runner
from ganpost.tasks.upscale import upscale

# A second shape: attention on a down stage too, two kernels, two blocks per stage, no skip-width change.
OTHER = dict(dim=4, image_size=128, input_image_size=32, style_network={"dim_in": 8, "dim_out": 16, "depth": 3},
             up_dim_mults=(1, 2, 4, 8), down_dim_mults=(4, 8), full_attn=(True, False, True, True),
             attn_depths=(1, 1, 2, 1), self_attn_dim_head=2, mid_attn_depth=2, num_conv_kernels=2,
             block_count=2, skip_connect_scale=0.4)


@pytest.fixture(scope="module")
def tiny() -> UnetUpsampler:
    return tiny_aurasr()


def save(net: torch.nn.Module, path) -> None:
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def built_params(config: dict) -> dict:
    with torch.device("meta"):
        net = UnetUpsampler(**config)
    return {k: v.shape for k, v in net.state_dict().items()}


@pytest.mark.parametrize("config", [TINY, OTHER], ids=["tiny", "other"])
def test_the_shape_is_read_from_the_tensors(config):
    sd = UnetUpsampler(**config).state_dict()
    inferred = infer_config(sd)
    assert built_params(inferred) == {k: v.shape for k, v in sd.items()}
    for key in ("dim", "num_conv_kernels", "mid_attn_depth", "block_count"):
        assert inferred[key] == config.get(key, {"num_conv_kernels": 4, "block_count": 6}.get(key))
    assert inferred["full_attn"] == list(config.get("full_attn", (False, False, False, True, True)))


def test_the_released_configuration_builds_with_the_official_parameter_count():
    with torch.device("meta"):
        net = UnetUpsampler(**RELEASE_CONFIG)
    assert sum(p.numel() for p in net.parameters()) == 617_554_917
    assert len(net.state_dict()) == 268
    hp = infer_config(net.state_dict())
    assert {k: hp[k] for k in RELEASE_CONFIG if k != "unconditional"} == \
        {k: v for k, v in RELEASE_CONFIG.items() if k != "unconditional"}
    assert AURASR.contract(hp).scale == 4 and AURASR.contract(hp).size.fixed == 64


def test_loads_without_a_config_and_is_detected_first(tmp_path, tiny):
    save(tiny, tmp_path / "AuraSR-v2.safetensors")
    model = load_model(tmp_path / "AuraSR-v2.safetensors")
    assert model.architecture == "UnetUpsampler" and model.task == Task.UPSCALE.value
    assert model.scale == 4 and model.contract.size.fixed == 64 and model.input_range == (0.0, 1.0)
    assert model.hyperparameters["skip_connect_scale"] == 0.4 and model.hyperparameters["self_attn_heads"] == 8
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(model.module(x, seed=1), tiny(x, seed=1))
    sd = tiny.state_dict()
    assert registry.detect(sd, "x") is AURASR
    assert [e.architecture for e in registry.DETECTION_ORDER if e is not AURASR and e.detect(sd)] == []


def test_a_config_beside_the_file_is_used_and_checked(tmp_path, tiny):
    folder = tmp_path / "aura-sr"
    folder.mkdir()
    save(tiny, folder / "model.safetensors")
    # The release's file spelled Python's True in its first revision; the scale differs from the default.
    (folder / "config.json").write_text(json.dumps({**TINY, "skip_connect_scale": 0.25}).replace("true", "True"))
    model = load_model(folder / "model.safetensors")
    assert model.hyperparameters["skip_connect_scale"] == 0.25 and model.module.skip_connect_scale == 0.25
    # An explicit option wins over the file, and a config may be given as a dict.
    assert load_model(folder / "model.safetensors", skip_connect_scale=0.5).module.skip_connect_scale == 0.5
    given = load_model(folder / "model.safetensors", config={**TINY, "skip_connect_scale": 0.125})
    assert given.module.skip_connect_scale == 0.125

    # A config for another shape (a v1 file with someone else's config): refused, naming both files.
    (folder / "config.json").write_text(json.dumps({**TINY, "dim": 8}))
    with pytest.raises(UnsupportedModelError) as err:
        load_model(folder / "model.safetensors")
    assert "config.json" in str(err.value) and "model.safetensors" in str(err.value) and "shape" in str(err.value)

    # <stem>.json wins over config.json; another project's JSON is passed over.
    save(tiny, folder / "mine.safetensors")
    (folder / "mine.json").write_text(json.dumps({**TINY, "skip_connect_scale": 0.3}))
    assert load_model(folder / "mine.safetensors").module.skip_connect_scale == 0.3
    (folder / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "sample_size": 64}))
    assert load_model(folder / "model.safetensors").module.skip_connect_scale == 0.4  # inferred

    (folder / "config.json").write_text("{not json")
    with pytest.raises(UnsupportedModelError, match="config.json, which is not readable JSON"):
        load_model(folder / "model.safetensors")


def test_bad_files_are_refused_clearly(tmp_path, tiny):
    path = tmp_path / "AuraSR.safetensors"
    save(tiny, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)

    sd = tiny.state_dict()
    del sd["downs.0.1.1.weight"], sd["downs.1.1.1.weight"], sd["downs.2.1.1.weight"]
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    with pytest.raises(UnsupportedModelError, match="cannot be inferred.*config.json"):
        load_model(path)

    odd = dict(tiny.state_dict())
    odd["mid_attn.layers.0.0.to_qkv.weight"] = odd["mid_attn.layers.0.0.to_qkv.weight"][:-3]
    save_file({k: v.contiguous() for k, v in odd.items()}, str(path))
    with pytest.raises(UnsupportedModelError, match="attention"):
        load_model(path)


def test_a_ckpt_wrapped_under_G_loads(tmp_path, tiny):
    path = tmp_path / "model.ckpt"
    torch.save({"G": tiny.state_dict(), "step": 3}, path)
    model = load_model(path)
    assert set(model.module.state_dict()) == set(tiny.state_dict())


def test_the_released_files_are_in_the_catalogue():
    for name, repo in (("AuraSR", "fal/AuraSR"), ("AuraSR-v2", "fal/AuraSR-v2")):
        known = catalogue.KNOWN_MODELS[name]
        assert known.filename == f"{name}.safetensors" and len(known.sha256) == 64
        assert known.base_url == "https://huggingface.co" and known.url_path.startswith(f"{repo}/resolve/")
        assert [c.filename for c in known.companions] == [f"{name}.json"]
        assert known.companions[0].url_path == f"{repo}/resolve/main/config.json"


def test_download_fetches_the_config_beside_the_weights(tmp_path, monkeypatch):
    fetched = []
    monkeypatch.setattr(catalogue, "download_file", lambda url, target, sha256: fetched.append(target) or target)
    catalogue.fetch(catalogue.KNOWN_MODELS["AuraSR-v2"], models_dir=tmp_path)
    assert [p.name for p in fetched] == ["AuraSR-v2.json", "AuraSR-v2.safetensors"]


def test_noise_is_seeded_and_shared_by_the_windows_of_a_batch(tiny):
    x = torch.rand(3, 3, 64, 64)
    with torch.inference_mode():
        a, b = tiny(x), tiny(x)
        assert torch.equal(a, b)  # no seed: seed 0, never torch's global generator
        assert torch.equal(tiny(x, seed=0), a)
        other = tiny(x, seed=1)
        assert (other - a).abs().max() > 1e-4
        # With a seed, a window's result does not depend on the batch it ran in.
        assert_close_to_scale(tiny(x[1:2], seed=1), other[1:2])
        torch.manual_seed(123)
        before = torch.rand(1)
        torch.manual_seed(123)
        tiny(x, seed=4)
        assert torch.equal(torch.rand(1), before)  # the global generator was not touched


def test_the_runner_and_upscale_task(tiny):
    model = describe_state_dict(tiny.state_dict())
    image = torch.rand(1, 3, 50, 70)
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = next(runner.run([image], "auto"))
        assert out.shape == (3, 200, 280) and torch.isfinite(out).all()
        policy = model.contract.tiling
        assert runner.tile_side("auto", 50, 70) == 64 - 2 * policy.margin - policy.overlap
        window = torch.rand(1, 3, 64, 64)
        assert torch.equal(runner.forward(window, seed=5), runner.forward(window, seed=5))
        assert not torch.equal(runner.forward(window, seed=5), runner.forward(window, seed=6))
    photo = (np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)
    first = upscale(photo, model, precision="fp32")
    assert first.shape == (160, 208, 3)
    assert np.array_equal(first, upscale(photo, model, precision="fp32"))  # reproducible end to end


def test_activation_estimate_grows_with_width():
    small = AURASR.contract(infer_config(UnetUpsampler(**TINY).state_dict())).activation_elements
    release = AURASR.contract(RELEASE_CONFIG).activation_elements
    assert 0 < small < release


def test_diffusers_wrapper_round_trip_keeps_the_official_keys(tmp_path, tiny):
    pytest.importorskip("diffusers")
    from ganpost.integrations.diffusers import GANPostProcessor, _model_classes

    path = tmp_path / "AuraSR.safetensors"
    save(tiny, path)
    wrapper = _model_classes()["AuraSRModel"].from_single_file(path)
    assert set(wrapper.state_dict()) == set(tiny.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(wrapper(x), tiny(x))
    wrapper.save_pretrained(tmp_path / "saved")
    again = load_model(tmp_path / "saved" / "diffusion_pytorch_model.safetensors")
    assert set(again.module.state_dict()) == set(tiny.state_dict())
    assert again.hyperparameters["skip_connect_scale"] == 0.4
    out = GANPostProcessor(wrapper, precision="fp32")(torch.rand(1, 3, 24, 20), output_type="pt")
    assert out.shape == (1, 3, 96, 80)


def test_the_comfyui_loader_lists_the_aura_sr_pack_folder(tmp_path, monkeypatch, tiny):
    import importlib

    from helpers import fake_comfy

    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    try:
        nodes = importlib.import_module("ganpost.nodes.upscale_nodes")
        importlib.import_module("ganpost.nodes.model_cache").clear()
        folder = tmp_path / "models" / "Aura-SR"  # the community pack's default folder, key not registered
        folder.mkdir()
        save(tiny, folder / "AuraSR-v2.safetensors")
        (folder / "AuraSR-v2.json").write_text(json.dumps(TINY))
        save(tiny_aurasr(), state.folder / "other.safetensors")
        options = nodes.GanpostLoadUpscaleModel.define_schema().inputs[0].options
        assert options[0] == "other.safetensors" and "AuraSR-v2.safetensors" in options  # ours first
        (model,) = nodes.GanpostLoadUpscaleModel.execute(model_name="AuraSR-v2.safetensors")
        assert model.architecture == "UnetUpsampler" and model.source == folder / "AuraSR-v2.safetensors"
    finally:
        fake_comfy.forget_modules()


# ------------------------------------------------------------------------------------- measurement
def measure_half_precision(dim: int = 16) -> None:
    """bf16 and fp16 against fp32 on a natural image window, random weights at a reduced width."""
    from helpers.models import natural_image

    torch.manual_seed(0)
    config = {**RELEASE_CONFIG, "dim": dim, "style_network": {"dim_in": 128, "dim_out": 512, "depth": 4}}
    net = tiny_aurasr(**{k: v for k, v in config.items()})
    x = torch.from_numpy(natural_image(64, 64, seed=1)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        reference = net(x, seed=0).clamp(0, 1) * 255
        print(f"dim {dim}: fp32 output range {net(x, seed=0).min():.3f}..{net(x, seed=0).max():.3f}")
        for dtype in (torch.bfloat16, torch.float16):
            half = tiny_aurasr(**config)
            half.load_state_dict(net.state_dict())
            out = half.to(dtype)(x.to(dtype), seed=0).float()
            diff = (out.clamp(0, 1) * 255 - reference).abs()
            print(f"{dtype}: finite {bool(torch.isfinite(out).all())}, mean {diff.mean():.3f}/255, "
                  f"p99.9 {diff.quantile(0.999):.2f}/255, max {diff.max():.2f}/255")


if __name__ == "__main__":
    import sys

    measure_half_precision(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
