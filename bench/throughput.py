"""Folder throughput: the same ``ganpost upscale`` command run sequentially (as before streaming),
streamed (reads and writes overlapped), streamed with same-size batches, and on two CPU worker
processes (optionally two Ray actors), in alternating rounds; images/s, the ratio to sequential,
and whether every output is byte-identical to the sequential run's.

    python bench/throughput.py                                   # both setups the README reports
    python bench/throughput.py --setup builtin-512 --images 200 --rounds 1
    python bench/throughput.py --setup x4plus-256 --images 24 --ray
    python bench/throughput.py --setup x4plus-256 --skip "streamed, batch 4"

Setups: ``builtin-512`` (the built-in model on 512² px crops) and ``x4plus-256`` (RealESRGAN_x4plus,
from ../shared/weights, on 256² px crops). The photos are crops of ../shared/datasets/kodak (200 by
default: each photo gives several crops). The machine's cores may be shared by other jobs: compare
the ratios of one run, and the load average printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
KODAK = SHARED / "datasets" / "kodak"
SETUPS = {"builtin-512": (None, 512), "x4plus-256": (str(SHARED / "weights" / "RealESRGAN_x4plus.pth"), 256)}
WAYS = {
    "sequential": ["--queue-depth", "0"],
    "streamed": [],
    "streamed, batch 4": ["--batch-size", "4"],
    "2 CPU workers": ["--workers", "2"],
}
RAY_WAY = {"2 Ray actors": ["--ray", "--workers", "2"]}


def make_folder(folder: Path, count: int, size: int) -> None:
    """``count`` crops of ``size``² px: every Kodak photo in turn, each pass through them a step further right."""
    photos = sorted(KODAK.glob("*.png"))
    if not photos:
        sys.exit(f"no Kodak photos in {KODAK}")
    folder.mkdir(parents=True)
    for k in range(count):
        with Image.open(photos[k % len(photos)]) as im:
            step = (k // len(photos)) * 37
            left, top = step % max(1, im.width - size), step // 3 % max(1, im.height - size)
            im.convert("RGB").crop((left, top, left + size, top + size)).save(folder / f"photo{k:03d}.png")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_setup(name: str, images: int, rounds: int, ways: dict, work: Path) -> None:
    model, size = SETUPS[name]
    if model and not Path(model).exists():
        print(f"{name}: skipped ({model} is not here)")
        return
    folder = work / f"{name}-in"
    make_folder(folder, images, size)
    walls: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way, flags in ways.items():  # in turns, so load from other processes hits every way alike
            out = work / f"{name}-{way}".replace(" ", "_").replace(",", "")
            shutil.rmtree(out, ignore_errors=True)
            command = [sys.executable, "-m", "ganpost.cli", "upscale", str(folder), "-o", str(out), *flags]
            if model:
                command += ["-m", model]
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
            walls[way].append(time.perf_counter() - started)
            print(f"  {name}, {way}: {walls[way][-1]:.0f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    base_out = work / f"{name}-sequential"
    base = statistics.median(walls["sequential"])
    print(f"\n{name}: {images} photos of {size}² px, {rounds} round(s), load average {os.getloadavg()[0]:.1f}")
    print("| way | images/s | × sequential | byte-identical |\n|---|---|---|---|")
    for way in ways:
        out = work / f"{name}-{way}".replace(" ", "_").replace(",", "")
        same = all((out / p.name).read_bytes() == p.read_bytes() for p in base_out.glob("*.png"))
        wall = statistics.median(walls[way])
        print(f"| {way} | {images / wall:.2f} | ×{base / wall:.2f} | {'yes' if same else 'NO'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=sorted(SETUPS), action="append", help="default: both")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ray", action="store_true", help="also two local Ray actors (needs ganpost[ray])")
    parser.add_argument("--skip", choices=sorted(set(WAYS) - {"sequential"}), action="append", default=[],
                        help="leave this way out (repeatable; sequential, the reference, always runs)")
    options = parser.parse_args()
    print(f"CPU: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; torch threads per process: the default")
    ways = {way: flags for way, flags in WAYS.items() if way not in options.skip} | (RAY_WAY if options.ray else {})
    with tempfile.TemporaryDirectory(prefix="ganpost-throughput-") as work:
        for name in options.setup or list(SETUPS):
            run_setup(name, options.images, options.rounds, ways, Path(work))


if __name__ == "__main__":
    main()
