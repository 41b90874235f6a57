"""What new users hit with the ``ganpost`` CLI and API, one test each: wrong permissions, folder
names with dots, decompression bombs, missing GPUs, lost colour profiles and metadata, GIF, options
checked too late, read-only folders, mixed lists, infinite scales, SIGTERM, resuming a batch."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo

from helpers.models import natural_image, save_official, tiny_compact
from helpers.paths import images_in
from ganpost import GanpostError, load_model, upscale
from ganpost.cli import main
from ganpost.gan_models.errors import DeviceError, InvalidOptionError
from ganpost.runtime.imaging import files


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(natural_image(16, 20)).save(path)
    return path


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(["upscale", *map(str, argv)])
    return code, capsys.readouterr().err


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ganpost: error:")]


@pytest.fixture
def umask():
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


# ---------------------------------------------------------------------------- 1. permissions
def test_outputs_get_the_umask_permissions_not_0600(tmp_path, model_file, photo, umask, capsys):
    out = tmp_path / "o.png"
    assert _run(capsys, photo, "-o", out, "-m", model_file)[0] == 0
    assert out.stat().st_mode & 0o777 == 0o644
    umask(0o002)
    assert _run(capsys, photo, "-o", out, "-m", model_file, "--overwrite")[0] == 0
    assert out.stat().st_mode & 0o777 == 0o664


def test_exported_model_gets_the_umask_permissions(tmp_path, model_file, umask):
    target = tmp_path / "exported.safetensors"
    result = subprocess.run([sys.executable, "-m", "ganpost.training.export", str(model_file), str(target)],
                            capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert target.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------- 2. -o file or folder
def test_output_with_a_dot_but_no_image_extension_is_a_folder(tmp_path, model_file, photo, capsys):
    second = tmp_path / "second.jpg"
    Image.fromarray(natural_image(12, 12, seed=1)).save(second)
    assert _run(capsys, photo, second, "-o", tmp_path / "out_v1.2", "-m", model_file)[0] == 0
    assert images_in(tmp_path / "out_v1.2") == ["in.png", "second.jpg"]
    assert _run(capsys, photo, "-o", tmp_path / "results.x4", "-m", model_file)[0] == 0
    assert Image.open(tmp_path / "results.x4" / "in.png").size == (40, 32)


def test_image_file_name_with_several_inputs_is_refused(tmp_path, model_file, photo, capsys):
    code, err = _run(capsys, photo, photo.parent, "-o", tmp_path / "x.png", "-m", model_file)
    assert code == 1 and "need an output folder" in err and not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------- 3. decompression bombs
def _png_header_only(path: Path, width: int, height: int, bit_depth: int = 8) -> None:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_is_one_line_and_the_batch_goes_on(tmp_path, model_file, capsys):
    src = tmp_path / "src"
    src.mkdir()
    _png_header_only(src / "bomb.png", 100000, 100000)
    _png_header_only(src / "deep_bomb.png", 100000, 100000, bit_depth=16)
    Image.fromarray(natural_image(12, 12)).save(src / "fine.png")
    code, err = _run(capsys, src, "-o", tmp_path / "out", "-m", model_file)
    assert code == 1 and "Traceback" not in err
    errors = _errors(err)
    assert len(errors) == 2 and all("100000×100000" in e and "--max-pixels" in e for e in errors)
    assert (tmp_path / "out" / "fine.png").is_file()
    assert err.strip().splitlines()[-1] == "ganpost: 1 written, 2 failed"


def test_max_pixels_sets_the_limit_for_the_run_only(tmp_path, model_file, photo, capsys):
    limit = Image.MAX_IMAGE_PIXELS
    code, err = _run(capsys, photo, "-o", tmp_path / "o.png", "-m", model_file, "--max-pixels", "100")
    assert code == 1 and "20×16 = 320 pixels" in _errors(err)[0]
    assert Image.MAX_IMAGE_PIXELS == limit
    assert _run(capsys, photo, "-o", tmp_path / "o.png", "-m", model_file, "--max-pixels", "320")[0] == 0


# ---------------------------------------------------------------------------- 4. devices
@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:1", "mps"])
def test_missing_device_is_one_line_before_anything_loads(tmp_path, photo, device, capsys):
    if device != "mps" and torch.cuda.is_available() or device == "mps" and torch.backends.mps.is_available():
        pytest.skip(f"{device} exists here")
    code, err = _run(capsys, photo, "-o", tmp_path / "o.png", "-m", tmp_path / "not_loaded.pth", "--device", device)
    assert code == 1 and err.count("\n") == 1 and "device" in err and "not_loaded" not in err


def test_missing_device_in_the_api_is_a_ganpost_error(model_file):
    if torch.cuda.is_available():
        pytest.skip("CUDA exists here")
    model = load_model(model_file)
    with pytest.raises(DeviceError, match="device='cpu'"):  # the API's keyword; the CLI says --device cpu
        upscale(model, Image.new("RGB", (8, 8)), device="cuda")


# ---------------------------------------------------------------------------- 5. 16-bit + ICC
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_sixteen_bit_png_keeps_its_colour_profile_and_text(tmp_path, model_file, capsys):
    cv2 = pytest.importorskip("cv2")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.ascontiguousarray((natural_image(16, 16).astype(np.uint16) * 257)[..., ::-1])
    png = cv2.imencode(".png", pixels)[1].tobytes()
    extra = _chunk(b"iCCP", b"wide\0\0" + zlib.compress(icc)) + _chunk(b"tEXt", b"parameters\0a cat, 20 steps")
    (tmp_path / "deep.png").write_bytes(png[:33] + extra + png[33:])
    assert _run(capsys, tmp_path / "deep.png", "-o", tmp_path / "up.png", "-m", model_file)[0] == 0
    assert cv2.imread(str(tmp_path / "up.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    out = Image.open(tmp_path / "up.png")
    assert out.info["icc_profile"] == icc and out.text["parameters"] == "a cat, 20 steps"


def test_missing_opencv_names_the_sixteen_bit_file(tmp_path, monkeypatch):
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((4, 4, 3), 1000, np.uint16))
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(GanpostError, match=r"deep\.png.*OpenCV"):
        files.read_image(tmp_path / "deep.png")


# ---------------------------------------------------------------------------- 6. CMYK
def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def cmyk_profile(paper=(60.0, 50.0, 30.0), ink=(5.0, 0.0, 0.0)) -> bytes:
    """A minimal ICC v2 CMYK profile: without black ink every mix is a red (``paper`` in Lab)."""
    def lab(v):
        return struct.pack(">HHH", round(v[0] / 100 * 0xFF00), round((v[1] + 128) * 256), round((v[2] + 128) * 256))

    clut = b"".join(lab(ink if k else paper) for _c in (0, 1) for _m in (0, 1) for _y in (0, 1) for k in (0, 1))
    identity = struct.pack(">HH", 0, 0xFFFF)
    lut = (b"mft2" + bytes(4) + bytes([4, 3, 2, 0]) + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
           + struct.pack(">HH", 2, 2) + identity * 4 + clut + identity * 3)
    d50 = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", b"desc" + bytes(4) + struct.pack(">I", 10) + b"test CMYK\0" + bytes(79)),
            (b"wtpt", b"XYZ " + bytes(4) + d50), (b"cprt", b"text" + bytes(4) + b"none\0"), (b"A2B0", lut)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab " + bytes(12)
              + b"acsp" + bytes(28) + d50 + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + body


def test_cmyk_jpeg_is_converted_through_its_profile(tmp_path, model_file, capsys):
    Image.new("CMYK", (16, 16), (50, 50, 50, 0)).save(tmp_path / "print.jpg", icc_profile=cmyk_profile(), quality=100)
    loaded = files.read_image(tmp_path / "print.jpg")
    red, green, blue = loaded.pixels[8, 8].astype(int)
    assert red > green + 80 and red > blue + 80  # the profile's red, not Pillow's plain grey (205, 205, 205)
    assert "icc_profile" not in loaded.info
    assert _run(capsys, tmp_path / "print.jpg", "-o", tmp_path / "up.jpg", "-m", model_file)[0] == 0
    out = Image.open(tmp_path / "up.jpg")
    assert out.mode == "RGB" and "icc_profile" not in out.info


# ---------------------------------------------------------------------------- 7. GIF
def test_gif_inputs_become_png_in_a_folder_with_a_note(tmp_path, model_file, capsys):
    frames = [Image.fromarray(natural_image(12, 12, seed=i)).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, err = _run(capsys, tmp_path / "anim.gif", "-o", tmp_path / "out", "-m", model_file)
    assert code == 0 and Image.open(tmp_path / "out" / "anim.png").size == (24, 24)
    assert "note:" in err and ".gif" in err and "has 3 frames; only the first" in err


def test_gif_output_name_is_refused_before_loading(tmp_path, photo, capsys):
    code, err = _run(capsys, photo, "-o", tmp_path / "x.gif", "-m", tmp_path / "not_loaded.pth")
    assert code == 1 and "GIF" in err and ".png" in err and "not_loaded" not in err


# ---------------------------------------------------------------------------- 8. options checked once, up front
@pytest.mark.parametrize("option", [["--ext", "gif"], ["--tile", "7"], ["--outscale", "0"], ["--outscale", "inf"],
                                    ["--outscale", "nan"], ["--size", "0x0"], ["--max-pixels", "-1"],
                                    ["--max-pixels", "inf"]])
def test_bad_options_are_refused_by_the_parser(tmp_path, photo, option, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["upscale", str(photo), "-o", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and err.count("error:") == 1 and err.count("\n") == 1


def test_options_the_model_refuses_are_reported_once(tmp_path, model_file, photo, capsys):
    code, err = _run(capsys, photo, photo, "-o", tmp_path / "out", "-m", model_file, "--precision", "fp16",
                     "--device", "cpu")
    assert code == 1 and len(_errors(err)) == 1 and not (tmp_path / "out" / "in.png").exists()


# ---------------------------------------------------------------------------- 9. PIL mode F
def test_pil_float_image_comes_back_as_float_on_the_same_scale(model_file):
    model = load_model(model_file)
    grey = Image.fromarray(natural_image(16, 16, seed=2)).convert("L")  # 76..147: clearly a 0–255 image
    out_f = upscale(model, grey.convert("F"), precision="fp32")
    out_l = upscale(model, grey, precision="fp32")
    assert out_f.mode == "F" and out_f.size == (32, 32)
    assert np.abs(np.asarray(out_f) - np.asarray(out_l).astype(np.float32)).max() <= 0.51


# ---------------------------------------------------------------------------- 10. read-only output
def test_unwritable_output_folder_is_named_before_loading(tmp_path, photo, capsys):
    (tmp_path / "a_file").write_text("")
    code, err = _run(capsys, photo, "-o", tmp_path / "a_file" / "out", "-m", tmp_path / "not_loaded.pth")
    assert code == 1 and str(tmp_path / "a_file" / "out") in err and "not_loaded" not in err


def test_read_only_output_folder_says_how_to_fix_it(tmp_path, photo, capsys, monkeypatch):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # root writes anyway: refuse new files there as a read-only mount would
        from ganpost.cli import outputs

        def refused(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(outputs.tempfile, "mkstemp", refused)
    try:
        code, err = _run(capsys, photo, "-o", out, "-m", tmp_path / "not_loaded.pth")
    finally:
        out.chmod(0o755)
    assert code == 1 and str(out) in err and "chmod" in err and "not_loaded" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_errors_start_on_a_fresh_line_after_the_progress_bar(tmp_path, model_file, photo, monkeypatch):
    from ganpost.cli import image_command  # the image commands' shared stages write there

    def failing_write(path, pixels, info=None):
        raise GanpostError(f"{path}: disk full")

    monkeypatch.setattr(image_command, "write_image", failing_write)
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert main(["upscale", str(photo), "-o", str(tmp_path / "o.png"), "-m", str(model_file), "--tile", "32"]) == 1
    text = screen.getvalue()
    assert "tiles" in text  # the bar was drawn
    error_at = text.index("ganpost: error:")
    assert text[error_at - 1] in "\r\n"
    shown = [line.rsplit("\r", 1)[-1] for line in text.split("\n") if line]
    assert shown[-2].startswith("ganpost: error:") and shown[-1] == "ganpost: 0 written, 1 failed"


def test_plain_stderr_gets_no_progress_redraws(tmp_path, model_file, photo, capsys):
    code, err = _run(capsys, photo, "-o", tmp_path / "o.png", "-m", model_file, "--tile", "32")
    assert code == 0 and "\r" not in err and err.strip().splitlines()[-1] == "ganpost: 1 written, 0 failed"


# ---------------------------------------------------------------------------- 11. mixed lists
def test_pil_list_of_mixed_modes_and_sizes(model_file):
    model = load_model(model_file)
    images = [Image.fromarray(natural_image(10, 12)), Image.new("RGBA", (8, 8), (10, 20, 30, 128)),
              Image.fromarray(natural_image(10, 12)).convert("L")]
    out = upscale(model, images)
    assert [(im.mode, im.size) for im in out] == [("RGB", (24, 20)), ("RGBA", (16, 16)), ("L", (24, 20))]


def test_numpy_list_of_different_sizes(model_file):
    model = load_model(model_file)
    out = upscale(model, [natural_image(16, 16), natural_image(10, 20)[..., :1]])
    assert [a.shape for a in out] == [(32, 32, 3), (20, 40, 1)] and out[0].dtype == np.uint8


# ---------------------------------------------------------------------------- 12. infinite scale
@pytest.mark.parametrize("outscale", [float("inf"), float("nan"), 0.0, -2.0])
def test_non_finite_or_non_positive_outscale_is_an_option_error(model_file, outscale):
    with pytest.raises(InvalidOptionError, match="outscale"):
        upscale(load_model(model_file), Image.new("RGB", (8, 8)), outscale=outscale)


# ---------------------------------------------------------------------------- also asked for
def test_skip_existing_resumes_a_batch(tmp_path, model_file, photo, capsys):
    Image.fromarray(natural_image(12, 12, seed=2)).save(tmp_path / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "in.png").write_bytes(b"done before")
    code, err = _run(capsys, photo, tmp_path / "b.png", "-o", out, "-m", model_file, "--skip-existing")
    assert code == 0 and (out / "in.png").read_bytes() == b"done before" and (out / "b.png").is_file()
    assert err.strip().splitlines()[-1] == "ganpost: 1 written, 0 failed, 1 skipped (already there)"
    with pytest.raises(SystemExit):
        main(["upscale", str(photo), "-o", str(out), "--skip-existing", "--overwrite"])
    code, err = _run(capsys, photo, "-o", out, "-m", tmp_path / "not_loaded.pth", "--skip-existing")
    assert code == 0 and "nothing to do" in err
    code, err = _run(capsys, photo, "-o", out, "-m", model_file)
    assert code == 1 and "--skip-existing" in err


def test_png_text_and_exif_are_kept(tmp_path, model_file, capsys):
    text = {"parameters": "a cat\nSteps: 20", "prompt": '{"3": {"class_type": "KSampler"}}',
            "workflow": '{"nodes": ["é"]}'}
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    exif = Image.Exif()
    exif[0x010F] = "ganpost camera"
    Image.fromarray(natural_image(12, 16)).save(tmp_path / "gen.png", pnginfo=info, exif=exif)
    assert _run(capsys, tmp_path / "gen.png", "-o", tmp_path / "up.png", "-m", model_file)[0] == 0
    out = Image.open(tmp_path / "up.png")
    assert out.text == text and out.getexif()[0x010F] == "ganpost camera"


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".png"])
def test_exif_is_kept_with_the_orientation_applied_once(tmp_path, model_file, suffix, capsys):
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "ganpost camera", 6  # rotate 90° to display
    Image.fromarray(natural_image(12, 16)).save(tmp_path / f"photo{suffix}", exif=exif)
    assert _run(capsys, tmp_path / f"photo{suffix}", "-o", tmp_path / f"up{suffix}", "-m", model_file)[0] == 0
    out = Image.open(tmp_path / f"up{suffix}")
    assert out.size == (24, 32)  # upright 12×16 → ×2
    assert out.getexif()[0x010F] == "ganpost camera" and out.getexif().get(0x0112, 1) == 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_orientation_matches_pillow(tmp_path, orientation):
    pixels = natural_image(6, 10)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")))
    assert np.array_equal(files._orient(pixels, orientation), expected)


def test_model_folder_is_called_a_folder(tmp_path, photo, capsys):
    code, err = _run(capsys, photo, "-o", tmp_path / "o.png", "-m", tmp_path)
    assert code == 1 and "is a folder" in err


def test_verbose_says_which_precision_ran(tmp_path, model_file, photo, capsys):
    code, err = _run(capsys, photo, "-o", tmp_path / "o.png", "-m", model_file, "-v", "--precision", "fp32")
    assert code == 0 and "on cpu in fp32" in err


def test_sigterm_while_writing_removes_the_temporary(tmp_path, model_file, photo, monkeypatch, capsys):
    real_atomic_write = files.atomic_write

    def killed_while_writing(path, write):
        def write_then_die(tmp):
            write(tmp)
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass

        return real_atomic_write(path, write_then_die)

    monkeypatch.setattr(files, "atomic_write", killed_while_writing)
    code = main(["upscale", str(photo), "-o", str(tmp_path / "out" / "o.png"), "-m", str(model_file)])
    assert code == 143 and "terminated" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_sigterm_mid_batch_exits_143_with_no_partials(tmp_path, model_file):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for i in range(30):  # ~0.2 s each here: the signal lands with most of the batch (and its writes) to go
        Image.fromarray(natural_image(384, 384, seed=i)).save(src / f"{i:02}.png", compress_level=1)
    proc = subprocess.Popen([sys.executable, "-m", "ganpost", "upscale", str(src), "-o", str(out), "-m",
                             str(model_file), "--tile", "32"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = proc.stderr.readline()
    assert "→" in first, first
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 143, rest
    assert "terminated" in rest and "written" in rest
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]
    assert len(list(out.iterdir())) < 30
