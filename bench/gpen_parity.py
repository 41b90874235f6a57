"""GPEN-BFR: ganpost's FullGenerator against GPEN's own code (yangxy/GPEN, a checkout given at run time).

Sections (each a flag; default: --parity 256 512 1024 --timing --precision):

--parity SIZES   the released configs (256: ×1, narrow 0.5; 512/1024/2048: ×2, narrow 1), the same
                 random weights in both (ours seeded, loaded strict into the official module), two
                 smooth random faces: max |Δ| of the outputs, fp32, CPU.
--timing         CPU seconds per face (one face per forward, median of --repeats after a warm-up) at
                 256 and 512: official, ours fp32, ours through the runner at precision "auto".
--precision      bf16 and fp16 against fp32 on the astronaut's face, released widths, random weights:
                 mean / p99.9 / max |Δ| in 1/255 steps and whether the output is finite.
--memory         peak RSS over the loaded model for one 512 px forward, fp32 (a subprocess per side).
--pipeline       the whole-image pipeline against GPEN's FaceEnhancement (see pipeline()).
--fixtures       (re)write tests/fixtures/gpen_parity.json from the official code.

    GPEN_OFFICIAL=/path/to/GPEN python bench/gpen_parity.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.gpen import PARITY_CONFIGS, official_gpen_model, official_root, parity_input, tiny_gpen  # noqa: E402

from ganpost.gan_models.gpen import FullGenerator  # noqa: E402

RELEASED = {256: dict(channel_multiplier=1, narrow=0.5), 512: dict(channel_multiplier=2, narrow=1),
            1024: dict(channel_multiplier=2, narrow=1), 2048: dict(channel_multiplier=2, narrow=1)}
FIXTURE = TESTS / "fixtures" / "gpen_parity.json"
DETECTOR = ROOT.parent / "shared" / "weights" / "retinaface_mobilenet0.25.pth"


def released(size: int, seed: int = 0) -> FullGenerator:
    return tiny_gpen(seed, size=size, **RELEASED[size])


def official_twin(gpen_model, ours: FullGenerator, hp: dict):
    net = gpen_model.FullGenerator(hp["size"], hp["style_dim"], hp["n_mlp"], hp["channel_multiplier"],
                                   isconcat=hp["isconcat"], narrow=hp["narrow"]).eval()
    net.load_state_dict(ours.state_dict(), strict=True)
    return net


def hyper(size: int, **config) -> dict:
    return dict(size=size, style_dim=512, n_mlp=8, isconcat=True, **config)


def parity(gpen_model, sizes) -> list[dict]:
    rows = []
    for size in sizes:
        ours = released(size)
        official = official_twin(gpen_model, ours, hyper(size, **RELEASED[size]))
        x = parity_input(size, batch=2 if size <= 512 else 1)
        with torch.no_grad():
            a, b = official(x)[0], ours(x)
        rows.append({"size": size, **RELEASED[size], "max_abs_diff": float((a - b).abs().max()),
                     "output_max_abs": float(a.abs().max())})
        print(f"parity {size}: max |Δ| = {rows[-1]['max_abs_diff']:.3g} (outputs up to {rows[-1]['output_max_abs']:.3g})",
              flush=True)
        del ours, official
    return rows


def write_fixtures(gpen_model) -> None:
    out = {"about": "GPEN's official FullGenerator (yangxy/GPEN face_model/gpen_model.py, CPU path) on "
                    "tests/helpers/gpen.py's seeded tiny networks and inputs; written by bench/gpen_parity.py "
                    "--fixtures. 'output': the first face, every 'stride'-th pixel, C×H×W flattened.",
           "configs": {}}
    for name, config in PARITY_CONFIGS.items():
        ours = tiny_gpen(0, **config)
        official = official_twin(gpen_model, ours, dict(config))
        x = parity_input(config["size"])
        with torch.no_grad():
            ref = official(x)[0]
            assert float((ref - ours(x)).abs().max()) <= 1e-5
        stride = max(config["size"] // 8, 1)
        kept = ref[0, :, ::stride, ::stride]
        out["configs"][name] = {"config": config, "stride": stride, "shape": list(kept.shape),
                                "output": [float(f"{v:.8g}") for v in kept.flatten().tolist()]}
    FIXTURE.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timing(gpen_model, repeats: int) -> list[dict]:
    from ganpost.gan_models.loader import describe_state_dict  # noqa: PLC0415
    from ganpost.runtime.runner import Runner  # noqa: PLC0415

    rows = []
    for size in (256, 512):
        ours = released(size)
        official = official_twin(gpen_model, ours, hyper(size, **RELEASED[size]))
        x = parity_input(size, batch=1)
        model = describe_state_dict(ours.state_dict())
        face = (x + 1) / 2
        with torch.no_grad():
            t_official = _median_time(lambda: official(x), repeats)
            t_ours = _median_time(lambda: ours(x), repeats)
        with Runner(model, device="cpu", precision="auto") as runner:
            t_auto = _median_time(lambda: runner.run_windows(face), repeats)
            auto_dtype = str(runner.dtype).replace("torch.", "")
        rows.append({"size": size, "official_fp32_s": t_official, "ours_fp32_s": t_ours, "ours_auto_s": t_auto,
                     "auto_dtype": auto_dtype})
        print(f"time per face {size}: official {t_official:.2f} s, ours fp32 {t_ours:.2f} s, "
              f"ours auto ({auto_dtype}) {t_auto:.2f} s", flush=True)
    return rows


def astronaut_face(size: int) -> torch.Tensor:
    from skimage import data  # noqa: PLC0415

    crop = torch.from_numpy(data.astronaut()[0:220, 130:350].copy()).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(crop, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def precision(sizes=(256, 512)) -> list[dict]:
    rows = []
    for size in sizes:
        ours = released(size)
        x = astronaut_face(size) * 2 - 1
        with torch.no_grad():
            ref = ours(x)
            for dtype in (torch.bfloat16, torch.float16):
                out = ours.to(dtype)(x.to(dtype)).float()
                ours.float()
                diff = ((out - ref).abs() * 127.5).flatten()  # [-1, 1] → 1/255 steps
                rows.append({"size": size, "dtype": str(dtype).replace("torch.", ""),
                             "finite": bool(torch.isfinite(out).all()), "mean": float(diff.mean()),
                             "p99.9": float(diff.quantile(0.999)), "max": float(diff.max())})
                print(f"precision {size} {rows[-1]['dtype']}: mean {rows[-1]['mean']:.3f}/255, "
                      f"p99.9 {rows[-1]['p99.9']:.2f}/255, max {rows[-1]['max']:.2f}/255, finite {rows[-1]['finite']}",
                      flush=True)
    return rows


MEMORY_CHILD = r"""
import resource, sys, torch
sys.path.insert(0, sys.argv[2])
from helpers.gpen import official_gpen_model, official_root, parity_input
from ganpost.gan_models.gpen import FullGenerator
torch.set_num_threads(1)
side, weights = sys.argv[1], sys.argv[3]
with torch.device("meta"):
    net = FullGenerator(512) if side == "ours" else official_gpen_model(official_root()).FullGenerator(512, 512, 8, 2)
net.load_state_dict(torch.load(weights, mmap=True, weights_only=True), assign=True)  # no second copy
net.eval()
x = parity_input(512, batch=1)
with torch.no_grad():
    for t in net.state_dict().values():
        t.sum()  # fault every weight page in: the baseline holds the weights
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    net(x)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def memory() -> dict:
    """Peak RSS growth (MiB) during one 512 px forward, fp32, one thread, over a baseline that holds the weights
    (mmapped, every page touched first): the activations' peak."""
    import tempfile  # noqa: PLC0415

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "gpen512.pth"
        torch.save(released(512).state_dict(), weights)
        for side in ("ours", "official"):
            result = subprocess.run([sys.executable, "-c", MEMORY_CHILD, side, str(TESTS), str(weights)],
                                    capture_output=True, text=True, check=True)
            out[side] = float(result.stdout.strip().splitlines()[-1])
            print(f"memory {side}: peak RSS growth {out[side]:.0f} MiB for one 512 px face", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parity", type=int, nargs="*", default=None)
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--precision", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--fixtures", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = any([args.parity is not None, args.timing, args.precision, args.memory, args.pipeline, args.fixtures])
    if not chosen:
        args.parity, args.timing, args.precision = [256, 512, 1024], True, True
    root = official_root()
    if root is None:
        print("no GPEN checkout: set GPEN_OFFICIAL to a clone of https://github.com/yangxy/GPEN", file=sys.stderr)
        return 2
    gpen_model = official_gpen_model(root)
    torch.set_grad_enabled(False)
    report: dict = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__}
    if args.fixtures:
        write_fixtures(gpen_model)
    if args.parity:
        report["parity"] = parity(gpen_model, args.parity)
    if args.timing:
        report["timing"] = timing(gpen_model, args.repeats)
    if args.precision:
        report["precision"] = precision()
    if args.memory:
        report["memory_mib"] = memory()
    if args.pipeline:
        from gpen_pipeline import pipeline  # noqa: PLC0415 (bench/gpen_pipeline.py, beside this file)

        report["pipeline"] = pipeline(root, DETECTOR)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
