"""Inputs a batch must survive (issue 16): odd files, a save that fails mid-batch, TIFF at a new size,
and images too large for the machine refused from their header, before decoding."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from conftest import natural_image, save_official, tiny_compact
from ganpost.cli import main
from ganpost.gan_models.errors import ImageInputError
from ganpost.runtime.imaging import files


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(["upscale", *map(str, argv)])
    return code, capsys.readouterr().err


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ganpost: error:")]


# ---------------------------------------------------------------------------- not regular, empty
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_not_a_regular_file(tmp_path, model_file, capsys):
    code, err = _run(capsys, "/dev/zero", "-o", tmp_path / "o.png", "-m", model_file)
    assert code == 1 and _errors(err) == ["ganpost: error: /dev/zero: not a regular file (a device, pipe or "
                                          "socket); give an image file."]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_is_not_a_regular_file_and_is_never_opened(tmp_path, model_file, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    code, err = _run(capsys, tmp_path / "pipe.png", "-o", tmp_path / "o.png", "-m", model_file)  # opening would block
    assert code == 1 and "not a regular file" in err and "no such file" not in err
    with pytest.raises(ImageInputError, match="not a regular file"):
        files.read_image(tmp_path / "pipe.png")


def test_a_zero_byte_image_is_called_empty_and_the_batch_goes_on(tmp_path, model_file, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a_empty.png").write_bytes(b"")
    Image.fromarray(natural_image(12, 12)).save(src / "b.png")
    code, err = _run(capsys, src, "-o", tmp_path / "out", "-m", model_file)
    assert code == 1 and len(_errors(err)) == 1
    assert "a_empty.png: empty file (0 bytes)" in err and "cannot identify" not in err
    assert (tmp_path / "out" / "b.png").is_file() and err.strip().splitlines()[-1] == "ganpost: 1 written, 1 failed"
