"""The runner honours each model's contract: value range, output adapter, size rules, tiling policy,
test-time norm behaviour; and the registry's detection order and errors. Toy families stand in
for the ones still to come (translators in [-1, 1] at ×1, fixed-window upsamplers, tuple outputs)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.paths import REPO
from helpers.models import save_official, tiny_compact, tiny_rrdbnet
from helpers.tolerance import assert_close_to_scale
from ganpost import load_model, upscale
from ganpost.gan_models import InvalidOptionError, UnsupportedModelError, registry
from ganpost.gan_models.errors import CancelledError, OutOfMemoryError
from ganpost.gan_models.contract import (
    ModelContract, ModelDescriptor, SizeRule, Task, AtInference, TilingPolicy, first_tensor,
)
from ganpost.runtime.runner import Runner

PACKAGE = REPO


def describe(module: nn.Module, **contract) -> ModelDescriptor:
    defaults = dict(task=Task.TRANSLATE, scale=1, in_channels=3, out_channels=3, value_range=(0.0, 1.0),
                    size=SizeRule(), tiling=TilingPolicy(margin=0), activation_elements=64, fp16_safe=True,
                    bf16_safe=True)
    module = module.eval()
    return ModelDescriptor("Toy", ModelContract(**(defaults | contract)), sum(p.numel() for p in module.parameters()),
                           None, module)


class TupleOut(nn.Module):
    """Works in [-1, 1] and returns (image, extras), like GFPGAN."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        assert x.min() < 0, "the runner must hand this network [-1, 1] input"
        return torch.tanh(self.conv(x)), [x.mean()]


def test_value_range_and_output_adapter():
    net = TupleOut()
    model = describe(net, value_range=(-1.0, 1.0), output_adapter=first_tensor)
    x = torch.rand(1, 3, 20, 24)
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = next(runner.run([x], tile=0))
    with torch.no_grad():
        expected = (net(x * 2 - 1)[0] + 1) / 2
    torch.testing.assert_close(out, expected[0])


class NeedsMultiple(nn.Module):
    def __init__(self, multiple: int, minimum: int):
        super().__init__()
        self.multiple, self.minimum = multiple, minimum
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        h, w = x.shape[-2:]
        assert h % self.multiple == 0 and w % self.multiple == 0 and min(h, w) >= self.minimum, (h, w)
        return self.conv(x)


def test_size_multiple_and_minimum_are_padded_and_cropped_back():
    model = describe(NeedsMultiple(8, 16), size=SizeRule(multiple=8, minimum=16), tiling=TilingPolicy(margin=4))
    for h, w in ((13, 21), (5, 7), (40, 33)):
        image = (np.random.default_rng(h).random((h, w, 3)) * 255).astype(np.uint8)
        assert upscale_like(model, image).shape == (h, w, 3)


def upscale_like(model: ModelDescriptor, image: np.ndarray, tile=0) -> np.ndarray:
    with Runner(model, device="cpu", precision="fp32") as runner:
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        out = next(runner.run([x], tile=tile))
    return out.permute(1, 2, 0).numpy()


class FixedWindow(nn.Module):
    """Reads exactly 32×32 windows and upsamples ×2 (AuraSR-like, in miniature)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)

    def forward(self, x):
        assert x.shape[-2:] == (32, 32), x.shape
        return nn.functional.pixel_shuffle(self.conv(x), 2)


def test_fixed_window_models_get_exactly_their_window():
    model = describe(FixedWindow(), task=Task.UPSCALE, scale=2, size=SizeRule(fixed=32),
                     tiling=TilingPolicy(margin=4, overlap=4))
    image = (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8)
    for tile in ("auto", 0, 512):
        assert upscale_like(model, image, tile=tile).shape == (100, 140, 3)


class ReceptiveField(nn.Module):
    """Five 3×3 convolutions: a receptive field of 5 pixels each side."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*(nn.Conv2d(3, 3, 3, padding=1) for _ in range(5)))

    def forward(self, x):
        return self.body(x)


def test_exact_tiling_policy_gives_the_untiled_result():
    model = describe(ReceptiveField(), tiling=TilingPolicy(margin=5, exact=True))
    image = (np.random.default_rng(1).random((70, 90, 3)) * 255).astype(np.uint8)
    assert_close_to_scale(upscale_like(model, image, tile=32), upscale_like(model, image, tile=0))


class BatchStats(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.norm(self.conv(x))


@pytest.mark.parametrize("mode", [AtInference.EVAL, AtInference.AS_TRAINED])
def test_test_time_mode_of_norm_layers(mode):
    net = BatchStats()
    with torch.no_grad():
        net.norm.running_mean.fill_(0.3)
        net.norm.running_var.fill_(2.0)
    model = describe(net, test_time=mode)
    x = torch.rand(1, 3, 16, 16)
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = runner.forward(x)
    reference = BatchStats()
    reference.load_state_dict(net.state_dict())
    with torch.no_grad():
        expected = reference.train(mode == AtInference.AS_TRAINED)(x)
    torch.testing.assert_close(out, expected)
    assert not net.training, "the loaded module itself stays in eval mode"
    assert net.norm.running_mean.eq(0.3).all(), "running statistics are not updated by inference"


def test_as_trained_tiles_run_one_per_forward():
    # Batch statistics would mix the tiles of a batch: each tile is normalised on its own, as one
    # tile redone in fp32 after an overflow is.
    net = BatchStats()
    image = torch.rand(1, 3, 64, 64)
    with Runner(describe(net, test_time=AtInference.AS_TRAINED), device="cpu", precision="fp32") as runner:
        assert runner.batch_size("auto", 32) == runner.batch_size(4, 32) == 1
        out = next(runner.run([image], tile=32, batch=4))
    reference = BatchStats()
    reference.load_state_dict(net.state_dict())
    with torch.no_grad():
        tile = reference.train()(image[..., 32:, :32])[0]
    torch.testing.assert_close(out[..., 32:, :32], tile)


class RecordsLayout(nn.Module):
    """Notes the memory format of the input and of the convolution's weight it is run with."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        nhwc = torch.channels_last
        self.seen.append((x.is_contiguous(memory_format=nhwc) and not x.is_contiguous(),
                          self.conv.weight.is_contiguous(memory_format=nhwc) and not self.conv.weight.is_contiguous()))
        return self.conv(x)


@pytest.mark.parametrize("channels_last", [True, False])
def test_memory_format_is_the_one_the_contract_allows(channels_last):
    model = describe(RecordsLayout(), channels_last=channels_last)
    x = torch.rand(1, 3, 16, 16)
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = runner.forward(x)
        copy = runner._module
    assert copy.seen == [(channels_last, channels_last)]
    with torch.no_grad():
        torch.testing.assert_close(out, model.module.conv(x))
    assert model.module.conv.weight.is_contiguous(), "the loaded module is never converted"


def test_unsafe_precision_is_refused_from_the_contract():
    model = describe(ReceptiveField(), bf16_safe=False)
    with pytest.raises(InvalidOptionError, match="not safe in bf16"):
        Runner(model, device="cpu", precision="bf16")
    with Runner(model, device="cpu", precision="auto") as runner:
        assert runner.dtype == torch.float32


def test_upscale_refuses_other_tasks():
    with pytest.raises(InvalidOptionError, match="is an image-to-image translator, not an upscaler"):
        upscale(np.zeros((8, 8, 3), np.uint8), describe(ReceptiveField()))


# --------------------------------------------------------------------------------- registry
def test_unsupported_checkpoint_lists_what_was_tried():
    with pytest.raises(UnsupportedModelError) as err:
        from ganpost.gan_models import describe_state_dict

        describe_state_dict({"encoder.weight": torch.zeros(2, 2)})
    assert f"Tried, in order: {', '.join(registry.architectures())}" in str(err.value)


def test_detection_order_is_deterministic_and_each_entry_claims_its_own(tmp_path):
    for make, arch in ((tiny_rrdbnet, "RRDBNet"), (tiny_compact, "SRVGGNetCompact")):
        sd = make().state_dict()
        claims = [e.architecture for e in registry.DETECTION_ORDER if e.detect(sd)]
        assert claims[0] == arch == registry.detect(sd, "x").architecture


def test_family_options_are_checked(tmp_path):
    path = save_official(tiny_rrdbnet(), tmp_path / "r.pth")
    with pytest.raises(InvalidOptionError, match="RRDBNet, which takes no act_type option"):
        load_model(path, act_type="relu")


def test_core_never_tests_an_architecture_name():
    """Only the families and the registry may name architectures in code (docs and comments aside)."""
    names = registry.architectures()
    core = [*PACKAGE.glob("runtime/**/*.py"), *PACKAGE.glob("tasks/*.py"), *PACKAGE.glob("integrations/*.py"),
            *PACKAGE.glob("nodes/*.py"), *PACKAGE.glob("cli/*.py"),
            PACKAGE / "gan_models" / "loader.py", PACKAGE / "gan_models" / "contract.py"]
    for path in core:
        text = path.read_text(encoding="utf-8")
        for name in names:
            assert f'"{name}"' not in text and f"'{name}'" not in text, f"{path} names {name} in code"


def test_a_discriminator_is_recognised_and_refused_as_an_upscaler(tmp_path):
    from ganpost.gan_models.pix2pix import NLayerDiscriminator
    from ganpost.gan_models.realesrgan import UNetDiscriminatorSN
    from ganpost.training.components.discriminators import load_discriminator

    for net in (UNetDiscriminatorSN(num_feat=8), NLayerDiscriminator(num_feat=8)):
        path = save_official(net, tmp_path / f"{type(net).__name__}.pth", key="params")
        model = load_model(path)
        assert model.architecture == type(net).__name__ and model.task == "discriminator"
        with pytest.raises(InvalidOptionError, match=r"is a discriminator \(it scores images in training\), not an upscaler"):
            upscale(np.zeros((16, 16, 3), np.uint8), model)
    with pytest.raises(UnsupportedModelError, match="not a discriminator"):
        load_discriminator(save_official(tiny_compact(), tmp_path / "g.pth"))


def test_forward_options_are_only_those_the_contract_lists():
    model = describe(ReceptiveField())
    with Runner(model, device="cpu", precision="fp32") as runner:
        with pytest.raises(InvalidOptionError, match="takes no noise option"):
            runner.forward(torch.rand(1, 3, 8, 8), noise=1)


# ------------------------------------------------------------------------------ equal windows (faces)
class Brightens(nn.Module):
    """Adds 0.1; records each forward's batch size; runs out of memory above ``limit`` windows; gives inf in
    half precision for windows whose mean exceeds 0.5 (an overflow the fp32 pass does not have)."""

    def __init__(self, limit: int = 1000):
        super().__init__()
        self.limit, self.batches = limit, []
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        self.batches.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        out = x * self.scale + 0.1
        if x.dtype != torch.float32:
            hot = x.flatten(1).mean(1) > 0.5
            out = torch.where(hot[:, None, None, None], torch.full_like(out, float("inf")), out)
        return out


def test_run_windows_batches_reports_progress_and_equals_one_forward():
    windows = torch.rand(5, 3, 16, 16)
    seen = []
    model = describe(Brightens())
    with Runner(model, device="cpu", precision="fp32", progress=lambda d, t: seen.append((d, t))) as runner:
        out = runner.run_windows(windows, batch=2)
        copy = runner._module
    torch.testing.assert_close(out, windows + 0.1)
    assert copy.batches == [2, 2, 1] and seen == [(2, 5), (4, 5), (5, 5)]


def test_run_windows_halves_the_batch_on_out_of_memory_and_gives_up_at_one():
    windows = torch.rand(7, 3, 8, 8)
    model = describe(Brightens(limit=2))
    with Runner(model, device="cpu", precision="fp32") as runner:
        out = runner.run_windows(windows, batch=8)
        batches = runner._module.batches
    torch.testing.assert_close(out, windows + 0.1)
    assert batches[:3] == [7, 4, 2] and sum(b for b in batches if b <= 2) == 7  # 7 of 8: all there are
    failing = describe(Brightens(limit=0))
    with Runner(failing, device="cpu", precision="fp32") as runner, pytest.raises(OutOfMemoryError,
                                                                                 match="one 8×8 window"):
        runner.run_windows(windows, batch=4)


def test_run_windows_sizes_batches_from_memory_and_runs_as_trained_models_one_by_one(monkeypatch):
    import ganpost.runtime.runner as runner_module

    asked = []
    monkeypatch.setattr(runner_module, "auto_batch", lambda model, device, dtype, window: asked.append(window) or 3)
    with Runner(describe(Brightens(), size=SizeRule(fixed=32)), device="cpu", precision="fp32") as runner:
        runner.run_windows(torch.rand(4, 3, 16, 16))
        assert runner._module.batches == [3, 1] and asked == [(32, 32)]  # a fixed window is what it reads
    with Runner(describe(BatchStats(), test_time=AtInference.AS_TRAINED), device="cpu", precision="fp32") as runner:
        assert runner._windows_per_forward("auto", (8, 8)) == runner._windows_per_forward(4, (8, 8)) == 1


def test_run_windows_recomputes_overflowing_windows_in_fp32_and_cancels():
    windows = torch.rand(4, 3, 8, 8) * 0.5
    windows[2] += 0.5  # this one overflows in bf16
    with Runner(describe(Brightens()), device="cpu", precision="bf16") as runner:
        out = runner.run_windows(windows, batch=4)
        assert runner.fp32_fallbacks == 1 and torch.isfinite(out).all()
    torch.testing.assert_close(out[2], windows[2] + 0.1)
    calls = []
    with Runner(describe(Brightens()), device="cpu", precision="fp32", cancel=lambda: calls.append(1) or True) as runner:
        with pytest.raises(CancelledError):
            runner.run_windows(windows, batch=1)
        assert runner._module.batches == [1] and calls == [1]


def test_run_windows_finish_and_no_windows():
    windows = torch.rand(3, 3, 8, 8)
    with Runner(describe(Brightens()), device="cpu", precision="fp32") as runner:
        means = runner.run_windows(windows, batch=2, finish=lambda out: out.mean(dim=(1, 2, 3)))
        torch.testing.assert_close(means, (windows + 0.1).mean(dim=(1, 2, 3)))
        assert runner.run_windows(windows[:0]).shape == (0, 3, 8, 8)
        assert runner.run_windows(windows[:0], finish=lambda out: out[:, :1, :2, :2]).shape == (0, 1, 2, 2)


class Points(nn.Module):
    """A toy detector: one candidate per 4×4 cell, its score the cell's mean."""

    def forward(self, x):
        cells = F.avg_pool2d(x.mean(1, keepdim=True), 4)
        return cells.flatten(1), cells.shape[-2:]


def decode_points(raw, size):
    scores, (rows, cols) = raw
    ys, xs = torch.meshgrid(torch.arange(rows) * 4.0, torch.arange(cols) * 4.0, indexing="ij")
    boxes = torch.stack([xs, ys, xs + 4, ys + 4], -1).reshape(1, -1, 4).expand(scores.shape[0], -1, -1)
    assert size == (rows * 4, cols * 4)
    return torch.cat([boxes, scores[..., None]], dim=-1)


def test_a_contracts_decode_replaces_the_image_output():
    model = describe(Points(), task=Task.FACE_DETECT, out_channels=0, decode=decode_points)
    x = torch.rand(2, 3, 8, 12)
    with Runner(model, device="cpu", precision="fp32") as runner:
        found = runner.run_windows(x)
    assert found.shape == (2, 6, 5)
    torch.testing.assert_close(found[..., 4], F.avg_pool2d(x.mean(1, keepdim=True), 4).flatten(1))


def test_whole_images_of_one_size_share_a_forward_and_equal_one_at_a_time():
    small = [torch.rand(1, 3, 12, 16) for _ in range(5)]
    images = small[:3] + [torch.rand(1, 3, 20, 8)] + small[3:]  # a different size breaks the run
    seen = []
    with Runner(describe(Brightens()), device="cpu", precision="fp32",
                progress=lambda d, t: seen.append(d)) as runner:
        together = list(runner.run(images, tile=0, batch=2))
        batches = list(runner._module.batches)
        alone = [next(runner.run([image], tile=0)) for image in images]
    assert batches == [2, 1, 1, 2]  # three of one size: 2 + 1; the odd one; then the last two together
    for a, b in zip(together, alone):
        assert torch.equal(a, b)
    assert seen[:4] == [2, 3, 4, 6]  # then the one-at-a-time runs: one each


def test_whole_image_batches_halve_on_out_of_memory_and_tiled_images_are_never_stacked():
    images = [torch.rand(1, 3, 8, 8) for _ in range(4)]
    with Runner(describe(Brightens(limit=2)), device="cpu", precision="fp32") as runner:
        out = list(runner.run(images, tile=0, batch=4))
        assert runner._module.batches[:2] == [4, 2]
    for image, result in zip(images, out):
        torch.testing.assert_close(result, image[0] + 0.1)
    big = [torch.rand(1, 3, 40, 40) for _ in range(2)]
    with Runner(describe(Brightens()), device="cpu", precision="fp32") as runner:
        list(runner.run(big, tile=32, batch=8))  # several tiles each: one image's tiles per forward, never two images
        assert runner._module.batches == [4, 4]
