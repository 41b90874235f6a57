"""What a video file holds, read from its header and first frame: size, frame rate, time base, length,
rotation, audio and subtitles. Also the one place PyAV is imported from, with the install line when it is missing."""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ...gan_models.errors import GanpostError, ImageInputError

VIDEO_SUFFIXES = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}  # suffix → muxer


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def require_av():
    """PyAV, or one line saying how to get it."""
    try:
        import av
    except ImportError as err:
        raise GanpostError("video files need PyAV: pip install 'ganpost[video]' (or pip install av).") from err
    return av


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int  # as coded (before the display rotation)
    height: int
    fps: Fraction  # average frame rate (timestamps, not this, decide when each frame shows)
    time_base: Fraction
    frames: int | None  # from the header, or estimated from the duration; None when neither is known
    duration: float | None  # seconds
    codec: str
    rotation: int  # degrees counter-clockwise the player turns the picture (PyAV's VideoFrame.rotation)
    display_matrix: tuple[int, ...] | None  # the 3×3 display matrix as stored, to write back unchanged
    audio: tuple[str, ...] = field(default=())  # codec of each audio stream (copied to the output)
    subtitles: tuple[str, ...] = field(default=())  # codec of each subtitle stream (copied too)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


def open_input(path: str | os.PathLike):
    """The container open for reading, or one line naming the file and what is wrong with it."""
    av = require_av()
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"{path}: no such file.")
    try:
        container = av.open(str(path), "r")
    except (av.error.InvalidDataError, av.error.EOFError) as err:
        raise ImageInputError(f"{path}: not a video ganpost can read ({_reason(err)}); "
                              "give an .mp4, .mov, .mkv or .webm file that plays.") from err
    except av.error.FFmpegError as err:
        raise ImageInputError(f"{path}: cannot be opened as a video ({_reason(err)}).") from err
    if not container.streams.video:
        container.close()
        raise ImageInputError(f"{path}: holds no video stream (audio only?); give a file with pictures.")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read the header and the first frame (for the display matrix, which FFmpeg attaches to frames)."""
    with open_input(path) as container:
        return describe(container, Path(path))


def describe(container, path: Path) -> VideoInfo:
    """``container`` is left past its first frame: open another to read the frames."""
    stream = container.streams.video[0]
    context = stream.codec_context
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
    time_base = stream.time_base or (1 / Fraction(fps))
    duration = (float(stream.duration * time_base) if stream.duration
                else container.duration / 1e6 if container.duration else None)
    frames = stream.frames or (round(duration * fps) if duration else None)
    matrix = _first_display_matrix(container, stream, path)
    rotation = _rotation(matrix)
    audio = tuple(s.codec_context.name for s in container.streams.audio)
    subtitles = tuple(s.codec_context.name for s in container.streams.subtitles)
    return VideoInfo(path, context.width, context.height, Fraction(fps), Fraction(time_base), frames, duration,
                     context.name, rotation, matrix, audio, subtitles)


def _first_display_matrix(container, stream, path: Path) -> tuple[int, ...] | None:
    av = require_av()
    try:
        for frame in container.decode(stream):
            # by name: PyAV 18.1.1 made side_data a mapping whose iteration gives the types, not the data
            data = frame.side_data.get("DISPLAYMATRIX")
            return None if data is None else struct.unpack("=9i", bytes(data))  # native order, as FFmpeg stores it
    except av.error.FFmpegError as err:
        raise ImageInputError(f"{path}: its first frame does not decode ({_reason(err)}).") from err
    raise ImageInputError(f"{path}: holds no frame that decodes.")


def _rotation(matrix: tuple[int, ...] | None) -> int:
    """FFmpeg's ``av_display_rotation_get``: counter-clockwise degrees, rounded to the nearest degree."""
    if matrix is None:
        return 0
    a, b, _, c, d, *_ = (v / 65536 for v in matrix)  # 16.16 fixed point
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if scale_x == 0 or scale_y == 0:
        return 0
    return round(-math.degrees(math.atan2(b / scale_y, a / scale_x)))


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err).splitlines()[0]
