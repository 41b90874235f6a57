"""Fine-tune the vintage CycleGAN generator to a new look on Kodak photos, scored per minute on held-out photos.

The look (issue 22): B = grade(vintage(photo)), where grade is a fixed film grade (``film_grade``).
Pairs: A = a Kodak photo scaled to 512 px on its longer side (768×512 → 512×340), B = the look of
exactly that A. 20 photos train, 4 are held out (``HELD_OUT``; never in any training pair or fit).
A pix2pix run starts from the vintage generator (``generator.pretrained``) with a preset and
``--set`` overrides, through the same ``load_config`` + ``Trainer`` as ``ganpost train pix2pix``,
for ``--minutes`` of wall clock; G is saved every ``--every`` minutes. Afterwards each saved G is
scored on the held-out photos through ``ganpost.translate`` (as users run it): RGB PSNR against
B per photo, next to the untouched photo, the starting generator and a global 17³ colour LUT
fitted by least squares on the training pairs.

    python bench/finetune_translate.py --minutes 20 --preset pix2pix-finetune --threads 2
    python bench/finetune_translate.py --minutes 3 --preset pix2pix --set optim.lr_g=5e-5 --name lr5e-5
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
from train_translate import VINTAGE, held_out_view, score  # noqa: E402  (the pairs' layout and the scorer)

KODAK = VINTAGE.parent.parent / "datasets" / "kodak"
SIDE = 512
# One of each kind held out: a face, a landscape with sky, a close-up of colour, a street scene.
HELD_OUT = ("kodim04", "kodim13", "kodim23", "kodim19")
LUT_SIZE = 17
LUT_SMOOTHNESS = (1e2, 1e3, 1e4, 1e5)  # tried on the training photos; the best fits the LUT
LUMA = np.array([0.299, 0.587, 0.114])


def film_grade(rgb: np.ndarray) -> np.ndarray:
    """The issue's fixed grade on [0, 1] values (H×W×3 float), rounded to 8 bits. Luma is Rec. 601,
    taken after the tone curve for the tints and again before the desaturation."""
    x = np.clip((rgb - 0.5) * 1.3 + 0.5, 0, 1) ** 0.85  # contrast around mid-grey, then gamma
    luma = (x @ LUMA)[..., None]
    x = x + np.array([0.12, 0.04, -0.10]) * luma ** 2 + np.array([-0.06, 0.02, 0.08]) * (1 - luma) ** 2
    grey = (x @ LUMA)[..., None]
    x = np.clip(grey + 0.7 * (x - grey), 0, 1)
    return np.round(x * 255).astype(np.uint8)


def make_pairs(root: Path) -> dict[str, list[str]]:
    """root/{A,B}/{train,val}/<kodim>.png, made once (the vintage pass is the slow part)."""
    import ganpost

    names = {"train": [], "val": []}
    photos = sorted(KODAK.glob("kodim*.png"))
    vintage = None
    for photo in photos:
        split = "val" if photo.stem in HELD_OUT else "train"
        names[split].append(photo.stem)
        a_file, b_file = root / "A" / split / photo.name, root / "B" / split / photo.name
        if b_file.is_file():
            continue
        vintage = vintage or ganpost.load_model(VINTAGE.resolve())
        with Image.open(photo) as im:
            a = held_out_view(im.convert("RGB"), SIDE)
        v = ganpost.translate(a, vintage, precision="fp32", tile=0)
        b = Image.fromarray(film_grade(np.asarray(v, dtype=np.float64) / 255))
        for file, image in ((a_file, a), (b_file, b)):
            file.parent.mkdir(parents=True, exist_ok=True)
            image.save(file)
    return names


# --- the colour LUT baseline ------------------------------------------------------------------------
def _lut_weights(rgb: np.ndarray):
    """Each pixel's 8 trilinear corner indices and weights in a LUT_SIZE³ grid (N×8 each)."""
    n = LUT_SIZE - 1
    p = rgb.reshape(-1, 3) * n
    lo = np.minimum(np.floor(p).astype(int), n - 1)
    f = p - lo
    index, weight = [], []
    for corner in range(8):
        bits = np.array([(corner >> k) & 1 for k in range(3)])
        c = lo + bits
        index.append((c[:, 0] * LUT_SIZE + c[:, 1]) * LUT_SIZE + c[:, 2])
        weight.append(np.prod(np.where(bits, f, 1 - f), axis=1))
    return np.stack(index, 1), np.stack(weight, 1)


def _normal_equations(a: np.ndarray, b: np.ndarray):
    """One photo's share of the least-squares system: (MᵀM, MᵀB) for its trilinear weights M."""
    from scipy.sparse import coo_matrix

    index, weight = _lut_weights(a)
    rows = np.repeat(np.arange(len(index)), 8)
    m = coo_matrix((weight.ravel(), (rows, index.ravel())), shape=(len(index), LUT_SIZE ** 3)).tocsr()
    return m.T @ m, m.T @ b.reshape(-1, 3)


def _smoothness():
    """DᵀD for D the differences between neighbouring LUT cells along each axis."""
    from scipy.sparse import diags, eye, kron

    n = LUT_SIZE
    d = diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n))
    i = eye(n)
    axes = [kron(kron(d, i), i), kron(kron(i, d), i), kron(kron(i, i), d)]
    return sum(x.T @ x for x in axes)


def fit_lut(systems: list, smooth: float) -> np.ndarray:
    """Least squares for the LUT's 17³×3 entries over all given photos' pixels, plus ``smooth`` times
    the squared differences of neighbouring cells (so cells few pixels reach follow their neighbours),
    and a tiny pull to the identity that keeps the system solvable."""
    from scipy.sparse import identity
    from scipy.sparse.linalg import spsolve

    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, LUT_SIZE)] * 3, indexing="ij"), -1).reshape(-1, 3)
    gram, cross = sum(g for g, _ in systems), sum(c for _, c in systems)
    system = (gram + smooth * _smoothness() + 1e-6 * identity(LUT_SIZE ** 3)).tocsc()
    return np.stack([spsolve(system, cross[:, c] + 1e-6 * grid[:, c]) for c in range(3)], 1)


def apply_lut(lut: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    index, weight = _lut_weights(rgb)
    return np.clip((lut[index] * weight[..., None]).sum(1), 0, 1).reshape(rgb.shape)


def _float(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64) / 255


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    """8-bit output as users get it, like the model scores."""
    x = np.round(np.clip(x, 0, 1) * 255) / 255
    return float(10 * np.log10(1 / np.mean((x - y) ** 2)))


def lut_baseline(data: Path, names: dict[str, list[str]]) -> tuple[dict[str, float], float]:
    """The LUT fitted on all training pairs, its smoothness chosen on the training photos alone (fit on
    the first 16, score the last 4); returns held-out PSNR per photo and the smoothness."""
    load = lambda split, n: (_float(data / "A" / split / f"{n}.png"), _float(data / "B" / split / f"{n}.png"))
    train = [load("train", n) for n in names["train"]]
    systems = [_normal_equations(a, b) for a, b in train]
    inner = {s: np.mean([_psnr(apply_lut(fit_lut(systems[:16], s), a), b) for a, b in train[16:]])
             for s in LUT_SMOOTHNESS}
    smooth = max(inner, key=inner.get)
    lut = fit_lut(systems, smooth)
    return {n: _psnr(apply_lut(lut, a), b) for n in names["val"] for a, b in [load("val", n)]}, smooth


# --- the run --------------------------------------------------------------------------------------
def train_for_minutes(recipe: str, preset: str, sets: list[str], output: Path, minutes: float, every: float,
                      network: str = "G") -> list[tuple[float, int, Path]]:
    """Train for ``minutes`` of wall clock (``ganpost train``'s config and Trainer); returns (minutes,
    step, file) for every saved ``network``."""
    from ganpost.training.config import load_config
    from ganpost.training.run import Trainer
    from ganpost.training.engine.loop import Callbacks

    class Clock(Callbacks):
        """Saves G every ``every`` minutes of training (the time to save is not counted) and stops at the end."""

        def __init__(self):
            self.trainer, self.saved, self.start, self.paused = None, [], time.perf_counter(), 0.0

        def elapsed(self) -> float:
            return (time.perf_counter() - self.start - self.paused) / 60

        def on_step(self, report) -> None:
            due = every * (len(self.saved) + 1)
            if self.elapsed() >= due:
                t0 = time.perf_counter()
                file = output / "minutes" / f"{due:05.1f}_net_{network}.pth"
                file.parent.mkdir(parents=True, exist_ok=True)
                torch.save(self.trainer.network(network).state_dict(), file)
                self.saved.append((due, self.trainer.step, file))
                print(f"  {due:4.1f} min: step {self.trainer.step}", flush=True)
                self.paused += time.perf_counter() - t0

        def should_stop(self) -> bool:
            return self.elapsed() >= minutes

    config = load_config(recipe=recipe, preset=preset, sets=[
        "run.device=cpu", "run.precision=fp32", f"run.output_dir={output}", "run.save_every=1000000",
        "run.log_every=10", *sets])
    clock = Clock()
    trainer = Trainer(config, callbacks=clock)
    clock.trainer, clock.start = trainer, time.perf_counter()  # the clock starts once the networks are built
    trainer.fit()
    return clock.saved


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="training wall clock (default 20)")
    p.add_argument("--every", type=float, default=1.0, help="save and score G every this many minutes (default 1)")
    p.add_argument("--preset", default="pix2pix-finetune")
    p.add_argument("--set", action="append", default=[], help="config overrides, SECTION.KEY=VALUE (repeatable)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parents[1] / "lab" / "finetune",
                   help="pairs (data/) and runs (run_<name>/) go here (default lab/finetune, git-ignored)")
    p.add_argument("--name", help="run folder name (default: the preset)")
    p.add_argument("--json", type=Path, help="write the figures here too (default: run folder/scores.json)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = args.work / "data"
    names = make_pairs(data)
    output = args.work / f"run_{args.name or args.preset}"
    print(f"train {len(names['train'])}: {' '.join(names['train'])}\nheld out: {' '.join(names['val'])}", flush=True)
    started = time.perf_counter()
    pairs = [f"data.dir_a={data / 'A/train'}", f"data.dir_b={data / 'B/train'}", f"generator.pretrained={VINTAGE.resolve()}"]
    saved = train_for_minutes("pix2pix", args.preset, pairs + args.set, output, args.minutes, args.every)
    print(f"trained {(time.perf_counter() - started) / 60:.1f} min, {saved[-1][1] if saved else 0} steps", flush=True)

    cached = data / "lut_scores.json"  # the pairs never change, so neither does the LUT's score
    if not cached.is_file():
        cached.write_text(json.dumps(lut_baseline(data, names)))
    lut, smooth = json.loads(cached.read_text())
    print(f"LUT smoothness {smooth:g} (chosen on the training photos)", flush=True)
    start = score(VINTAGE.resolve(), data, names["val"], "as_trained")
    rows = {"photo (identity)": start["per_image_identity"], "starting generator": start["per_image"],
            f"{LUT_SIZE}³ LUT (fitted on train)": lut}
    curve = []
    for minute, step, file in saved:
        s = score(file, data, names["val"], "as_trained")
        curve.append({"minutes": minute, "step": step, "psnr": s["psnr"], "per_image": s["per_image"]})
        rows[f"fine-tuned {minute:g} min (step {step})"] = s["per_image"]
    base = np.mean(list(start["per_image"].values()))
    print(f"\nheld-out RGB PSNR vs B (dB); Δ = over the starting generator; preset {args.preset} {' '.join(args.set)}")
    print(f"{'':34s}" + "".join(f"{n:>9s}" for n in names["val"]) + f"{'mean':>9s}{'Δ':>8s}{'worst Δ':>9s}")
    for label, per in rows.items():
        values = [per[n] for n in names["val"]]
        worst = min(per[n] - start["per_image"][n] for n in names["val"])
        print(f"{label:34s}" + "".join(f"{v:9.2f}" for v in values) + f"{np.mean(values):9.2f}"
              f"{np.mean(values) - base:+8.2f}{worst:+9.2f}")
    result = {"preset": args.preset, "sets": args.set, "threads": args.threads, "held_out": names["val"],
              "train": names["train"], "rows": rows, "curve": curve}
    (args.json or output / "scores.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
