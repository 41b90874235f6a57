"""The same training code under ``accelerate launch``: two CPU processes (gloo) stay in lock-step."""

from __future__ import annotations

import torch
from PIL import Image

from helpers.models import natural_image
from helpers.training import two_process_ranks


def test_two_processes_end_with_identical_weights(tmp_path):
    data = tmp_path / "hr"
    data.mkdir()
    for i in range(4):
        Image.fromarray(natural_image(48, 48, seed=i)).save(data / f"{i}.png")
    ranks = two_process_ranks("ddp_worker.py", tmp_path, str(data), str(tmp_path))
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    for part in ("generator", "ema"):
        for key, value in ranks[0][part].items():
            assert torch.equal(value, ranks[1][part][key]), (part, key)
    start = torch.load(tmp_path / "run/state/latest.state", weights_only=True)
    assert start["step"] == 4
