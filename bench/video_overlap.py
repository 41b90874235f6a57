"""A video job with its codecs taking turns with the compute (``depth=0``) and overlapping it (``depth=2``,
the default): frames/s of each, two runs each in turns (the faster kept), and whether both wrote the
same bytes. Called by bench/video.py (the CPU, and a simulated device) and bench/gpu_check.py (section
``video``); on its own:

    python bench/video_overlap.py                      # the built-in model on CUDA where there is one, else the CPU
    python bench/video_overlap.py --simulate 0.05      # a compute that waits 0.05 s a frame, leaving the CPU free

The clip: Kodak crops (../shared/datasets/kodak beside the checkout; seeded noise without it), one a
frame, H.264 with an AAC track. ``--simulate`` stands in for a device: it waits as a GPU kernel does
(the CPU is free meanwhile) and returns a nearest-neighbour ×4, so what is measured is how much of the
decoding and encoding the overlap hides.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
import tempfile
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
TESTS = BENCH.parent / "tests"
for folder in (BENCH, TESTS):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from throughput import KODAK  # noqa: E402

IN_TURNS, OVERLAPPED = 0, 2  # depths: the codecs taking turns with the compute, and the default


def make_clip(path: Path, frames: int, size: int) -> Path:
    """``frames`` frames of ``size``² px, a different photo crop each (the encoder gets real work)."""
    from helpers.video import make_clip as write_clip
    from PIL import Image

    photos = sorted(KODAK.glob("*.png"))
    images = []
    rng = np.random.default_rng(0)
    for k in range(frames):
        if photos:
            with Image.open(photos[k % len(photos)]) as im:
                left = (k // len(photos)) * 29 % max(1, im.width - size)
                images.append(np.asarray(im.convert("RGB").crop((left, 0, left + size, size))))
        else:
            images.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return write_clip(path, frames=frames, width=size, height=size, images=images, audio="aac")


def waiting_compute(seconds_per_frame: float) -> Callable[[np.ndarray], np.ndarray]:
    """A stand-in for a device: waits (the CPU free), then a nearest-neighbour ×4."""
    def compute(frames: np.ndarray) -> np.ndarray:
        time.sleep(seconds_per_frame * len(frames))
        return frames.repeat(4, axis=1).repeat(4, axis=2)
    return compute


def model_compute(model, device=None) -> Callable[[np.ndarray], np.ndarray]:
    from ganpost import upscale

    return lambda frames: upscale(frames, model, device=device)


def overlap_rates(clip: Path, folder: Path, compute: Callable, rounds: int = 2, batch_frames: int = 8) -> dict:
    from ganpost.runtime.video import probe_video, process_video

    frames = probe_video(clip).frames
    seconds: dict[int, list[float]] = {IN_TURNS: [], OVERLAPPED: []}
    for _ in range(rounds):
        for depth in seconds:  # in turns, so other load on the machine hits both alike
            started = time.perf_counter()
            process_video(clip, folder / f"out_{depth}.mp4", compute, batch_frames=batch_frames, depth=depth)
            seconds[depth].append(time.perf_counter() - started)
    in_turns, overlapped = min(seconds[IN_TURNS]), min(seconds[OVERLAPPED])
    same = (folder / f"out_{IN_TURNS}.mp4").read_bytes() == (folder / f"out_{OVERLAPPED}.mp4").read_bytes()
    return {"frames": frames, "frames_per_s_in_turns": round(frames / in_turns, 2),
            "frames_per_s_overlapped": round(frames / overlapped, 2), "ratio": round(in_turns / overlapped, 2),
            "same_file": same}


def video_rates(frames: int = 48, size: int = 256, device=None, simulate: float | None = None) -> dict:
    """The built-in model (or ``simulate`` s a frame of waiting) on a clip made here."""
    from ganpost import load_model
    from ganpost.gan_models.catalogue import DEFAULT_MODEL

    with tempfile.TemporaryDirectory(prefix="ganpost-video-overlap-") as name:
        folder = Path(name)
        clip = make_clip(folder / "clip.mp4", frames, size)
        if simulate is not None:
            compute, label = waiting_compute(simulate), f"waiting {simulate} s a frame (a simulated device)"
        else:
            compute, label = model_compute(load_model(DEFAULT_MODEL), device), f"{DEFAULT_MODEL} on {device or 'auto'}"
        compute(np.zeros((2, size, size, 3), np.uint8))  # warm-up: the first forward, the allocator
        return {"compute": label, "size": f"{size}² → {4 * size}²", **overlap_rates(clip, folder, compute)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default=None)
    parser.add_argument("--simulate", type=float, metavar="SECONDS", help="wait this long a frame instead of a model")
    args = parser.parse_args(argv)
    print(json.dumps(video_rates(args.frames, args.size, args.device, args.simulate), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
