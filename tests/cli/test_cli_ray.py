"""``--ray``: a folder run on Ray actors gives the plain run's bytes, the same lines and summary, and
survives an actor killed mid-job (Ray restarts it, every output is written once and whole)."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from helpers.paths import images_in
from helpers.ray_cluster import upscale_stages_killed_once
from ganpost.cli import main
from ganpost.cli.batch import run_files
from ganpost.cli.main import build_parser


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


def _folder(path, count: int):
    path.mkdir()
    for i in range(count):  # two sizes, so groups and placement vary
        Image.fromarray(natural_image(24 + 8 * (i % 2), 32, seed=i)).save(path / f"p{i}.png")
    return path


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_two_actors_write_the_bytes_of_the_plain_run(tmp_path, model_file, ray_local, capsys):
    photos = _folder(tmp_path / "in", 6)
    assert main(["upscale", str(photos), "-o", str(tmp_path / "plain"), "-m", str(model_file)]) == 0
    capsys.readouterr()
    assert main(["upscale", str(photos), "-o", str(tmp_path / "ray"), "-m", str(model_file), "--ray"]) == 0
    lines = _lines(capsys.readouterr().err)
    assert lines[0] == "ganpost: 6 file(s) on 2 Ray actors (the CPU, 1 thread each)"
    assert lines[-1] == "ganpost: 6 written, 0 failed"
    assert sorted(line.split(" → ")[0] for line in lines[1:-1]) == [f"[{i + 1}/6] p{i}.png" for i in range(6)]
    assert images_in(tmp_path / "ray") == images_in(tmp_path / "plain") == [f"p{i}.png" for i in range(6)]
    for name in images_in(tmp_path / "plain"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name
    record = (tmp_path / "ray" / ".ganpost-runs.jsonl").read_text().splitlines()
    assert len(record) == 7 and '"ray"' not in record[0]  # where it ran is no setting of the pixels


def test_an_actor_killed_mid_job_is_restarted_and_every_output_is_written_once(tmp_path, model_file, ray_local,
                                                                                capsys):
    photos = _folder(tmp_path / "in", 8)
    assert main(["upscale", str(photos), "-o", str(tmp_path / "plain"), "-m", str(model_file)]) == 0
    capsys.readouterr()
    # --queue-depth 0: each file written before the next computes, so p2 has landed when p3 (the second
    # file of its actor's chunk of two) kills the actor; the retried chunk must not write p2 again.
    args = build_parser().parse_args(["upscale", str(photos), "-o", str(tmp_path / "ray"), "-m", str(model_file),
                                      "--ray", "--queue-depth", "0"])
    args.kill_marker, args.kill_victim, args.write_log = str(tmp_path / "killed"), "p3.png", str(tmp_path / "writes")
    assert run_files(args, upscale_stages_killed_once) == 0
    lines = _lines(capsys.readouterr().err)
    assert (tmp_path / "killed").exists()  # the actor did die
    assert lines[-1] == "ganpost: 8 written, 0 failed"
    landed = f"[3/8] p2.png → {tmp_path / 'ray' / 'p2.png'} (written before its Ray actor was restarted, "
    assert any(line.startswith(landed) for line in lines), lines
    assert sorted((tmp_path / "writes").read_text().split()) == [f"p{i}.png" for i in range(8)]  # each once
    everything = sorted(p.name for p in (tmp_path / "ray").iterdir())
    assert everything == [".ganpost-runs.jsonl"] + [f"p{i}.png" for i in range(8)]  # no temporaries
    for name in images_in(tmp_path / "plain"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name


def test_a_bad_file_is_one_line_and_the_rest_is_done(tmp_path, model_file, ray_local, capsys):
    photos = _folder(tmp_path / "in", 3)
    (photos / "a_empty.png").write_bytes(b"")
    code = main(["upscale", str(photos), "-o", str(tmp_path / "out"), "-m", str(model_file), "--ray"])
    lines = _lines(capsys.readouterr().err)
    assert code == 1 and lines[-1] == "ganpost: 3 written, 1 failed"
    errors = [line for line in lines if line.startswith("ganpost: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"ganpost: error: {photos / 'a_empty.png'}: empty file (0 bytes)")
    assert images_in(tmp_path / "out") == ["p0.png", "p1.png", "p2.png"]


def test_a_model_no_actor_can_load_is_one_line(tmp_path, ray_local, capsys):
    photos = _folder(tmp_path / "in", 2)
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    code = main(["upscale", str(photos), "-o", str(tmp_path / "out"), "-m", str(tmp_path / "notes.pth"), "--ray"])
    errors = [line for line in _lines(capsys.readouterr().err) if "error" in line]
    assert code == 1 and len(errors) == 1 and "notes.pth" in errors[0]
    assert images_in(tmp_path / "out") == []


# ---------------------------------------------------------------------------- refused before Ray starts
def test_an_input_taken_for_an_address_is_refused_with_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["upscale", "--ray", str(tmp_path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "is not a Ray address" in err and "give --ray after the inputs" in err


def test_devices_belong_to_this_machine_not_to_ray(tmp_path, model_file, capsys):
    photos = _folder(tmp_path / "in", 1)
    code = main(["upscale", str(photos), "-o", str(tmp_path / "out"), "-m", str(model_file), "--ray",
                 "--devices", "cpu"])
    assert code == 1 and "--devices picks this machine's devices" in capsys.readouterr().err


def test_without_ray_installed_the_line_says_how_to_get_it(tmp_path, model_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    photos = _folder(tmp_path / "in", 1)
    code = main(["upscale", str(photos), "-o", str(tmp_path / "out"), "-m", str(model_file), "--ray"])
    err = capsys.readouterr().err
    assert code == 1 and 'pip install "ganpost[ray]"' in err and not (tmp_path / "out").exists()
