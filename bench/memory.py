"""Peak host memory of one big upscale through ``ganpost.upscale`` on CPU (uint8 numpy in and out).

A natural photo is mirror-tiled up to --size (default 4096x4096) and upscaled with a x4 model
(default realesr-animevideov3) into a 16384x16384x3 uint8 array (768 MiB). Reports the peak RSS
(getrusage / VmHWM) against the size of the output array, and where the peak happened: while the
tiles ran, or in the post-processing after the last tile. A watchdog stops the run if RSS passes
--limit-gb.

    python bench/memory.py --threads 2 [--model PATH] [--size 4096] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

import ganpost

DEFAULT_MODEL = str(Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "realesr-animevideov3.pth")
GIB, MIB = 1 << 30, 1 << 20


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def natural_image(size: int, photo: str = "astronaut") -> np.ndarray:
    """uint8 size×size×3: the photo and its mirror images tiled, so there are no hard seams."""
    from skimage import data

    img = getattr(data, photo)()[..., :3]
    block = np.concatenate([np.concatenate([img, img[:, ::-1]], 1),
                            np.concatenate([img[::-1], img[::-1, ::-1]], 1)], 0)
    reps = (-(-size // block.shape[0]), -(-size // block.shape[1]), 1)
    return np.ascontiguousarray(np.tile(block, reps)[:size, :size])


class Watch:
    """Samples RSS every 50 ms, records the peak per phase, and kills the run past the limit."""

    def __init__(self, limit: int):
        self.limit, self.phase, self.peaks, self.stop = limit, "setup", {}, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.05):
            now = rss()
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), now)
            if now > self.limit:
                print(f"\nSTOPPED: RSS reached {now / GIB:.1f} GiB (> --limit-gb {self.limit / GIB:.0f}) "
                      f"during phase '{self.phase}'", flush=True)
                os._exit(3)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--size", type=int, default=4096, help="input side in pixels (default 4096)")
    p.add_argument("--tile", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--limit-gb", type=float, default=20.0, help="stop the run if RSS passes this (default 20)")
    p.add_argument("--json")
    a = p.parse_args(argv)
    if not Path(a.model).is_file():
        print(f"SKIP: model weights {a.model} not found; pass --model PATH", file=sys.stderr)
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    tile = a.tile if a.tile == "auto" else int(a.tile)

    model = ganpost.load_model(a.model)
    img = natural_image(a.size)
    baseline = rss()
    watch = Watch(int(a.limit_gb * GIB))
    watch.thread.start()
    tiles = {"done": 0, "total": 0}

    def progress(done, total):
        tiles.update(done=done, total=total)
        watch.phase = "tiles" if done < total else "after last tile"
        if done == 1 or done % max(1, total // 10) == 0:
            print(f"  tile {done}/{total}  rss {rss() / GIB:.2f} GiB  {time.perf_counter() - start:.0f} s", flush=True)

    print(f"{model.summary()}\ninput {img.shape} {img.dtype} ({img.nbytes / MIB:.0f} MiB); "
          f"baseline RSS {baseline / MIB:.0f} MiB; threads {torch.get_num_threads()}", flush=True)
    watch.phase = "tiles"
    start = time.perf_counter()
    out = ganpost.upscale(img, model, tile=tile, device="cpu", progress=progress)
    seconds = time.perf_counter() - start
    watch.phase = "done"
    time.sleep(0.1)
    watch.stop.set()
    peak = peak_rss()
    result = {
        "model": Path(a.model).name, "input_shape": list(img.shape), "output_shape": list(out.shape),
        "output_dtype": str(out.dtype), "output_bytes": out.nbytes, "seconds": round(seconds, 1),
        "threads": torch.get_num_threads(), "tiles": tiles["total"], "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak, "peak_over_output": round(peak / out.nbytes, 2),
        "peak_minus_baseline_over_output": round((peak - baseline) / out.nbytes, 2),
        "sampled_peak_by_phase_bytes": watch.peaks,
    }
    print(f"\noutput {out.shape} {out.dtype}: {out.nbytes / MIB:.0f} MiB in {seconds:.0f} s ({tiles['total']} tiles)")
    print(f"peak RSS {peak / MIB:.0f} MiB = {result['peak_over_output']}x the output "
          f"(baseline {baseline / MIB:.0f} MiB; above baseline {result['peak_minus_baseline_over_output']}x)")
    print("sampled peak RSS by phase: " + ", ".join(f"{k} {v / MIB:.0f} MiB" for k, v in watch.peaks.items()))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
