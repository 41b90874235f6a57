"""Decode a video's frames as RGB ``uint8`` batches of N with each frame's timestamp, in one pass over the
file; the packets of its audio and subtitle streams go, untouched, to a callback as they are met.

A generator: one batch (plus the decoder's few reference frames) is in memory at a time, whatever the
clip's length. A packet the decoder refuses is skipped with one logged line and counted; the frames
around it keep their timestamps, so a player shows the previous frame until the next one (no frame
is invented). Frames the decoder repaired (FFmpeg's concealment, flagged corrupt) are kept and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ...gan_models.errors import ImageInputError
from .probe import VideoInfo, _reason, open_input, probe_video, require_av

log = logging.getLogger(__name__)


@dataclass
class FrameBatch:
    frames: np.ndarray  # N×H×W×3 uint8 RGB, as coded (the display rotation is not applied)
    pts: list[int]  # each frame's presentation time in ``time_base`` units
    time_base: Fraction


class VideoReader:
    """``with VideoReader(path) as reader: for batch in reader.batches(8): ...``; ``reader.info`` is the probe.

    ``on_packet(packet)`` receives every packet of the audio and subtitle streams (``reader.copied_streams``)
    in file order, so a writer can copy them while the frames are being computed.
    """

    def __init__(self, path, on_packet: Callable[[object], None] | None = None, info: VideoInfo | None = None):
        self.info = info or probe_video(path)
        self.path = self.info.path
        self.on_packet = on_packet
        self.container = None
        self.skipped = 0  # packets the decoder refused
        self.concealed = 0  # frames decoded with errors (kept)

    def __enter__(self) -> VideoReader:
        self.container = open_input(self.path)
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"  # frame threads: decoding keeps up with compute on several cores
        self.copied_streams = [*self.container.streams.audio, *self.container.streams.subtitles]
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()

    def batches(self, size: int) -> Iterator[FrameBatch]:
        frames, stamps = [], []
        for frame in self.frames():
            frames.append(frame.to_ndarray(format="rgb24"))
            stamps.append(frame.pts)
            if len(frames) == size:
                yield FrameBatch(np.stack(frames), stamps, self.info.time_base)
                frames, stamps = [], []
        if frames:
            yield FrameBatch(np.stack(frames), stamps, self.info.time_base)

    def frames(self):
        """The decoded ``av.VideoFrame``s in presentation order, each with a ``pts`` (filled in where missing)."""
        av = require_av()
        step = max(1, round(1 / (self.info.fps * self.info.time_base)))  # one frame's duration in time-base units
        previous = None
        wanted = [self.video, *self.copied_streams] if self.on_packet else [self.video]
        for packet in self.container.demux(wanted):
            if packet.stream.type != "video":
                if packet.dts is not None:  # demux ends each stream with an empty flushing packet
                    self.on_packet(packet)
                continue
            try:
                decoded = self.video.decode(packet)
            except av.error.FFmpegError as err:  # corrupt data, mostly (InvalidDataError)
                self.skipped += 1
                where = f"at {float(packet.pts * self.info.time_base):.3f} s" if packet.pts is not None else ""
                log.warning("%s: a video packet %s does not decode (%s); skipped, the previous frame shows "
                            "until the next", self.path, where, _reason(err))
                continue
            for frame in decoded:
                if frame.pts is None:  # raw streams carry no timestamps: regular spacing from the frame rate
                    frame.pts = 0 if previous is None else previous + step
                if frame.is_corrupt:
                    self.concealed += 1
                previous = frame.pts
                yield frame
        if previous is None:
            raise ImageInputError(f"{self.path}: no frame of it decodes; the file is damaged.")
