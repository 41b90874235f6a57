"""Encode RGB frames into a video file with the source's timing, rotation, audio and subtitles.

- Timing: the video stream takes the source's time base and each frame is encoded with its source
  timestamp, so frame rate, variable frame rates and the audio sync are kept as they were.
- Rotation: the source's display matrix (phone clips shot upright) is written back unchanged.
- Audio and subtitles: the source's packets are copied (remuxed, never re-encoded). A container that
  cannot hold them (AAC in .webm, PCM in .mp4, SubRip in .mp4) is refused with the fix.
- Codec: ``auto`` keeps the source's codec where we have its encoder and the container takes it,
  else H.264 (VP9 for .webm); quality is the encoder's constant-quality number (CRF).
- Odd sizes: 4:2:0 chroma needs even sides, so an odd width or height gets one more column or row,
  a copy of the last (a note is logged); FFV1 (lossless RGB) takes any size and is written as is.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...gan_models.errors import InvalidOptionError, OutputError
from .probe import VIDEO_SUFFIXES, VideoInfo, require_av

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoder:
    name: str  # FFmpeg encoder
    pixel_format: str
    default_quality: int | None  # CRF; None: lossless, no quality setting
    quality_range: tuple[int, int] = (0, 51)
    options: tuple[tuple[str, str], ...] = ()


CODECS = {
    "h264": Encoder("libx264", "yuv420p", 18, (0, 51), (("preset", "medium"),)),
    "hevc": Encoder("libx265", "yuv420p", 22, (0, 51), (("preset", "medium"), ("x265-params", "log-level=error"))),
    "vp9": Encoder("libvpx-vp9", "yuv420p", 31, (0, 63), (("row-mt", "1"),)),
    "av1": Encoder("libsvtav1", "yuv420p", 30, (1, 63)),
    "ffv1": Encoder("ffv1", "bgr0", None, (0, 0)),  # lossless RGB: for frames that go on to another tool
}
DEFAULT_CODEC = "auto"
# What each container takes (FFmpeg's muxers take more; these are the ones players handle).
CONTAINER_CODECS = {"mp4": {"h264", "hevc", "vp9", "av1"}, "mov": {"h264", "hevc"},
                    "matroska": set(CODECS), "webm": {"vp9", "av1"}}
SOURCE_CODECS = {"h264": "h264", "hevc": "hevc", "vp9": "vp9", "av1": "av1", "libdav1d": "av1", "ffv1": "ffv1"}
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = DEFAULT_CODEC  # auto | h264 | hevc | vp9 | av1 | ffv1
    quality: int | None = None  # CRF (lower is better, bigger files); None: the codec's default

    def check(self) -> None:
        if self.codec != DEFAULT_CODEC and self.codec not in CODECS:
            raise InvalidOptionError(f"video codec {self.codec!r} is not one ganpost writes; use auto or one of "
                                     f"{', '.join(CODECS)}.")
        if self.quality is not None and not isinstance(self.quality, int):
            raise InvalidOptionError(f"video quality must be a whole number (CRF), not {self.quality!r}.")

    def resolve(self, info: VideoInfo, muxer: str, target: Path) -> tuple[str, Encoder, dict[str, str]]:
        """The codec, its encoder and the encoder's options for this source and container."""
        self.check()
        allowed = CONTAINER_CODECS[muxer]
        if self.codec == DEFAULT_CODEC:
            kept = SOURCE_CODECS.get(info.codec)
            codec = kept if kept in allowed else ("vp9" if muxer == "webm" else "h264")
        elif self.codec not in allowed:
            raise InvalidOptionError(f"{target}: {target.suffix} does not take {self.codec} video; use one of "
                                     f"{', '.join(sorted(allowed))}, or write .mkv.")
        else:
            codec = self.codec
        encoder = CODECS[codec]
        options = dict(encoder.options)
        if encoder.default_quality is not None:
            quality = encoder.default_quality if self.quality is None else self.quality
            low, high = encoder.quality_range
            if not low <= quality <= high:
                raise InvalidOptionError(f"video quality {quality} is outside {codec}'s CRF range {low}..{high} "
                                         f"(lower is better; {encoder.default_quality} is the default).")
            options["crf"] = str(quality)
        elif self.quality is not None:
            log.info("%s is lossless: the video quality setting is not used", codec)
        return codec, encoder, options


class VideoWriter:
    """Write to ``path`` (a temporary name: the job renames it) in ``muxer`` format. The video stream opens
    at the first frames (their size is the computation's); packets copied before then wait for it.

    Copied packets may come from the decoding thread while frames encode on another: the muxer, and the
    opening of the video stream, are taken under one lock.
    """

    def __init__(self, path: Path, target: Path, info: VideoInfo, copied_streams, settings: EncodeSettings):
        av = require_av()
        self.path, self.target, self.info = Path(path), Path(target), info
        self.muxer = VIDEO_SUFFIXES[self.target.suffix.lower()]
        self.codec, self.encoder, self.options = settings.resolve(info, self.muxer, self.target)
        self.container = _guard(lambda: av.open(str(path), "w", format=self.muxer), self.target)
        self.copies = {}  # source stream index → its copy
        for source in copied_streams:
            try:
                self.copies[source.index] = self.container.add_stream_from_template(source)
            except ValueError as err:  # PyAV's "'webm' format does not support 'aac' codec"
                self.container.close()
                raise OutputError(_refused(self.target, source.type, source.codec_context.name, info)) from err
        self.video = None
        self.lock = threading.Lock()
        self.waiting: list = []  # copied packets before the header can be written
        self.size = None
        self.padded = (0, 0)

    def copied(self, kind: str) -> int:
        """How many streams of ``kind`` (audio, subtitle) are copied."""
        return sum(stream.type == kind for stream in self.copies.values())

    def add_packet(self, packet) -> None:
        """Copy one packet of a source audio or subtitle stream."""
        with self.lock:
            if self.video is None:
                self.waiting.append(packet)
                return
            self._copy(packet)

    def write(self, frames: np.ndarray, pts: list[int]) -> None:
        """``frames``: N×H×W×3 uint8 RGB; ``pts`` in the source's time base."""
        av = require_av()
        if self.video is None:
            with self.lock:
                self._open_video(frames.shape[2], frames.shape[1])
        elif frames.shape[1:3] != self.size:
            raise ValueError(f"frames of {frames.shape[2]}×{frames.shape[1]} after "
                             f"{self.size[1]}×{self.size[0]}: a video has one size")
        pad_w, pad_h = self.padded
        if pad_w or pad_h:
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        for image, stamp in zip(frames, pts):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = stamp
            frame.time_base = self.info.time_base
            packets = self.video.encode(frame)  # outside the lock: the encoder is this thread's alone
            with self.lock:
                for packet in packets:
                    self._mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file (trailer, index)."""
        if self.video is None:
            raise OutputError(f"{self.target}: no frame was written.")
        packets = self.video.encode(None)
        with self.lock:
            for packet in packets:
                self._mux(packet)
            _guard(self.container.close, self.target)

    def abort(self) -> None:
        try:
            with self.lock:
                self.container.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away; its trailer does not matter
            pass

    def _open_video(self, width: int, height: int) -> None:
        self.size = (height, width)
        if self.encoder.pixel_format.startswith("yuv420"):
            self.padded = (width % 2, height % 2)
            if any(self.padded):
                log.info("%s: %d×%d has an odd side and 4:2:0 video needs even ones: written as %d×%d (the last "
                         "column/row repeated)", self.target, width, height, width + self.padded[0],
                         height + self.padded[1])
        stream = self.container.add_stream(self.encoder.name, rate=self.info.fps, options=self.options)
        stream.width, stream.height = width + self.padded[0], height + self.padded[1]
        stream.pix_fmt = self.encoder.pixel_format
        stream.time_base = self.info.time_base
        stream.codec_context.time_base = self.info.time_base
        if self.info.display_matrix is not None:
            stream.set_display_matrix(list(self.info.display_matrix))
        self.video = stream
        waiting, self.waiting = self.waiting, []
        for packet in waiting:
            self._copy(packet)

    def _copy(self, packet) -> None:
        packet.stream = self.copies[packet.stream.index]
        self._mux(packet)

    def _mux(self, packet) -> None:
        _guard(lambda: self.container.mux(packet), self.target)


def _refused(target: Path, kind: str, codec: str, info: VideoInfo) -> str:
    if kind == "audio":
        what, fix = f"{codec} audio, which is copied as it is", "write .mkv (it takes any audio) or .mp4/.mov for AAC"
    else:
        what = f"{codec} subtitles, which are copied as they are"
        fix = (f"write {info.path.suffix} as the source is (.mkv takes SubRip, ASS and picture subtitles; .mp4 and "
               ".mov take mov_text)")
    return f"{target}: {target.suffix} cannot hold the source's {what}; {fix}."


def _guard(call, target: Path):
    """Run ``call``; a full disk or a container that refuses a stream becomes one line naming ``target``."""
    av = require_av()
    try:
        return call()
    except OSError as err:
        if err.errno in DISK_FULL:
            raise OutputError(f"{target}: the disk is full or refuses a file this large ({err.strerror or err}); "
                              "nothing was written. Free some space or choose another output folder.") from err
        raise OutputError(f"{target}: cannot be written ({getattr(err, 'strerror', None) or err}).") from err
    except av.error.FFmpegError as err:
        raise OutputError(f"{target}: the {target.suffix} container refused the streams ({err}); an .mkv output "
                          "takes every codec.") from err

