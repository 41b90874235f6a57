"""ONNX export figures: for every family and layout, exported yes/no, |ONNX − PyTorch| and CPU time.

Every layout is a tiny random network in its official layout (tests/helpers/onnx_models.py), plus
the real files in ../shared/weights when they are there (--real), and AuraSR at its released size with
random weights (--aurasr-release; 2.5 GB of fp32 weights, so its file has external data). For each:
export (dynamic; fp16 too with --fp16), the exporter's own check (max and mean |ONNX − PyTorch|
through the runner, fp32 reference, on smooth [0, 1] test images, a batch of two where the batch is
free), then the CPU time through the runner, onnxruntime vs PyTorch fp32, at two image sizes (one
forward; a fixed-window network tiles the image through its window), in --rounds rounds that
alternate the backends, each the median of --repeats runs; the best round of each backend is
reported, so load from other jobs on the machine hits both alike and mostly drops out of the ratio
(wall time: onnxruntime's own thread pool does its work). With --fp16, the fp16 file's time at the
small size too. On a machine other jobs share, use --threads 1: with two threads on two busy cores
every parallel region waits for a descheduled thread, and a tiny network's hundreds of small ops
then measure the scheduler (a 16 ms forward took 0.5-1.4 s), not the backend.

    PYTHONPATH=tests python bench/onnx_export.py --fp16 --threads 1 [--real] [--aurasr-release] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from helpers.models import SHARED_WEIGHTS
from helpers.onnx_models import layouts
from ganpost.gan_models.loader import load_model
from ganpost.gan_models.onnx_export import check_image, export_onnx
from ganpost.runtime.runner import Runner

REAL = ("realesr-animevideov3.pth", "RealESRGAN_x4plus.pth", "retinaface_mobilenet0.25.pth",
        "cyclegan_modern2vintage_net_G.pth")


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cpu_time(model, side: int, repeats: int) -> float:
    """Median wall time of ``repeats`` runs on a ``side``² image: one forward, or the fixed window's tiles."""
    rule = model.contract.size
    image = check_image(model.contract.in_channels, side, side)
    with Runner(model, device="cpu", precision="fp32") as runner:
        if rule.fixed:  # the image goes through the window as the task runs it (smaller ones are padded up)
            def once():
                return next(runner.run([image], tile="auto", batch=1))
        else:
            image = check_image(model.contract.in_channels, *(2 * [side + (-side) % rule.multiple]))

            def once():
                return runner.forward(image)
        once()  # warm-up: working copy, session, allocator
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            once()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def best_of(rounds: int, repeats: int, side: int, *models) -> list[float]:
    """For each model, the best of ``rounds`` medians, the models alternating within each round."""
    times = [[] for _ in models]
    for _ in range(rounds):
        for i, model in enumerate(models):
            times[i].append(cpu_time(model, side, repeats))
    return [min(t) for t in times]


def measure(name: str, model, folder: Path, sizes, repeats: int, rounds: int, fp16: bool) -> dict:
    row = {"layout": name, "sides": list(sizes)}
    try:
        check = export_onnx(model, folder / "model.onnx")
    except Exception as err:  # a bench reports failures as rows
        return {**row, "exported": False, "why": str(err)[:200]}
    row.update(exported=True, max=check.max_error, mean=check.mean_error, stochastic=check.stochastic,
               check_sizes=check.sizes)
    half = None
    if fp16:
        try:
            check16 = export_onnx(model, folder / "half.onnx", fp16=True)
            row.update(fp16_max=check16.max_error, fp16_mean=check16.mean_error)
            half = load_model(folder / "half.onnx")
        except Exception as err:
            row["fp16_why"] = str(err)[:200]
    exported = load_model(folder / "model.onnx")
    for side in sizes:
        timed = [model, exported] + ([half] if half is not None and side == sizes[0] else [])
        seconds = best_of(rounds, repeats, side, *timed)
        row[f"torch_s_{side}"], row[f"ort_s_{side}"] = seconds[0], seconds[1]
        row[f"ratio_{side}"] = seconds[1] / seconds[0]
        if len(seconds) > 2:
            row[f"fp16_ratio_{side}"] = seconds[2] / seconds[0]
    return row


def aurasr_release():
    """AuraSR's released configuration (fal/AuraSR-v2's config.json) with random weights."""
    from ganpost.gan_models.aurasr import UnetUpsampler
    from ganpost.gan_models.aurasr.config import RELEASE_CONFIG
    from ganpost.gan_models.loader import describe_state_dict

    torch.manual_seed(0)
    return describe_state_dict(UnetUpsampler(**RELEASE_CONFIG).eval().state_dict())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(64, 128))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--aurasr-release", action="store_true", help="AuraSR at its released size, random weights")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--real", action="store_true", help="also the real files in ../shared/weights")
    parser.add_argument("--fixed-sizes", type=int, nargs=2, help="image sides for fixed-window networks (AuraSR's "
                        "64 px windows tile them; default: --sizes)")
    parser.add_argument("--only", nargs="*", help="layout names to run (default: all)")
    parser.add_argument("--exclude", nargs="*", default=(), help="layout names (or parts of them) to leave out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import onnxruntime

    print(f"CPU: {cpu_model()}; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{torch.get_num_threads()} threads; load average at start {os.getloadavg()[0]:.1f}")
    candidates = dict(layouts())
    if args.real:
        for file in REAL:
            if (SHARED_WEIGHTS / file).is_file():
                candidates[f"real {file}"] = lambda file=file: load_model(SHARED_WEIGHTS / file)
    if args.aurasr_release:
        candidates["UnetUpsampler (AuraSR) released size, random weights"] = aurasr_release
    rows = []
    small, large = args.sizes
    print(f"{'layout':<40} {'exported':>8} {'max':>9} {'mean':>9} {'fp16 max':>9} {'fp16 mean':>9} "
          f"{'ORT/torch ' + str(small):>15} {'ORT/torch ' + str(large):>15} {'ORT16/torch ' + str(small):>16}"
          f" {'torch s ' + str(small):>12} {'torch s ' + str(large):>12}")
    for name, build in candidates.items():
        if (args.only and name not in args.only) or any(part in name for part in args.exclude):
            continue
        model = build()
        sizes = tuple(args.fixed_sizes or args.sizes) if model.contract.size.fixed else tuple(args.sizes)
        with tempfile.TemporaryDirectory() as folder:
            row = measure(name, model, Path(folder), sizes, args.repeats, args.rounds, args.fp16)
        del model
        rows.append(row)
        if not row["exported"]:
            print(f"{name:<40} {'no':>8}  {row['why']}")
            continue
        note = " (dropout on: random draws)" if row["stochastic"] else ""
        a, b = sizes
        print(f"{name:<40} {'yes':>8} {row['max']:>9.2e} {row['mean']:>9.2e} {row.get('fp16_max', float('nan')):>9.2e} "
              f"{row.get('fp16_mean', float('nan')):>9.2e} {row[f'ratio_{a}']:>15.2f} "
              f"{row[f'ratio_{b}']:>15.2f} {row.get(f'fp16_ratio_{a}', float('nan')):>16.2f} "
              f"{row[f'torch_s_{a}']:>12.3f} {row[f'torch_s_{b}']:>12.3f}{note}"
              + (f" (sides {a}, {b})" if (a, b) != (small, large) else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "threads": torch.get_num_threads(),
                                         "load_average_end": os.getloadavg()[0], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
