"""pix2pix and CycleGAN trained on real photos on CPU, scored against the identity baseline.

No paired dataset ships offline, so one is made from a real generator: scikit-image's photos (A)
and what the modern → vintage CycleGAN generator makes of them (B). The generator's shift depends
on the whole image it sees (its instance norms), so every pair is made at the size it is trained
on: each training view (a photo's centre square and its four corner squares; --grids adds finer
grids) is scaled to ``--side`` px and B is the generator's output on exactly that image; the
networks train on whole
views (no crop, flip only). pix2pix learns A → B from the pairs; CycleGAN learns it from two
unpaired halves of similar content (A: the photos of one half, B: vintage versions of the other).
Both are scored on held-out whole photos scaled to ``--side`` px (longer side) the same way: RGB
PSNR of what ``ganpost.translate`` makes of the saved generator against the vintage output, next to
the input left as is, in both test-time modes (as trained and eval).

    python bench/train_translate.py --minutes 20                      # both recipes, 20 min each
    python bench/train_translate.py --recipe pix2pix --minutes 10 --json out.json
    python bench/train_translate.py --recipe pix2pix --more-photos --grids 1 2 3 --colour-variants 3 --work DIR

Each recipe measures its speed on a few steps first and sets its step count to fit the budget, so
the official schedule (constant, then linear decay to 0 over the second half) runs to its end. On
a shared machine the speed changes under it: --hard-minutes stops a run that overshoots (the
report then says how many of the planned steps ran).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

VINTAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "weights" / "cyclegan_modern2vintage_net_G.pth"
PROBE_STEPS = 16

# CycleGAN's two unpaired halves: the training photos in pairs of similar content, one of each
# pair per half (the two motorcycle views, two tools of science imaging, two stone textures, ...).
HALF_A = ("motorcycle_left", "astronaut", "hubble_deep_field", "brick", "grass", "coins")
HALF_B = ("motorcycle_right", "rocket", "retina", "gravel", "moon", "ihc")
# The same for --more-photos: two buildings, two cheetah faces, two animals in a scene, two portraits.
MORE_HALF_A = ("china", "cheetah1", "lion", "grace_hopper", "flower")
MORE_HALF_B = ("tower", "cheetah2", "cheetah", "groot")

# Small networks: a CPU budget of minutes, not the paper's days on a GPU. Whole views at the side
# they are tested at (the official resize to 286² and 256² crop would train at another scale than
# the test). Batches of one as the official recipes: batch norm (pix2pix) then sees one image's
# statistics in training as at test time (as trained).
def recipes(side: int) -> dict[str, list[str]]:
    whole = ["data.preprocess=crop", f"data.crop_size={side}", "data.batch_size=1"]
    unet = f"unet_{side & -side}"  # the deepest U-Net whose multiple divides side
    return {
        "pix2pix": [f"generator.net={unet}", "generator.num_feat=32", "discriminator.num_feat=32", *whole],
        "cyclegan": ["generator.net=resnet_6blocks", "generator.num_feat=16", "discriminator.num_feat=16", *whole],
    }


# More colour photos that wheels ship, for --more-photos (pip install --no-deps scikit-learn
# matplotlib gradio): located without importing those packages.
WHEEL_PHOTOS = {
    "sklearn": ("datasets/images/china.jpg", "datasets/images/flower.jpg"),
    "matplotlib": ("mpl-data/sample_data/grace_hopper.jpg",),
    "gradio": ("media_assets/images/cheetah.jpg", "media_assets/images/cheetah1.jpg", "test_data/cheetah2.jpg",
               "media_assets/images/groot.jpeg", "media_assets/images/lion.jpg", "media_assets/images/tower.jpg"),
}


def wheel_photos() -> list[Path]:
    import importlib.util

    found, missing = [], []
    for package, files in WHEEL_PHOTOS.items():
        spec = importlib.util.find_spec(package)
        root = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
        for file in files:
            (found if root and (root / file).is_file() else missing).append(root / file if root else f"{package}/{file}")
    if missing:
        raise SystemExit(f"--more-photos: not found {', '.join(map(str, missing))}; "
                         "pip install --no-deps scikit-learn matplotlib gradio")
    return found


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")  # grey photos become three equal channels


def training_views(photo: Image.Image, side: int, grids: tuple[int, ...] = (1, 2)) -> list[Image.Image]:
    """For each n in ``grids``, n × n squares of 1/n the photo's shorter side spread over the photo
    (n = 1: the centre square; n = 2: the four corners), each scaled to side × side."""
    w, h = photo.size
    views = []
    for n in grids:
        q = min(w, h) // n
        xs = [(w - q) // 2] if n == 1 else [round(i * (w - q) / (n - 1)) for i in range(n)]
        ys = [(h - q) // 2] if n == 1 else [round(i * (h - q) / (n - 1)) for i in range(n)]
        views += [photo.crop((x, y, x + q, y + q)).resize((side, side), Image.BICUBIC) for x in xs for y in ys]
    return views


def colour_variants(view: Image.Image, count: int, rng: np.random.Generator) -> list[Image.Image]:
    """``count`` copies of ``view`` under a random exposure (gamma), saturation and white balance each.
    The generator's shift depends on the image's colour statistics; variants show the network that
    dependence on many more statistics than the photos alone have (each B is still the generator's
    output on exactly its A)."""
    pixels = np.asarray(view, dtype=np.float32) / 255
    variants = []
    for _ in range(count):
        grey = pixels.mean(axis=2, keepdims=True)
        x = grey + (pixels - grey) * rng.uniform(0.6, 1.4)      # saturation
        x = np.clip(x * rng.uniform(0.8, 1.2, size=3), 0, 1)     # white balance
        x = x ** rng.uniform(0.75, 1.35)                         # exposure
        variants.append(Image.fromarray((x * 255).round().astype(np.uint8)))
    return variants


def held_out_view(photo: Image.Image, side: int) -> Image.Image:
    """The whole photo, its longer side scaled to ``side`` (sides kept multiples of 4)."""
    scale = side / max(photo.size)
    w, h = (max(4, round(s * scale / 4) * 4) for s in photo.size)
    return photo.resize((w, h), Image.BICUBIC)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255


def make_dataset(root: Path, side: int, grids: tuple[int, ...], more: list[Path] = (),
                 variants: int = 0) -> dict[str, list[str]]:
    """root/{A,B}/<split>/<name>.png: views and the vintage generator's output on exactly that view."""
    import ganpost
    from ganpost.training.sample_data import HELD_OUT, TRAIN, skimage_data_dir

    vintage = ganpost.load_model(VINTAGE.resolve())
    source = skimage_data_dir()
    names: dict[str, list[str]] = {"train": [], "val": []}
    for split, files in (("train", [source / f for f in TRAIN] + list(more)), ("val", [source / f for f in HELD_OUT])):
        for file in files:
            photo, stem = _rgb(file), file.stem
            views = training_views(photo, side, grids) if split == "train" else [held_out_view(photo, side)]
            if split == "train" and variants:
                rng = np.random.default_rng(zlib.crc32(stem.encode()))
                views += [v for view in views for v in colour_variants(view, variants, rng)]
            for i, a in enumerate(views):
                name = f"{stem}_{i}" if split == "train" else stem
                b = ganpost.translate(a, vintage, precision="fp32", tile=0)
                for kind, image in (("A", a), ("B", b)):
                    folder = root / kind / split
                    folder.mkdir(parents=True, exist_ok=True)
                    image.save(folder / f"{name}.png")
                names[split].append(name)
    return names


def unpaired_halves(root: Path, names: list[str]) -> tuple[Path, Path]:
    """A views from the photos of HALF_A, vintage B views from those of HALF_B: no photo shared."""
    for kind, half in (("A", HALF_A + MORE_HALF_A), ("B", HALF_B + MORE_HALF_B)):
        folder = root / f"unpaired_{kind}"
        folder.mkdir(exist_ok=True)
        for name in names:
            if name.rsplit("_", 1)[0] in half:
                (folder / f"{name}.png").write_bytes((root / kind / "train" / f"{name}.png").read_bytes())
    return root / "unpaired_A", root / "unpaired_B"


def score(model_file: Path, root: Path, names: list[str], test_time: str) -> dict:
    """What ``ganpost.translate`` makes of the saved generator, against the vintage output."""
    import ganpost
    from ganpost.training.components.metrics import psnr_rgb

    model = ganpost.load_model(model_file)
    model_db, identity_db = [], []
    for name in names:
        a = Image.open(root / "A/val" / f"{name}.png").convert("RGB")
        b = _to_tensor(Image.open(root / "B/val" / f"{name}.png").convert("RGB"))
        out = ganpost.translate(a, model, precision="fp32", tile=0, test_time=test_time, seed=0)
        model_db.append(psnr_rgb(_to_tensor(out), b))
        identity_db.append(psnr_rgb(_to_tensor(a), b))
    return {"psnr": float(np.mean(model_db)), "psnr_identity": float(np.mean(identity_db)),
            "per_image": dict(zip(names, model_db)), "per_image_identity": dict(zip(names, identity_db))}


def train(recipe: str, side: int, data_sets: list[str], output: Path, minutes: float, extra: list[str],
          hard_minutes: float):
    from ganpost.training.config import load_config
    from ganpost.training.run import Trainer
    from ganpost.training.engine.loop import Callbacks

    class Deadline(Callbacks):
        """The probe is taken on a shared machine; stop (and say so) if the run overshoots anyway."""

        def __init__(self, seconds: float):
            self.end = time.perf_counter() + seconds

        def should_stop(self) -> bool:
            return time.perf_counter() > self.end

    base = [*recipes(side)[recipe], *data_sets, "run.device=cpu", "run.precision=fp32", *extra]
    probe = Trainer(load_config(recipe=recipe, sets=[*base, f"run.output_dir={output}_probe", "run.total_steps=1000"]))
    probe.train_step()  # first step pays for allocations
    start = time.perf_counter()
    for _ in range(PROBE_STEPS):
        probe.train_step()
    per_step = (time.perf_counter() - start) / PROBE_STEPS
    steps = max(10, int(minutes * 60 / per_step))
    config = load_config(recipe=recipe, sets=[*base, f"run.output_dir={output}", f"run.total_steps={steps}",
                                              f"run.log_every={max(1, steps // 40)}", f"run.save_every={steps}"])
    print(f"{recipe}: {per_step:.2f} s/step → {steps} steps in {minutes:g} min", flush=True)
    started = time.perf_counter()
    trainer = Trainer(config, callbacks=Deadline(hard_minutes * 60))
    trainer.fit()
    records = [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]
    return trainer, records, time.perf_counter() - started


def _loss_trend(records: list[dict], keys: list[str]) -> dict:
    """Mean of each loss over the first and the last fifth of the logged steps."""
    train_records = [r for r in records if r["kind"] == "train"]
    fifth = max(1, len(train_records) // 5)
    return {k: (float(np.mean([r[k] for r in train_records[:fifth]])),
                float(np.mean([r[k] for r in train_records[-fifth:]]))) for k in keys}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipe", choices=("pix2pix", "cyclegan", "both"), default="both")
    p.add_argument("--minutes", type=float, default=30.0, help="training budget per recipe")
    p.add_argument("--hard-minutes", type=float, help="stop a recipe after this long even if its steps are not "
                   "done (default: twice --minutes)")
    p.add_argument("--side", type=int, default=128, help="side of the training views and longer side of the "
                   "held-out photos, px (default 128)")
    p.add_argument("--grids", type=int, nargs="+", default=[1, 2], help="training views per photo: n × n squares "
                   "of 1/n its shorter side for each n (default 1 2: the centre square and four corners)")
    p.add_argument("--more-photos", action="store_true", help="train on the colour photos other wheels ship too "
                   "(WHEEL_PHOTOS; held-out photos unchanged; CycleGAN splits them as MORE_HALF_A/B)")
    p.add_argument("--colour-variants", type=int, default=0, metavar="K", help="K more copies of each training "
                   "view under random exposure, saturation and white balance, B made on each (default 0)")
    p.add_argument("--threads", type=int)
    p.add_argument("--work", type=Path, help="folder for the data and runs (default: a new temporary one)")
    p.add_argument("--set", action="append", default=[], help="extra config values for the recipe(s)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not VINTAGE.resolve().is_file():
        raise SystemExit(f"needs the vintage generator at {VINTAGE.resolve()} (see ../shared/weights/README.md)")
    work = args.work or Path(tempfile.mkdtemp(prefix="ganpost-bench-translate-"))
    names = make_dataset(work / "data", args.side, tuple(args.grids), wheel_photos() if args.more_photos else [],
                         args.colour_variants)
    data = work / "data"
    results: dict = {"threads": torch.get_num_threads(), "side": args.side, "grids": args.grids, "more_photos": args.more_photos,
                     "colour_variants": args.colour_variants, "recipes": recipes(args.side), "held_out": names["val"]}
    chosen = ("pix2pix", "cyclegan") if args.recipe == "both" else (args.recipe,)
    for recipe in chosen:
        if recipe == "pix2pix":
            sets = [f"data.dir_a={data / 'A/train'}", f"data.dir_b={data / 'B/train'}"]
            keys, net = ["l_G_L1", "l_G_GAN", "l_D_fake", "l_D_real"], "G"
        else:
            half_a, half_b = unpaired_halves(data, names["train"])
            sets = [f"data.dir_a={half_a}", f"data.dir_b={half_b}"]
            keys, net = ["l_cycle_A", "l_cycle_B", "l_idt_A", "l_G_A", "l_D_A"], "G_A"
        trainer, records, seconds = train(recipe, args.side, sets, work / f"run_{recipe}", args.minutes, args.set,
                                          args.hard_minutes or 2 * args.minutes)
        model_file = work / f"run_{recipe}/models/latest_net_{net}.pth"
        as_trained = score(model_file, data, names["val"], "as_trained")
        evaluated = score(model_file, data, names["val"], "eval")
        results[recipe] = {"steps": trainer.step, "planned_steps": trainer.config.run.total_steps, "minutes": seconds / 60, "as_trained": as_trained,
                           "eval": evaluated, "losses_first_last_fifth": _loss_trend(records, keys),
                           "model": str(model_file)}
        gain = as_trained["psnr"] - as_trained["psnr_identity"]
        print(f"{recipe}: {trainer.step} of {trainer.config.run.total_steps} steps in {seconds / 60:.1f} min; held-out RGB PSNR vs the vintage output "
              f"{as_trained['psnr']:.2f} dB as trained ({evaluated['psnr']:.2f} eval), identity "
              f"{as_trained['psnr_identity']:.2f} dB → {gain:+.2f} dB", flush=True)
        for k, (first, last) in results[recipe]["losses_first_last_fifth"].items():
            print(f"  {k}: {first:.4f} → {last:.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
