"""The command line end to end on real files, and bad input giving a one-line reason."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from ganpost.cli import main


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


def test_single_file(tmp_path, model_file):
    Image.fromarray(natural_image(24, 32)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.jpg"), "--model", str(model_file)]) == 0
    out = Image.open(tmp_path / "out.jpg")
    assert out.format == "JPEG" and out.size == (64, 48)


def test_folder_with_alpha_and_outscale(tmp_path, model_file):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(natural_image(20, 20)).save(src / "a.png")
    rgba = np.dstack([natural_image(16, 24), np.full((16, 24), 255, np.uint8)])
    rgba[:, :8, 3] = 0
    Image.fromarray(rgba).save(src / "b.webp", lossless=True)
    (src / "notes.txt").write_text("not an image")
    code = main(["upscale", str(src), "-o", str(tmp_path / "dst"), "--model", str(model_file), "--outscale", "1.5"])
    assert code == 0
    assert Image.open(tmp_path / "dst" / "a.png").size == (30, 30)
    b = Image.open(tmp_path / "dst" / "b.webp")
    assert b.mode == "RGBA" and b.size == (36, 24)
    alpha = np.asarray(b)[..., 3]
    assert alpha[:, :8].max() < 40 and alpha[:, 16:].min() > 215


def test_sixteen_bit_png_round_trip(tmp_path, model_file):
    cv2 = pytest.importorskip("cv2")
    img16 = (natural_image(16, 16).astype(np.uint16) * 257 + 5)[..., ::-1]
    cv2.imwrite(str(tmp_path / "deep.png"), np.ascontiguousarray(img16))
    assert main(["upscale", str(tmp_path / "deep.png"), "-o", str(tmp_path / "up.png"), "-m", str(model_file)]) == 0
    out = cv2.imread(str(tmp_path / "up.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (32, 32, 3)


def test_exact_size(tmp_path, model_file):
    Image.fromarray(natural_image(20, 20)).save(tmp_path / "in.png")
    main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(model_file), "--size", "50x30"])
    assert Image.open(tmp_path / "o.png").size == (50, 30)


def test_bad_inputs_exit_nonzero_with_one_line(tmp_path, model_file, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    code = main(["upscale", str(tmp_path / "broken.png"), "-o", str(tmp_path / "o.png"), "-m", str(model_file)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "Traceback" not in "\n".join(lines)
    assert [line for line in lines if line.startswith("ganpost: error:") and "broken.png" in line]
    assert lines[-1] == "ganpost: 0 written, 1 failed"
    assert not (tmp_path / "o.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_corrupt_model_and_missing_input(tmp_path, capsys):
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    Image.fromarray(natural_image(8, 8)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(tmp_path / "bad.pth")]) == 1
    assert "bad.pth" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]) == 1
    assert "missing.png" in capsys.readouterr().err


def test_refuses_to_overwrite(tmp_path, model_file, capsys):
    Image.fromarray(natural_image(8, 8)).save(tmp_path / "in.png")
    (tmp_path / "o.png").write_bytes(b"keep me")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(model_file)]) == 1
    assert (tmp_path / "o.png").read_bytes() == b"keep me"


def test_offline_known_model_says_where_to_put_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    Image.fromarray(natural_image(8, 8)).save(tmp_path / "in.png")
    code = main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--model", "RealESRGAN_x4plus",
                 "--offline", "--models-dir", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert code == 1 and "RealESRGAN_x4plus.pth" in err and str(tmp_path / "models") in err


def test_console_entry_point_runs(tmp_path, model_file):
    Image.fromarray(natural_image(8, 8)).save(tmp_path / "in.png")
    result = subprocess.run([sys.executable, "-m", "ganpost", "upscale", str(tmp_path / "in.png"), "-o",
                             str(tmp_path / "o.png"), "-m", str(model_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "o.png").size == (16, 16)


# ------------------------------------------------------------------------------ seeds
def test_seed_picks_the_noise_of_a_model_that_draws_it(tmp_path):
    from helpers.aurasr import save_tiny_aurasr

    model = save_tiny_aurasr(tmp_path / "AuraSR-tiny.safetensors")
    Image.fromarray(natural_image(24, 20)).save(tmp_path / "in.png")

    def run(name, *seed):
        assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / name), "-m", str(model),
                     "--tile", "0", "--precision", "fp32", *seed]) == 0
        return np.asarray(Image.open(tmp_path / name), np.int16)

    first, again, other = run("a.png", "--seed", "5"), run("b.png", "--seed", "5"), run("c.png", "--seed", "6")
    assert first.shape == (96, 80, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)  # a tiny random net: the noise moves few 8-bit values
    assert np.array_equal(run("d.png"), run("e.png", "--seed", "0"))  # no seed is seed 0


def test_seed_for_a_model_without_noise_is_noted_and_changes_nothing(tmp_path, model_file, capsys):
    Image.fromarray(natural_image(16, 16)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.png"), "-m", str(model_file)]) == 0
    capsys.readouterr()
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "b.png"), "-m", str(model_file),
                 "--seed", "3"]) == 0
    assert "--seed has no effect" in capsys.readouterr().err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
