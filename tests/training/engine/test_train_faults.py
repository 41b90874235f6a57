"""Faults a run must survive with one clear line and every earlier file intact: a full disk while
saving, a corrupt, truncated or empty state, a device this machine lacks. And what the progress line
promises: an ETA that a slow step does not swing, and days past 24 hours."""

from __future__ import annotations

import errno
import logging

import pytest
import torch

from ganpost.cli import main
from ganpost.runtime import precision as runtime_precision
from ganpost.cli.train_command import ProgressLine, format_duration
from ganpost.training.engine.loop import StepReport
from ganpost.training.engine.precision import amp_dtype


def _train(photos, out, *extra, steps=2):
    return main(["train", "realesrgan", "--data", str(photos), "--preset", "compact-x4-clean", "--output", str(out),
                 "--steps", str(steps), "--batch-size", "2", "--gt-size", "32", "--set", "generator.num_feat=8",
                 "--set", "generator.num_conv=2", "--set", "run.save_every=1", *extra])


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ganpost: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_a_full_disk_stops_the_run_with_the_last_save_intact(photos, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert _train(photos, out, steps=1) == 0
    before = _files(out / "models") | {"state": (out / "state/latest.state").read_bytes()}
    real_save = torch.save

    def disk_full(obj, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"the first block")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    capsys.readouterr()
    assert _train(photos, out, "--resume", steps=3) == 1
    line = _one_error(capsys)
    assert "could not save step 2" in line and "No space left on device" in line and "MiB free" in line
    assert "files saved at step 1 are intact" in line and "resume" in line
    assert (_files(out / "models") | {"state": (out / "state/latest.state").read_bytes()}) == before
    assert not list(out.rglob("*.partial"))
    monkeypatch.setattr(torch, "save", real_save)  # space freed: the run goes on from step 1
    assert _train(photos, out, "--resume", steps=3) == 0
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == 3


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_state_is_one_line_and_is_kept(photos, tmp_path, capsys, damage):
    out = tmp_path / "run"
    assert _train(photos, out) == 0
    state = out / "state/latest.state"
    whole = state.read_bytes()
    state.write_bytes({"truncated": whole[: len(whole) // 2], "garbage": b"not a state at all", "empty": b""}[damage])
    damaged = state.read_bytes()
    capsys.readouterr()
    assert _train(photos, out, "--resume", steps=3) == 1
    line = _one_error(capsys)
    assert str(state) in line and "Please file an issue" not in line
    assert state.read_bytes() == damaged  # evidence stays for the user to decide


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "tpu"])
def test_a_device_the_machine_lacks_is_one_line(photos, tmp_path, capsys, device):
    assert _train(photos, tmp_path / "run", "--device", device) == 1
    assert device in _one_error(capsys)
    assert not (tmp_path / "run").exists()


def test_bf16_on_a_cpu_without_bf16_units_is_said_once(monkeypatch, caplog):
    monkeypatch.setattr(runtime_precision, "cpu_has_bf16_matmul", lambda: False)
    runtime_precision._warn_bf16_emulated_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="ganpost"):
        assert amp_dtype("bf16", torch.device("cpu")) is torch.bfloat16
        amp_dtype("bf16", torch.device("cpu"))
    said = [r for r in caplog.records if "emulated" in r.getMessage()]
    assert len(said) == 1 and "slower than fp32" in said[0].getMessage()
    runtime_precision._warn_bf16_emulated_once.cache_clear()


def test_the_eta_follows_the_recent_speed_not_one_step(monkeypatch):
    import io

    clock = iter([0.0, 1.0, 2.0, 3.0, 13.0])  # four steps of 1 s, then one of 10 s (a save)
    monkeypatch.setattr("ganpost.cli.train_command.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    line = ProgressLine(stream=stream)
    for step, seconds in zip(range(96, 101), [1.0, 1.0, 1.0, 1.0, 10.0]):  # a log drawn at step 100
        line.on_step(StepReport(step, 200, {}, 1e-4, seconds))
    assert line.seconds_per_step(10.0) == pytest.approx(13.0 / 4)  # not the 10 s of the last step
    assert stream.getvalue().endswith("3.25 s/it ETA 00:05:25\n")  # 100 steps × 3.25 s


def test_durations_past_a_day_keep_their_days():
    assert format_duration(100_000 * 0.9) == "1d 01:00:00"  # was shown as 01:00:00
    assert format_duration(3725) == "01:02:05"
    assert format_duration(-1) == "00:00:00"
