"""Folders streamed (issue 19): overlapped reads and writes give the same files as one at a time,
worker processes give the same bytes as one process, memory stays bounded, a worker's death costs
only its files, and the run's record lets a rerun do only what is missing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.dying_stages import DIE_ON, POISON, dying_upscale_stages
from helpers.models import natural_image, save_official, tiny_compact
from helpers.paths import images_in
from ganpost.cli import main
from ganpost.cli.batch import group_jobs, run_files
from ganpost.cli.main import build_parser
from ganpost.cli.manifest import NAME as RECORD
from ganpost.cli.placement import plan_workers
from ganpost.cli.stages import FileStages
from ganpost.cli.stream import Job, run_stream
from ganpost.gan_models.errors import DeviceError, InvalidOptionError


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path_factory.mktemp("model") / "tiny.pth")


@pytest.fixture
def folder(tmp_path) -> Path:
    """Seven small photos: two sizes, so groups of one size form and break."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(7):
        size = (24, 16) if i in (3, 4) else (20, 20)
        Image.fromarray(natural_image(*size, seed=i)).save(src / f"{i}.png")
    return src


def _upscale(capsys, *argv) -> tuple[int, str]:
    code = main(["upscale", *map(str, argv)])
    return code, capsys.readouterr().err


def _bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in images_in(folder)}


def test_streamed_batched_and_plain_runs_write_the_same_files(folder, tmp_path, model_file, capsys):
    assert _upscale(capsys, folder, "-o", tmp_path / "plain", "-m", model_file, "--queue-depth", "0")[0] == 0
    assert _upscale(capsys, folder, "-o", tmp_path / "streamed", "-m", model_file)[0] == 0
    code, err = _upscale(capsys, folder, "-o", tmp_path / "batched", "-m", model_file, "--batch-size", "3")
    assert code == 0 and err.strip().splitlines()[-1] == "ganpost: 7 written, 0 failed"
    plain = _bytes(tmp_path / "plain")
    assert len(plain) == 7 and _bytes(tmp_path / "streamed") == plain and _bytes(tmp_path / "batched") == plain


def test_two_worker_processes_write_the_same_bytes_as_one(folder, tmp_path, model_file, capsys):
    assert _upscale(capsys, folder, "-o", tmp_path / "one", "-m", model_file)[0] == 0
    code, err = _upscale(capsys, folder, "-o", tmp_path / "two", "-m", model_file, "--workers", "2")
    assert code == 0, err
    assert "7 file(s) on 2 workers: cpu#1, cpu#2" in err and err.strip().splitlines()[-1] == "ganpost: 7 written, 0 failed"
    assert _bytes(tmp_path / "two") == _bytes(tmp_path / "one")


def test_a_bad_model_in_workers_is_one_line_before_any_file(folder, tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    code, err = _upscale(capsys, folder, "-o", tmp_path / "out", "-m", bad, "--workers", "2")
    lines = err.strip().splitlines()
    assert code == 1 and lines[-1].startswith("ganpost: error:") and "bad.pth" in lines[-1]
    assert not any("written" in line for line in lines) and images_in(tmp_path / "out") == []


def test_a_killed_workers_files_go_to_another_and_all_are_written(folder, tmp_path, model_file, capsys):
    Image.fromarray(natural_image(20, 20, seed=9)).save(folder / DIE_ON)
    out = tmp_path / "out"
    argv = ["upscale", str(folder), "-o", str(out), "-m", str(model_file), "--workers", "2"]
    code = run_files(build_parser().parse_args(argv), dying_upscale_stages)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "stopped (killed by SIGKILL); the other workers go on" in err
    assert err.strip().splitlines()[-1] == "ganpost: 8 written, 0 failed"
    assert images_in(out) == sorted([f"{i}.png" for i in range(7)] + [DIE_ON])
    assert _bytes(out)[DIE_ON] == _upscaled_alone(folder / DIE_ON, tmp_path, model_file, capsys)


def test_a_file_that_kills_every_worker_is_named_and_a_rerun_does_only_what_is_missing(folder, tmp_path, model_file,
                                                                                      capsys):
    Image.fromarray(natural_image(20, 20, seed=9)).save(folder / POISON)
    out = tmp_path / "out"
    argv = ["upscale", str(folder), "-o", str(out), "-m", str(model_file), "--workers", "2", "--skip-existing"]
    code = run_files(build_parser().parse_args(argv), dying_upscale_stages)
    err = capsys.readouterr().err
    assert code == 1
    assert f"{POISON}: not written: it was on two workers that stopped" in err
    written = images_in(out)
    assert POISON not in written and not [p for p in out.iterdir() if POISON in p.name]  # nothing half-written
    summary = err.strip().splitlines()[-1]
    assert summary == f"ganpost: {len(written)} written, {8 - len(written)} failed"

    (folder / POISON).unlink()
    code = main(argv[:1] + argv[1:])  # the same run, without the file that kills: only the missing ones
    err = capsys.readouterr().err
    assert code == 0 and err.strip().splitlines()[-1] == (
        f"ganpost: {7 - len(written)} written, 0 failed, {len(written)} skipped (already there)")
    assert images_in(out) == [f"{i}.png" for i in range(7)]


def _upscaled_alone(source: Path, tmp_path: Path, model_file: Path, capsys) -> bytes:
    target = tmp_path / "alone" / source.name
    assert _upscale(capsys, source, "-o", target, "-m", model_file)[0] == 0
    return target.read_bytes()


def test_the_run_record_says_how_each_file_went_and_warns_of_other_settings(folder, tmp_path, model_file, capsys):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    assert _upscale(capsys, folder, "-o", out, "-m", model_file)[0] == 1
    entries = [json.loads(line) for line in (out / RECORD).read_text().splitlines()]
    assert entries[0]["run"]["command"] == "upscale" and entries[0]["run"]["model"] == str(model_file)
    assert sorted(e["target"] for e in entries[1:] if "seconds" in e) == [f"{i}.png" for i in range(7)]
    assert [e["target"] for e in entries[1:] if "error" in e] == ["broken.png"]

    code, err = _upscale(capsys, folder, "-o", out, "-m", model_file, "--skip-existing", "--outscale", "1.5")
    assert "made by an earlier run with other settings (outscale)" in err


def test_memory_holds_at_most_two_depths_and_one_group():
    live, most, lock = 0, 0, threading.Lock()

    def read(source):
        nonlocal live, most
        with lock:
            live += 1
            most = max(most, live)
        return source

    def write(target, result, item):
        nonlocal live
        with lock:
            live -= 1
        return "ok"

    stages = FileStages(read, lambda items, progress: items, write)
    done = []
    jobs = [Job(i, Path(f"{i}.png"), Path(f"out/{i}.png")) for i in range(40)]
    for depth in (1, 2, 3):
        run_stream([[job] for job in jobs], stages, done.append, depth=depth)
        assert most <= 2 * depth + 1
    assert len(done) == 120 and all(o.error is None for o in done)


def test_a_failure_at_any_step_ends_only_its_file():
    def read(source):
        if source.name == "r.png":
            raise OSError("unreadable")
        return source.name

    def compute(items, progress):
        if "c.png" in items:
            raise RuntimeError("the forward failed")
        return items

    def write(target, result, item):
        if result == "w.png":
            raise OSError(28, "No space left on device")
        return "ok"

    names = ["a.png", "r.png", "c.png", "b.png", "w.png", "d.png"]
    jobs = [Job(i, Path(n), Path("out") / n) for i, n in enumerate(names)]
    outcomes = []
    run_stream([jobs[:3], jobs[3:]], FileStages(read, compute, write), outcomes.append, depth=2)
    failed = sorted(o.job.source.name for o in outcomes if o.error is not None)
    written = sorted(o.job.source.name for o in outcomes if o.error is None)
    assert failed == ["c.png", "r.png", "w.png"] and written == ["a.png", "b.png", "d.png"]


def test_groups_are_runs_of_one_size_decided_from_headers(folder):
    jobs = [Job(i, folder / f"{i}.png", Path(f"{i}.png")) for i in range(7)]
    assert [[j.index for j in g] for g in group_jobs(jobs, 2)] == [[0, 1], [2], [3, 4], [5, 6]]
    assert [len(g) for g in group_jobs(jobs, 1)] == [1] * 7


def test_devices_and_workers_are_planned_and_checked():
    assert plan_workers(None, None, None) == [] and plan_workers(None, 1, "cpu") == []
    two = plan_workers("cpu", 2, None)
    assert [w.name for w in two] == ["cpu#1", "cpu#2"] and all(w.device == "cpu" and w.threads >= 1 for w in two)
    assert [w.name for w in plan_workers(None, 2, "cpu")] == ["cpu#1", "cpu#2"]
    with pytest.raises(InvalidOptionError, match="--device or --devices"):
        plan_workers("cpu", None, "cpu")
    with pytest.raises(InvalidOptionError, match="names a device twice"):
        plan_workers("cpu,cpu", None, None)
    if not __import__("torch").cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            plan_workers("cuda:0,cuda:1", None, None)
        assert [w.device for w in plan_workers("all", None, None)] == ["cpu"]
