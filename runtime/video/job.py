"""One video in, one video out: decode in batches, compute, encode, with nothing half-written.

``compute_frames`` maps ``N×H×W×3`` uint8 RGB frames, turned upright (a phone clip's display rotation
applied), to ``N×H'×W'×3`` frames (uint8, or float in [0, 1]), the same size for the whole clip. It
may instead be a :class:`FrameFilter` that holds frames back (a smoother that needs the frames after
a frame before it can finish it) and hands them over later, in order.

The output keeps every frame's timestamp, the frame rate, the display rotation and the audio and
subtitle packets (see ``writer``). It is written under a temporary name beside ``target`` and renamed at the end: an
error, a full disk, Ctrl-C or a cancel removes it. A packet that does not decode is skipped (``reader``)
and counted in the result; a file with no decodable frame, or that is not a video, fails with one line.

Decoding, computing and encoding overlap: the next batch decodes on one thread and finished batches
encode on another while the computation runs (PyAV's codecs release the GIL), so a fast GPU is not
held back by the codecs. At most one batch waits decoded and ``depth`` wait to be encoded; ``depth=0``
takes turns on one thread. The file written is the same either way. Frames the computation returns
are encoded later, on the other thread: it returns new arrays, not a buffer it fills again.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
DEFAULT_DEPTH = 2


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
    subtitle_streams: int = 0  # copied

    def summary(self) -> str:
        parts = [f"{self.frames} frames {self.width}×{self.height}", self.codec]
        if self.audio_streams:
            parts.append("audio copied")
        if self.subtitle_streams:
            parts.append("subtitles copied")
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
                  cancel: Callable[[], bool | None] | None = None, info: VideoInfo | None = None,
                  depth: int = DEFAULT_DEPTH) -> VideoResult:
    """Compute every frame of ``source`` and write the video ``target`` (its extension picks the container).

    codec: auto (the source's where the container takes it, else H.264; VP9 for .webm) | h264 | hevc |
    vp9 | av1 | ffv1.  quality: the encoder's CRF (None: its default).  progress(done, total) counts
    frames (total 0 when the header does not say).  cancel() is checked between batches.  depth: batches
    waiting to be encoded while the next computes (0: decode, compute and encode take turns).
    """
    source, target = Path(source), Path(target)
    if not isinstance(batch_frames, int) or batch_frames < 1:
        raise InvalidOptionError(f"batch_frames must be a whole number ≥ 1, not {batch_frames!r}")
    if not isinstance(depth, int) or depth < 0:
        raise InvalidOptionError(f"depth must be a whole number ≥ 0, not {depth!r}")
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
                writer = VideoWriter(temporary, target, info, reader.copied_streams, settings)
                with _Codecs(writer, turns, depth) as codecs:  # its threads stop before the reader closes
                    done = 0
                    for batch in codecs.decoded(reader.batches(batch_frames)):
                        if cancel is not None and cancel():
                            raise CancelledError(f"{source}: cancelled; nothing was written to {target}.")
                        codecs.given(batch.pts)
                        done += codecs.encode(stage.push(np.rot90(batch.frames, turns, axes=(1, 2))))
                        if progress is not None:
                            progress(done, max(total, done))
                    done += codecs.encode(stage.finish())
                    codecs.drain()
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    height, width = writer.size if turns % 2 == 0 else writer.size[::-1]
    return VideoResult(done, width, height, writer.codec, writer.copied("audio"), reader.skipped, reader.concealed,
                       writer.copied("subtitle"))


class _Codecs:
    """The decoding one batch ahead and the encoding ``depth`` batches behind, one thread each (none for 0).

    Encoding runs in the order batches were handed over (one thread); an encoder's error (a full disk)
    comes back on the computing thread at the next hand-over. On leaving, queued work is dropped and
    the work under way finishes, so the reader and writer can be closed safely.
    """

    def __init__(self, writer: VideoWriter, turns: int, depth: int):
        self.writer, self.turns, self.depth = writer, turns, depth
        self.waiting: deque[int] = deque()  # timestamps of frames given to the computation, not yet back
        self.handed = 0  # frames the computation has returned
        self.encoding: deque[Future] = deque()
        self.pools = [ThreadPoolExecutor(1, thread_name_prefix=f"ganpost-video-{role}")
                      for role in ("decode", "encode")] if depth else []

    def __enter__(self) -> _Codecs:
        return self

    def __exit__(self, *exc) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def decoded(self, batches: Iterator) -> Iterator:
        """``batches``, the next one decoding while the caller computes this one."""
        if not self.depth:
            yield from batches
            return
        decode = self.pools[0]
        ahead = decode.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = decode.submit(next, batches, None)
            yield batch

    def given(self, pts: list[int]) -> None:
        self.waiting.extend(pts)

    def encode(self, frames) -> int:
        """Hand finished frames (in order) to the encoder; the number handed."""
        if frames is None or len(frames) == 0:
            return 0
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"the frame computation returned an array of shape {frames.shape}; expected N×H×W×3")
        if frames.dtype != np.uint8 and not np.issubdtype(frames.dtype, np.floating):
            raise ValueError(f"the frame computation returned {frames.dtype} frames; expected uint8 or float in [0, 1]")
        if len(frames) > len(self.waiting):
            raise RuntimeError(f"the frame computation returned {len(frames)} frames for {len(self.waiting)} given")
        pts = [self.waiting.popleft() for _ in range(len(frames))]
        self.handed += len(frames)
        if not self.depth:
            self._write(frames, pts)
            return len(frames)
        self.encoding.append(self.pools[1].submit(self._write, frames, pts))
        while len(self.encoding) > self.depth or (self.encoding and self.encoding[0].done()):
            self.encoding.popleft().result()  # raises the encoder's error here
        return len(frames)

    def drain(self) -> None:
        """Wait for every batch to be encoded; every frame given must have come back."""
        while self.encoding:
            self.encoding.popleft().result()
        if self.waiting:
            raise RuntimeError(f"the frame computation returned {self.handed} of {self.handed + len(self.waiting)} "
                               "frames")

    def _write(self, frames: np.ndarray, pts: list[int]) -> None:
        self.writer.write(np.rot90(_as_uint8(frames), -self.turns, axes=(1, 2)), pts)


def _as_uint8(frames: np.ndarray) -> np.ndarray:
    return frames if frames.dtype == np.uint8 else (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def _upright_turns(info: VideoInfo) -> int:
    """Quarter turns (counter-clockwise) that show the frames as a player does; 0 for odd angles (kept as coded)."""
    if info.rotation % 90:
        log.info("%s: display rotation %d° is not a quarter turn; frames are computed as coded", info.path,
                 info.rotation)
        return 0
    return (info.rotation // 90) % 4
