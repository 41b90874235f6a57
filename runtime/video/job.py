"""One video in, one video out: decode in batches, compute, encode, with nothing half-written.

``compute_frames`` maps ``N×H×W×3`` uint8 RGB frames, turned upright (a phone clip's display rotation
applied), to ``N×H'×W'×3`` frames (uint8, or float in [0, 1]), the same size for the whole clip. It
may instead be a :class:`FrameFilter` that holds frames back (a smoother that needs the frames after
a frame before it can finish it) and hands them over later, in order.

The output keeps every frame's timestamp, the frame rate, the display rotation and the audio packets
(see ``writer``). It is written under a temporary name beside ``target`` and renamed at the end: an
error, a full disk, Ctrl-C or a cancel removes it. A packet that does not decode is skipped (``reader``)
and counted in the result; a file with no decodable frame, or that is not a video, fails with one line.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ...gan_models.atomic import atomic_target
from ...gan_models.errors import CancelledError, InvalidOptionError, OutputError
from .probe import VIDEO_SUFFIXES, VideoInfo, probe_video
from .reader import VideoReader
from .writer import EncodeSettings, VideoWriter

log = logging.getLogger(__name__)
DEFAULT_BATCH_FRAMES = 8


@runtime_checkable
class FrameFilter(Protocol):
    """A computation that may return fewer frames than it was given and the rest later."""

    def push(self, frames: np.ndarray) -> np.ndarray | None:
        """Take the next frames; return the finished ones that follow those returned before (maybe none)."""

    def finish(self) -> np.ndarray | None:
        """No more frames: return every frame still held."""


@dataclass(frozen=True)
class VideoResult:
    frames: int  # frames written
    width: int  # as displayed (rotation applied), before any padding to even sides
    height: int
    codec: str
    audio_streams: int  # copied
    skipped: int  # packets that did not decode
    concealed: int  # frames the decoder repaired

    def summary(self) -> str:
        parts = [f"{self.frames} frames {self.width}×{self.height}", self.codec]
        if self.audio_streams:
            parts.append("audio copied")
        if self.skipped:
            parts.append(f"{self.skipped} damaged packet(s) skipped")
        if self.concealed:
            parts.append(f"{self.concealed} frame(s) repaired by the decoder")
        return ", ".join(parts)


class _PerBatch:
    def __init__(self, compute: Callable[[np.ndarray], np.ndarray]):
        self.push = compute

    @staticmethod
    def finish():
        return None


def process_video(source: str | os.PathLike, target: str | os.PathLike,
                  compute_frames: Callable[[np.ndarray], np.ndarray] | FrameFilter, *,
                  batch_frames: int = DEFAULT_BATCH_FRAMES, codec: str = "auto", quality: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool | None] | None = None, info: VideoInfo | None = None) -> VideoResult:
    """Compute every frame of ``source`` and write the video ``target`` (its extension picks the container).

    codec: auto (the source's where the container takes it, else H.264; VP9 for .webm) | h264 | hevc |
    vp9 | av1 | ffv1.  quality: the encoder's CRF (None: its default).  progress(done, total) counts
    frames (total 0 when the header does not say).  cancel() is checked between batches.
    """
    source, target = Path(source), Path(target)
    if not isinstance(batch_frames, int) or batch_frames < 1:
        raise InvalidOptionError(f"batch_frames must be a whole number ≥ 1, not {batch_frames!r}")
    if target.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"{target}: a video is written as one of {', '.join(VIDEO_SUFFIXES)}, not "
                          f"{target.suffix or 'a name without extension'}.")
    settings = EncodeSettings(codec, quality)
    settings.check()
    info = info or probe_video(source)
    turns = _upright_turns(info)
    stage = compute_frames if isinstance(compute_frames, FrameFilter) else _PerBatch(compute_frames)
    total = info.frames or 0
    with atomic_target(target) as temporary:
        writer = None
        try:
            with VideoReader(source, on_packet=lambda packet: writer.add_packet(packet), info=info) as reader:
                writer = VideoWriter(temporary, target, info, reader.audio_streams, settings)
                waiting: deque[int] = deque()  # timestamps of frames given to the computation, not yet back
                done = 0
                for batch in reader.batches(batch_frames):
                    if cancel is not None and cancel():
                        raise CancelledError(f"{source}: cancelled; nothing was written to {target}.")
                    waiting.extend(batch.pts)
                    done += _write(writer, stage.push(np.rot90(batch.frames, turns, axes=(1, 2))), waiting, turns)
                    if progress is not None:
                        progress(done, max(total, done))
                done += _write(writer, stage.finish(), waiting, turns)
                if waiting:
                    raise RuntimeError(f"the frame computation returned {done} of {done + len(waiting)} frames")
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    height, width = writer.size if turns % 2 == 0 else writer.size[::-1]
    return VideoResult(done, width, height, writer.codec, len(writer.audio), reader.skipped, reader.concealed)


def _write(writer: VideoWriter, frames, waiting: deque, turns: int) -> int:
    if frames is None or len(frames) == 0:
        return 0
    frames = _as_uint8(np.asarray(frames))
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"the frame computation returned an array of shape {frames.shape}; expected N×H×W×3")
    if len(frames) > len(waiting):
        raise RuntimeError(f"the frame computation returned {len(frames)} frames for {len(waiting)} given")
    writer.write(np.rot90(frames, -turns, axes=(1, 2)), [waiting.popleft() for _ in range(len(frames))])
    return len(frames)


def _as_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames
    if np.issubdtype(frames.dtype, np.floating):
        return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)
    raise ValueError(f"the frame computation returned {frames.dtype} frames; expected uint8 or float in [0, 1]")


def _upright_turns(info: VideoInfo) -> int:
    """Quarter turns (counter-clockwise) that show the frames as a player does; 0 for odd angles (kept as coded)."""
    if info.rotation % 90:
        log.info("%s: display rotation %d° is not a quarter turn; frames are computed as coded", info.path,
                 info.rotation)
        return 0
    return (info.rotation // 90) % 4
