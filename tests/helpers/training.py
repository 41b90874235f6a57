"""What the training tests share: stopping a run part-way, and launching a worker in two processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganpost.training.engine import Callbacks

TESTS = Path(__file__).resolve().parents[1]


class StopAt(Callbacks):
    """Stops the run (as a cancel does: state saved) once ``step`` steps are done."""

    def __init__(self, step: int):
        self.step, self.seen = step, 0

    def on_step(self, report):
        self.seen = report.step

    def should_stop(self):
        return self.seen >= self.step


def two_process_ranks(worker: str, out: Path, *args: str) -> list[dict]:
    """``tests/<worker>`` under ``accelerate launch`` in two CPU processes (gloo); each rank saves
    ``out/rank<r>.pt``, returned in rank order."""
    pytest.importorskip("accelerate")
    # Keep the caller's PYTHONPATH: it may point at the checkout under test rather than the installed one.
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths)}
    # accelerate spreads processes with --multi_gpu; without a GPU they run on CPU over gloo.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(TESTS / worker), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
