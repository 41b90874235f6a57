"""A folder upscaled three ways, each the same command line: one process, ``--workers 2`` and ``--ray``
(two local Ray actors), in alternating rounds; wall times, their ratios to the one-process run, and
whether every output is byte-identical to it.

    python bench/ray_folder.py --images 24 --size 256 --rounds 2

The photos are crops of ``../shared/datasets/kodak``; the model is the built-in one (no download).
The machine's cores may be shared by other jobs: compare the ratios of one run, not the times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import make_folder  # noqa: E402  (its first 24 crops: each photo's top-left corner, as before)

WAYS = {"one process": [], "--workers 2": ["--workers", "2"], "--ray (2 actors)": ["--ray"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    with tempfile.TemporaryDirectory(prefix="ganpost-ray-bench-") as work:
        work = Path(work)
        make_folder(work / "in", options.images, options.size)
        walls: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(options.rounds):
            for way, flags in WAYS.items():
                out = work / way.split()[0].strip("-")
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "ganpost.cli", "upscale", str(work / "in"), "-o", str(out),
                                *flags], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                walls[way].append(time.perf_counter() - started)
        reference = work / "one"
        base = statistics.median(walls["one process"])
        print(f"{options.images} photos of {options.size}² px, built-in model, {options.rounds} round(s); "
              f"{os.cpu_count()} CPUs seen")
        for way in WAYS:
            out = work / way.split()[0].strip("-")
            same = all((out / p.name).read_bytes() == p.read_bytes() for p in reference.glob("*.png"))
            wall = statistics.median(walls[way])
            print(f"{way:18s} median {wall:6.1f} s  ({', '.join(f'{w:.1f}' for w in walls[way])})  "
                  f"×{base / wall:.2f} the one-process rate  byte-identical: {same}")


if __name__ == "__main__":
    main()
