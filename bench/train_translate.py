"""pix2pix and CycleGAN trained on real photos on CPU, scored against the identity baseline.

No paired dataset ships offline, so one is made from a real generator: scikit-image's photos (A)
and what the modern → vintage CycleGAN generator makes of them (B). pix2pix learns A → B from the
pairs; CycleGAN learns it from the same training photos split into two unpaired halves (A photos
from one half, vintage versions of the other half). Both are scored on the held-out photos: RGB
PSNR of the translation against the vintage generator's output, next to the input left as is.

    python bench/train_translate.py --minutes 30                      # both recipes, 30 min each
    python bench/train_translate.py --recipe pix2pix --minutes 10 --json out.json

Each recipe measures its speed on a few steps first and sets its step count to fit the budget, so
the official schedule (constant, then linear decay to 0 over the second half) runs to its end. On
a shared machine the speed changes under it: --hard-minutes stops a run that overshoots (the
report then says how many of the planned steps ran).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

VINTAGE = Path(__file__).resolve().parents[1] / ".." / "shared" / "weights" / "cyclegan_modern2vintage_net_G.pth"
PHOTO_SIDE = 256  # photos are scaled so their longer side is this (sides kept multiples of 4)
PROBE_STEPS = 16

# Small networks: a CPU budget of minutes, not the paper's days on a GPU. The photos are already at
# the scale they are tested at (256 px), so crops are taken without the official resize to 286²,
# which would squash whole photos into the crop and train at another scale than the test. Batches
# of one as the official recipes: batch norm (pix2pix) then sees one image's statistics in training
# as at test time. Small crops: on a shared CPU the number of steps is what limits (128 px crops
# gave 650 steps in 10 minutes and stayed below identity).
RECIPES = {
    "pix2pix": ["generator.net=unet_64", "generator.num_feat=32", "discriminator.num_feat=32",
                "data.preprocess=crop", "data.crop_size=64", "data.batch_size=1"],
    "cyclegan": ["generator.net=resnet_6blocks", "generator.num_feat=16", "discriminator.num_feat=16",
                 "data.preprocess=crop", "data.crop_size=64", "data.batch_size=1"],
}


def _photo(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = PHOTO_SIDE / max(im.size)
        w, h = (max(4, round(s * scale / 4) * 4) for s in im.size)
        return np.asarray(im.resize((w, h), Image.BICUBIC))


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def run_network(module, image: torch.Tensor, multiple: int, train_mode: bool) -> torch.Tensor:
    """[0, 1] image through a [-1, 1] generator: reflect-pad to ``multiple``, crop back."""
    h, w = image.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    x = F.pad(image * 2 - 1, (0, pw, 0, ph), mode="reflect") if ph or pw else image * 2 - 1
    module.train(train_mode)
    torch.manual_seed(0)  # dropout, when on, is reproducible
    out = module(x)[..., :h, :w]
    return ((out + 1) / 2).clamp(0, 1)


def make_dataset(root: Path) -> dict[str, list[str]]:
    """root/{A,B}/<split>/<name>.png: photos and their vintage versions (train and val splits)."""
    from ganpost.gan_models.loader import load_model
    from ganpost.training.sample_data import HELD_OUT, TRAIN, skimage_data_dir

    vintage = load_model(VINTAGE.resolve())
    names = {"train": [Path(n).stem for n in TRAIN], "val": [Path(n).stem for n in HELD_OUT]}
    source = skimage_data_dir()
    for split, files in (("train", TRAIN), ("val", HELD_OUT)):
        for name in files:
            a = _photo(source / name)
            b = _to_uint8(run_network(vintage.module, _to_tensor(a), 4, train_mode=False))
            for side, pixels in (("A", a), ("B", b)):
                folder = root / side / split
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(folder / f"{Path(name).stem}.png")
    return names


def unpaired_halves(root: Path, names: list[str]) -> tuple[Path, Path]:
    """A photos from every other training photo, vintage B images from the rest: no pair shared."""
    for side, picked in (("A", names[0::2]), ("B", names[1::2])):
        folder = root / f"unpaired_{side}"
        folder.mkdir(exist_ok=True)
        for name in picked:
            (folder / f"{name}.png").write_bytes((root / side / "train" / f"{name}.png").read_bytes())
    return root / "unpaired_A", root / "unpaired_B"


def score(module, root: Path, names: list[str], multiple: int, train_mode: bool) -> dict:
    from ganpost.training.components.metrics import psnr_rgb

    model_db, identity_db = [], []
    for name in names:
        a = _to_tensor(np.asarray(Image.open(root / "A/val" / f"{name}.png")))
        b = _to_tensor(np.asarray(Image.open(root / "B/val" / f"{name}.png")))
        out = run_network(module, a, multiple, train_mode)
        model_db.append(psnr_rgb(out, b))
        identity_db.append(psnr_rgb(a, b))
    return {"psnr": float(np.mean(model_db)), "psnr_identity": float(np.mean(identity_db)),
            "per_image": dict(zip(names, model_db)), "per_image_identity": dict(zip(names, identity_db))}


def train(recipe: str, data_sets: list[str], output: Path, minutes: float, extra: list[str], hard_minutes: float):
    from ganpost.training.config import load_config
    from ganpost.training.engine import Trainer
    from ganpost.training.engine.loop import Callbacks

    class Deadline(Callbacks):
        """The probe is taken on a shared machine; stop (and say so) if the run overshoots anyway."""

        def __init__(self, seconds: float):
            self.end = time.perf_counter() + seconds

        def should_stop(self) -> bool:
            return time.perf_counter() > self.end

    base = [*RECIPES[recipe], *data_sets, "run.device=cpu", "run.precision=fp32", *extra]
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
    names = make_dataset(work / "data")
    data = work / "data"
    results: dict = {"threads": torch.get_num_threads(), "photo_side": PHOTO_SIDE, "held_out": names["val"]}
    recipes = ("pix2pix", "cyclegan") if args.recipe == "both" else (args.recipe,)
    for recipe in recipes:
        if recipe == "pix2pix":
            sets = [f"data.dir_a={data / 'A/train'}", f"data.dir_b={data / 'B/train'}"]
            keys, net = ["l_G_L1", "l_G_GAN", "l_D_fake", "l_D_real"], "G"
        else:
            half_a, half_b = unpaired_halves(data, names["train"])
            sets = [f"data.dir_a={half_a}", f"data.dir_b={half_b}"]
            keys, net = ["l_cycle_A", "l_cycle_B", "l_idt_A", "l_G_A", "l_D_A"], "G_A"
        trainer, records, seconds = train(recipe, sets, work / f"run_{recipe}", args.minutes, args.set,
                                          args.hard_minutes or 2 * args.minutes)
        generator = trainer.network(net)
        multiple = 2 ** generator_downs(trainer.config.generator.net)
        as_trained = score(generator, data, names["val"], multiple, train_mode=True)
        evaluated = score(generator, data, names["val"], multiple, train_mode=False)
        results[recipe] = {"steps": trainer.step, "planned_steps": trainer.config.run.total_steps, "minutes": seconds / 60, "as_trained": as_trained,
                           "eval": evaluated, "losses_first_last_fifth": _loss_trend(records, keys),
                           "model": str(work / f"run_{recipe}/models/latest_net_{net}.pth")}
        gain = as_trained["psnr"] - as_trained["psnr_identity"]
        print(f"{recipe}: {trainer.step} of {trainer.config.run.total_steps} steps in {seconds / 60:.1f} min; held-out RGB PSNR vs the vintage output "
              f"{as_trained['psnr']:.2f} dB as trained ({evaluated['psnr']:.2f} eval), identity "
              f"{as_trained['psnr_identity']:.2f} dB → {gain:+.2f} dB", flush=True)
        for k, (first, last) in results[recipe]["losses_first_last_fifth"].items():
            print(f"  {k}: {first:.4f} → {last:.4f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def generator_downs(net: str) -> int:
    """log2 of the side a generator's input must be a multiple of (U-Net: its depth; ResNet: 4)."""
    from ganpost.training.recipes.translation.networks import generator_shape

    return int(math.log2(generator_shape(net)[2]))


if __name__ == "__main__":
    sys.exit(main())
