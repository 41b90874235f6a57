"""pix2pix and CycleGAN train step for step as the official trainer (junyanz/pytorch-CycleGAN-and-pix2pix).

``tests/fixtures/translate_train_parity.json`` holds the official run's numbers (losses, learning
rates and checksums of its weights and Adam states after each of 5 steps), stored by
``bench/translate_train_parity.py --write-fixture``; that bench, run beside the official code, found
ours equal to it to the last bit in float32 and float64. Here ours runs alone on the same seed,
batches and dropout seeds, through the learning-rate schedule's first decay, in float64 (the stored
run's precision: float32 training differs between CPUs by more than rounding, see the bench), and
must match within RTOL.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganpost.training.config import load_config
from ganpost.training.config_schema import ConfigError
from helpers.translate_parity import (
    FIXTURE, SCENARIOS, OurRun, biases_without_effect, network_tensors, official_losses, snapshot, tensor_checksums,
)

RTOL = 1e-6  # measured across AVX-512/AMX, AVX2 and plain SSE kernels, 1 or 2 threads: ≤ 5e-12
EXPECTED = json.loads(FIXTURE.read_text())


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: more threads only contend on a shared CPU (the numbers hold for any count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_close(got: dict, want: dict, where: str) -> None:
    """Checksums within RTOL of their own scale: the vector's L2 norm for the signed sums, an average
    element's size for single values."""
    if isinstance(want, list):  # Adam's step counts
        assert got == want, where
        return
    assert (got["n"], got["counters"]) == (want["n"], want["counters"]), where
    scale, element = want["l2"], want["l2"] / math.sqrt(want["n"])
    for key in ("abs_sum", "l2"):
        assert got[key] == pytest.approx(want[key], rel=RTOL, abs=1e-12), f"{where}: {key}"
    for key in ("sum", "projection"):
        assert abs(got[key] - want[key]) <= RTOL * (abs(want[key]) + scale), f"{where}: {key} {got[key]} vs {want[key]}"
    for i, (g, w) in enumerate(zip(got["picks"], want["picks"])):
        assert abs(g - w) <= RTOL * (abs(w) + element), f"{where}: value {i} {g} vs {w}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_five_steps_equal_the_official_trainer(name, tmp_path):
    scenario, expected = SCENARIOS[name], EXPECTED["scenarios"][name]
    ours = OurRun(scenario, tmp_path / "run", dtype=torch.float64)
    networks = ours.networks
    for n, module in networks.items():  # the same seed gives the official initial weights
        assert_close(tensor_checksums(network_tensors(module)), expected["initial"][n], f"initial {n}")
    initial = snapshot(networks)
    for k, want in enumerate(expected["steps"]):
        got = ours.step(k)
        assert got["lr"] == pytest.approx(want["lr"], rel=1e-9), f"step {k + 1}: learning rate"
        losses = official_losses(scenario, got["losses"])
        for loss, value in want["losses"].items():
            assert losses[loss] == pytest.approx(value, rel=RTOL, abs=1e-6), f"step {k + 1}: loss {loss}"
        sums = ours.checksums(initial)
        assert sums.keys() == want["checksums"].keys()
        for key, value in want["checksums"].items():
            assert_close(sums[key], value, f"step {k + 1}: {key}")
    # What the checksums leave out (biases that an instance norm cancels) moved no more than Adam allows.
    bound = 3 * sum(step["lr"] for step in expected["steps"])
    for n, module in networks.items():
        for key in biases_without_effect(module):
            assert float((module.state_dict()[key] - initial[n][key]).abs().max()) <= bound, f"{n}.{key}"


def test_pix2pix_discriminator_first_is_switchable(tmp_path):
    """update_first=false: G's loss sees D from before the step (the first step's G_GAN differs from the
    official one); the official order cannot accumulate gradients, and says so."""
    scenario = SCENARIOS["pix2pix"]
    ours = OurRun(scenario, tmp_path / "run", "discriminator.update_first=false", dtype=torch.float64)
    first = official_losses(scenario, ours.step(0)["losses"])
    official = EXPECTED["scenarios"]["pix2pix"]["steps"][0]["losses"]
    assert first["G_L1"] == pytest.approx(official["G_L1"], rel=RTOL)  # the same G(A)
    assert abs(first["G_GAN"] / official["G_GAN"] - 1) > 1e-2  # but D before its step (measured: 5 %)
    with pytest.raises(ConfigError, match="discriminator.update_first = false"):
        load_config(recipe="pix2pix", sets=["data.dir=x", "optim.accumulation=2"])
    cfg = load_config(recipe="pix2pix", sets=["data.dir=x", "optim.accumulation=2", "discriminator.update_first=false"])
    assert cfg.optim.accumulation == 2


def test_pil_resize_is_the_official_transform(tmp_path):
    """data.resize=pil: the official transforms.Resize on a PIL image (bicubic on 8-bit pixels), exactly;
    the float resize (the default) stays within a few levels of it."""
    from PIL import Image

    from helpers.models import natural_image
    from ganpost.training.recipes.translation.data import PairedImages

    a = natural_image(40, 50, seed=1)
    Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(tmp_path / "0.png")
    official = [np.asarray(Image.fromarray(half).resize((36, 36), Image.BICUBIC)) for half in (a, 255 - a)]
    for resize, worst in (("pil", 0), ("float", 12)):
        data = PairedImages(aligned=tmp_path, load_size=36, crop_size=36, flip=False, resize=resize)
        sample = data[0]
        for key, expected in zip(("a", "b"), official):
            got = sample[key].permute(1, 2, 0).numpy() * 255
            assert np.abs(got - expected).max() <= worst + 1e-3, (resize, key)
    config = load_config(recipe="cyclegan", sets=["data.dir_a=x", "data.dir_b=y", "data.resize=pil"])
    assert config.data.resize == "pil"
