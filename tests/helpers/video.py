"""Short clips made in the test with PyAV, and what a test reads back from a clip: every frame's time,
the audio packets' bytes, the display rotation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

NTSC = Fraction(24000, 1001)


def av_module():
    return pytest.importorskip("av", reason="PyAV is the video extra: pip install 'ganpost[video]'")


def moving_bar(index: int, width: int, height: int) -> np.ndarray:
    """A frame that differs from its neighbours: a white bar moving right over a gradient."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                      np.full_like(x, (index * 37) % 256)], -1).astype(np.uint8)
    left = (index * 5) % width
    frame[:, left:left + 6] = 255
    return frame


def make_clip(path: Path, *, frames: int = 12, width: int = 64, height: int = 48, rate: Fraction = NTSC,
              codec: str = "libx264", pixel_format: str = "yuv420p", rotation: int = 0, audio: str | None = "aac",
              pts: list[int] | None = None, images=None, subtitles: bool = False) -> Path:
    """``frames`` frames at ``rate`` (timestamps ``pts`` in 1/rate units, default 0, 1, 2...), optionally a
    display rotation, an audio stream (aac, pcm_s16le, libopus) of a little noise and an ASS subtitle
    stream of two lines (SUBTITLE_LINES)."""
    av = av_module()
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pixel_format
        if rotation:
            video.set_display_rotation(rotation)
        captions = container.add_stream("ass") if subtitles else None
        sound = None
        if audio:
            sound = container.add_stream(audio, rate=48000)
            sound.layout = "mono"
        for index in range(frames):
            image = moving_bar(index, width, height) if images is None else images[index]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index if pts is None else pts[index]
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = int(48000 * frames / rate)
            noise = rng.uniform(-0.1, 0.1, (1, samples)).astype(np.float32)
            layout = {"aac": "fltp", "libopus": "flt"}.get(audio, "s16")
            data = noise if layout != "s16" else (noise * 32767).astype(np.int16)
            step = 960 if audio == "libopus" else 1024
            for start in range(0, samples, step):
                chunk = np.ascontiguousarray(data[:, start:start + step])
                piece = av.AudioFrame.from_ndarray(chunk, format=layout, layout="mono")
                piece.sample_rate, piece.pts = 48000, start
                for packet in sound.encode(piece):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
        for start, text in SUBTITLE_LINES if captions is not None else ():
            packet = av.Packet(text)
            packet.stream, packet.time_base = captions, Fraction(1, 1000)
            packet.pts = packet.dts = start
            packet.duration = 150
            container.mux(packet)
    return path


# ASS events as Matroska stores them (ReadOrder, Layer, Style, Name, margins, Effect, Text), at ms times
SUBTITLE_LINES = [(0, b"0,0,Default,,0,0,0,,Hello"), (250, b"1,0,Default,,0,0,0,,again")]


def subtitle_packets(path: Path) -> list[tuple[Fraction, bytes]]:
    av = av_module()
    with av.open(str(path)) as container:
        return [(p.pts * p.time_base, bytes(p)) for p in container.demux(subtitles=0) if p.size]


def frame_times(path: Path) -> list[Fraction]:
    av = av_module()
    with av.open(str(path)) as container:
        return [frame.pts * frame.time_base for frame in container.decode(video=0)]


def decoded_frames(path: Path) -> np.ndarray:
    av = av_module()
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def audio_packets(path: Path) -> list[bytes]:
    av = av_module()
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.dts is not None]


def average_rate(path: Path) -> Fraction:
    av = av_module()
    with av.open(str(path)) as container:
        return container.streams.video[0].average_rate
