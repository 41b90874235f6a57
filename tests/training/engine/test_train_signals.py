"""The CLI under real signals: Ctrl-C and SIGTERM finish the step, save and exit 130 / 143; a SIGKILL at
any moment, even in the middle of writing a checkpoint, leaves a state that loads and resumes exactly.

The waits are generous (a loaded CI machine starts torch slowly); they bound a hung run, never a speed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch


pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")


WAIT = 600


def _train_args(photos, out, steps=100000, save_every=1000):
    return ["train", "realesrgan", "--data", str(photos), "--preset", "compact-x4-clean", "--output", str(out),
            "--steps", str(steps), "--batch-size", "2", "--gt-size", "32", "--set", "generator.num_feat=8",
            "--set", "generator.num_conv=2", "--set", f"run.save_every={save_every}", "--set", "run.log_every=1"]


def _start(photos, out, steps=100000, save_every=1000, prelude=None, resume=False):
    """``ganpost train`` in a child process; ``prelude`` is Python run in the child before the CLI (a fault)."""
    code = f"{prelude or ''}\nimport sys\nfrom ganpost.cli import main\nsys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, *_train_args(photos, out, steps, save_every), *(["--resume"] if resume else [])]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _logged(out) -> int:
    log = out / "log.jsonl"
    return sum(1 for _ in log.open()) if log.is_file() else 0


def _wait_for_steps(out, n, proc, timeout=WAIT):
    log = out / "log.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.is_file() and sum(1 for _ in log.open()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("training did not log in time")


@pytest.mark.parametrize("signum, status, said", [(signal.SIGINT, 130, "; saved"),
                                                  (signal.SIGTERM, 143, "(terminated); saved")])
def test_ctrl_c_and_sigterm_finish_the_step_save_and_exit(photos, tmp_path, signum, status, said):
    """Ctrl-C, and SIGTERM (how docker stop, systemd and SLURM end a job): every finished step is kept."""
    out = tmp_path / "run"
    proc = _start(photos, out)
    _wait_for_steps(out, 3, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == status, err
    assert said in err and "--resume" in err and "Traceback" not in err
    state = torch.load(out / "state/latest.state", weights_only=True)
    logged = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert state["step"] == logged[-1] >= 3 and (out / "models/net_g_latest.pth").is_file()


def test_sigkill_leaves_a_state_that_resumes(photos, tmp_path):
    out = tmp_path / "run"
    proc = _start(photos, out, save_every=1)  # saving every step: the kill lands mid-write sometimes
    _wait_for_steps(out, 6, proc)
    proc.kill()
    proc.wait(timeout=WAIT)
    state = torch.load(out / "state/latest.state", weights_only=True)
    step = state["step"]
    assert step >= 1
    import ganpost

    ganpost.load_model(out / "models/net_g_latest.pth")  # the generator file is whole too
    from ganpost.cli import main

    assert main(["train", "realesrgan", "--output", str(out), "--resume", "--steps", str(step + 2)]) == 0
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == step + 2
    assert not list(out.rglob("*.partial"))  # a killed write's leftovers are swept on the next start


def test_a_kill_while_the_state_is_being_written_resumes_exactly(photos, tmp_path):
    """SIGKILL halfway through writing the step-2 state: the step-1 state stands, and resuming from it
    ends with the very weights of a run that was never killed."""
    die_mid_write = textwrap.dedent("""
        import os, signal
        from ganpost.training.engine.run_files import RunFiles
        from ganpost.gan_models.atomic import atomic_write
        keep = RunFiles.save_state
        def save_state(self, state):
            if state["step"] == 2:
                def half_then_die(tmp):
                    with open(tmp, "wb") as f:
                        f.write(b"PK\\x03\\x04 the first bytes of a state")
                    os.kill(os.getpid(), signal.SIGKILL)
                atomic_write(self.state, half_then_die)
            return keep(self, state)
        RunFiles.save_state = save_state
    """)
    out = tmp_path / "killed"
    proc = _start(photos, out, steps=3, save_every=1, prelude=die_mid_write)
    proc.communicate(timeout=WAIT)
    assert proc.returncode == -signal.SIGKILL
    assert list(out.rglob("*.partial"))  # the kill really landed mid-write
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == 1

    resumed = _start(photos, out, steps=3, save_every=1, resume=True)  # as the killed run did: one thread
    assert resumed.communicate(timeout=WAIT)[1] and resumed.returncode == 0
    assert not list(out.rglob("*.partial"))
    straight = _start(photos, tmp_path / "straight", steps=3, save_every=1)
    assert straight.communicate(timeout=WAIT)[1] and straight.returncode == 0
    killed = torch.load(out / "models/net_g_latest.pth", weights_only=True)["params"]
    clean = torch.load(tmp_path / "straight/models/net_g_latest.pth", weights_only=True)["params"]
    assert all(torch.equal(killed[k], clean[k]) for k in clean)


def test_kills_at_random_moments_always_leave_a_run_that_resumes(photos, tmp_path):
    rng = random.Random(16)
    out = tmp_path / "run"
    from ganpost.cli import main

    for attempt in range(3):
        proc = _start(photos, out, save_every=1, resume=attempt > 0)
        _wait_for_steps(out, _logged(out) + 1, proc)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        proc.wait(timeout=WAIT)
        step = torch.load(out / "state/latest.state", weights_only=True)["step"]
        args = ["train", "realesrgan", "--output", str(out), "--resume", "--steps", str(step + 1)]
        assert main(args) == 0
        assert torch.load(out / "state/latest.state", weights_only=True)["step"] == step + 1
