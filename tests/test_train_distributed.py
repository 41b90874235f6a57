"""The same training code under ``accelerate launch``: two CPU processes (gloo) stay in lock-step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import natural_image


def test_two_processes_end_with_identical_weights(tmp_path):
    pytest.importorskip("accelerate")
    data = tmp_path / "hr"
    data.mkdir()
    for i in range(4):
        Image.fromarray(natural_image(48, 48, seed=i)).save(data / f"{i}.png")
    worker = Path(__file__).with_name("ddp_worker.py")
    # Keep the caller's PYTHONPATH: it may point at the checkout under test rather than the installed one.
    paths = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths)}
    # accelerate spreads processes with --multi_gpu; without a GPU they run on CPU over gloo.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(worker), str(data), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    for part in ("generator", "ema"):
        for key, value in ranks[0][part].items():
            assert torch.equal(value, ranks[1][part][key]), (part, key)
    start = torch.load(tmp_path / "run/state/latest.state", weights_only=True)
    assert start["step"] == 4
