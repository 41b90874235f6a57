"""A run folder belongs to one run: a new run never replaces a saved one, never writes into someone's
files or the images it reads, and a second process is refused while the first holds the folder.
Each refusal is one line that names the fix, and leaves every file as it was."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from ganpost.cli import main
from ganpost.training import RunFolderError, Trainer
from ganpost.training.config import load_config
from ganpost.training.engine.run_folder import LOCK_NAME, RunLock


def _train(photos, out, *extra, steps=2):
    return main(["train", "realesrgan", "--data", str(photos), "--preset", "compact-x4-clean", "--output", str(out),
                 "--steps", str(steps), "--batch-size", "2", "--gt-size", "32", "--set", "generator.num_feat=8",
                 "--set", "generator.num_conv=2", *extra])


def _config(photos, out, steps=2):
    return load_config(preset="compact-x4-clean", sets=[
        f"data.train_dir={photos}", f"run.output_dir={out}", "data.gt_size=32", "data.batch_size=2",
        "generator.num_feat=8", "generator.num_conv=2", f"run.total_steps={steps}"])


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != LOCK_NAME}


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ganpost: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_new_run_never_replaces_a_saved_one(photos, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(photos, out) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert _train(photos, out, steps=3) == 1
    line = _error_line(capsys)
    assert "already holds a training run" in line and f"--output {out} --resume" in line
    assert _snapshot(out) == before
    assert _train(photos, out, "--resume", steps=3) == 0  # the fix it names works
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == 3


def test_someone_elses_files_are_refused(photos, tmp_path, capsys):
    mine = tmp_path / "mine"
    (mine / "models").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    (mine / "models/net_g_latest.pth").write_bytes(b"a model of my own")
    before = _snapshot(mine)
    assert _train(photos, mine) == 1
    assert "already holds a training run" in _error_line(capsys)
    (mine / "models/net_g_latest.pth").unlink()
    before.pop(next(k for k in before if k.name == "net_g_latest.pth"))
    assert _train(photos, mine) == 1
    line = _error_line(capsys)
    assert "is not empty and is not a ganpost run folder" in line and "new or empty folder" in line
    assert _snapshot(mine) == before


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_the_run_folder_may_not_overlap_the_images(photos, tmp_path, capsys, where):
    out = {"same": photos, "inside": photos / "run", "around": photos.parent}[where]
    before = _snapshot(photos)
    assert _train(photos, out) == 1
    line = _error_line(capsys)
    assert "is not empty and is not a ganpost run folder" in line if where == "around" else "overlaps the input" in line
    assert _snapshot(photos) == before and not (photos / "run").exists()


def test_a_run_that_never_saved_starts_again(photos, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # killed before its first checkpoint
    (out / "log.jsonl").write_text("")
    assert _train(photos, out) == 0
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == 2


def test_a_failed_start_leaves_no_folder_behind(photos, tmp_path, capsys):
    out = tmp_path / "new"
    assert _train(photos, out, "--pretrained", str(tmp_path / "missing.pth")) == 1
    capsys.readouterr()
    assert not out.exists()


def test_a_second_process_is_refused_while_the_first_holds_the_folder(photos, tmp_path):
    out = tmp_path / "run"
    Trainer(_config(photos, out)).fit()
    holder = Trainer(_config(photos, out, steps=4), resume=True)  # holds the folder until its fit() ends
    command = [sys.executable, "-m", "ganpost", "train", "realesrgan", "--output", str(out), "--resume",
               "--steps", "4"]
    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 1, second.stderr
    assert f"is in use by another training run (process {__import__('os').getpid()})" in second.stderr
    assert "Traceback" not in second.stderr
    assert holder.fit().step == 4
    resumed = subprocess.run([*command[:-1], "5"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr  # released at the end of fit()


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    root = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from ganpost.training.engine.run_folder import RunLock
        held = RunLock(Path({str(root)!r})).acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match="in use by another training run") as refused:
            RunLock(root).acquire()
        assert refused.value.kind == "busy"
    finally:
        holder.kill()
        holder.wait(timeout=60)
    lock = RunLock(root).acquire()  # the kernel dropped the dead process's lock
    assert lock.held
    lock.release()


def test_a_lock_nobody_keeps_is_released(tmp_path):
    import gc

    RunLock(tmp_path).acquire()  # dropped at once (a trainer thrown away without fit())
    gc.collect()
    script = f"from pathlib import Path; from ganpost.training.engine.run_folder import RunLock; " \
             f"RunLock(Path({str(tmp_path)!r})).acquire()"
    assert subprocess.run([sys.executable, "-c", script], timeout=600).returncode == 0


def test_one_process_may_run_the_same_folder_again(photos, tmp_path):
    """A trainer that was never fitted (a notebook, a test) does not block the next one in its process."""
    out = tmp_path / "run"
    first = Trainer(_config(photos, out))
    first.train_step()
    first.save()
    again = Trainer(_config(photos, out, steps=3), resume=True)
    assert again.fit().step == 3
    first.folder.release()  # the earlier holder's release no longer touches the lock it handed on
