"""restore_faces and ``ganpost restore-faces`` with a toy restorer and the real RetinaFace MobileNet-0.25.

The toy stands in for any face-restore family: it declares the contract a GFPGAN-like model does
([-1, 1] range, fixed crop size, an output tuple) and adds a tint, so what the pipeline does around
the network (alignment, colour correction, strength, paste-back, background) is what is measured.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import save_official, shared_weight, tiny_compact
from PIL import Image

from ganpost import load_model, restore_faces
from ganpost.cli import main
from ganpost.gan_models import InvalidOptionError
from ganpost.gan_models.errors import CancelledError
from ganpost.tasks.detect_faces import detect_faces
from helpers.faces import REAL_DETECTOR, astronaut, collage, no_faces, restore, toy_restorer

@pytest.fixture(scope="module")
def detector():
    return load_model(shared_weight(REAL_DETECTOR))


# ------------------------------------------------------------------------------ the pipeline
def test_faces_are_found_and_pasted_and_the_rest_is_untouched(detector):
    image = collage()
    result, faces = restore(image, toy_restorer(tint=(0.3, 0.0, -0.3)), detector, return_faces=True)
    found = detect_faces(image, detector)[0]
    assert len(faces[0]) == len(found) == 4
    changed = np.abs(result.astype(int) - image.astype(int)).max(-1) > 0
    covered = np.zeros(changed.shape, bool)
    for face in faces[0]:
        assert face.mask.shape == (1, 640, 896) and face.crop.shape == face.restored.shape == (3, 512, 512)
        covered |= face.mask[0].numpy() > 0
        x1, y1, x2, y2 = (int(v) for v in face.box)
        inside = result[max(y1, 0):y2, max(x1, 0):x2].astype(int) - image[max(y1, 0):y2, max(x1, 0):x2]
        assert inside[..., 0].mean() > 20 and inside[..., 2].mean() < -20  # the tint landed on each face
    assert changed.any() and not (changed & ~covered).any()  # nothing changes outside the faces' masks
    assert (result[600:, 700:] == image[600:, 700:]).all()  # a corner far from every face, bit for bit


def test_identity_restorer_changes_the_face_by_resampling_only(detector):
    image = astronaut()
    result, faces = restore(image, None, detector, return_faces=True)
    mask = faces[0][0].mask[0].numpy() > 0.5
    diff = np.abs(result.astype(int) - image.astype(int))
    # image → 512 px crop → image is two bilinear resamplings (a slight blur): measured inside the mask a
    # mean of 1.0/255, 99th percentile 6/255, max 32/255 on the sharpest edges (0.46, 3, 18 with 1024 px crops)
    assert diff[mask].mean() <= 1.5
    assert np.percentile(diff[mask], 99) <= 8


def test_strength_zero_returns_the_input_and_strength_blends(detector):
    image = astronaut()
    tinted = toy_restorer(tint=(0.4, 0.0, 0.0))
    assert (restore(image, tinted, detector, strength=0.0) == image).all()
    full = restore(image, tinted, detector).astype(float)
    half = restore(image, tinted, detector, strength=0.5).astype(float)
    assert np.abs(half - (full + image) / 2).max() <= 1.0  # rounding only


def test_colour_fixes_follow_the_original(detector):
    image = astronaut()
    tinted = toy_restorer(tint=(0.3, 0.0, -0.3))
    for mode in ("none", "adain", "wavelet"):
        _, faces = restore(image, tinted, detector, color_fix=mode, return_faces=True)
        face = faces[0][0]
        shift = (face.restored.mean((1, 2)) - face.crop.mean((1, 2))).abs()
        if mode == "none":
            assert shift[0] > 0.1 and shift[2] > 0.1
        else:
            assert shift.max() < 0.01, (mode, shift)
    # the wavelet fix keeps the restored detail: an identity restorer stays (almost) the crop
    _, faces = restore(image, None, detector, color_fix="wavelet", return_faces=True)
    assert (faces[0][0].restored - faces[0][0].crop).abs().mean() < 1e-3


def test_upscale_with_and_without_a_background_model(detector, tmp_path):
    image = astronaut()[:256, 128:384]  # the face, smaller image
    plain = restore(image, toy_restorer(128), detector, upscale=2)
    assert plain.shape == (512, 512, 3)
    upscaler = load_model(save_official(tiny_compact(scale=2), tmp_path / "compact.pth"))
    modelled = restore(image, toy_restorer(128), detector, upscale=2, upscaler=upscaler)
    assert modelled.shape == (512, 512, 3) and not (modelled == plain).all()
    # far from the face, the background is exactly the bicubic resize
    from ganpost.runtime.imaging.resize import resize

    resized = resize(torch.from_numpy(image).permute(2, 0, 1).float() / 255, 512, 512)
    expected = (resized.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.abs(plain[480:, :40].astype(int) - expected[480:, :40]).max() <= 1


def test_an_image_without_faces_comes_back_unchanged(detector, caplog):
    image = no_faces()
    with caplog.at_level("INFO", logger="ganpost"):
        assert (restore(image, None, detector) == image).all()
    assert "no faces found" in caplog.text
    assert restore(image, None, detector, upscale=2).shape == (192, 256, 3)


def test_alpha_and_image_kinds_come_back(detector):
    image = astronaut()[:256, 128:384]
    alpha = np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))[..., None]
    rgba = np.concatenate([image, alpha], -1)
    model = toy_restorer(128, tint=(0.2, 0.0, 0.0))
    out = restore(rgba, model, detector)
    assert out.shape == (256, 256, 4) and (out[..., 3] == alpha[..., 0]).all() and not (out[..., :3] == image).all()
    up = restore(Image.fromarray(rgba), model, detector, upscale=2)
    assert isinstance(up, Image.Image) and up.mode == "RGBA" and up.size == (512, 512)
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    t = restore(tensor, model, detector)
    assert isinstance(t, torch.Tensor) and t.shape == (3, 256, 256) and t.dtype == torch.float32
    pil = restore([Image.fromarray(image), Image.fromarray(no_faces())], model, detector)
    assert [p.size for p in pil] == [(256, 256), (128, 96)] and np.array_equal(np.asarray(pil[1]), no_faces())
    assert np.abs(np.asarray(pil[0]).astype(int) - out[..., :3]).max() <= 1  # a list gives what one image gives


def test_same_image_same_result_and_records(detector):
    image = collage()
    a, faces = restore(image, None, detector, return_faces=True, seed=3, max_faces=2)
    b = restore(image, None, detector, seed=3, max_faces=2)
    assert (a == b).all() and len(faces[0]) == 2
    face = faces[0][0]
    assert face.score > 0.97 and len(face.landmarks) == 5 and face.image_index == 0
    assert 0 < float(face.mask.max()) <= 1
    seen = []
    restore(image, None, detector, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (4, 4)
    with pytest.raises(CancelledError):
        restore(image, None, detector, cancel=lambda: True)


def test_swapped_models_and_bad_options_are_refused(detector, tmp_path):
    image = no_faces()
    with pytest.raises(InvalidOptionError, match="not a face restorer.*detector="):
        restore_faces(image, detector, detector=detector)
    with pytest.raises(InvalidOptionError, match="not a face detector.*model="):
        restore_faces(image, toy_restorer(), detector=toy_restorer())
    upscaler = load_model(save_official(tiny_compact(scale=2), tmp_path / "compact.pth"))
    with pytest.raises(InvalidOptionError, match="not a face restorer"):
        restore_faces(image, upscaler, detector=detector)
    with pytest.raises(InvalidOptionError, match="not an upscaler"):
        restore_faces(image, toy_restorer(), detector=detector, upscaler=detector, upscale=2)
    for options in ({"strength": 1.5}, {"color_fix": "lab"}, {"upscale": 0.5}, {"threshold": 1.0},
                    {"max_faces": 0}):
        with pytest.raises(InvalidOptionError):
            restore_faces(image, toy_restorer(), detector=detector, **options)


# ------------------------------------------------------------------------------ the CLI
@pytest.fixture
def cli_models(monkeypatch, detector):
    """``-m toy`` loads the toy restorer; every other name or file loads as usual."""
    from ganpost.cli import restore_faces_command

    real = restore_faces_command.load_model
    monkeypatch.setattr(restore_faces_command, "load_model",
                        lambda name, **kw: toy_restorer(128, (0.2, 0, 0)) if name == "toy" else real(name, **kw))
    return ["-m", "toy", "--detector", str(shared_weight(REAL_DETECTOR))]


def test_cli_restores_two_files_and_saves_the_faces(tmp_path, cli_models, capsys):
    Image.fromarray(astronaut()[:256, 128:384]).save(tmp_path / "a.png")
    Image.fromarray(no_faces()).save(tmp_path / "b.jpg")
    out, crops = tmp_path / "out", tmp_path / "crops"
    code = main(["restore-faces", str(tmp_path / "a.png"), str(tmp_path / "b.jpg"), "-o", str(out),
                 "--save-faces", str(crops), "--color-fix", "adain", *cli_models])
    err = capsys.readouterr().err
    assert code == 0, err
    assert Image.open(out / "a.png").size == (256, 256) and Image.open(out / "b.jpg").size == (128, 96)
    lines = err.strip().splitlines()
    assert "1 face," in lines[-3] and "0 faces," in lines[-2] and lines[-1] == "ganpost: 2 written, 0 failed"
    assert [p.name for p in crops.iterdir()] == ["a_face0.png"]
    assert Image.open(crops / "a_face0.png").size == (128, 128)


def test_cli_refuses_bad_options_before_compute(tmp_path, cli_models, capsys, monkeypatch):
    from ganpost.cli import restore_faces_command

    Image.fromarray(no_faces()).save(tmp_path / "a.png")

    def no_compute(*args, **kwargs):
        raise AssertionError("computed despite a bad option")

    monkeypatch.setattr(restore_faces_command, "restore_faces_detailed", no_compute)
    for bad in (["--strength", "2"], ["--upscale", "0.5"], ["--color-fix", "lab"], ["--max-faces", "0"]):
        with pytest.raises(SystemExit):
            main(["restore-faces", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), *cli_models, *bad])
    swapped = ["-m", cli_models[3], "--detector", cli_models[3]]  # the detector as the restorer
    assert main(["restore-faces", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), *swapped]) == 1
    assert "not a face restorer" in capsys.readouterr().err
    assert not (tmp_path / "o" / "a.png").exists()


def test_a_real_gfpgan_file_restores_through_the_pipeline(detector, tmp_path):
    """The GFPGAN family end to end (tiny random widths, official file layout): load, detect, restore, paste."""
    from helpers.gfpgan import tiny_gfpgan

    path = tmp_path / "GFPGANtiny.pth"
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, path)
    model = load_model(path)
    image = astronaut()
    with pytest.warns(DeprecationWarning, match="restore_faces_detailed"):  # the old flag, kept for a release
        first, records = restore_faces(image, model, detector=detector, return_faces=True)
    again = restore_faces(image, model, detector=detector)
    faces = records[0]  # one list of records per image
    assert first.shape == image.shape and len(faces) == 1
    np.testing.assert_array_equal(first, again)  # stored noise: the same image gives the same result
    x1, y1, x2, y2 = (int(v) for v in faces[0].box)
    assert np.abs(first[y1:y2, x1:x2].astype(int) - image[y1:y2, x1:x2]).mean() > 1  # the face was replaced
    np.testing.assert_array_equal(first[:, :40], image[:, :40])  # far from the face: untouched


def test_seed_gives_gfpgan_fresh_but_reproducible_noise(detector, tmp_path):
    from helpers.gfpgan import tiny_gfpgan

    path = tmp_path / "GFPGANtiny.pth"
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, path)
    model, image = load_model(path), astronaut()
    stored = restore_faces(image, model, detector=detector)
    seeded = restore_faces(image, model, detector=detector, seed=7)
    assert np.array_equal(seeded, restore_faces(image, model, detector=detector, seed=7))
    assert not np.array_equal(seeded, stored) and not np.array_equal(seeded, restore_faces(image, model,
                                                                                           detector=detector, seed=8))
