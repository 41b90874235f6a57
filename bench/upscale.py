"""Time and check ganpost's upscale against ComfyUI core's path: same weights, images and machine, one run.

For each --size (a crop of a real photo), three paths:
  auto  ``ganpost.upscale`` as users call it: precision and tile "auto" (bf16 on CPUs with bf16
        matrix units, fp16 on CUDA, where the model's contract allows it);
  core  ComfyUI core's path (spandrel, fp32, 512 px feathered tiles; bench/core_path.py);
  ref   ours in fp32, untiled: the reference every error is measured against.
auto and core run in turns (auto, core, auto, core, ...) so load from other processes hits both
alike; the ratio is of their medians. Errors are in steps of 1/255: mean, 99.9th percentile, max.
Targets on a CPU with bf16 matrix units: time ≤ 0.3× core's, mean ≤ 0.5/255, 99.9th pct ≤ 3/255.

    python bench/upscale.py --threads 2                          # RealESRGAN_x4plus, 128 and 256 px
    python bench/upscale.py --size 512 --repeats 1 --json out.json
    python bench/upscale.py --model /path/realesr-animevideov3.pth --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ganpost  # noqa: E402
from core_path import CORE_OVERLAP, CORE_TILE, core_tile_count, core_upscale, load_core_model  # noqa: E402
from measure import PeakMemory, errors_255, load_average, load_image, release_freed_memory  # noqa: E402

from ganpost.runtime.runner import Runner  # noqa: E402
from ganpost.runtime.tiling import tile_count  # noqa: E402

DEFAULT_MODEL = str(Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "RealESRGAN_x4plus.pth")
TARGETS = {"ratio": 0.3, "mean_255": 0.5, "p99_9_255": 3.0}  # for half precision on CPU bf16 units / CUDA


def timed(fn, device: torch.device):
    """(result, seconds, peak bytes, baseline bytes, memory kind) of one call."""
    release_freed_memory()
    with PeakMemory(device) as mem:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return result, seconds, mem.peak, mem.baseline, mem.kind


def compare(model, core_model, img: np.ndarray, label: str, a, device: torch.device) -> dict:
    """One image: warm-up, interleaved timed repeats of auto and core, then the fp32 untiled reference."""
    h, w = img.shape[:2]
    tile = a.tile if a.tile == "auto" else int(a.tile)
    with Runner(model, device=device, precision=a.precision) as runner:
        precision, side = runner.precision_name, runner.tile_side(tile, h, w)

    paths = {
        "auto": lambda: ganpost.upscale(img, model, tile=tile, precision=a.precision, device=device),
        "core": lambda: core_upscale(core_model, img, device),
    }
    load_before = load_average()
    if a.warmup:  # first calls build the working copy and the oneDNN/cuDNN kernels for these shapes
        for fn in paths.values():
            fn()
    runs = {name: {"times": [], "peaks": [], "bases": []} for name in paths}
    outputs, kind = {}, ""
    for _ in range(a.repeats):
        for name, fn in paths.items():
            outputs[name], seconds, peak, base, kind = timed(fn, device)
            runs[name]["times"].append(seconds)
            runs[name]["peaks"].append(peak)
            runs[name]["bases"].append(base)
    ref, ref_seconds, _, _, _ = timed(
        lambda: ganpost.upscale(img, model, tile=0, precision="fp32", device=device), device)

    rows = {}
    for name, run in runs.items():
        rows[name] = {
            "median_s": round(statistics.median(run["times"]), 3), "times_s": [round(t, 3) for t in run["times"]],
            "peak_bytes": max(run["peaks"]), "peak_over_baseline_bytes": max(0, max(run["peaks"]) - min(run["bases"])),
            **errors_255(outputs[name], ref),
        }
    rows["auto"]["precision"], rows["core"]["precision"] = precision, "fp32"
    rows["auto"]["tile"] = f"{a.tile} -> {side} px ({tile_count(h, w, side)} tiles)"
    rows["core"]["tile"] = f"{CORE_TILE}/{CORE_OVERLAP} ({core_tile_count(h, w)} tiles)"
    ratio = rows["auto"]["median_s"] / rows["core"]["median_s"]
    paired = [t_auto / t_core for t_auto, t_core in zip(runs["auto"]["times"], runs["core"]["times"])]
    best = min(runs["auto"]["times"]) / min(runs["core"]["times"])  # other processes only ever add time
    return {
        "image": label, "width": w, "height": h, "repeats": a.repeats, "memory_kind": kind,
        "load_average_before": load_before, "load_average_after": load_average(),
        "ratio_auto_over_core": round(ratio, 3), "ratio_per_repeat": [round(r, 3) for r in paired],
        "ratio_of_fastest": round(best, 3),
        "ref_fp32_untiled_s": round(ref_seconds, 3), "auto": rows["auto"], "core": rows["core"],
        "meets_targets": _meets_targets(ratio, rows["auto"]) if precision != "fp32" else None,
    }


def _meets_targets(ratio: float, auto: dict) -> dict:
    return {"ratio": ratio <= TARGETS["ratio"], "mean_255": auto["mean_255"] <= TARGETS["mean_255"],
            "p99_9_255": auto["p99_9_255"] <= TARGETS["p99_9_255"]}


def print_result(r: dict) -> None:
    mib = 1 << 20
    print(f"\n{r['image']} ({r['width']}x{r['height']}); load average {r['load_average_before']} -> "
          f"{r['load_average_after']}; memory: {r['memory_kind']}")
    head = (f"{'path':<5} {'median s':>9} {'runs s':>20} {'peak MiB':>9} {'mean/255':>9} {'p99.9/255':>9} "
            f"{'max/255':>8}  precision, tiles")
    print(head)
    print("-" * len(head))
    for name in ("auto", "core"):
        row = r[name]
        runs = " ".join(f"{t:.2f}" for t in row["times_s"])
        print(f"{name:<5} {row['median_s']:>9.2f} {runs:>20} {row['peak_bytes'] / mib:>9.0f} "
              f"{row['mean_255']:>9.3g} {row['p99_9_255']:>9.3g} {row['max_255']:>8.3g}  "
              f"{row['precision']}, {row['tile']}")
    print(f"ref   {r['ref_fp32_untiled_s']:>9.2f}  (ours fp32 untiled, one run: the reference of the error columns)")
    print(f"auto / core time = {r['ratio_auto_over_core']:.3f} (medians; fastest runs {r['ratio_of_fastest']:.3f}; "
          f"per repeat {', '.join(f'{x:.3f}' for x in r['ratio_per_repeat'])})")
    if r["meets_targets"] is not None:
        auto = r["auto"]
        marks = {k: "ok" if v else "MISSED" for k, v in r["meets_targets"].items()}
        print(f"targets: time ≤ {TARGETS['ratio']}× core {marks['ratio']}; mean {auto['mean_255']:.3g} ≤ "
              f"{TARGETS['mean_255']} {marks['mean_255']}; p99.9 {auto['p99_9_255']:.3g} ≤ {TARGETS['p99_9_255']} "
              f"{marks['p99_9_255']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="weights file (default: %(default)s)")
    p.add_argument("--image", help="input image file (default: centre crops of a scikit-image photo, see --size)")
    p.add_argument("--photo", default="astronaut", help="scikit-image data photo: astronaut, chelsea, coffee …")
    p.add_argument("--size", type=int, nargs="+", default=[128, 256], help="crop sides (default 128 256)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto", help="ours: auto|fp32|fp16|bf16 (core is always fp32)")
    p.add_argument("--tile", default="auto", help="ours: 'auto', 0 (one pass) or pixels")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per path, in turns; median reported")
    p.add_argument("--no-warmup", dest="warmup", action="store_false", help="time the first calls too")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)

    if not Path(a.model).is_file():
        print(f"SKIP: model weights {a.model} not found; pass --model PATH", file=sys.stderr)
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print("SKIP: --device cuda but CUDA is not available", file=sys.stderr)
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    model = ganpost.load_model(a.model)
    try:
        core_model = load_core_model(a.model)
    except ImportError as err:
        print(f"SKIP: spandrel is not importable ({err}); core's path needs it (pip install --no-deps spandrel)",
              file=sys.stderr)
        return 0
    if core_model is None:
        print(f"SKIP: spandrel does not load {a.model} as an image model", file=sys.stderr)
        return 0

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or \
        platform.machine()
    print(f"{model.summary()}\ndevice {device} [{device_name}]; threads {torch.get_num_threads()}; torch "
          f"{torch.__version__}; repeats {a.repeats}; warm-up {'yes' if a.warmup else 'no'}", flush=True)
    results = []
    for size in ([None] if a.image else a.size):
        img, label = load_image(a.image, a.photo, size or 0)
        results.append(compare(model, core_model, img, label, a, device))
        print_result(results[-1])
        sys.stdout.flush()
    if a.json:
        summary = {"model": Path(a.model).name, "architecture": model.architecture, "scale": model.scale,
                   "device": str(device), "device_name": device_name, "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "targets": TARGETS, "results": results}
        Path(a.json).write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
