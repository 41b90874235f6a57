"""Video inputs for the image commands: their flags, and the stages hook that runs one video whole.

A video is one file of the run. It is not read ahead like an image (a clip does not fit in memory):
it is decoded in batches of ``--batch-frames`` frames, computed with the command's models and encoded
as it goes, the next batch decoding and up to ``--queue-depth`` batches encoding while one computes
(``runtime.video.process_video``: timestamps, rotation and audio kept, written atomically). Images
and videos mix in one folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..gan_models.errors import InvalidOptionError
from ..runtime.faces import check_smoothing
from ..runtime.video import CODECS, DEFAULT_CODEC, EncodeSettings, is_video_path, process_video
from ..runtime.video.job import DEFAULT_BATCH_FRAMES
from .batch import queue_depth
from .parser import whole_number
from .stages import FileStages


def add_video_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    group = parser.add_argument_group("video inputs (.mp4 .mov .mkv .webm; PyAV: pip install 'ganpost[video]')")
    group.add_argument("--video-codec", default=DEFAULT_CODEC, choices=[DEFAULT_CODEC, *CODECS],
                       help="auto: the input's codec where the container takes it, else h264 (vp9 for .webm); "
                            "ffv1 is lossless RGB (.mkv). Audio and subtitles are always copied as they are")
    group.add_argument("--video-quality", type=int, metavar="CRF",
                       help="the encoder's constant quality, lower is better (default: h264 18, hevc 22, vp9 31, "
                            "av1 30)")
    group.add_argument("--batch-frames", type=whole_number(1, "a whole number of frames"), default=DEFAULT_BATCH_FRAMES,
                       metavar="N",
                       help=f"frames decoded and computed together (default {DEFAULT_BATCH_FRAMES}); only N frames "
                            "are in memory, whatever the clip's length")
    return group


def with_video(stages: FileStages, args, frames: Callable[[], object]) -> FileStages:
    """``stages`` that also take videos: ``frames()`` makes a new frame computation for each clip (a function of
    ``N×H×W×3`` uint8 frames, or a frame filter such as ``tasks.face_video.SteadyFaceRestorer``)."""
    EncodeSettings(args.video_codec, args.video_quality).check()  # a bad flag costs nothing
    depth = queue_depth(args)

    def whole(source: Path, target: Path, progress) -> str:
        result = process_video(source, target, frames(), batch_frames=args.batch_frames, codec=args.video_codec,
                               quality=args.video_quality, progress=progress, depth=depth)
        return f"video: {result.summary()}"

    stages.whole, stages.takes_whole = whole, is_video_path
    return stages


def smoothing(text: str) -> float:
    try:
        value = float(text)
        check_smoothing(value)
    except (ValueError, InvalidOptionError):
        raise argparse.ArgumentTypeError(f"a number of frames ≥ 0 (0: off, e.g. 1.5), not {text!r}") from None
    return value
