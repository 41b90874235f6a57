"""An H.264 clip with a mono 440 Hz AAC tone, from frames: what the video bench and the video templates
load. No pytest here: tools/make_templates.py runs it under ComfyUI's own Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 48000


def write_tone_clip(path: Path, frames: list[np.ndarray], fps: int = 24) -> Path:
    """``frames`` (H×W×3 uint8, one size) at ``fps``, H.264 CRF 18, with a tone as long as the video."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "18"})
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=SAMPLE_RATE)
        sound.layout = "mono"
        for t, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = t
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = SAMPLE_RATE * len(frames) // fps
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)[None]
        for start in range(0, samples, 1024):
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]), format="fltp",
                                               layout="mono")
            piece.sample_rate, piece.pts = SAMPLE_RATE, start
            container.mux(sound.encode(piece))
        container.mux(sound.encode())
    return path
