"""The upscale task on the runner: tiling accuracy, precision fallback, OOM fallback, alpha, bit depth, sizes."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image, shared_weight, tiny_compact, tiny_rrdbnet
from helpers.tolerance import assert_close_to_scale
from ganpost import load_model, upscale
from ganpost.gan_models import CancelledError, ImageInputError, OutOfMemoryError, describe_state_dict
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.runtime import memory
from ganpost.runtime.runner import Runner


def compact_model(**kwargs):
    return describe_state_dict(tiny_compact(**kwargs).state_dict())


def rrdb_model(**kwargs):
    return describe_state_dict(tiny_rrdbnet(**kwargs).state_dict())


def float_image(h=64, w=64, seed=0):
    return natural_image(h, w, seed).astype(np.float32) / 255


def test_compact_tiling_is_exact():
    """The context margin covers the compact net's whole receptive field, so tiles are exact."""
    model, img = compact_model(num_conv=4), float_image(70, 90)
    whole = upscale(img, model, tile=0)
    tiled = upscale(img, model, tile=32)
    assert_close_to_scale(tiled, whole)


@pytest.mark.parametrize("scale", [4, 2, 1])
def test_rrdbnet_tiles_close_to_whole(scale):
    model, img = rrdb_model(scale=scale), float_image(72, 96)
    whole, tiled = upscale(img, model, tile=0), upscale(img, model, tile=32)
    assert tiled.shape == whole.shape == (72 * scale, 96 * scale, 3)
    assert np.abs(tiled - whole).mean() * 255 < 0.1


def test_tile_at_least_image_is_untiled():
    model, img = rrdb_model(), float_image(40, 50)
    direct = model.module(torch.from_numpy(img).permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0)
    np.testing.assert_array_equal(upscale(img, model, tile=64), upscale(img, model, tile=0))
    assert_close_to_scale(upscale(img, model, tile=64, precision="fp32"), direct)


def test_no_seams_across_tile_borders():
    """A smooth gradient stays smooth: no step where tiles meet."""
    model = compact_model(num_conv=3)
    ramp = np.tile(np.linspace(0, 1, 96, dtype=np.float32), (96, 1))[..., None].repeat(3, 2)
    out = upscale(ramp, model, tile=32)
    steps = np.abs(np.diff(out, axis=1)).max(axis=(0, 2))
    assert steps.max() < 10 * np.median(steps) + 1e-3


def test_real_x4plus_tiling_bound():
    """RealESRGAN_x4plus, 256×256 photo, 128 px tiles vs untiled: mean ≤ 0.1/255, 99.9th pct ≤ 2/255."""
    model = load_model(shared_weight("RealESRGAN_x4plus.pth"))
    img = natural_image(256, 256, seed=3).astype(np.float32) / 255
    whole, tiled = upscale(img, model, tile=0, precision="fp32"), upscale(img, model, tile=128, precision="fp32")
    diff = np.abs(whole - tiled) * 255
    assert diff.mean() <= 0.1 and np.percentile(diff, 99.9) <= 2.0, (diff.mean(), np.percentile(diff, 99.9))


class Overflowing(torch.nn.Module):
    """Returns inf in half precision, like an fp16 overflow inside a real network."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        return out + float("inf") if x.dtype in (torch.float16, torch.bfloat16) else out


def test_half_precision_overflow_is_recomputed_in_fp32():
    model = compact_model()
    object.__setattr__(model, "module", Overflowing(model.module))
    x = torch.from_numpy(float_image(16, 16)).permute(2, 0, 1)[None]
    with Runner(model, device="cpu", precision="bf16") as runner:
        out = runner.forward(x)
        assert torch.isfinite(out).all() and runner.fp32_fallbacks == 1
    with torch.no_grad():
        torch.testing.assert_close(out, model.module.inner(x))


class FailsAbove(torch.nn.Module):
    """Raises the CPU allocator's error for inputs larger than ``limit`` pixels."""

    failures = 0  # on the class: the runner works on a copy of the module

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit = inner, limit
        FailsAbove.failures = 0

    def forward(self, x):
        if x.shape[-1] * x.shape[-2] > self.limit:
            FailsAbove.failures += 1
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return self.inner(x)


def test_out_of_memory_halves_the_tile_and_retries():
    model = compact_model(num_conv=2)
    img = float_image(128, 128)
    expected = upscale(img, model, tile=0, precision="fp32")
    failing = FailsAbove(model.module, limit=90 * 90)
    object.__setattr__(model, "module", failing)
    model.working_copies.clear()
    seen = []
    out = upscale(img, model, tile=128, precision="fp32", progress=lambda done, total: seen.append((done, total)))
    assert FailsAbove.failures >= 1
    assert_close_to_scale(out, expected)
    assert seen[-1][0] == seen[-1][1], "progress ends complete after the retry"


def test_out_of_memory_floor_raises_clear_error():
    model = compact_model(num_conv=2)
    object.__setattr__(model, "module", FailsAbove(model.module, limit=1))
    with pytest.raises(OutOfMemoryError, match="out of memory.*tiles"):
        upscale(float_image(64, 64), model, tile=64)
    assert next(model.module.parameters()).device.type == "cpu"


def test_other_runtime_errors_are_not_swallowed():
    model = compact_model()

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("something else")

    object.__setattr__(model, "module", Broken())
    with pytest.raises(RuntimeError, match="something else"):
        upscale(float_image(16, 16), model, tile=0)


def test_rgba_keeps_alpha_both_modes():
    model = compact_model(scale=2)
    rgba = np.concatenate([natural_image(32, 40), np.zeros((32, 40, 1), np.uint8)], axis=2)
    rgba[8:24, 10:30, 3] = 255
    for mode in ("network", "resize"):
        out = upscale(rgba, model, alpha_mode=mode)
        assert out.shape == (64, 80, 4) and out.dtype == np.uint8
        assert out[20:44, 24:56, 3].min() > 200 and out[:8, :8, 3].max() < 30


def test_constant_alpha_is_exact():
    model = compact_model(scale=2)
    img = Image.fromarray(natural_image(20, 20)).convert("RGBA")
    out = upscale(img, model)
    assert out.mode == "RGBA" and out.size == (40, 40)
    assert np.asarray(out)[..., 3].min() == 255


def test_sixteen_bit_stays_sixteen_bit():
    model = compact_model(scale=2)
    img16 = natural_image(24, 24).astype(np.uint16) * 257 + 3
    out = upscale(img16, model)
    assert out.dtype == np.uint16 and out.shape == (48, 48, 3)
    # Values off the 8-bit grid survive: the result is not 8-bit data scaled up.
    assert np.any(out % 257 != 0)


@pytest.mark.parametrize("kind", ["pil", "numpy_u8", "numpy_float", "tensor", "grey", "batch"])
def test_same_kind_comes_back(kind):
    model = compact_model(scale=2)
    base = natural_image(16, 12)
    inputs = {
        "pil": Image.fromarray(base),
        "numpy_u8": base,
        "numpy_float": base.astype(np.float32) / 255,
        "tensor": torch.from_numpy(base).permute(2, 0, 1).float() / 255,
        "grey": base[..., 0],
        "batch": np.stack([base, base[::-1].copy()]),
    }
    out = upscale(inputs[kind], model)
    if kind == "pil":
        assert out.size == (24, 32) and out.mode == "RGB"
    elif kind == "tensor":
        assert out.shape == (3, 32, 24) and out.dtype == torch.float32
    elif kind == "grey":
        assert out.shape == (32, 24) and out.dtype == np.uint8
    elif kind == "batch":
        assert out.shape == (2, 32, 24, 3)
    else:
        assert out.shape == (32, 24, 3) and out.dtype == inputs[kind].dtype


def test_outscale_and_exact_size():
    model = compact_model(scale=4)
    img = natural_image(30, 20)
    assert upscale(img, model, outscale=1.5).shape == (45, 30, 3)
    assert upscale(img, model, size=(33, 17)).shape == (17, 33, 3)
    assert upscale(img, model, outscale=0.5).shape == (15, 10, 3)


def test_progress_and_cancel():
    model = compact_model()
    calls = []
    upscale(float_image(64, 64), model, tile=32, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(CancelledError):
        upscale(float_image(64, 64), model, tile=32, cancel=lambda: True)
    assert next(model.module.parameters()).device.type == "cpu"


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 5), np.uint8), "channels"),
    (np.zeros((0, 4, 3), np.uint8), "nothing to process"),
    (np.zeros((4, 4, 3), np.int64), "dtype"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    ("image.png", "unsupported image type"),
])
def test_bad_images_are_rejected_clearly(bad, message):
    with pytest.raises(ImageInputError, match=message):
        upscale(bad, compact_model())


def test_bf16_runs_on_cpu_close_to_fp32():
    model, img = compact_model(), float_image(32, 32)
    np.testing.assert_allclose(upscale(img, model, precision="bf16"), upscale(img, model, precision="fp32"), atol=0.05)


def test_runs_leave_the_loaded_module_untouched():
    """Half-precision and channels-last working copies never change the descriptor's own module."""
    model, img = compact_model(), float_image(24, 24)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    first = upscale(img, model, precision="bf16")
    upscale(img, model, precision="fp32")
    again = upscale(img, model, precision="bf16")
    np.testing.assert_array_equal(first, again)
    for key, value in model.module.state_dict().items():
        assert value.dtype == torch.float32 and value.device.type == "cpu" and torch.equal(value, before[key])
        assert value.ndim != 4 or value.is_contiguous()  # not converted to channels_last in place


def test_cpu_tile_budget_follows_available_memory():
    assert memory.cpu_tile_budget(available=16 << 30) == 4 << 30  # a quarter of what is free
    assert memory.cpu_tile_budget(available=1 << 30) == memory.CPU_BUDGET_RANGE[0]  # little free: the floor
    assert memory.cpu_tile_budget(available=256 << 30) == memory.CPU_BUDGET_RANGE[1]  # a big server: the ceiling


def test_real_x4plus_bf16_error_against_fp32():
    """What precision="auto" picks on CPUs with bf16 matrix units: within 0.5/255 mean, 3/255 at the 99.9th pct."""
    model = load_model(shared_weight("RealESRGAN_x4plus.pth"))
    img = natural_image(64, 64, seed=5).astype(np.float32) / 255
    diff = np.abs(upscale(img, model, precision="bf16", tile=0) - upscale(img, model, precision="fp32", tile=0)) * 255
    assert diff.mean() <= 0.5 and np.percentile(diff, 99.9) <= 3.0, (diff.mean(), np.percentile(diff, 99.9))


def test_mixed_modes_and_sizes_in_one_list():
    model = compact_model(scale=2)
    rgb = Image.fromarray(natural_image(16, 12))
    images = [rgb, rgb.convert("RGBA"), rgb.convert("L"), Image.fromarray(natural_image(10, 20))]
    out = upscale(images, model)
    assert [(o.mode, o.size) for o in out] == [("RGB", (24, 32)), ("RGBA", (24, 32)), ("L", (24, 32)),
                                               ("RGB", (40, 20))]


# ---------------------------------------------------------------------------- outputs that cannot fit
def test_an_output_the_memory_cannot_hold_is_refused_before_compute(monkeypatch):
    model, img = compact_model(scale=4), natural_image(64, 48)
    monkeypatch.setattr(memory, "available_host_memory", lambda: 100_000)

    def no_compute(*args, **kwargs):
        raise AssertionError("computed an output that cannot fit")

    monkeypatch.setattr(Runner, "__init__", no_compute)
    with pytest.raises(OutOfMemoryError) as err:
        upscale(img, model)
    assert str(err.value) == ("upscaling a 48×64 image ×4 to 192×256 needs about 934 kB of memory; 100 kB is "
                              "available. Ask for a smaller output (outscale= or size=), or split the image into "
                              "parts.")
    with pytest.raises(OutOfMemoryError, match=r"^upscaling 2 images in one call .*Pass fewer images per call"):
        upscale([img, img], model)


def test_a_job_that_fits_or_an_unknown_memory_still_runs(monkeypatch):
    model, img = compact_model(scale=4), natural_image(16, 12)
    monkeypatch.setattr(memory, "available_host_memory", lambda: 10**9)
    assert upscale(img, model).shape == (64, 48, 3)
    monkeypatch.setattr(memory, "available_host_memory", lambda: None)  # no way to tell: the pixel cap guards
    assert upscale(img, model).shape == (64, 48, 3)


def test_the_estimate_covers_what_issue_16_saw_allocated():
    # 144 Mpx at ×4: the allocator was asked for 27.6 GB (the float32 network output) and more followed
    assert memory.image_job_bytes(12000 * 12000, 16 * 12000 * 12000, 16 * 12000 * 12000) > 27.6e9 * 1.5
    # 30000² read for ×2: decoding (13.4 GB seen) then a 10.1 GiB float32 copy before the network even ran
    assert memory.image_job_bytes(30000**2, 4 * 30000**2, 4 * 30000**2) > 13.4e9 + 10.1 * 2**30


def test_available_memory_is_read_from_the_machine():
    available = memory.available_host_memory()
    assert available is None or available > 0


def test_an_allocator_refusal_of_the_output_is_our_error(monkeypatch):
    model = compact_model(scale=2)
    real_empty = torch.empty

    def refusing(*shape, **kwargs):
        if len(shape) == 3 and shape[1] >= 64:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 27600000000 bytes.")
        return real_empty(*shape, **kwargs)

    monkeypatch.setattr(torch, "empty", refusing)
    with Runner(model, device="cpu", precision="fp32") as runner, pytest.raises(OutOfMemoryError,
                                                                                match="output of .* does not fit"):
        next(runner.run([torch.rand(1, 3, 32, 40)], tile=0))


def test_the_old_model_first_order_still_works_with_a_deprecation_warning():
    model = compact_model()
    img = float_image(24, 24)
    with pytest.warns(DeprecationWarning, match=r"upscale\(image, model\)"):
        old = upscale(model, img, tile=0)
    np.testing.assert_array_equal(old, upscale(img, model, tile=0))


def test_a_model_may_be_a_known_name_or_a_file(tmp_path):
    img = float_image(16, 16)
    by_name = upscale(img, "ganpost-compact-x4", tile=0)
    assert by_name.shape == (64, 64, 3)
    with pytest.raises(InvalidOptionError, match="not a ganpost model"):
        upscale(img, 3.5)
