"""CycleGAN on unpaired Kodak photos (issue 22, part 3): does G_A learn the vintage look from photos it
never sees in pairs?

Domain A: 10 Kodak photos. Domain B: the vintage generator's output on 10 *other* Kodak photos. The 4
photos of ``HELD_OUT`` (as in bench/finetune_translate.py) are in neither. Every photo is scaled to
512 px on its longer side. A CycleGAN run (``ganpost train cyclegan``'s config and Trainer, a preset
plus ``--set`` overrides) trains for ``--minutes`` of wall clock and saves G_A every ``--every``
minutes; afterwards each saved G_A translates the held-out photos through ``ganpost.translate``.

Unpaired results are not judged pixel by pixel but by their colours: the Fréchet distance between
the CIE Lab pixel statistics (mean and covariance, D65) of G_A(held-out photos) and of
vintage(held-out photos), pooled over the 4 photos, against the same distance for the untouched
photos. Per photo too, and the sliced Wasserstein distance (64 random directions, the same in every
row) as a second opinion. The goal: G_A at most half the untouched photos' distance.

    python bench/cyclegan_unpaired.py --minutes 20 --name scratch
    python bench/cyclegan_unpaired.py --minutes 20 --name from_vintage --set generator.pretrained=VINTAGE
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_translate import HELD_OUT, KODAK, SIDE, VINTAGE, train_for_minutes  # noqa: E402
from train_translate import held_out_view  # noqa: E402

SLICES = 64

# --- colour statistics --------------------------------------------------------------------------------
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def lab_pixels(image: Image.Image) -> np.ndarray:
    """N×3 CIE Lab (D65) values of an 8-bit sRGB image."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two N×3 samples (as FID, on Lab pixels)."""
    from scipy.linalg import sqrtm

    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = sqrtm(cov_x @ cov_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * root))


def sliced_wasserstein(x: np.ndarray, y: np.ndarray, directions: np.ndarray) -> float:
    """Mean 1-D Wasserstein-1 distance of the two samples projected on each direction (1000 quantiles)."""
    q = np.linspace(0, 1, 1000)
    return float(np.mean([np.abs(np.quantile(x @ d, q) - np.quantile(y @ d, q)).mean() for d in directions]))


def distances(outputs: dict[str, np.ndarray], targets: dict[str, np.ndarray], directions: np.ndarray) -> dict:
    """Pooled over all photos, and per photo."""
    pooled = [np.concatenate(list(d.values())) for d in (outputs, targets)]
    return {"frechet": frechet(*pooled), "sliced_wasserstein": sliced_wasserstein(*pooled, directions),
            "per_photo": {n: frechet(outputs[n], targets[n]) for n in targets}}


# --- data ---------------------------------------------------------------------------------------------
def make_domains(root: Path) -> dict[str, list[str]]:
    """root/A (10 photos), root/B (vintage of 10 others), root/held_out/{photo,vintage}; alternate
    photos (in name order) go to A and B, so both halves hold faces, landscapes and close-ups."""
    import ganpost

    rest = [p for p in sorted(KODAK.glob("kodim*.png")) if p.stem not in HELD_OUT]
    plan = {"A": rest[0::2], "B": rest[1::2], "held_out": [KODAK / f"{n}.png" for n in HELD_OUT]}
    # What each split keeps of a photo: its view, the vintage generator's output on it, or both.
    keeps = {"A": {"A": "view"}, "B": {"B": "vintage"},
             "held_out": {"held_out/photo": "view", "held_out/vintage": "vintage"}}
    vintage = None
    for split, photos in plan.items():
        for photo in photos:
            files = {root / folder / photo.name: kind for folder, kind in keeps[split].items()}
            if all(file.is_file() for file in files):
                continue
            with Image.open(photo) as im:
                view = held_out_view(im.convert("RGB"), SIDE)
            for file, kind in files.items():
                if kind == "vintage":
                    vintage = vintage or ganpost.load_model(VINTAGE.resolve())
                file.parent.mkdir(parents=True, exist_ok=True)
                image = ganpost.translate(view, vintage, precision="fp32", tile=0) if kind == "vintage" else view
                image.save(file)
    return {split: [p.stem for p in photos] for split, photos in plan.items()}


def translated_lab(model_file: Path, photos: Path, names: list[str]) -> dict[str, np.ndarray]:
    import ganpost

    model = ganpost.load_model(model_file)
    out = {}
    for name in names:
        with Image.open(photos / f"{name}.png") as im:
            out[name] = lab_pixels(ganpost.translate(im.convert("RGB"), model, precision="fp32", tile=0))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="training wall clock (default 20)")
    p.add_argument("--every", type=float, default=2.0, help="save and score G_A every this many minutes (default 2)")
    p.add_argument("--preset", default="cyclegan")
    p.add_argument("--set", action="append", default=[],
                   help="config overrides, SECTION.KEY=VALUE (repeatable; the value VINTAGE names the vintage "
                        "generator)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parents[1] / "lab" / "cyclegan",
                   help="domains (data/) and runs (run_<name>/) go here (default lab/cyclegan, git-ignored)")
    p.add_argument("--name", default="run", help="run folder name")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = args.work / "data"
    names = make_domains(data)
    for split, listed in names.items():
        print(f"{split}: {' '.join(listed)}", flush=True)
    sets = [s.replace("=VINTAGE", f"={VINTAGE.resolve()}") for s in args.set]
    output = args.work / f"run_{args.name}"
    started = time.perf_counter()
    saved = train_for_minutes("cyclegan", args.preset, [f"data.dir_a={data / 'A'}", f"data.dir_b={data / 'B'}", *sets],
                              output, args.minutes, args.every, network="G_A")
    print(f"trained {(time.perf_counter() - started) / 60:.1f} min, {saved[-1][1] if saved else 0} steps", flush=True)

    held = names["held_out"]
    directions = np.random.default_rng(0).normal(size=(SLICES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    lab = lambda folder: {n: lab_pixels(Image.open(data / "held_out" / folder / f"{n}.png")) for n in held}
    target = lab("vintage")
    rows = {"photo (untouched)": distances(lab("photo"), target, directions)}
    for minute, step, file in saved:
        rows[f"G_A {minute:g} min (step {step})"] = distances(translated_lab(file, data / "held_out" / "photo", held),
                                                             target, directions)
    base = rows["photo (untouched)"]["frechet"]
    print(f"\nLab colour distance to vintage(held-out photos); preset {args.preset} {' '.join(args.set)}")
    print(f"{'':28s}{'Fréchet':>9s}{'÷ photo':>9s}{'SW':>7s}" + "".join(f"{n:>9s}" for n in held))
    for label, d in rows.items():
        print(f"{label:28s}{d['frechet']:9.2f}{d['frechet'] / base:9.2f}{d['sliced_wasserstein']:7.2f}"
              + "".join(f"{d['per_photo'][n]:9.2f}" for n in held))
    result = {"preset": args.preset, "sets": args.set, "threads": args.threads, "domains": names, "rows": rows}
    (output / "scores.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
