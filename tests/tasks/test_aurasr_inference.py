"""AuraSR inference through the runner: windows batched on the device, seeded noise whatever the
batch, out-of-memory halving the batch first, fixed windows filled with real context, alpha and
outscale through ``ganpost.upscale``.

A cheap network of the released kind (32 px windows, two blocks per stage) keeps each test fast;
``bench/aurasr.py`` measures the stitching itself on a photo.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers.models import natural_image
from helpers.tolerance import assert_close_to_scale

import ganpost
from ganpost.gan_models.aurasr import UnetUpsampler
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.gan_models.loader import describe_state_dict
from ganpost.runtime import memory
from ganpost.runtime.runner import Runner
from ganpost.runtime.tiling import fill_window, plan_axis

CHEAP = dict(dim=4, image_size=128, input_image_size=32, style_network={"dim_in": 8, "dim_out": 16, "depth": 2},
             up_dim_mults=(1, 2, 4, 8), down_dim_mults=(4, 8), full_attn=(False, False, True, True),
             attn_depths=(1, 1, 1, 1), self_attn_dim_head=2, mid_attn_depth=1, num_conv_kernels=2,
             block_count=2, skip_connect_scale=0.4)


class CountsWindows(torch.nn.Module):
    """Records the batch size of every forward; fails like the CPU allocator above ``limit`` windows."""

    batches: list[int] = []  # on the class: the runner works on a copy of the module

    def __init__(self, inner: torch.nn.Module, limit: int | None = None):
        super().__init__()
        self.inner, self.limit = inner, limit
        CountsWindows.batches = []

    def forward(self, x, **options):
        CountsWindows.batches.append(x.shape[0])
        if self.limit is not None and x.shape[0] > self.limit:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return self.inner(x, **options)


@pytest.fixture(scope="module")
def net() -> UnetUpsampler:
    torch.manual_seed(0)
    module = UnetUpsampler(**CHEAP)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return module.eval().requires_grad_(False)


def aurasr(net: torch.nn.Module, wrapper=None, **wrapper_options):
    model = describe_state_dict(net.state_dict(), input_image_size=CHEAP["input_image_size"])
    if wrapper is not None:
        model = dataclasses.replace(model, module=wrapper(model.module, **wrapper_options), working_copies={})
    return model


def photo(h: int = 40, w: int = 52) -> torch.Tensor:
    return torch.from_numpy(natural_image(h, w, seed=3)).permute(2, 0, 1)[None].float() / 255


def run(model, image, **options) -> torch.Tensor:
    with Runner(model, device="cpu", precision="fp32") as runner:
        return next(runner.run([image], "auto", **options))


def test_windows_are_batched_and_the_seed_does_not_depend_on_the_batch(net):
    model, image = aurasr(net, CountsWindows), photo()
    one_by_one = run(model, image, batch=1, seed=7)
    windows = len(CountsWindows.batches)
    assert windows > 1 and set(CountsWindows.batches) == {1}
    CountsWindows.batches = []
    batched = run(model, image, batch=8, seed=7)
    assert max(CountsWindows.batches) > 1 and sum(CountsWindows.batches) == windows
    assert_close_to_scale(batched, one_by_one)
    other_seed = run(model, image, batch=8, seed=8)
    assert (other_seed - batched).abs().mean() > 1e-4
    assert torch.equal(run(model, image, batch=8, seed=7), batched)  # same seed, same output


def test_out_of_memory_halves_the_batch_before_the_tile(net):
    plain = run(aurasr(net), photo(), batch=1, seed=2)
    model = aurasr(net, CountsWindows, limit=2)
    with Runner(model, device="cpu", precision="fp32") as runner:
        side = runner.tile_side("auto", 40, 52)
        out = next(runner.run([photo()], "auto", batch=8, seed=2))
    assert CountsWindows.batches[0] > 4 and CountsWindows.batches[1] == 4 and max(CountsWindows.batches[2:]) == 2
    assert runner.tile_side("auto", 40, 52) == side  # the tile was never halved
    assert_close_to_scale(out, plain)


def test_batch_option_is_checked(net):
    with Runner(aurasr(net), device="cpu", precision="fp32") as runner, pytest.raises(InvalidOptionError, match="batch"):
        next(runner.run([photo()], "auto", batch=0))


def test_auto_batch_follows_the_memory_budget(net, monkeypatch):
    model = aurasr(net)
    per_window = model.contract.activation_bytes_per_pixel(torch.float32) * 32 * 32
    monkeypatch.setattr(memory, "cpu_tile_budget", lambda: per_window * 3.5)
    assert memory.auto_batch(model, torch.device("cpu"), torch.float32, (32, 32)) == 3
    monkeypatch.setattr(memory, "cpu_tile_budget", lambda: per_window / 10)
    assert memory.auto_batch(model, torch.device("cpu"), torch.float32, (32, 32)) == 1
    monkeypatch.setattr(memory, "cpu_tile_budget", lambda: per_window * 1e6)
    assert memory.auto_batch(model, torch.device("cpu"), torch.float32, (32, 32)) == memory.MAX_AUTO_BATCH


def test_fixed_windows_read_real_context_inside_the_image():
    for length in (20, 32, 33, 100, 257):
        for span in (fill_window(s, length, 32) for s in plan_axis(length, 16, 6, 4)):
            assert 0 <= span.read_start <= span.keep_start < span.keep_end <= span.read_end <= length
            assert span.read_end - span.read_start == min(32, length)


class OverflowsOnBright(torch.nn.Module):
    """In half precision, returns inf for the windows whose mean is above 0.5."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, **options):
        out = self.inner(x, **options)
        if x.dtype == torch.float32:
            return out
        bright = (x.float().mean(dim=(1, 2, 3)) > 0.5).view(-1, 1, 1, 1)
        return torch.where(bright, torch.full_like(out, float("inf")), out)


def test_only_the_windows_that_overflow_are_recomputed_in_fp32(net):
    model = aurasr(net, OverflowsOnBright)
    # The runner's mechanism, on CPU: bf16 allowed here whatever the family's measured flags say.
    model = dataclasses.replace(model, contract=dataclasses.replace(model.contract, bf16_safe=True))
    windows = torch.stack([torch.full((3, 32, 32), 0.2), torch.full((3, 32, 32), 0.8), torch.full((3, 32, 32), 0.3)])
    with Runner(model, device="cpu", precision="bf16") as runner:
        out = runner.forward(windows, seed=1)
        assert runner.fp32_fallbacks == 1 and torch.isfinite(out).all()
    with Runner(model, device="cpu", precision="fp32") as runner:
        torch.testing.assert_close(out[1], runner.forward(windows, seed=1)[1])


def test_upscale_keeps_alpha_and_honours_outscale(net):
    model = aurasr(net)
    rgba = np.concatenate([natural_image(24, 30, seed=5), np.zeros((24, 30, 1), np.uint8)], axis=2)
    rgba[6:18, 8:22, 3] = 255  # an opaque rectangle on a transparent ground
    # Random weights cannot carry alpha through the network as grey; resized, it must land in place.
    out = ganpost.upscale(rgba, model, outscale=2, seed=0, precision="fp32", alpha_mode="resize")
    assert out.shape == (48, 60, 4)
    alpha = out[..., 3].astype(int)
    assert alpha[14:34, 18:42].min() > 200 and alpha[:10].max() < 50 and alpha[:, :14].max() < 50
    assert np.array_equal(out[..., :3], ganpost.upscale(rgba[..., :3], model, outscale=2, seed=0, precision="fp32"))
    through_network = ganpost.upscale(rgba, model, outscale=2, seed=0, precision="fp32")
    assert through_network.shape == (48, 60, 4)
    assert np.array_equal(through_network[..., :3], out[..., :3])
