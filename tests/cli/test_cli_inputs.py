"""Inputs a batch must survive (issue 16): odd files, a save that fails mid-batch, TIFF at a new size,
and images too large for the machine refused from their header, before decoding."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
import torch
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from helpers.paths import images_in
from ganpost.cli import main
from ganpost.cli.batch import check_fits, pixel_limit
from ganpost.gan_models.errors import GanpostError, ImageInputError
from ganpost.gan_models.pix2pix import ResnetGenerator
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
    assert images_in(out) == ["0.png", "2.png", "3.png"]  # no half-written 1.png
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


# ---------------------------------------------------------------------------- too large for the machine
def _png_claiming(path, width: int, height: int) -> None:
    """A valid PNG header for ``width``×``height`` followed by a few compressed bytes: tiny, never decodable."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                     + chunk(b"IEND", b""))


@pytest.fixture
def no_decoding(monkeypatch):
    from ganpost.cli import upscale_command

    def refused(path):
        raise AssertionError(f"{path} was decoded")

    monkeypatch.setattr(upscale_command, "read_image", refused)


@pytest.fixture
def sixteen_gb(monkeypatch):
    from ganpost.runtime import memory

    monkeypatch.setattr(memory, "available_host_memory", lambda: 16 * 10**9)


def test_a_30000_px_header_is_refused_by_the_default_pixel_limit_without_decoding(tmp_path, model_file, capsys,
                                                                               no_decoding):
    _png_claiming(tmp_path / "huge.png", 30000, 30000)
    assert (tmp_path / "huge.png").stat().st_size < 200
    code, err = _run(capsys, tmp_path / "huge.png", "-o", tmp_path / "o.png", "-m", model_file)
    assert code == 1 and "Traceback" not in err and len(_errors(err)) == 1
    assert "huge.png: 30000×30000 = 900,000,000 pixels, over the limit of 178,956,970" in err and "--max-pixels" in err


def test_with_the_pixel_limit_lifted_memory_refuses_it_from_the_header(tmp_path, model_file, capsys, no_decoding,
                                                                       sixteen_gb):
    _png_claiming(tmp_path / "huge.png", 30000, 30000)
    code, err = _run(capsys, tmp_path / "huge.png", "-o", tmp_path / "o.png", "-m", model_file, "--max-pixels", "0")
    assert code == 1 and "Traceback" not in err
    [line] = _errors(err)
    assert f"{tmp_path / 'huge.png'}: 30000×30000 at ×2 → 60000×60000 needs about " in line
    assert "of memory; 16.0 GB is available. Ask for a smaller output (--outscale or --size), or split" in line
    assert err.strip().splitlines()[-1] == "ganpost: 0 written, 1 failed"


def test_the_output_size_asked_for_decides_the_memory(tmp_path, model_file, capsys, monkeypatch, no_decoding):
    from ganpost.runtime import memory

    Image.fromarray(natural_image(64, 64)).save(tmp_path / "in.png")
    native = memory.image_job_bytes(64 * 64, 128 * 128, 128 * 128)
    half = memory.image_job_bytes(64 * 64, 128 * 128, 32 * 32)
    monkeypatch.setattr(memory, "available_host_memory", lambda: (native + half) // 2)
    code, err = _run(capsys, tmp_path / "in.png", "-o", tmp_path / "o.png", "-m", model_file)
    assert code == 1 and "in.png: 64×64 at ×2 → 128×128 needs about" in err  # refused before reading it
    monkeypatch.undo()  # the second run may read the file
    monkeypatch.setattr(memory, "available_host_memory", lambda: (native + half) // 2)
    code, err = _run(capsys, tmp_path / "in.png", "-o", tmp_path / "o.png", "-m", model_file, "--outscale", "0.5")
    assert code == 0, err


def test_the_env_pixel_limit_still_works(tmp_path, model_file, capsys, monkeypatch):
    Image.fromarray(natural_image(16, 20)).save(tmp_path / "in.png")
    monkeypatch.setenv("GANPOST_MAX_PIXELS", "100")
    code, err = _run(capsys, tmp_path / "in.png", "-o", tmp_path / "o.png", "-m", model_file)
    assert code == 1 and "20×16 = 320 pixels, over the limit of 100" in err


def test_translate_and_restore_faces_check_the_memory_from_the_header_too(tmp_path, capsys, sixteen_gb):
    torch.save(ResnetGenerator(num_feat=4, num_blocks=1).state_dict(), tmp_path / "g.pth")
    _png_claiming(tmp_path / "huge.png", 30000, 30000)
    code = main(["translate", str(tmp_path / "huge.png"), "-o", str(tmp_path / "o.png"), "--max-pixels", "0", "-m",
                 str(tmp_path / "g.pth")])
    err = capsys.readouterr().err
    assert code == 1 and "huge.png: 30000×30000 → 30000×30000 needs about" in err and "16.0 GB is available" in err
    with pixel_limit(0), pytest.raises(GanpostError, match=r"30000×30000 → 120000×120000 needs about .*Ask for a "
                                                           r"smaller upscale="):
        check_fits(tmp_path / "huge.png", 4, "Ask for a smaller upscale=, or split the image into parts")


def _turned(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("make", [
    lambda p: Image.fromarray(natural_image(12, 20)).save(p / "rgb.png"),
    lambda p: Image.fromarray(natural_image(12, 20)).convert("RGBA").save(p / "rgba.png"),
    lambda p: Image.fromarray(natural_image(12, 20)).convert("L").save(p / "grey.tif"),
    lambda p: Image.fromarray(natural_image(12, 20)).convert("LA").save(p / "grey_alpha.png"),
    lambda p: Image.fromarray(natural_image(12, 20)).convert("P").save(p / "palette.png", transparency=0),
    lambda p: Image.fromarray(natural_image(12, 20)).convert("CMYK").save(p / "print.jpg"),
    lambda p: Image.fromarray(natural_image(12, 20)).save(p / "turned.jpg", exif=_turned(6)),
    lambda p: Image.fromarray(natural_image(12, 20)).save(p / "turned.png", exif=_turned(8)),
    lambda p: Image.fromarray((natural_image(12, 20)[..., 0].astype("uint16") * 257)).save(p / "deep_grey.png"),
])
def test_the_header_says_what_read_image_gives(tmp_path, make):
    make(tmp_path)
    [path] = tmp_path.iterdir()
    header, pixels = files.read_header(path), files.read_image(path).pixels
    assert (header.height, header.width) == pixels.shape[:2]
    assert header.channels == (pixels.shape[2] if pixels.ndim == 3 else 1)
    assert header.sample_bytes == pixels.dtype.itemsize


def test_running_out_of_memory_while_loading_the_model_is_one_line(tmp_path, capsys, monkeypatch):
    from ganpost.cli import upscale_command

    def too_large(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(upscale_command, "load_model", too_large)
    Image.fromarray(natural_image(12, 12)).save(tmp_path / "in.png")
    code, err = _run(capsys, tmp_path / "in.png", "-o", tmp_path / "o.png")
    assert code == 1 and err == "ganpost: error: out of memory (the allocator refused)\n"
