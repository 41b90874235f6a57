"""``ganpost.integrations.ray``: the image commands as a Ray Data stage (model once per actor, paths or
URLs, one status per file), the settings it builds, and URL outputs that appear only whole."""

from __future__ import annotations

import pytest
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from helpers.ray_cluster import KilledOnceProcessor
from ganpost.cli import main
from ganpost.cli.commands import command_settings
from ganpost.gan_models.errors import InvalidOptionError
from ganpost.integrations.ray import FileProcessor


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


def _folder(path, count: int):
    path.mkdir()
    for i in range(count):
        Image.fromarray(natural_image(24 + 8 * (i % 2), 32, seed=i)).save(path / f"p{i}.png")
    return path


def _pairs(photos, out, count: int):
    """An empty output folder, and the Ray Data rows mapping ``photos``' p0.png… into it."""
    out.mkdir()
    return out, [{"source": str(photos / f"p{i}.png"), "target": str(out / f"p{i}.png")} for i in range(count)]


def _plain_run(tmp_path, photos, model_file):
    assert main(["upscale", str(photos), "-o", str(tmp_path / "plain"), "-m", str(model_file)]) == 0
    return tmp_path / "plain"


# ---------------------------------------------------------------------------- settings by option name
def test_settings_are_the_commands_own_with_options_by_name(model_file):
    settings = command_settings("upscale", model=str(model_file), outscale=3.0)
    assert settings.model == str(model_file) and settings.outscale == 3.0 and settings.command_name == "upscale"
    assert settings.tile == "auto" and settings.overwrite is False and settings.batch_size == 1  # the CLI's defaults
    faces = command_settings("restore-faces", upscaler="realesrgan_x2plus")  # --background-model's name
    assert faces.upscaler == "realesrgan_x2plus" and faces.model == "GFPGANv1.4"


def test_an_unknown_or_missing_option_is_one_line():
    with pytest.raises(InvalidOptionError, match="upscale takes no option 'scale'; its options are .*outscale"):
        command_settings("upscale", scale=2)
    with pytest.raises(InvalidOptionError, match=r"translate needs model= \(its --model flag\)"):
        command_settings("translate")
    with pytest.raises(InvalidOptionError, match="no image command 'sharpen'"):
        command_settings("sharpen")


# ---------------------------------------------------------------------------- in this process
def test_a_batch_maps_to_a_status_per_file(tmp_path, model_file):
    photos = _folder(tmp_path / "in", 2)
    (photos / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    process = FileProcessor("upscale", model=str(model_file), skip_existing=True)
    out.mkdir()
    (out / "p1.png").write_bytes(b"kept")
    done = process({"source": [str(photos / n) for n in ("p0.png", "p1.png", "empty.png")],
                    "target": [f"file://{out / 'p0.png'}", str(out / "p1.png"), str(out / "empty.png")]})
    assert list(done["status"]) == ["written", "skipped", "failed"]
    assert list(done["error"])[:2] == ["", ""] and "empty.png: empty file (0 bytes)" in done["error"][2]
    assert Image.open(out / "p0.png").size == (64, 48) and (out / "p1.png").read_bytes() == b"kept"
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]  # nothing half-written


def test_urls_are_read_and_written_whole_through_their_filesystem(tmp_path, model_file):
    pytest.importorskip("pyarrow")
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    photos = _folder(tmp_path / "in", 2)
    for name in ("p0.png", "p1.png"):
        memory.pipe(f"/photos/{name}", (photos / name).read_bytes())
    plain = _plain_run(tmp_path, photos, model_file)
    process = FileProcessor("upscale", model=str(model_file))
    done = process({"source": ["memory://photos/p0.png", "memory://photos/p1.png", "memory://photos/gone.png"],
                    "target": ["memory://out/p0.png", "memory://out/p1.png", "memory://out/gone.png"]})
    assert list(done["status"]) == ["written", "written", "failed"]
    assert done["error"][2].startswith("memory://photos/gone.png: could not be read")
    assert sorted(memory.ls("/out", detail=False)) == ["/out/p0.png", "/out/p1.png"]  # no temporaries left
    for name in ("p0.png", "p1.png"):
        assert memory.cat(f"/out/{name}") == (plain / name).read_bytes()
    memory.rm("/photos", recursive=True)
    memory.rm("/out", recursive=True)


# ---------------------------------------------------------------------------- a Ray Data pipeline
def test_a_ray_data_pipeline_on_two_actors_writes_the_plain_runs_bytes(tmp_path, model_file, ray_local):
    photos = _folder(tmp_path / "in", 6)
    plain = _plain_run(tmp_path, photos, model_file)
    out, rows = _pairs(photos, tmp_path / "out", 6)
    done = ray_local.data.from_items(rows).map_batches(
        FileProcessor, fn_constructor_kwargs={"command": "upscale", "model": str(model_file)},
        batch_size=2, concurrency=2, num_cpus=1).take_all()
    assert sorted((r["target"], r["status"], r["error"]) for r in done) == [(r["target"], "written", "") for r in rows]
    for i in range(6):
        assert (out / f"p{i}.png").read_bytes() == (plain / f"p{i}.png").read_bytes()


def test_a_ray_data_actor_killed_mid_batch_is_retried_and_each_output_is_whole(tmp_path, model_file, ray_local):
    photos = _folder(tmp_path / "in", 4)
    plain = _plain_run(tmp_path, photos, model_file)
    out, rows = _pairs(photos, tmp_path / "out", 4)
    done = ray_local.data.from_items(rows).map_batches(
        KilledOnceProcessor, fn_constructor_kwargs={
            "marker": tmp_path / "killed", "victim": "p1.png", "write_log": tmp_path / "writes",
            "command": "upscale", "model": str(model_file), "skip_existing": True, "queue_depth": 0},
        batch_size=2, concurrency=2, num_cpus=1).take_all()
    assert (tmp_path / "killed").exists()  # an actor died; Ray Data restarted it and ran its batch again
    assert sorted(r["status"] for r in done) in (["skipped", "written", "written", "written"],
                                                  ["written"] * 4)  # p0 landed before the kill, or not
    assert sorted((tmp_path / "writes").read_text().split()) == [f"p{i}.png" for i in range(4)]  # each once
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]
    for i in range(4):
        assert (out / f"p{i}.png").read_bytes() == (plain / f"p{i}.png").read_bytes()
