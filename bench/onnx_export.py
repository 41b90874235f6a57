"""ONNX export figures: for every family and layout, exported yes/no, |ONNX − PyTorch| and CPU time.

Every layout is a tiny random network in its official layout (tests/helpers/onnx_models.py), plus
the real files in ../shared/weights when they are there. For each: export (dynamic; fp16 too with
--fp16), the exporter's own check (max and mean |ONNX − PyTorch| through the runner, fp32 reference,
on smooth [0, 1] test images, a batch of two where the batch is free), then the CPU time of one
forward through the runner, onnxruntime vs PyTorch fp32, at two sizes, alternating the backends
and taking medians of wall time (onnxruntime's own thread pool does its work, so wall time is the
fair figure; run with the machine otherwise idle).

    PYTHONPATH=tests python bench/onnx_export.py --fp16 --threads 2 [--real] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
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
    rule = model.contract.size
    side = rule.fixed or side + (-side) % rule.multiple
    image = check_image(model.contract.in_channels, side, side)
    with Runner(model, device="cpu", precision="fp32") as runner:
        runner.forward(image)  # warm-up: working copy, session, allocator
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            runner.forward(image)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, model, folder: Path, sizes, repeats: int, fp16: bool) -> dict:
    row = {"layout": name}
    try:
        check = export_onnx(model, folder / "model.onnx")
    except Exception as err:  # a bench reports failures as rows
        return {**row, "exported": False, "why": str(err)[:200]}
    row.update(exported=True, max=check.max_error, mean=check.mean_error, stochastic=check.stochastic)
    if fp16:
        try:
            half = export_onnx(model, folder / "half.onnx", fp16=True)
            row.update(fp16_max=half.max_error, fp16_mean=half.mean_error)
        except Exception as err:
            row["fp16_why"] = str(err)[:200]
    exported = load_model(folder / "model.onnx")
    for side in sizes:
        ours, theirs = [], []
        for _ in range(2):  # alternate the backends so other load hits both alike
            ours.append(cpu_time(model, side, repeats))
            theirs.append(cpu_time(exported, side, repeats))
        row[f"ratio_{side}"] = statistics.median(theirs) / statistics.median(ours)
        row[f"torch_s_{side}"] = statistics.median(ours)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(64, 128))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fp16", action="store_true")
    parser.add_argument("--real", action="store_true", help="also the real files in ../shared/weights")
    parser.add_argument("--only", nargs="*", help="layout names to run (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    candidates = dict(layouts())
    if args.real:
        for file in REAL:
            if (SHARED_WEIGHTS / file).is_file():
                candidates[f"real {file}"] = lambda file=file: load_model(SHARED_WEIGHTS / file)
    rows = []
    small, large = args.sizes
    print(f"{'layout':<40} {'exported':>8} {'max':>9} {'mean':>9} {'fp16 max':>9} {'fp16 mean':>9} "
          f"{'ORT/torch ' + str(small):>15} {'ORT/torch ' + str(large):>15}")
    for name, build in candidates.items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as folder:
            row = measure(name, build(), Path(folder), args.sizes, args.repeats, args.fp16)
        rows.append(row)
        if not row["exported"]:
            print(f"{name:<40} {'no':>8}  {row['why']}")
            continue
        note = " (dropout on: random draws)" if row["stochastic"] else ""
        print(f"{name:<40} {'yes':>8} {row['max']:>9.2e} {row['mean']:>9.2e} {row.get('fp16_max', float('nan')):>9.2e} "
              f"{row.get('fp16_mean', float('nan')):>9.2e} {row[f'ratio_{small}']:>15.2f} "
              f"{row[f'ratio_{large}']:>15.2f}{note}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
