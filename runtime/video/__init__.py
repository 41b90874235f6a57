"""Video as a source and a sink of frames (PyAV, the optional ``video`` extra): probe a file, decode its
frames in batches, encode frames keeping timestamps, rotation and the audio packets, and a job that runs
any per-frame computation between the two with nothing half-written."""

from .probe import VIDEO_SUFFIXES, VideoInfo, is_video_path, probe_video
from .job import FrameFilter, VideoResult, process_video
from .writer import CODECS, DEFAULT_CODEC, EncodeSettings

__all__ = ["CODECS", "DEFAULT_CODEC", "EncodeSettings", "FrameFilter", "VIDEO_SUFFIXES", "VideoInfo",
           "VideoResult", "is_video_path", "probe_video", "process_video"]
