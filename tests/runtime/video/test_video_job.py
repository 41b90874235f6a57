"""runtime.video: a clip in, a clip out, keeping what a clip is besides its pictures (frame count, rate,
every timestamp, the display rotation, the audio packets byte for byte), and failing cleanly: not a video,
a damaged packet, an error or a cancel mid-job, a full disk. Clips are made in each test with PyAV."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest
from helpers.video import audio_packets, av_module, average_rate, decoded_frames, frame_times, make_clip

av_module()  # the whole module needs PyAV (the test extra installs it)

from ganpost.gan_models.errors import CancelledError, ImageInputError, InvalidOptionError, OutputError  # noqa: E402
from ganpost.runtime.video import probe_video, process_video  # noqa: E402


def twice(frames: np.ndarray) -> np.ndarray:
    return frames.repeat(2, axis=1).repeat(2, axis=2)


def test_upscaled_clip_keeps_count_rate_timestamps_rotation_and_audio(tmp_path):
    source = make_clip(tmp_path / "in.mp4", rotation=90, audio="aac")
    seen = []
    result = process_video(source, tmp_path / "out.mp4", twice, batch_frames=5,
                           progress=lambda done, total: seen.append((done, total)))
    before, after = probe_video(source), probe_video(tmp_path / "out.mp4")
    assert result.frames == 12 and seen[-1] == (12, 12) and len(seen) == 3  # batches of 5, 5, 2
    assert (after.width, after.height) == (2 * before.width, 2 * before.height) == (128, 96)
    assert (result.width, result.height) == (96, 128)  # as displayed: a quarter turn
    assert average_rate(tmp_path / "out.mp4") == average_rate(source) == Fraction(24000, 1001)
    assert frame_times(tmp_path / "out.mp4") == frame_times(source)
    assert after.rotation == before.rotation == 90 and after.display_matrix == before.display_matrix
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(source) and len(audio_packets(source)) > 5
    assert after.codec == "h264" and result.audio_streams == 1


def test_computation_sees_upright_frames(tmp_path):
    source = make_clip(tmp_path / "in.mp4", rotation=90, audio=None)
    shapes = []
    process_video(source, tmp_path / "out.mkv", lambda f: shapes.append(f.shape) or f, codec="ffv1")
    assert shapes[0][1:3] == (64, 48)  # coded 64×48 (W×H), shown 48×64
    # lossless RGB round trip: the frames come back as the computation left them, turned back as coded
    assert np.array_equal(decoded_frames(tmp_path / "out.mkv"), decoded_frames(source))


def test_irregular_timestamps_and_pcm_audio_in_matroska(tmp_path):
    stamps = [0, 1, 2, 4, 5, 8, 9, 10, 13, 14, 15, 16]  # dropped frames: a variable frame rate
    source = make_clip(tmp_path / "in.mkv", pts=stamps, audio="pcm_s16le")
    process_video(source, tmp_path / "out.mkv", twice, batch_frames=4)
    assert frame_times(tmp_path / "out.mkv") == frame_times(source)
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(source)


def test_webm_gets_vp9_and_opus_copied(tmp_path):
    source = make_clip(tmp_path / "in.mkv", audio="libopus")
    result = process_video(source, tmp_path / "out.webm", lambda f: f, quality=40)
    assert result.codec == "vp9" and probe_video(tmp_path / "out.webm").audio == ("opus",)
    assert audio_packets(tmp_path / "out.webm") == audio_packets(source)


def test_odd_sizes_are_padded_for_420_and_kept_by_ffv1(tmp_path):
    source = make_clip(tmp_path / "in.mp4", audio=None)
    odd = lambda f: f[:, :47, :63]  # noqa: E731
    process_video(source, tmp_path / "out.mp4", odd)
    process_video(source, tmp_path / "out.mkv", odd, codec="ffv1")
    assert (probe_video(tmp_path / "out.mp4").width, probe_video(tmp_path / "out.mp4").height) == (64, 48)
    padded = decoded_frames(tmp_path / "out.mkv")
    assert padded.shape == (12, 47, 63, 3)


def test_a_filter_that_holds_frames_back_gets_them_all_out_in_order(tmp_path):
    class Lagging:  # returns each frame three frames later, like a centred smoother
        def __init__(self):
            self.held = np.zeros((0, 48, 64, 3), np.uint8)

        def push(self, frames):
            self.held = np.concatenate([self.held, frames])
            out, self.held = self.held[:-3], self.held[-3:]
            return out

        def finish(self):
            return self.held

    source = make_clip(tmp_path / "in.mkv", audio=None)
    result = process_video(source, tmp_path / "out.mkv", Lagging(), batch_frames=2, codec="ffv1")
    assert result.frames == 12
    assert np.array_equal(decoded_frames(tmp_path / "out.mkv"), decoded_frames(source))
    assert frame_times(tmp_path / "out.mkv") == frame_times(source)


def test_an_error_or_cancel_mid_job_leaves_nothing(tmp_path):
    source = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out"
    calls = []

    def fails_second_batch(frames):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return frames

    with pytest.raises(RuntimeError, match="boom"):
        process_video(source, out / "a.mp4", fails_second_batch, batch_frames=4)
    with pytest.raises(CancelledError, match="in.mp4: cancelled"):
        process_video(source, out / "b.mp4", lambda f: f, batch_frames=4, cancel=lambda: len(calls) > 1)
    with pytest.raises(RuntimeError, match="returned 9 of 12 frames"):
        process_video(source, out / "c.mp4", lambda f: f[:-1] if len(f) == 4 else f, batch_frames=4)
    assert list(out.iterdir()) == []


def test_not_a_video_and_audio_only_say_so_in_one_line(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(ImageInputError, match=r"notes.mp4: not a video ganpost can read") as info:
        process_video(text, tmp_path / "out.mp4", lambda f: f)
    assert "\n" not in str(info.value)
    av = av_module()
    sound = tmp_path / "sound.mkv"
    with av.open(str(sound), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        piece = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        piece.sample_rate = 8000
        for packet in [*stream.encode(piece), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(ImageInputError, match="sound.mkv: holds no video stream"):
        probe_video(sound)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "sound.mkv"]


def test_a_damaged_packet_is_skipped_and_the_rest_keep_their_times(tmp_path):
    source = make_clip(tmp_path / "in.mov", codec="png", pixel_format="rgb24", audio=None)
    times = frame_times(source)
    av = av_module()
    with av.open(str(source)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    damaged = packets[5]
    data = bytearray(source.read_bytes())
    start = data.index(bytes(damaged))  # the packet's bytes as stored: break the PNG signature
    data[start:start + 8] = b"\0" * 8
    source.write_bytes(bytes(data))
    result = process_video(source, tmp_path / "out.mov", lambda f: f)
    assert result.frames == 11 and result.skipped == 1
    assert frame_times(tmp_path / "out.mov") == times[:5] + times[6:]  # the others keep their times


def test_codec_and_container_mismatches_are_refused_before_compute(tmp_path):
    source = make_clip(tmp_path / "in.mp4", audio="aac")
    never = lambda f: pytest.fail("computed")  # noqa: E731
    with pytest.raises(InvalidOptionError, match=r"\.mp4 does not take ffv1"):
        process_video(source, tmp_path / "out.mp4", never, codec="ffv1")
    with pytest.raises(InvalidOptionError, match="codec 'divx'"):
        process_video(source, tmp_path / "out.mp4", never, codec="divx")
    with pytest.raises(InvalidOptionError, match="outside h264's CRF range"):
        process_video(source, tmp_path / "out.mp4", never, quality=70)
    with pytest.raises(OutputError, match=r"\.webm cannot hold the source's aac audio"):
        process_video(source, tmp_path / "out.webm", never)
    with pytest.raises(OutputError, match="a video is written as one of"):
        process_video(source, tmp_path / "out.png", never)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_full_disk_gives_one_line_and_leaves_nothing(tmp_path):
    """A real write failure from FFmpeg's own I/O: the process may write files of at most 4 kB."""
    source = make_clip(tmp_path / "in.mp4", width=128, height=96)
    (tmp_path / "out").mkdir()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        from ganpost.runtime.video import process_video
        from ganpost.gan_models.errors import OutputError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG, as ENOSPC would
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            process_video({str(source)!r}, {str(tmp_path / 'out' / 'big.mp4')!r},
                          lambda f: f.repeat(4, axis=1).repeat(4, axis=2))
        except OutputError as err:
            print(err)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=_environment())
    assert "big.mp4: the disk is full or refuses a file this large" in done.stdout, done.stderr
    assert list((tmp_path / "out").iterdir()) == []


def _environment():
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def test_overlapped_and_turn_taking_jobs_write_the_same_file(tmp_path):
    """depth=0 (decode, compute, encode in turns on one thread) and the default overlap give the same bytes:
    the same frames reach the same encoder in the same order, and the audio interleaves by timestamp."""
    source = make_clip(tmp_path / "in.mp4", audio="aac")
    for depth in (0, 1, 2):
        process_video(source, tmp_path / f"out{depth}.mp4", twice, batch_frames=3, depth=depth)
    assert (tmp_path / "out0.mp4").read_bytes() == (tmp_path / "out1.mp4").read_bytes() \
        == (tmp_path / "out2.mp4").read_bytes()
    with pytest.raises(InvalidOptionError, match="depth must be a whole number"):
        process_video(source, tmp_path / "out.mp4", twice, depth=-1)


def test_the_next_batch_decodes_and_the_last_encodes_while_one_computes(tmp_path, monkeypatch):
    """Each computation waits for work only another thread can do meanwhile: batch k+1 being decoded,
    batch k−1 encoded. Turn-taking (depth=0) never gets there; the waits are events, not timings."""
    import threading

    from ganpost.runtime.video import job, reader, writer

    decoding, encoded = [threading.Event() for _ in range(5)], [threading.Event() for _ in range(4)]
    threads = set()
    batches, write = reader.VideoReader.batches, writer.VideoWriter.write

    def counted_batches(self, size):
        for k, batch in enumerate(batches(self, size)):
            threads.add(("decode", threading.current_thread().name))
            yield batch
            decoding[k + 1].set()  # resumed while batch k is in the computation's hands

    def counted_write(self, frames, pts):
        write(self, frames, pts)
        threads.add(("encode", threading.current_thread().name))
        encoded[counted_write.calls].set()
        counted_write.calls += 1

    counted_write.calls = 0
    monkeypatch.setattr(reader.VideoReader, "batches", counted_batches)
    monkeypatch.setattr(writer.VideoWriter, "write", counted_write)
    computed = []

    def compute(frames):
        k = len(computed)
        computed.append(k)
        assert k == 3 or decoding[k + 1].wait(30), f"batch {k + 1} did not decode while batch {k} computed"
        assert k == 0 or encoded[k - 1].wait(30), f"batch {k - 1} was not encoded while batch {k} computed"
        return frames

    process_video(make_clip(tmp_path / "in.mp4"), tmp_path / "out.mp4", compute, batch_frames=3)
    assert computed == [0, 1, 2, 3] and {role for role, _ in threads} == {"decode", "encode"}
    assert all(name.startswith(f"ganpost-video-{role}") for role, name in threads)
    assert job.DEFAULT_DEPTH >= 1


def test_subtitles_are_copied_and_a_container_that_cannot_hold_them_is_refused(tmp_path):
    from helpers.video import SUBTITLE_LINES, subtitle_packets

    source = make_clip(tmp_path / "in.mkv", audio="pcm_s16le", subtitles=True)
    assert probe_video(source).subtitles in {("ass",), ("ssa",)}  # FFmpeg names its ASS decoder either way
    result = process_video(source, tmp_path / "out.mkv", twice, batch_frames=5)
    assert result.subtitle_streams == 1 and "subtitles copied" in result.summary()
    assert subtitle_packets(tmp_path / "out.mkv") == subtitle_packets(source)
    assert [text for _, text in subtitle_packets(source)] == [text for _, text in SUBTITLE_LINES]
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(source)
    with pytest.raises(OutputError, match=r"out\.webm: \.webm cannot hold the source's \w+ subtitles.*write \.mkv"):
        process_video(make_clip(tmp_path / "quiet.mkv", audio=None, subtitles=True), tmp_path / "out.webm", twice)
    assert not (tmp_path / "out.webm").exists()
