"""A folder upscaled on 1..N devices (``--devices``): images/s, the ratio to one device, and whether
the outputs are byte-identical to the one-device run. Called by bench/gpu_check.py (section
``folders``); on its own:

    python bench/folder_devices.py                  # every CUDA GPU here: 1, 2, ... N of them
    python bench/folder_devices.py --cpu-workers 2  # no GPU: 1 and 2 CPU workers (--devices cpu --workers k)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import KODAK, make_folder  # noqa: E402


def make_images(folder: Path, count: int, size: int) -> None:
    """Kodak crops where ../shared is beside the checkout, else seeded noise textures (the dry run in CI)."""
    if any(KODAK.glob("*.png")):
        make_folder(folder, count, size)
        return
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"photo{k:03d}.png")


def folder_rates(images: int = 64, size: int = 512, model: str | None = None, cpu_workers: int = 0) -> list[dict]:
    """One row per device count: CUDA GPUs 1..N, or (``cpu_workers``) 1..k CPU workers."""
    if cpu_workers:
        ways = [(f"{k} CPU worker(s)", ["--devices", "cpu", "--workers", str(k)]) for k in range(1, cpu_workers + 1)]
    elif torch.cuda.is_available():
        count = torch.cuda.device_count()
        ways = [(f"{n} GPU(s)", ["--devices", ",".join(f"cuda:{i}" for i in range(n))]) for n in range(1, count + 1)]
    else:
        return [{"skipped": "no CUDA GPU (use --cpu-workers for the CPU)"}]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ganpost-devices-") as work:
        work = Path(work)
        make_images(work / "in", images, size)
        for k, (name, flags) in enumerate(ways):
            out = work / f"out{k}"
            command = [sys.executable, "-m", "ganpost.cli", "upscale", str(work / "in"), "-o", str(out), *flags]
            if model:
                command += ["-m", model]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode:
                rows.append({"way": name, "error": done.stderr.strip().splitlines()[-1:]})
                continue
            same = all((out / p.name).read_bytes() == p.read_bytes() for p in (work / "out0").glob("*.png"))
            rows.append({"way": name, "images_per_s": images / wall, "wall_s": wall, "byte_identical_to_first": same})
    first = next((r for r in rows if "images_per_s" in r), None)
    for row in rows:
        if first and "images_per_s" in row:
            row["ratio_to_first"] = row["images_per_s"] / first["images_per_s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", help="default: the built-in model")
    parser.add_argument("--cpu-workers", type=int, default=0)
    options = parser.parse_args()
    for row in folder_rates(options.images, options.size, options.model, options.cpu_workers):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
