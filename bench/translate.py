"""Time ganpost.translate against the official pix2pix/CycleGAN test path: same weights, images, machine.

For each --size (a centre crop of a real photo, PIL in and PIL out on every path):
  official  the official ``test.py`` path: ``models/networks.py`` given by --official builds the
            generator and loads the state dict strictly; ToTensor + Normalize(0.5, 0.5), one
            forward under ``no_grad`` in train mode (test.py calls ``eval()`` only with --eval),
            then ``tensor2im``. Written here with torch instead of torchvision, which ganpost
            does not install; the arithmetic is the same.
  fp32      ``ganpost.translate(..., precision="fp32")``;
  auto      ``ganpost.translate(...)`` as users call it (bf16 on CPUs with bf16 matrix units,
            fp16 on CUDA, where the model's contract allows it).
The paths run in turns (official, fp32, auto, official, ...) so load from other processes hits all
alike; the ratios are of their medians, of wall time and of this process's CPU time (the steadier
figure on a shared machine; with --threads 1 the two agree when the machine is idle). Errors are against the official output, in 1/255 steps.
Target: both ratios ≤ 1 (at least as fast as the official path) at every size.

The official file ships in no wheel; point --official at a copy of the repository's
``models/networks.py`` (junyanz/pytorch-CycleGAN-and-pix2pix). --profile prints where ganpost's
fp32 path spends its time (torch operators, self CPU time) at the largest size.

    python bench/translate.py --official /path/to/models/networks.py --threads 2
    python bench/translate.py --official networks.py --size 512 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ganpost  # noqa: E402
from measure import errors_255, load_average, load_image, release_freed_memory  # noqa: E402

from ganpost.gan_models.loader import load_model  # noqa: E402
from ganpost.runtime.precision import DTYPE_NAMES, resolve_device, resolve_dtype  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "cyclegan_modern2vintage_net_G.pth"


def official_generator(networks_py: Path, state_dict: dict, hp: dict) -> nn.Module:
    """The official ResnetGenerator with the file's options (the norm kind read as ganpost reads it)."""
    spec = importlib.util.spec_from_file_location("official_pix2pix_networks", networks_py)
    networks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(networks)
    if hp["norm"] != "instance":
        raise SystemExit("this bench builds the official ResnetGenerator with instance norm (the vintage file's)")
    # Official --norm instance is affine=False; the vintage file's norms are affine (its README).
    norm = functools.partial(nn.InstanceNorm2d, affine=hp["affine"], track_running_stats=False)
    net = networks.ResnetGenerator(hp["in_channels"], hp["out_channels"], hp["num_feat"], norm_layer=norm,
                                   use_dropout=hp["dropout"], n_blocks=hp["num_blocks"])
    net.load_state_dict(state_dict, strict=True)
    return net.train()  # test.py never calls eval() without --eval


def official_translate(net: nn.Module, image: Image.Image) -> Image.Image:
    """test.py on one image: transform, ``model.test()``, ``util.tensor2im``."""
    x = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float().div(255)  # ToTensor
    x = (x - 0.5) / 0.5  # Normalize((0.5,)*3, (0.5,)*3)
    with torch.no_grad():
        y = net(x[None])
    out = (np.transpose(y[0].cpu().float().numpy(), (1, 2, 0)) + 1) / 2.0 * 255.0
    return Image.fromarray(out.astype(np.uint8))


def timed(fn) -> tuple[Image.Image, float, float]:
    """(result, wall seconds, this process's CPU seconds): on a shared machine the CPU time is the
    steadier measure of the work done, the wall time what a user waits."""
    release_freed_memory()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def profile(fn, top: int) -> str:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official", type=Path, required=True, help="the official models/networks.py")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--size", type=int, action="append", help="image side(s); default 256, 512, 1024")
    p.add_argument("--photo", default="astronaut", help="scikit-image photo to crop")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.model.is_file():
        raise SystemExit(f"no model at {args.model} (see ../shared/weights/README.md)")

    model = load_model(args.model)
    net = official_generator(args.official, model.module.state_dict(), model.hyperparameters)
    auto = DTYPE_NAMES[resolve_dtype(model, "auto", resolve_device(None))]
    paths = {
        "official": lambda im: official_translate(net, im),
        "fp32": lambda im: ganpost.translate(im, model, precision="fp32"),
        "auto": lambda im: ganpost.translate(im, model),
    }
    results = {"model": args.model.name, "threads": torch.get_num_threads(), "torch": torch.__version__,
               "cpu": platform.processor() or platform.machine(), "auto_precision": auto, "sizes": {}}
    print(f"{args.model.name}; torch {torch.__version__}, {torch.get_num_threads()} threads; auto = {auto}", flush=True)
    for size in args.size or [256, 512, 1024]:
        arr, label = load_image(None, args.photo, size)
        image = Image.fromarray((arr * 255 + 0.5).astype(np.uint8))
        for fn in paths.values():  # warm-up: working copies, allocator, oneDNN primitives
            fn(image)
        times: dict[str, list[float]] = {name: [] for name in paths}
        cpu_times: dict[str, list[float]] = {name: [] for name in paths}
        outputs: dict[str, Image.Image] = {}
        for _ in range(args.repeats):
            for name, fn in paths.items():
                outputs[name], seconds, cpu = timed(lambda: fn(image))
                times[name].append(seconds)
                cpu_times[name].append(cpu)
        medians = {name: statistics.median(ts) for name, ts in times.items()}
        cpu_medians = {name: statistics.median(ts) for name, ts in cpu_times.items()}
        official = np.asarray(outputs["official"], dtype=np.float32) / 255
        row = {"image": label, "seconds": times, "median": medians, "cpu_seconds": cpu_times,
               "cpu_median": cpu_medians, "load_average": load_average(),
               "ratio_fp32": medians["fp32"] / medians["official"], "ratio_auto": medians["auto"] / medians["official"],
               "cpu_ratio_fp32": cpu_medians["fp32"] / cpu_medians["official"],
               "cpu_ratio_auto": cpu_medians["auto"] / cpu_medians["official"],
               "error_fp32": errors_255(np.asarray(outputs["fp32"], dtype=np.float32) / 255, official),
               "error_auto": errors_255(np.asarray(outputs["auto"], dtype=np.float32) / 255, official)}
        results["sizes"][size] = row
        print(f"{size}px ({label}): official {medians['official']:.2f} s, fp32 {medians['fp32']:.2f} s "
              f"(×{row['ratio_fp32']:.2f}), {auto} {medians['auto']:.2f} s (×{row['ratio_auto']:.2f}); CPU time "
              f"official {cpu_medians['official']:.2f} s, fp32 ×{row['cpu_ratio_fp32']:.2f}, {auto} "
              f"×{row['cpu_ratio_auto']:.2f}; vs official, fp32 {row['error_fp32']}, {auto} {row['error_auto']}; "
              f"load {row['load_average']}", flush=True)
    if args.profile:
        print(profile(lambda: paths["fp32"](image), 15), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
