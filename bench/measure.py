"""What the benchmarks measure with: peak memory per block, errors in 1/255 steps, test photos."""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

import numpy as np
import torch


class PeakMemory:
    """Peak memory during a block: CUDA max allocated, or the process's RSS high-water mark.

    On Linux the RSS peak (VmHWM) is reset through /proc/self/clear_refs, so each block gets its
    own peak; where that is refused, a 2 ms sampler of the current RSS stands in.
    """

    def __init__(self, device: torch.device):
        self.device, self.peak, self.baseline, self.kind = device, 0, 0, ""

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline, self.kind = torch.cuda.memory_allocated(self.device), "cuda_max_allocated"
            return self
        self.baseline = _rss()
        self._sampler = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.kind = "rss_hwm"
        except OSError:
            self.kind, self._stop = "rss_sampled", threading.Event()
            self._sampled = self.baseline
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self._sampled = max(self._sampled, _rss())

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self._sampler is None:
            self.peak = _status_kb("VmHWM") * 1024
        else:
            self._stop.set()
            self._sampler.join()
            self.peak = max(self._sampled, _rss())
        return False


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS, so one path's leftovers do not count as the next's baseline."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def errors_255(x, ref) -> dict:
    """Mean, 99.9th percentile and max of |x - ref| in steps of 1/255 (arrays or tensors in [0, 1])."""
    x, ref = (np.asarray(v.float() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in (x, ref))
    d = np.abs(x - ref) * 255.0
    return {k: float(f"{v:.4g}") for k, v in
            (("mean_255", d.mean()), ("p99_9_255", np.percentile(d, 99.9)), ("max_255", d.max()))}


def load_image(path: str | None, photo: str, size: int) -> tuple[np.ndarray, str]:
    """float32 H×W×3 in [0, 1]: --image as is, else a centre crop of a scikit-image photo at ``size``
    (random blocks where scikit-image is not installed)."""
    if path:
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        return arr, Path(path).name
    try:
        from skimage import data
        from skimage.transform import resize
    except ImportError:  # e.g. a bare GPU machine: smooth random texture instead of a photo
        rng = np.random.default_rng(0)
        small = rng.random((size // 8 + 1, size // 8 + 1, 3), dtype=np.float32)
        return np.kron(small, np.ones((8, 8, 1), np.float32))[:size, :size], f"random 8 px blocks {size}x{size}"

    img = getattr(data, photo)()[..., :3]
    h, w = img.shape[:2]
    side = min(h, w)
    if side >= size:  # natural-scale crop from the centre
        y, x = (h - size) // 2, (w - size) // 2
        out = img[y: y + size, x: x + size].astype(np.float32) / 255.0
        return out, f"{photo} centre crop {size}x{size}"
    y, x = (h - side) // 2, (w - side) // 2
    sq = img[y: y + side, x: x + side]
    out = resize(sq, (size, size), order=3, anti_aliasing=False).astype(np.float32)
    return np.clip(out, 0, 1), f"{photo} {side}px square resized to {size}x{size}"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"
