"""Real-ESRGAN's degradation model: kernels, JPEG, sharpening, the batch pipeline and the pool."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.training.degradation import kernels
from ganpost.training.degradation import second_order as degradation
from ganpost.training.degradation import (DegradationSettings, DegradationStage, SecondOrderDegradation,
                                          TrainingPairPool, usm_sharpen)
from ganpost.training.degradation.second_order import filter2d
from ganpost.training.degradation.downscale import bicubic_downscale
from ganpost.training.degradation.jpeg import jpeg_compress, quality_tables


def _photo(size=64, seed=0) -> torch.Tensor:
    return torch.from_numpy(natural_image(size, size, seed=seed)).permute(2, 0, 1).float()[None] / 255


@pytest.mark.parametrize("kind", kernels.KINDS)
def test_shaped_kernels_are_normalised_and_centred(kind):
    k = kernels.shaped_kernel(kind, 11, 2.0, 1.0 if "aniso" in kind else 2.0, 0.7 if "aniso" in kind else 0.0, 1.5)
    assert k.shape == (11, 11) and math.isclose(k.sum(), 1.0, rel_tol=1e-9) and k.argmax() == 60
    assert np.allclose(k, k[::-1, ::-1])  # point-symmetric about the centre
    if "aniso" not in kind:
        assert np.allclose(k, k.T)


def test_sampled_kernels_have_the_official_sizes():
    g = torch.Generator().manual_seed(0)
    stage = DegradationStage()
    sizes = {kernels.random_odd_size(g) for _ in range(200)}
    assert sizes <= set(range(7, 22, 2)) and len(sizes) > 5
    for _ in range(30):
        k = kernels.sample_kernel(stage, g)
        assert k.shape == (21, 21) and math.isclose(k.sum(), 1.0, rel_tol=1e-6)
        assert np.allclose(k, k[::-1, ::-1])  # every kind is point-symmetric, so the padding is centred
    assert np.array_equal(kernels.pulse(), kernels.sample_final_kernel(0.0, g))
    iso = kernels.sample_mixed_kernel(9, ["iso"], [1.0], (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), g)
    assert iso.shape == (9, 9) and np.allclose(iso, iso.T) and np.allclose(iso, iso[::-1])
    a = [kernels.sample_kernel(stage, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert np.array_equal(a[0], a[1])  # deterministic from the generator


def test_sinc_kernel_matches_the_circular_lowpass():
    assert abs(kernels.bessel_j1(np.array([1.0]))[0] - 0.4400505857) < 1e-6
    assert abs(kernels.bessel_j1(np.array([3.8317059702]))[0]) < 1e-6  # first zero
    k = kernels.sinc_kernel(13, math.pi / 2, pad_to=21)
    assert k.shape == (21, 21) and math.isclose(k.sum(), 1.0, rel_tol=1e-9) and (k < 0).any()  # ringing lobes
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_jpeg_is_close_to_pillows_encoder_and_worse_at_low_quality(seed):
    x = _photo(seed=seed)
    errors = {}
    for q in (95, 75, 30):
        ours = jpeg_compress(x, torch.tensor([q]))
        buffer = io.BytesIO()
        Image.fromarray(natural_image(64, 64, seed=seed)).save(buffer, "JPEG", quality=q)
        pil = torch.from_numpy(np.array(Image.open(buffer))).permute(2, 0, 1).float()[None] / 255
        # The simulation now follows the official one (DiffJPEG), not libjpeg: transposed tables, nearest
        # chroma upsampling, no 8-bit rounding. Measured 1.4–3.8 (×1/255) from Pillow 13 on these crops
        # (it was 0.22–0.56 when we imitated libjpeg); the compression error itself is 1.8–6.
        assert (ours - pil).abs().mean() * 255 < 4.5, q
        errors[q] = (ours - x).abs().mean().item()
    assert errors[95] < errors[75] < errors[30]
    luma, chroma = quality_tables(torch.tensor([50.0, 100.0]))
    assert luma[0, 0, 0] == 16 and luma[0, 1, 0] == 11 and chroma[0, 3, 0] == 47  # Annex K at 50, transposed
    assert (luma[1] == 0).all()  # 100: no quantisation (the limit of the official scale)


def test_jpeg_handles_odd_sizes_and_per_image_quality():
    x = torch.rand(2, 3, 21, 30)
    out = jpeg_compress(x, torch.tensor([100, 10]))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    assert (out[0] - x[0]).abs().mean() < (out[1] - x[1]).abs().mean()


def test_usm_sharpens_detail_and_leaves_flat_areas():
    x = _photo()
    sharp = usm_sharpen(x)
    laplacian = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float32).view(1, 1, 3, 3)
    laplacian = laplacian.repeat(3, 1, 1, 1)
    energy = lambda t: torch.nn.functional.conv2d(t, laplacian, groups=3).abs().mean()  # noqa: E731
    assert energy(sharp) > 1.1 * energy(x)
    flat = torch.full((1, 3, 20, 20), 0.3)  # smaller than the 51-tap kernel: reflects more than once
    assert torch.allclose(usm_sharpen(flat), flat)


def test_reflect_padding_of_any_width_matches_numpy():
    x = torch.rand(1, 2, 5, 7)
    for pads in [(2, 2, 3, 3), (12, 12, 9, 9)]:  # narrower, then wider than the image
        top, bottom, left, right = pads
        ours = degradation._reflect_pad(x, top, bottom, left, right)
        expected = np.pad(x.numpy(), ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")
        assert np.array_equal(ours.numpy(), expected)


def test_filter2d_uses_each_images_own_kernel():
    x = torch.rand(2, 3, 16, 16)
    identity, box = kernels.pulse(5), np.full((5, 5), 1 / 25)
    out = filter2d(x, torch.tensor(np.stack([identity, box])).float())
    assert torch.allclose(out[0], x[0], atol=1e-6) and not torch.allclose(out[1], x[1], atol=1e-3)


@pytest.mark.parametrize("scale", [4, 2])
def test_pipeline_shapes_range_and_determinism(scale):
    gt = torch.cat([_photo(64, 0), _photo(64, 1)])
    degrade = SecondOrderDegradation(DegradationSettings(), scale)
    a = degrade(gt, torch.Generator().manual_seed(3))
    b = degrade(gt, torch.Generator().manual_seed(3))
    c = degrade(gt, torch.Generator().manual_seed(4))
    assert a.shape == (2, 3, 64 // scale, 64 // scale)
    assert 0 <= a.min() and a.max() <= 1 and torch.equal(torch.round(a * 255) / 255, a)  # 8-bit levels
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("gaussian", [True, False])
def test_noise_is_deterministic_and_gray_noise_is_shared_by_channels(gaussian):
    stage = DegradationStage(gray_noise_prob=1.0, noise_range=(20.0, 20.0), poisson_scale_range=(3.0, 3.0))
    add = degradation._gaussian_noise if gaussian else degradation._poisson_noise
    x = torch.full((2, 3, 32, 32), 0.5)
    noisy = add(x, stage, torch.Generator().manual_seed(0))
    again = add(x, stage, torch.Generator().manual_seed(0))
    noise = noisy - x
    assert torch.equal(noisy, again) and noise.std() > 0.01
    assert torch.allclose(noise[:, 0], noise[:, 1]) and torch.allclose(noise[:, 1], noise[:, 2])
    colour = add(x, DegradationStage(gray_noise_prob=0.0), torch.Generator().manual_seed(0)) - x
    assert not torch.allclose(colour[:, 0], colour[:, 1])


def test_poisson_only_pipeline_runs():
    second = DegradationStage(gaussian_noise_prob=0.0, resize_range=(0.3, 1.2))
    settings = DegradationSettings(stage1=DegradationStage(gaussian_noise_prob=0.0), stage2=second)
    lq = SecondOrderDegradation(settings, 4)(_photo(64), torch.Generator().manual_seed(1))
    assert lq.shape == (1, 3, 16, 16) and torch.isfinite(lq).all()


def test_bicubic_degradation_is_a_clean_8_bit_downscale():
    gt = torch.cat([_photo(64, 0), _photo(64, 1)])
    for scale in (2, 4):
        lq = bicubic_downscale(gt, scale)
        assert lq.shape == (2, 3, 64 // scale, 64 // scale) and torch.equal(torch.round(lq * 255) / 255, lq)
        assert (lq - torch.nn.functional.avg_pool2d(gt, scale)).abs().mean() < 0.03


def test_pipeline_without_randomness_is_a_plain_downscale():
    still = DegradationStage(blur_prob=0.0, resize_prob=(0.0, 0.0, 1.0), gaussian_noise_prob=1.0,
                             noise_range=(0.0, 0.0), jpeg_range=(100.0, 100.0))
    settings = DegradationSettings(stage1=still, stage2=still, final_sinc_prob=0.0, resize_modes=("area",))
    gt = _photo(64)
    lq = SecondOrderDegradation(settings, 4)(gt, torch.Generator().manual_seed(0))
    expected = torch.nn.functional.interpolate(gt, size=(16, 16), mode="area")
    # stage 1 blur always runs (prob 1 in the official config) → only a small difference remains
    assert (lq - expected).abs().mean() < 0.03


def test_pool_mixes_batches_and_resumes_exactly(caplog):
    pool = TrainingPairPool(5)  # not a multiple of the batch: rounded down to 4, with a warning, no error
    g = torch.Generator().manual_seed(0)
    batches = [(torch.full((2, 3, 4, 4), float(i)), torch.full((2, 3, 8, 8), float(i))) for i in range(6)]
    with caplog.at_level("WARNING"):
        out = [pool.push_pull(lq, gt, g) for lq, gt in batches[:2]]
    assert "using 4" in caplog.text and pool.lq.shape[0] == 4
    assert all(torch.equal(o[0], b[0]) for o, b in zip(out, batches))  # filling: passed through
    state, g_state = pool.state_dict(), g.get_state()
    later = [pool.push_pull(lq, gt, g) for lq, gt in batches[2:]]
    values = {float(v) for lq, _ in later for v in lq[:, 0, 0, 0]}
    assert values <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert all(torch.equal(lq[:, :, :1, :1].flatten(), gt[:, :, :1, :1].flatten()) for lq, gt in later)  # pairs kept
    again, g2 = TrainingPairPool(5), torch.Generator()
    again.load_state_dict(state)
    g2.set_state(g_state)
    replay = [again.push_pull(lq, gt, g2) for lq, gt in batches[2:]]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(later, replay))


def test_pool_smaller_than_a_batch_holds_one_batch():
    pool, g = TrainingPairPool(1), torch.Generator().manual_seed(0)
    first = (torch.zeros(3, 3, 2, 2), torch.zeros(3, 3, 4, 4))
    second = (torch.ones(3, 3, 2, 2), torch.ones(3, 3, 4, 4))
    assert pool.push_pull(*first, g)[0] is first[0]
    lq, gt = pool.push_pull(*second, g)
    assert torch.equal(lq, first[0]) and torch.equal(gt, first[1])  # the stored batch comes back
