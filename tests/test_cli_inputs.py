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


# ---------------------------------------------------------------------------- TIFF at a new size
@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
def test_tiff_in_tiff_out_at_x4_keeps_exif_and_profile(tmp_path, capsys, compression):
    from PIL import ImageCms

    x4 = save_official(tiny_compact(scale=4, num_conv=2), tmp_path / "x4.pth")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F], exif[0x0131] = "ganpost camera", "scanner 2.0"
    Image.fromarray(natural_image(12, 20)).save(tmp_path / "scan.tif", icc_profile=icc, exif=exif,
                                                compression=compression)
    code, err = _run(capsys, tmp_path / "scan.tif", "-o", tmp_path / "up.tif", "-m", x4)
    assert code == 0, err
    out = Image.open(tmp_path / "up.tif")
    out.load()
    assert out.size == (80, 48) and out.info["icc_profile"] == icc
    assert out.getexif()[0x010F] == "ganpost camera" and out.getexif()[0x0131] == "scanner 2.0"


def test_the_tiff_layout_is_not_carried_as_exif(tmp_path):
    Image.fromarray(natural_image(12, 20)).save(tmp_path / "scan.tif")
    info = files.read_image(tmp_path / "scan.tif").info
    carried = Image.Exif()
    carried.load(info.get("exif", b""))
    assert not files.TIFF_LAYOUT_TAGS.intersection(carried)  # no 12×20 size, strips or samples for a 48×80 output


# ---------------------------------------------------------------------------- one file fails, the batch goes on
@pytest.mark.parametrize("failure", [OSError("codec configuration error when writing image file"),
                                     MemoryError("Unable to allocate 10.1 GiB for an array"),
                                     ValueError("encoder error -2")])
def test_a_save_that_fails_mid_batch_is_one_line_and_the_rest_are_written(tmp_path, model_file, capsys,
                                                                          monkeypatch, failure):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(4):
        Image.fromarray(natural_image(10, 10, seed=i)).save(src / f"{i}.png")
    real_atomic_write = files.atomic_write

    def failing_on_the_second(path, write):
        if path.name == "1.png":
            def write_then_fail(tmp):
                write(tmp)  # a partial file exists when the encoder gives up
                raise failure
            return real_atomic_write(path, write_then_fail)
        return real_atomic_write(path, write)

    monkeypatch.setattr(files, "atomic_write", failing_on_the_second)
    code, err = _run(capsys, src, "-o", out, "-m", model_file)
    assert code == 1 and "Traceback" not in err
    errors = _errors(err)
    assert len(errors) == 1 and "1.png" in errors[0] and str(failure).split()[0] in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "2.png", "3.png"]  # no half-written 1.png
    assert err.strip().splitlines()[-1] == "ganpost: 3 written, 1 failed"


def test_any_exception_in_one_file_is_counted_but_ctrl_c_stops(tmp_path, model_file, capsys, monkeypatch):
    from ganpost.cli import upscale_command

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(10, 10, seed=i)).save(src / f"{i}.png")
    real_read = upscale_command.read_image

    def read(path):
        if path.name == "0.png":
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 27.6 GB")
        if path.name == "2.png":
            raise KeyboardInterrupt
        return real_read(path)

    monkeypatch.setattr(upscale_command, "read_image", read)
    code, err = _run(capsys, src, "-o", tmp_path / "out", "-m", model_file)
    assert code == 130 and "0.png: out of memory (DefaultCPUAllocator" in err
    assert "ganpost: 1 written, 1 failed" in err and "interrupted" in err.strip().splitlines()[-1]
