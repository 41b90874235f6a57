"""Videos through the three image commands: a folder mixing images and clips, the video flags, a clip
that is not a video among good files, and output names that cannot hold a video."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.faces import REAL_DETECTOR, astronaut, toy_restorer
from helpers.models import natural_image, save_official, shared_weight, tiny_compact
from helpers.pix2pix import save_cyclegan_pair
from helpers.video import audio_packets, av_module, decoded_frames, frame_times, make_clip
from PIL import Image

av_module()

from ganpost.cli import main  # noqa: E402
from ganpost.runtime.video import probe_video  # noqa: E402


@pytest.fixture
def model_file(tmp_path):
    return save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")


def test_upscale_a_folder_of_images_and_videos(tmp_path, model_file, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(natural_image(20, 24)).save(src / "a.png")
    make_clip(src / "clip.mp4", rotation=90, audio="aac")
    make_clip(src / "quiet.mkv", audio=None)
    code = main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", str(model_file), "--batch-frames", "5",
                 "--video-quality", "20"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "a.png", "clip.mp4", "quiet.mkv"]
    clip, out = probe_video(src / "clip.mp4"), probe_video(tmp_path / "out" / "clip.mp4")
    assert (out.width, out.height, out.rotation) == (2 * clip.width, 2 * clip.height, 90)
    assert frame_times(tmp_path / "out" / "clip.mp4") == frame_times(src / "clip.mp4")
    assert audio_packets(tmp_path / "out" / "clip.mp4") == audio_packets(src / "clip.mp4")
    assert "video: 12 frames 96×128, h264, audio copied" in err
    assert err.strip().splitlines()[-1] == "ganpost: 3 written, 0 failed"


def test_translate_a_clip_to_another_container_lossless(tmp_path):
    make_clip(tmp_path / "in.mp4", audio="aac")
    model, _ = save_cyclegan_pair(tmp_path)
    code = main(["translate", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.mkv"), "-m", str(model),
                 "--video-codec", "ffv1"])
    assert code == 0
    out = decoded_frames(tmp_path / "out.mkv")
    assert out.shape == (12, 48, 64, 3) and probe_video(tmp_path / "out.mkv").codec == "ffv1"
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(tmp_path / "in.mp4")


def test_a_broken_clip_fails_alone_and_names_itself(tmp_path, model_file, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(natural_image(20, 24)).save(src / "a.png")
    (src / "broken.mov").write_bytes(b"\0" * 300)
    code = main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", str(model_file)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    errors = [line for line in lines if line.startswith("ganpost: error:")]
    assert len(errors) == 1 and "broken.mov: not a video ganpost can read" in errors[0]
    assert lines[-1] == "ganpost: 1 written, 1 failed"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["a.png"]


def test_output_names_that_cannot_hold_the_input_are_refused(tmp_path, model_file, capsys):
    make_clip(tmp_path / "in.mp4", audio=None)
    Image.fromarray(natural_image(20, 24)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.png"), "-m", str(model_file)]) == 1
    assert "in.mp4 is a video; name a video file" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.mp4"), "-m", str(model_file)]) == 1
    assert "a video file name takes one video input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["upscale", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.mp4"), "--batch-frames", "0"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "in.mp4", "tiny.pth"]


def test_restore_faces_in_a_clip_smooths_by_default(tmp_path, monkeypatch, capsys):
    from ganpost.cli import restore_faces_command

    detector = str(shared_weight(REAL_DETECTOR))
    real = restore_faces_command.load_model
    monkeypatch.setattr(restore_faces_command, "load_model",
                        lambda name, **kw: toy_restorer(128, (0.2, 0, 0)) if name == "toy" else real(name, **kw))
    made = []
    original = restore_faces_command.SteadyFaceRestorer

    def spy(*args, **kwargs):
        made.append(kwargs["smooth_landmarks"])
        return original(*args, **kwargs)

    monkeypatch.setattr(restore_faces_command, "SteadyFaceRestorer", spy)
    photo = astronaut()
    frames = np.stack([np.ascontiguousarray(photo[:256, 128 + 2 * t: 384 + 2 * t]) for t in range(6)])
    make_clip(tmp_path / "faces.mkv", frames=6, width=256, height=256, codec="ffv1", pixel_format="bgr0",
              audio="pcm_s16le", images=frames)
    for extra, out in (([], "smooth.mkv"), (["--smooth-landmarks", "0"], "raw.mkv")):
        code = main(["restore-faces", str(tmp_path / "faces.mkv"), "-o", str(tmp_path / out), "-m", "toy",
                     "--detector", detector, "--video-codec", "ffv1", *extra])
        assert code == 0, capsys.readouterr().err
    assert made == [1.5, 0.0]
    smooth, raw = decoded_frames(tmp_path / "smooth.mkv"), decoded_frames(tmp_path / "raw.mkv")
    assert smooth.shape == raw.shape == frames.shape
    assert not np.array_equal(smooth, frames) and not np.array_equal(smooth, raw)  # faces tinted, differently placed
    assert audio_packets(tmp_path / "smooth.mkv") == audio_packets(tmp_path / "faces.mkv")
