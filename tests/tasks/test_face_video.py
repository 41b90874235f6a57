"""Faces in video: landmark smoothing over a clip handed over in batches is exactly the whole clip's, and
the streamed restorer (through runtime.video) gives the frames a whole-clip restore gives.

Synthetic faces for the exactness (any batch size, faces that arrive and leave, detection order swapping);
the real MobileNet detector and the toy restorer on a moving astronaut crop for the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.faces import REAL_DETECTOR, astronaut, jitter_of, restore, shifted_sequence, toy_restorer
from helpers.models import shared_weight

from ganpost import load_model
from ganpost.runtime.faces import (
    CutDetector, SteadyLandmarks, link_tracks, shot_starts, smooth_landmarks, window_radius,
)
from ganpost.tasks.detect_faces import Face
from ganpost.tasks.face_video import SteadyFaceRestorer


def clip_with_visitor(frames=30):
    """Two faces all along, and a third that enters at frame 7 and leaves after frame 18."""
    seq, truth = shifted_sequence(frames)
    for t in range(7, 19):
        x = 120 + 0.7 * t + 0.4 * ((t * 7919) % 5 - 2)  # jittered
        seq[t] = seq[t] + [Face((x, 200, x + 40, 250), 0.98, ((x + 12, 215), (x + 28, 215), (x + 20, 225),
                                                               (x + 13, 235), (x + 27, 235)))]
    return seq, truth


def streamed(seq, sigma, batch, cuts=()):
    steady = SteadyLandmarks(sigma)
    out = []
    for start in range(0, len(seq), batch):
        ready = steady.push(seq[start:start + batch], [c - start for c in cuts if start <= c < start + batch])
        assert len(out) + len(ready) >= start + len(seq[start:start + batch]) - steady.radius  # never later
        out += ready
    return out + steady.finish()


@pytest.mark.parametrize("sigma", [0, 0.5, 1.5, 2.7])
def test_batches_of_any_size_smooth_exactly_as_the_whole_clip(sigma):
    seq, _ = clip_with_visitor()
    whole = smooth_landmarks(seq, sigma)
    for batch in (1, 2, 3, 5, 8, 13, 30, 64):
        assert streamed(seq, sigma, batch) == whole, (sigma, batch)  # bit for bit, every face of every frame
    cut = smooth_landmarks(seq, sigma, cuts=[11, 12, 21])  # new shots (the faces stay: boxes still overlap)
    assert cut == whole or sigma > 0
    for batch in (1, 4, 7, 30):
        assert streamed(seq, sigma, batch, cuts=[11, 12, 21]) == cut, (sigma, batch)


def test_no_track_crosses_a_cut():
    seq, _ = shifted_sequence(12)
    assert len({i for frame in link_tracks(seq, cuts=[6]) for i in frame}) == 4  # two faces, two shots
    smoothed = smooth_landmarks(seq, 2.0, cuts=[6])
    assert smoothed[:6] == smooth_landmarks(seq[:6], 2.0) and smoothed[6:] == smooth_landmarks(seq[6:], 2.0)


def test_cuts_are_found_between_shots_not_within_one():
    from skimage import data

    frames = list(moving_face_frames(5)) + [np.ascontiguousarray(data.chelsea()[:384, :384])] * 2
    rgb = [torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames]
    assert shot_starts(rgb) == [5]
    detector = CutDetector()
    assert detector.starts(rgb[:3]) == [] and detector.starts(rgb[3:6]) == [2]  # across batches


def test_a_frame_waits_only_for_its_radius_and_the_stream_holds_little():
    seq, truth = shifted_sequence(40)
    steady = SteadyLandmarks(1.5)
    assert steady.radius == window_radius(1.5) == 5
    assert steady.push(seq[:5]) == []  # frame 0 needs frames 1..5
    assert len(steady.push(seq[5:6])) == 1
    assert len(steady.push(seq[6:20])) == 14 and len(steady.frames) <= 2 * steady.radius
    rest = steady.push(seq[20:]) + steady.finish()
    assert len(rest) == 40 - 15
    assert jitter_of(streamed(seq, 1.5, 4), truth) < 0.6 * jitter_of(seq, truth)


@pytest.fixture(scope="module")
def detector():
    return load_model(shared_weight(REAL_DETECTOR))


def moving_face_frames(count=8):
    photo = astronaut()
    return np.stack([np.ascontiguousarray(photo[:384, 40 + 3 * t: 424 + 3 * t]) for t in range(count)])


def test_streamed_restorer_through_a_video_equals_restoring_the_whole_clip(detector, tmp_path):
    from helpers.video import av_module, decoded_frames, frame_times, make_clip

    av_module()
    from ganpost.runtime.video import process_video

    frames = moving_face_frames()
    source = make_clip(tmp_path / "faces.mkv", frames=len(frames), width=384, height=384, codec="ffv1",
                       pixel_format="bgr0", audio=None, images=frames)  # lossless: the decoded frames are these
    assert np.array_equal(decoded_frames(source), frames)
    tint = toy_restorer(tint=(0.3, 0.0, -0.3))
    stream = SteadyFaceRestorer(tint, detector=detector, smooth_landmarks=1.0, precision="fp32", keep_faces=True)
    result = process_video(source, tmp_path / "out.mkv", stream, batch_frames=3, codec="ffv1")
    assert result.frames == len(frames) and frame_times(tmp_path / "out.mkv") == frame_times(source)

    whole, faces = restore(frames, tint, detector, return_faces=True, smooth_landmarks=1.0)
    assert [len(f) for f in stream.faces] == [len(f) for f in faces] == [1] * len(frames)
    # The detector ran on batches of 3 here and of 8 there: its sums may differ in the last bits.
    got = np.array([f[0].landmarks for f in stream.faces])
    want = np.array([f[0].landmarks for f in faces])
    assert np.abs(got - want).max() < 1e-3
    out = decoded_frames(tmp_path / "out.mkv")
    assert np.abs(out.astype(int) - whole.astype(int)).max() <= 1 and not np.array_equal(out, frames)


def test_streamed_restorer_without_smoothing_returns_each_batch_at_once(detector):
    frames = moving_face_frames(4)
    stream = SteadyFaceRestorer(toy_restorer(), detector=detector, smooth_landmarks=0, precision="fp32")
    assert stream.radius == 0
    assert stream.push(frames[:3]).shape == (3, 384, 384, 3)
    assert stream.push(frames[3:]).shape == (1, 384, 384, 3) and stream.finish() is None
