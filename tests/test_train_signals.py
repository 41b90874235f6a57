"""The CLI under real signals: Ctrl-C saves and exits 130; a SIGKILL at any moment leaves a state
that loads and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch


pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


def _start(photos, out, steps=100000, save_every=1000):
    cmd = [sys.executable, "-m", "ganpost", "train", "realesrgan", "--data", str(photos), "--preset",
           "compact-x4-clean", "--output", str(out), "--steps", str(steps), "--batch-size", "2", "--gt-size", "32",
           "--set", "generator.num_feat=8", "--set", "generator.num_conv=2", "--set", f"run.save_every={save_every}",
           "--set", "run.log_every=1"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for_steps(out, n, proc, timeout=120):
    log = out / "log.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.is_file() and sum(1 for _ in log.open()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("training did not log in time")



def test_ctrl_c_saves_and_exits_cleanly(photos, tmp_path):
    out = tmp_path / "run"
    proc = _start(photos, out)
    _wait_for_steps(out, 3, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    state = torch.load(out / "state/latest.state", weights_only=True)
    assert state["step"] >= 3 and (out / "models/net_g_latest.pth").is_file()


def test_sigkill_leaves_a_state_that_resumes(photos, tmp_path):
    out = tmp_path / "run"
    proc = _start(photos, out, save_every=1)  # saving every step: the kill lands mid-write sometimes
    _wait_for_steps(out, 6, proc)
    proc.kill()
    proc.wait(timeout=60)
    state = torch.load(out / "state/latest.state", weights_only=True)
    step = state["step"]
    assert step >= 1
    import ganpost

    ganpost.load_model(out / "models/net_g_latest.pth")  # the generator file is whole too
    from ganpost.cli import main

    assert main(["train", "realesrgan", "--output", str(out), "--resume", "--steps", str(step + 2)]) == 0
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == step + 2
    assert not list(out.rglob("*.partial"))  # a killed write's leftovers are swept on the next start
