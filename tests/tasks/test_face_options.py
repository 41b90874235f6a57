"""restore_faces' newer options: parsing masks, pick by index, large faces through the upscaler,
landmark smoothing over frames, and one progress / prompt cancel across background tiles and faces.

Toy restorer and parser (what is measured is the pipeline around them) and the real MobileNet detector.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.models import save_official, shared_weight, tiny_compact
from helpers.faces import REAL_DETECTOR, astronaut, collage, jitter_of, restore, shifted_sequence, toy_restorer
from torch import nn

from ganpost import load_model
from ganpost.gan_models.contract import ModelContract, ModelDescriptor, SizeRule, Task, TilingPolicy
from ganpost.gan_models.errors import CancelledError, InvalidOptionError
from ganpost.gan_models.faceparse.registration import BISENET_LABELS
from ganpost.runtime.faces import link_tracks, smooth_landmarks, warp_affine
from ganpost.tasks.detect_faces import detect_faces, parse_face_index
from ganpost.tasks.restore_faces import _crop_scaled


@pytest.fixture(scope="module")
def detector():
    return load_model(shared_weight(REAL_DETECTOR))


class SquareParser(nn.Module):
    """Labels the central half of the crop "skin" and the rest "cloth" (BiSeNet's channel order)."""

    def forward(self, x):
        n, _, h, w = x.shape
        logits = torch.zeros(n, len(BISENET_LABELS), h, w)
        logits[:, BISENET_LABELS.index("cloth")] = 1
        logits[:, BISENET_LABELS.index("skin"), h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 2
        return logits, None


def toy_parser(labels=BISENET_LABELS) -> ModelDescriptor:
    contract = ModelContract(task=Task.FACE_PARSE, scale=1, in_channels=3, out_channels=len(labels),
                             value_range=(0.0, 1.0), size=SizeRule(fixed=512), tiling=TilingPolicy(margin=0),
                             activation_elements=8, fp16_safe=False, bf16_safe=False, labels=labels)
    return ModelDescriptor("SquareParser", contract, 0, None, SquareParser().eval())


# --------------------------------------------------------------------------------- parsing
def test_parsing_mask_keeps_what_the_parser_calls_not_face(detector):
    image = astronaut()
    tint = toy_restorer(tint=(0.4, 0.0, -0.4))
    square, square_faces = restore(image, tint, detector, return_faces=True)
    parsed, parsed_faces = restore(image, tint, detector, parser=toy_parser(), return_faces=True)
    assert len(square_faces[0]) == len(parsed_faces[0]) == 1
    square_mask, parsed_mask = square_faces[0][0].mask[0], parsed_faces[0][0].mask[0]
    # the parse mask covers the crop's centre only: less area, never more than the square mask
    assert parsed_mask.sum() < 0.6 * square_mask.sum() and (parsed_mask <= square_mask + 1e-6).all()
    changed = np.abs(parsed.astype(int) - image.astype(int)).max(-1) > 2
    assert not changed[parsed_mask.numpy() == 0].any() and changed[parsed_mask.numpy() > 0.9].all()
    assert (np.abs(square.astype(int) - image.astype(int)).max(-1) > 2).sum() > changed.sum()


def test_parsing_mask_with_the_official_paste(detector):
    image = astronaut()
    out, faces = restore(image, toy_restorer(tint=(0.4, 0.0, -0.4)), detector, parser=toy_parser(),
                         paste="official", return_faces=True)
    changed = np.abs(out.astype(int) - image.astype(int)).max(-1) > 2
    assert 0 < changed.sum() < (faces[0][0].mask[0] > 0).sum()


def test_a_parser_must_be_a_parser_with_face_labels(detector):
    with pytest.raises(InvalidOptionError, match="not a face parser"):
        restore(astronaut(), None, detector, parser=detector)
    with pytest.raises(InvalidOptionError, match="none is a face part"):
        restore(astronaut(), None, detector, parser=toy_parser(tuple(f"c{k}" for k in range(19))))


# --------------------------------------------------------------------------- pick by index
def test_face_index_picks_faces_by_their_place(detector):
    image = collage()
    every = detect_faces(image, detector)[0]
    assert len(every) == 4
    picked = detect_faces(image, detector, face_index="0, 2")[0]
    assert picked == [every[0], every[2]]
    assert detect_faces(image, detector, face_index=[3, 9])[0] == [every[3]]  # places it lacks are skipped
    assert detect_faces(image, detector, face_index="1,2", max_faces=1)[0] == [every[1]]
    _, records = restore(image, None, detector, face_index="2", return_faces=True)
    assert [r.box for r in records[0]] == [every[2].box]


def test_bad_face_index_is_refused():
    assert parse_face_index(" ") is None and parse_face_index("2,0,2") == [2, 0]
    for bad in ("-1", "a", "1.5", [True]):
        with pytest.raises(InvalidOptionError, match="face_index"):
            parse_face_index(bad)


# -------------------------------------------------------------------------- large faces
def test_crop_scaled_maps_a_resampled_crop_to_the_same_place():
    crop = F.interpolate(torch.rand(1, 3, 8, 8), size=(64, 64), mode="bicubic", align_corners=False)
    to_image = torch.tensor([[[1.7, 0.3, 20.0], [-0.3, 1.7, 35.0]]])
    bigger = F.interpolate(crop, scale_factor=2, mode="bilinear", align_corners=False)
    a = warp_affine(crop, to_image, (160, 160))
    b = warp_affine(bigger, _crop_scaled(to_image, 2.0), (160, 160))
    inside = warp_affine(torch.ones(1, 1, 64, 64), to_image, (160, 160)) > 0.999
    assert (a - b).abs()[inside.expand_as(a)].mean() < 0.01


def test_large_faces_go_through_the_upscaler(detector, tmp_path):
    image = astronaut()[:256, 128:384]
    upscaler = load_model(save_official(tiny_compact(scale=4), tmp_path / "compact.pth"))
    sizes = []  # a hook, not an attribute: the runner works on a copy of the module
    upscaler.module.register_forward_pre_hook(lambda _, args: sizes.append(tuple(args[0].shape[-2:])))
    plain = restore(image, toy_restorer(128), detector, upscale=4, upscaler=upscaler)
    background_calls = len(sizes)
    larger = restore(image, toy_restorer(128), detector, upscale=4, upscaler=upscaler, upscale_large_faces=True)
    assert (128, 128) in sizes[background_calls * 2:]  # the 128 px restored crop went through it
    assert larger.shape == plain.shape == (1024, 1024, 3)
    assert np.abs(larger.astype(int) - plain.astype(int)).mean() > 0.05
    small = restore(image, toy_restorer(512), detector, upscale=1, upscaler=upscaler, upscale_large_faces=True)
    untouched = restore(image, toy_restorer(512), detector, upscale=1, upscaler=upscaler)
    assert (small == untouched).all()  # a face smaller than its crop is not sent through


# -------------------------------------------------------------------------- smoothing
def test_smoothing_lowers_landmark_jitter_and_keeps_faces_apart():
    seq, truth = shifted_sequence()
    ids = link_tracks(seq)
    assert len({i for frame in ids for i in frame}) == 2  # two tracks despite the changing order
    smoothed = smooth_landmarks(seq, 2.0)
    assert jitter_of(smoothed, truth) < 0.5 * jitter_of(seq, truth)
    assert smooth_landmarks(seq, 0) is seq
    with pytest.raises(InvalidOptionError, match="frames"):
        smooth_landmarks(seq, -1)


def test_smoothing_through_restore_faces(detector):
    photo = astronaut()
    frames = [np.ascontiguousarray(photo[:384, 40 + 3 * t: 424 + 3 * t]) for t in range(5)]
    _, raw = restore(frames, None, detector, return_faces=True)
    _, steady = restore(frames, None, detector, return_faces=True, smooth_landmarks=1.5)

    def wobble(records):  # the eye midpoint's second difference over frames: 0 for steady motion
        mids = np.array([[np.mean([p[0] for p in r[0].landmarks[:2]]), np.mean([p[1] for p in r[0].landmarks[:2]])]
                         for r in records])
        return np.abs(np.diff(mids, 2, axis=0)).mean()

    assert all(len(r) == 1 for r in steady)
    assert wobble(steady) <= wobble(raw)


# --------------------------------------------------------------------- progress and cancel
def test_one_progress_over_background_tiles_and_faces(detector, tmp_path):
    image = collage()
    upscaler = load_model(save_official(tiny_compact(scale=2), tmp_path / "compact.pth"))
    seen = []
    restore(image, None, detector, upscale=2, upscaler=upscaler, progress=lambda d, t: seen.append((d, t)))
    totals = {t for _, t in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    tiles = seen[-1][1] - 4  # four faces
    assert tiles >= 1 and sum(1 for d, _ in seen if d <= tiles) == tiles


def test_cancel_stops_during_the_background_upscale(detector, tmp_path):
    upscaler = load_model(save_official(tiny_compact(scale=2), tmp_path / "compact.pth"))
    restorer = toy_restorer(tint=(0.1, 0, 0))
    calls = []
    restorer.module.register_forward_hook(lambda *_: calls.append(1))
    seen = []
    with pytest.raises(CancelledError):
        restore(collage(), restorer, detector, upscale=2, upscaler=upscaler,
                progress=lambda d, t: seen.append(d), cancel=lambda: len(seen) >= 1)
    assert seen == [1] and calls == []  # stopped after the first tile: no face was restored


# ------------------------------------------------------------------------------------- CLI
def test_cli_parser_face_index_and_large_faces(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from ganpost.cli import main, restore_faces_command
    from ganpost.gan_models.faceparse import ParseNet

    real = restore_faces_command.load_model
    used = {}

    def load(name, **kw):
        if name == "toy":
            return toy_restorer(128, (0.2, 0, 0))
        used[name] = model = real(name, **kw)
        return model

    monkeypatch.setattr(restore_faces_command, "load_model", load)
    parser_file = tmp_path / "parser.pth"
    torch.save(ParseNet(stem=8, down=((8, 16),), body=((16, 16),), up=((16, 8),)).state_dict(), parser_file)
    Image.fromarray(collage()).save(tmp_path / "a.png")
    common = ["restore-faces", str(tmp_path / "a.png"), "-m", "toy", "--detector", str(shared_weight(REAL_DETECTOR))]
    code = main([*common, "-o", str(tmp_path / "out"), "--parser", str(parser_file), "--face-index", "0,3",
                 "--upscale-large-faces"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 faces," in err and "needs --background-model" in err
    assert used[str(parser_file)].architecture == "ParseNet"
    with pytest.raises(SystemExit):
        main([*common, "-o", str(tmp_path / "o2"), "--face-index", "x"])
    assert "--face-index lists faces" in capsys.readouterr().err
    assert main([*common, "-o", str(tmp_path / "o3"), "--parser", str(shared_weight(REAL_DETECTOR))]) == 1
    assert "not a face parser" in capsys.readouterr().err


# -------------------------------------------------------------------------------- diffusers
def test_diffusers_post_processor_takes_a_parser(tmp_path):
    from PIL import Image

    from ganpost import restore_faces
    from ganpost.gan_models.faceparse import ParseNet
    from ganpost.integrations import diffusers as ds

    parser_file = tmp_path / "parser.pth"
    torch.manual_seed(0)
    torch.save(ParseNet(stem=8, down=((8, 16),), body=((16, 16),), up=((16, 8),)).state_dict(), parser_file)
    detector = shared_weight(REAL_DETECTOR)
    photo = Image.fromarray(astronaut()[:256, 128:384])
    toy = toy_restorer(128, (0.3, 0, 0))
    (out,) = ds.GANPostProcessor(faces=toy, detector=detector, parser=parser_file)([photo])
    expected = restore_faces(photo, toy, detector=detector, parser=parser_file)
    assert np.array_equal(np.asarray(out), np.asarray(expected))
    with pytest.raises(InvalidOptionError, match="give a face model"):
        ds.GANPostProcessor(tiny_compact_file(tmp_path), parser=parser_file)


def tiny_compact_file(tmp_path):
    return save_official(tiny_compact(scale=2), tmp_path / "compact.pth")
