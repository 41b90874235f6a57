"""GFPGANv1Clean: strict loading of the official layout, parity with GFPGAN's own code, shapes → hyper-
parameters, refusing the original v1, the contract through the runner, deterministic noise.

``PYTHONPATH=tests python tests/gan_models/test_gfpgan.py``
measures bf16/fp16 against fp32 on a full-width random network
(the figures behind the contract's precision flags; too slow for the test run).
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F
from helpers.gfpgan import TINY, tiny_gfpgan
from helpers.isolated_import import isolated_modules, load_file, stub_basicsr_archs, stub_package
from helpers.torchvision_stub import install_torchvision_stub
from helpers.tolerance import assert_close_to_scale

from ganpost.gan_models import catalogue, describe_state_dict, load_model, registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.errors import ImageInputError, UnsupportedModelError
from ganpost.gan_models.gfpgan import GFPGAN_CLEAN, GFPGANv1Clean
from ganpost.gan_models.gfpgan.registration import gfpgan_hyperparameters
from ganpost.runtime.runner import Runner

OTHER = dict(out_size=128, num_style_feat=16, channel_multiplier=2, num_mlp=3, input_is_latent=False,
             different_w=False, narrow=0.125, sft_half=False)


def official_gfpgan_clean():
    """GFPGAN's own ``GFPGANv1Clean``, its two arch files loaded under stub parents (no torchvision,
    cv2 or basicsr data pipeline), with ``sys.modules`` restored afterwards (the loaded classes keep
    working: they reference their modules directly). Skips if not installed."""
    basicsr, gfpgan = importlib.util.find_spec("basicsr"), importlib.util.find_spec("gfpgan")
    if basicsr is None or gfpgan is None:
        pytest.skip("gfpgan/basicsr are not installed (pip install --no-deps gfpgan==1.3.8 basicsr==1.4.2)")
    bs_root, gf_root = basicsr.submodule_search_locations[0], gfpgan.submodule_search_locations[0]

    with isolated_modules("basicsr", "gfpgan", "torchvision"):  # the stub too: diffusers' find_spec chokes on it
        install_torchvision_stub()  # basicsr's arch_util imports torchvision
        stub_basicsr_archs(bs_root)
        stub_package("gfpgan", gf_root)
        stub_package("gfpgan.archs", f"{gf_root}/archs")
        load_file("gfpgan.archs.stylegan2_clean_arch", f"{gf_root}/archs/stylegan2_clean_arch.py")
        return load_file("gfpgan.archs.gfpganv1_clean_arch", f"{gf_root}/archs/gfpganv1_clean_arch.py").GFPGANv1Clean


def faces(size: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] (the networks here are random: any natural-ish input will do)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(batch, 3, size // 8, size // 8, generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------------------- loading
def test_official_layout_loads_strict_with_its_hyperparameters(tmp_path):
    net = tiny_gfpgan()
    path = tmp_path / "GFPGANv1.4-tiny.pth"
    torch.save({"params_ema": net.state_dict(), "params": {k: v * 0 for k, v in net.state_dict().items()}}, path)
    model = load_model(path)
    assert model.architecture == "GFPGANv1Clean" and model.hyperparameters == TINY
    loaded = model.module.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())  # the EMA weights, noise included
    # params only, with DataParallel's prefix
    torch.save({"params": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    assert load_model(path).hyperparameters == TINY


@pytest.mark.parametrize("config", [
    TINY, OTHER,
    dict(TINY, out_size=32, channel_multiplier=2),  # below 64 px the multiplier is invisible: the release's 2
    dict(TINY, out_size=128, narrow=0.5, channel_multiplier=2, sft_half=False),
    dict(TINY, out_size=256, narrow=0.0625, num_style_feat=8, num_mlp=8),
    dict(TINY, narrow=1, different_w=False),
])
def test_hyperparameters_are_read_from_the_shapes(config):
    with torch.device("meta"):  # shapes only: no memory, no init
        sd = GFPGANv1Clean(**config).state_dict()
    hp = gfpgan_hyperparameters(sd, input_is_latent=config["input_is_latent"])
    assert hp == config
    with torch.device("meta"):
        rebuilt = GFPGANv1Clean(**hp).state_dict()
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in sd.items()}


def test_released_configuration_is_the_default_and_has_the_official_size():
    with torch.device("meta"):
        net = GFPGANv1Clean()
    sd = net.state_dict()
    assert len(sd) == 285 and sum(p.numel() for p in net.parameters()) == 86_444_252
    assert gfpgan_hyperparameters(sd) == dict(out_size=512, num_style_feat=512, channel_multiplier=2, num_mlp=8,
                                              input_is_latent=True, different_w=True, narrow=1, sft_half=True)


def test_the_original_gfpganv1_is_refused_by_name_and_claimed_by_no_family(tmp_path):
    # The paper model's distinctive keys: equalized-LR Sequentials and fused activation biases.
    sd = {"conv_body_first.0.weight": torch.zeros(32, 3, 1, 1), "conv_body_first.1.bias": torch.zeros(32),
          "conv_body_down.0.conv1.0.weight": torch.zeros(32, 32, 3, 3), "toRGB.0.weight": torch.zeros(3, 32, 1, 1),
          "stylegan_decoder.style_mlp.1.weight": torch.zeros(512, 512),
          "stylegan_decoder.style_mlp.8.weight": torch.zeros(512, 512),
          "stylegan_decoder.style_conv1.activate.bias": torch.zeros(512)}
    path = tmp_path / "GFPGANv1.pth"
    torch.save({"params_ema": sd}, path)
    with pytest.raises(UnsupportedModelError, match=r"GFPGANv1\.pth: the original GFPGANv1 architecture.*"
                                                    r"use GFPGANv1\.3/1\.4 clean files"):
        load_model(path)
    for entry in registry.DETECTION_ORDER:
        if entry is not GFPGAN_CLEAN:
            assert not entry.detect(sd)


def test_gfpgan_is_detected_by_no_other_family_and_claims_no_upscaler():
    sd = tiny_gfpgan().state_dict()
    assert [e.architecture for e in registry.DETECTION_ORDER if e.detect(sd)] == ["GFPGANv1Clean"]
    from helpers.models import tiny_compact, tiny_rrdbnet

    for other in (tiny_rrdbnet(), tiny_compact()):
        assert not GFPGAN_CLEAN.detect(other.state_dict())


def test_known_release_files_are_in_the_catalogue():
    for name in ("GFPGANv1.3", "GFPGANv1.4"):
        known = catalogue.lookup(name)
        assert known is not None and known in registry.known_files()
        assert known.comfy_folder == "facerestore_models" and len(known.sha256) == 64
        assert known.url() == f"https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/{name}.pth"


# ------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("config", [TINY, OTHER])
def test_forward_matches_the_official_code(config):
    official_class = official_gfpgan_clean()
    official = official_class(fix_decoder=False, **config).eval()
    with torch.no_grad():
        for p in official.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = GFPGANv1Clean(**config).eval()
    ours.load_state_dict(official.state_dict(), strict=True)
    x = faces(config["out_size"], batch=2) * 2 - 1
    with torch.no_grad():
        expected, expected_rgbs = official(x, return_rgb=True, randomize_noise=False)
        image, rgbs = ours(x, return_rgb=True)
        assert_close_to_scale(image, expected)
        assert len(rgbs) == len(expected_rgbs)
        for a, b in zip(rgbs, expected_rgbs):
            assert_close_to_scale(a, b)
        # "random" draws the official per-sample noise in the official order
        torch.manual_seed(7)
        expected = official(x, return_rgb=False)[0]
        torch.manual_seed(7)
        assert_close_to_scale(ours(x, noise="random")[0], expected)


# ------------------------------------------------------------------------------------- noise
def test_noise_is_deterministic_by_default_and_seeded_on_request():
    net = tiny_gfpgan()
    x = faces(64, batch=2) * 2 - 1
    with torch.no_grad():
        stored = net(x)[0]
        assert torch.equal(stored, net(x)[0])
        seeded = net(x, noise=1)[0]
        assert torch.equal(seeded, net(x, noise=1)[0])
        assert torch.equal(seeded, net(x, noise=torch.Generator().manual_seed(1))[0])
        other = net(x, noise=2)[0]
        assert (seeded - other).abs().max() > 1e-4 and (seeded - stored).abs().max() > 1e-4
        # one noise map for the whole batch: a face's result does not depend on its batch-mates
        alone = net(x[1:], noise=1)[0]  # (batched and single grouped convs round differently: ~3e-5)
        assert_close_to_scale(alone, seeded[1:])
        assert (alone - other[1:]).abs().max() > 1e-2
        with pytest.raises(ValueError, match="noise must be"):
            net(x, noise="fresh")


# ------------------------------------------------------------------------------------- contract
def test_contract_and_runner():
    model = describe_state_dict(tiny_gfpgan().state_dict())
    c = model.contract
    assert (c.task, c.scale, c.in_channels, c.out_channels, c.value_range) == (Task.FACE_RESTORE, 1, 3, 3, (-1, 1))
    assert c.size.fixed == 64 and c.tiling.margin == 0 and c.activation_elements > 0
    assert not c.fp16_safe and c.bf16_safe
    x = faces(64)
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = runner.forward(x)
        assert out.shape == x.shape and out.dtype == torch.float32
        with torch.no_grad():
            expected = (model.module(x * 2 - 1)[0] + 1) / 2  # [0, 1] in, [-1, 1] inside, [0, 1] out
        assert (out - expected).abs().max() < 1e-4  # NHWC convolutions round a little differently
        # Smaller than the crop size: padded up to it by reflection, cropped back.
        small = faces(56)
        result = next(runner.run([small], tile=0))
        assert result.shape == (3, 56, 56) and torch.isfinite(result).all()
    with pytest.raises(ImageInputError, match="takes B×3×64×64 aligned face crops"):
        model.module(torch.zeros(1, 3, 72, 72))


def test_activation_estimate_scales_with_width():
    released = dict(out_size=512, num_style_feat=512, channel_multiplier=2, num_mlp=8, input_is_latent=True,
                    different_w=True, narrow=1, sft_half=True)
    small, full = GFPGAN_CLEAN.contract(TINY), GFPGAN_CLEAN.contract(released)
    assert small.activation_elements < full.activation_elements < 1000
    assert full.size.fixed == 512


def test_diffusers_wrapper_round_trip_keeps_the_official_keys(tmp_path):
    pytest.importorskip("diffusers")
    from ganpost.integrations import diffusers as ds

    net = tiny_gfpgan()
    path = tmp_path / "g.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    model = ds.GFPGANModel.from_single_file(path)
    x = faces(64) * 2 - 1
    with torch.no_grad():
        expected = net(x)[0]
        assert torch.equal(model(x)[0], expected)
        model.save_pretrained(tmp_path / "saved")
        again = ds.GFPGANModel.from_pretrained(tmp_path / "saved")
        # the same weights bit for bit; the forward only up to float reordering (an AVX2 machine gave 1.05e-5
        # on this ±11 output: the reloaded copy's kernels summed in another order)
        assert list(again.state_dict()) == list(net.state_dict())
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), net.state_dict().values()))
        assert_close_to_scale(again(x)[0], expected)
    loaded = load_model(tmp_path / "saved" / "diffusion_pytorch_model.safetensors")
    assert set(loaded.module.state_dict()) == set(net.state_dict()) and loaded.hyperparameters == TINY


# ------------------------------------------------------------------------------------- measurement
def measure_half_precision() -> None:
    """bf16 and fp16 against fp32 for the released width (random weights) on the astronaut's face."""
    import time

    from skimage import data

    torch.manual_seed(0)
    net = GFPGANv1Clean().eval().requires_grad_(False)
    face = torch.from_numpy(data.astronaut()[10:230, 140:360].copy()).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(face, size=(512, 512), mode="bilinear", align_corners=False, antialias=True) * 2 - 1
    with torch.inference_mode():
        reference = (net(x)[0].clamp(-1, 1) + 1) * 127.5
        for dtype in (torch.bfloat16, torch.float16):
            half = GFPGANv1Clean().eval().requires_grad_(False)
            half.load_state_dict(net.state_dict())
            start = time.perf_counter()
            out = half.to(dtype)(x.to(dtype))[0].float()
            seconds = time.perf_counter() - start
            diff = ((out.clamp(-1, 1) + 1) * 127.5 - reference).abs()
            print(f"{dtype}: finite {bool(torch.isfinite(out).all())}, mean {diff.mean():.3f}/255, "
                  f"max {diff.max():.2f}/255, {seconds:.1f} s")


if __name__ == "__main__":
    measure_half_precision()
