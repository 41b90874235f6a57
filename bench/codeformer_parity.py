"""CodeFormer: ganpost's network against the official code (sczhou/CodeFormer, fetched, never committed).

    python bench/codeformer_parity.py                 # all of it (about 5 minutes on 2 CPU threads)
    python bench/codeformer_parity.py --only network  # released-size parity at w = 0, 0.5, 1
    python bench/codeformer_parity.py --only pipeline # whole images against inference_codeformer.py
    python bench/codeformer_parity.py --only timing   # CPU seconds per face
    python bench/codeformer_parity.py --only precision
    python bench/codeformer_parity.py --write-references   # tests/fixtures/codeformer_reference.json

The official code comes from $CODEFORMER_ROOT or the fetched mirror (tests/helpers/codeformer.py).

network:   the released configuration (dim_embd 512, 9 layers, 1024 codes, connect 32-256, nf 64), every
           tensor seeded (tests/helpers/codeformer.fill_seeded), the same state dict loaded strictly into
           both; one 512 px input; official ``net(x, w=w, adain=True)`` (as inference_codeformer.py calls
           it) against ours ``net(x, w=w)``: max |Δ| of the image and the logits, and how many of the 256
           predicted codes differ. Also the colorization/inpainting layouts (connect 32-128; 512 codes).
pipeline:  the official script itself (``-w 0.5 -s 1|2 --detection_model retinaface_mobile0.25``, its
           ParseNet on) on scikit-image's astronaut, against ``ganpost.restore_faces(paste="official",
           parser=the same ParseNet, fidelity=0.5, threshold=0.8, upscale=1|2)``; restorer and ParseNet with
           random weights (seeded; one file each, loaded by both), the real RetinaFace MobileNet-0.25 from
           ../shared/weights. Printed: |Δ| over the whole image in steps of 1/255 (mean, 99.9th pct, max).
           Runs: the script exactly as released with a fully random restorer; then a restorer whose code
           choice ignores the input (``stable_codes``: a random network's top-1 code flips for a fraction of a
           grey level, so the figure would measure crop rounding, not the pipeline); then the official helper
           detecting at the image's own size (``resize=None``: the script detects on a copy resized to a
           640 px short side, ganpost at native size, which moves the landmarks ~2 px); then parsing off
           (the square mask alone) against ganpost with no parser.
timing:    one aligned 512 px face, median of 3: ours through the runner at fp32 and at precision="auto",
           the official network's forward.
precision: bf16 (and fp16) against fp32 on the released width, seeded random weights: image |Δ| and code flips.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.codeformer import (  # noqa: E402
    CONFIGS, STRIDE, OfficialMissing, codes_of, face_input, official_codeformer, run_official_script,
    seeded_codeformer, summary,
)

from ganpost import load_model, restore_faces_detailed  # noqa: E402
from ganpost.runtime.runner import Runner  # noqa: E402

DETECTOR = Path(__file__).resolve().parent.parent.parent / "shared" / "weights" / "retinaface_mobilenet0.25.pth"
FIXTURE = TESTS / "fixtures" / "codeformer_reference.json"
WEIGHTS = (0.0, 0.5, 1.0)


def network(config: dict | None = None, label: str = "released") -> dict:
    ours = seeded_codeformer(config)
    official = official_codeformer(config)
    official.load_state_dict(ours.state_dict(), strict=True)
    x = face_input(ours.img_size)
    row = {"config": label}
    with torch.no_grad():
        for w in WEIGHTS:
            expected, expected_logits, _ = official(x, w=w, adain=True)
            got, logits, _ = ours(x, w=w)
            row[f"w={w:g}"] = {"image_max": float((got - expected).abs().max()),
                               "logits_max": float((logits - expected_logits).abs().max()),
                               "codes_differ": int((logits.argmax(2) != expected_logits.argmax(2)).sum()),
                               "distinct_codes": int(logits.argmax(2).unique().numel())}
    print(f"{label:14} " + "  ".join(f"{k}: image max|Δ| {v['image_max']:.2e}, logits {v['logits_max']:.2e}, "
                                      f"codes differ {v['codes_differ']}/256" for k, v in row.items() if k != "config"),
          flush=True)
    return row


def write_references() -> None:
    """The official network's outputs at the small configs (seeded weights): what CI compares ours with."""
    x_seed = 0
    refs = {"note": "official sczhou/CodeFormer outputs for tests/helpers/codeformer.py's seeded small configs; "
                    "regenerate with python bench/codeformer_parity.py --write-references",
            "stride": STRIDE, "input_seed": x_seed, "weights_seed": 0, "configs": {}}
    for name, config in CONFIGS.items():
        ours = seeded_codeformer(config)
        official = official_codeformer(config)
        official.load_state_dict(ours.state_dict(), strict=True)
        x = face_input(ours.img_size, seed=x_seed)
        entry = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}, "outputs": {}}
        with torch.no_grad():
            for w in WEIGHTS:
                image, logits, _ = official(x, w=w, adain=True)
                entry["outputs"][f"{w:g}"] = summary(image, logits)
                entry["codes"] = codes_of(logits)
            image, logits, _ = official(x, w=1.0, adain=False)
            entry["outputs"]["1,adain=False"] = summary(image, logits)
        refs["configs"][name] = entry
    FIXTURE.write_text(json.dumps(refs, indent=1) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


def random_parsenet(path: Path) -> None:
    """A ParseNet(512, 512, 19) state dict (facexlib's = CodeFormer facelib's layout), every tensor seeded."""
    from helpers.faces import randomise
    from helpers.official_faces import official_parsers

    net = randomise(official_parsers()["ParseNet"](in_size=512, out_size=512, parsing_ch=19))
    torch.save(net.state_dict(), path)


def steps(diff: np.ndarray) -> dict:
    return {"mean": round(float(diff.mean()), 4), "p99.9": round(float(np.percentile(diff, 99.9)), 2),
            "max": round(float(diff.max()), 2)}


PIPELINE_RUNS = (  # (restorer, official detection, parsing, upscale)
    ("random", "640", True, 1),  # the script exactly as released
    ("stable", "640", True, 1),
    ("stable", "native", True, 1),
    ("stable", "native", True, 2),
    ("stable", "native", False, 1),
)


def pipeline(folder: Path) -> list[dict]:
    from skimage import data

    image = data.astronaut()
    parser_file = folder / "parsenet_random.pth"
    random_parsenet(parser_file)
    detector, parser = load_model(DETECTOR), load_model(parser_file)
    files = {}
    for kind in ("random", "stable"):
        files[kind] = folder / f"codeformer_{kind}.pth"
        torch.save({"params_ema": seeded_codeformer(stable_codes=kind == "stable").state_dict()}, files[kind])
    rows = []
    for kind, detection, parse, upscale in PIPELINE_RUNS:
        expected, helper = run_official_script(
            image[..., ::-1].copy(), str(files[kind]), str(DETECTOR), str(parser_file) if parse else None, w=0.5,
            upscale=upscale, folder=folder / f"official_{kind}_{detection}_{parse}_{upscale}",
            detect_at_native_size=detection == "native")
        expected = expected[..., ::-1]
        result = restore_faces_detailed(image, load_model(files[kind]), detector=detector,
                                        parser=parser if parse else None, paste="official", fidelity=0.5,
                                        threshold=0.8, upscale=upscale, precision="fp32")
        got = result.images
        row = {"restorer": kind, "official_detection": detection, "parse": parse, "upscale": upscale,
               "faces": [len(result.faces[0]), len(helper.all_landmarks_5)]}
        if result.faces[0] and helper.all_landmarks_5:
            row["landmark_px"] = round(float(np.abs(np.asarray(result.faces[0][0].landmarks)
                                                    - helper.all_landmarks_5[0]).max()), 4)
        row["all"] = steps(np.abs(got.astype(np.float64) - expected).max(-1)) if got.shape == expected.shape \
            else f"shapes differ {got.shape} vs {expected.shape}"
        rows.append(row)
        print(f"pipeline {kind:6} restorer, official detection {detection:6}, parse {'on ' if parse else 'off'}, "
              f"x{upscale}: faces {row['faces']}, landmarks Δ {row.get('landmark_px')} px, |Δ| in 1/255 {row['all']}",
              flush=True)
    return rows


def timing(repeats: int = 3) -> dict:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "codeformer_random.pth"
        ours = seeded_codeformer()
        torch.save({"params_ema": ours.state_dict()}, path)
        model = load_model(path)
    official = official_codeformer()
    official.load_state_dict(ours.state_dict(), strict=True)
    x = (face_input(512) + 1) / 2
    times: dict[str, list[float]] = {"ours_fp32": [], "ours_auto": [], "official_fp32": []}
    with torch.no_grad():
        for _ in range(repeats):
            for precision in ("fp32", "auto"):
                with Runner(model, device="cpu", precision=precision) as runner:
                    start = time.perf_counter()
                    runner.run_windows(x, w=0.5)
                    times[f"ours_{precision}"].append(time.perf_counter() - start)
            start = time.perf_counter()
            official(x * 2 - 1, w=0.5, adain=True)
            times["official_fp32"].append(time.perf_counter() - start)
    result = {k: round(statistics.median(v), 2) for k, v in times.items()}
    print(f"CPU seconds per 512 px face (median of {repeats}, {torch.get_num_threads()} threads): {result}", flush=True)
    return result


def precision() -> dict:
    x = face_input(512)
    out = {}
    with torch.no_grad():
        for stable in (False, True):
            net = seeded_codeformer(stable_codes=stable)
            reference, ref_logits, _ = net(x, w=0.5)
            for dtype in (torch.bfloat16, torch.float16):
                image, logits, _ = seeded_codeformer(stable_codes=stable).to(dtype)(x.to(dtype), w=0.5)
                diff = ((image.float().clamp(-1, 1) - reference.clamp(-1, 1)) * 127.5).abs()
                out[f"{dtype}{', stable codes' if stable else ''}"] = {
                    "finite": bool(torch.isfinite(image).all()), "mean": round(float(diff.mean()), 3),
                    "max": round(float(diff.max()), 2),
                    "codes_differ": int((logits.argmax(2) != ref_logits.argmax(2)).sum())}
    print(f"half precision vs fp32 (|Δ| in 1/255, codes of 256): {out}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("network", "pipeline", "timing", "precision"))
    parser.add_argument("--write-references", action="store_true")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        if args.write_references:
            write_references()
            return 0
        report = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                  "torch": torch.__version__}
        if args.only in (None, "network"):
            report["network"] = [network(), network({"connect_list": ("32", "64", "128")}, "colorization"),
                                 network({"connect_list": ("32", "64", "128"), "codebook_size": 512}, "inpainting")]
        if args.only in (None, "pipeline"):
            if not DETECTOR.is_file():
                print(f"pipeline skipped: no detector at {DETECTOR}")
            else:
                with tempfile.TemporaryDirectory() as folder:
                    report["pipeline"] = pipeline(Path(folder))
        if args.only in (None, "timing"):
            report["timing"] = timing()
        if args.only in (None, "precision"):
            report["precision"] = precision()
    except OfficialMissing as err:
        print(f"cannot run: {err}")
        return 2
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
