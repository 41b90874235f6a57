"""The translator training benches (bench/finetune_translate.py, bench/cyclegan_unpaired.py): their
colour distances and their timed training loop, which drives the same config and Trainer as
``ganpost train`` (so an engine change that breaks the benches fails here, not in a later session)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cyclegan_unpaired  # noqa: E402
import finetune_translate  # noqa: E402


def test_lab_pixels_match_the_cie_values_of_known_colours():
    image = Image.fromarray(np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8))
    lab = cyclegan_unpaired.lab_pixels(image)
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)  # sRGB red, D65


def test_the_colour_distances_are_zero_for_one_sample_and_see_a_shift():
    x = np.random.default_rng(0).normal(size=(4000, 3)) * [20, 10, 10] + [50, 0, 0]
    shifted = x + [3, 4, 0]
    assert cyclegan_unpaired.frechet(x, x) == pytest.approx(0, abs=1e-6)
    assert cyclegan_unpaired.frechet(x, shifted) == pytest.approx(25, rel=1e-6)  # |Δμ|², same covariance
    direction = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert cyclegan_unpaired.sliced_wasserstein(x, shifted, direction) == pytest.approx(3.5, abs=1e-6)


def test_the_timed_loop_trains_a_cyclegan_and_saves_g_a(tmp_path):
    rng = np.random.default_rng(0)
    for domain in ("A", "B"):
        (tmp_path / domain).mkdir()
        for k in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / domain / f"{k}.png")
    sets = [f"data.dir_a={tmp_path / 'A'}", f"data.dir_b={tmp_path / 'B'}", "generator.net=resnet_2blocks",
            "generator.num_feat=4", "discriminator.num_feat=4", "data.load_size=32", "data.crop_size=32",
            "run.total_steps=1000"]
    saved = finetune_translate.train_for_minutes("cyclegan", "cyclegan", sets, tmp_path / "run", minutes=0.02,
                                                 every=0.01, network="G_A")
    assert saved and all(file.is_file() for _, _, file in saved)
    assert [minute for minute, _, _ in saved] == sorted(minute for minute, _, _ in saved)
    import ganpost

    model = ganpost.load_model(saved[-1][2])
    out = ganpost.translate(Image.new("RGB", (32, 32), (120, 60, 30)), model, precision="fp32", tile=0)
    assert out.size == (32, 32)
