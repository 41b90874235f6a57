"""The pix2pix and CycleGAN recipes against the official trainer, step by step, on tiny networks (CPU).

The official code (junyanz/pytorch-CycleGAN-and-pix2pix) ships in no wheel and is not part of this
project: point ``--official`` at a folder holding its ``models/`` (``__init__``, ``base_model``,
``networks``, ``pix2pix_model``, ``cycle_gan_model``) and ``util/`` (``__init__``, ``image_pool``) as
in that repository. Both trainers start from the same seed (the bench checks that the initial weights
are the same), see the same batches and the same dropout masks, and the official image pool is
handed our pool's coin flips and picks. After every step the bench prints the largest |ours − official|
over every network tensor (weights and batch-norm statistics) and every Adam state, and the losses
side by side; the goal is ≤ 1e-5 in fp32.

    python bench/translate_train_parity.py --official lab/official
    python bench/translate_train_parity.py --official lab/official --write-fixture   # the CI test's numbers

``--write-fixture`` also runs both in float64 and stores that official run's numbers (losses, learning
rates, checksums of its weights and optimizer states per step; no code) in
``tests/fixtures/translate_train_parity.json``. ``--set KEY=VALUE`` changes our side only (e.g.
``--set discriminator.update_first=false``). Two tables need no training: the learning rate over whole
default-length runs (ours per step, the official per epoch) and, given ``--photos`` (the shared Kodak
set by default), our resize against the official transform's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import warnings
from argparse import Namespace
from pathlib import Path

import torch

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.translate_parity import (  # noqa: E402
    FIXTURE, OFFICIAL_SCHEDULE, SCENARIOS, STEP_SEED, STEPS, OurRun, Scenario, checksums, default_dtype,
    network_tensors, official_losses, optimizer_states, rounded, snapshot, synthetic_batches, tensor_checksums,
)

GOAL = 1e-5
OFFICIAL_SOURCE = "junyanz/pytorch-CycleGAN-and-pix2pix da39a525eb793614807db4330cfe9b2157bbe33a (2022-12-20)"
# The official training options that every run here shares (its defaults, on CPU).
OFFICIAL_BASE = {"gpu_ids": [], "device": torch.device("cpu"), "isTrain": True, "name": "parity", "preprocess": "resize_and_crop",
                 "input_nc": 3, "output_nc": 3, "ngf": 8, "ndf": 8, "netD": "basic", "n_layers_D": 3,
                 "init_type": "normal", "init_gain": 0.02, "direction": "AtoB", "lr": 2e-4, "beta1": 0.5,
                 "continue_train": False, "verbose": False, "epoch": "latest", "load_iter": 0,
                 "batch_size": 1, **OFFICIAL_SCHEDULE}


class ReplayedDraws:
    """Stands in for the ``random`` module inside the official image pool: hands it the draws our pool
    made from the same generator state (a coin per image once the pool is full, then an index)."""

    coins = swaps = 0  # over the whole run: proof that the pool's random branch ran

    def __init__(self, state: torch.Tensor):
        self.generator = torch.Generator()
        self.generator.set_state(state)

    def uniform(self, low, high):
        assert (low, high) == (0, 1)
        ReplayedDraws.coins += 1
        return torch.rand((), generator=self.generator).item()

    def randint(self, low, high):  # inclusive, as Python's
        assert low == 0
        ReplayedDraws.swaps += 1
        return int(torch.randint(high + 1, (), generator=self.generator))


class OfficialRun:
    """The official model driven as its ``train.py`` does, one epoch of one batch per step."""

    def __init__(self, scenario: Scenario, folder: Path, checkpoints: Path, seed: int = 0,
                 dtype: torch.dtype = torch.float32, lr_update: str = "start"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        import models.cycle_gan_model as cycle_gan_model
        import models.pix2pix_model as pix2pix_model
        import util.image_pool as image_pool

        self.pool_module = image_pool
        options = {**OFFICIAL_BASE, **scenario.official, "checkpoints_dir": str(checkpoints)}
        if lr_update == "end":  # the same rates when the scheduler steps after each epoch: one constant epoch fewer
            options["n_epochs"] -= 1
        self.lr_update = lr_update
        options.pop("model")
        self.opt = Namespace(**options)
        model_type = pix2pix_model.Pix2PixModel if scenario.recipe == "pix2pix" else cycle_gan_model.CycleGANModel
        torch.manual_seed(seed)  # as our engine before it builds the networks
        with contextlib.redirect_stdout(io.StringIO()), default_dtype(dtype):
            self.model = model_type(self.opt)
            self.model.setup(self.opt)
        self.scenario, self.dtype = scenario, dtype
        names = ["G", "D"] if scenario.recipe == "pix2pix" else ["G_A", "G_B", "D_A", "D_B"]
        self.networks = {name: getattr(self.model, f"net{name}") for name in names}
        self.optimizers = {"G": self.model.optimizer_G, "D": self.model.optimizer_D}

    def step(self, k: int, batch: dict[str, torch.Tensor], rng_state: torch.Tensor) -> dict:
        self.pool_module.random = ReplayedDraws(rng_state)
        if self.lr_update == "start":  # da39a52's train.py steps the scheduler at the start of every epoch
            self._update_learning_rate()
        lr = self.model.optimizers[0].param_groups[0]["lr"]
        n = batch["a"].shape[0]
        a, b = batch["a"].to(self.dtype), batch["b"].to(self.dtype)
        self.model.set_input({"A": a * 2 - 1, "B": b * 2 - 1,
                              "A_paths": [f"a{i}" for i in range(n)], "B_paths": [f"b{i}" for i in range(n)]})
        torch.manual_seed(STEP_SEED + k)
        with default_dtype(self.dtype):
            self.model.optimize_parameters()
        if self.lr_update == "end":
            self._update_learning_rate()
        return {"lr": lr, "losses": {k: float(v) for k, v in self.model.get_current_losses().items()}}

    def _update_learning_rate(self) -> None:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # at the start it steps before the first optimizer step, by design
            self.model.update_learning_rate()

    def checksums(self, initial) -> dict:
        return checksums(self.networks, {k: optimizer_states(o) for k, o in self.optimizers.items()}, initial)


# --- comparison -------------------------------------------------------------------------------------------
def largest_network_difference(ours: torch.nn.Module, official: torch.nn.Module) -> tuple[float, str]:
    mine, theirs = ours.state_dict(), official.state_dict()
    if mine.keys() != theirs.keys():
        raise SystemExit(f"state dict keys differ: {sorted(set(mine) ^ set(theirs))[:6]}")
    worst, where = 0.0, ""
    for key, value in mine.items():
        delta = float((value.double() - theirs[key].double()).abs().max()) if value.numel() else 0.0
        if delta > worst:
            worst, where = delta, key
    return worst, where


def largest_optimizer_difference(ours: torch.optim.Optimizer, official: torch.optim.Optimizer) -> float:
    mine, theirs = optimizer_states(ours), optimizer_states(official)
    if len(mine) != len(theirs):
        raise SystemExit(f"optimizers hold {len(mine)} and {len(theirs)} parameters")
    worst = 0.0
    for a, b in zip(mine, theirs):
        if a.keys() != b.keys():
            return float("inf")
        for key in a:
            worst = max(worst, float((a[key].double() - b[key].double()).abs().max()))
    return worst


def run_scenario(name: str, scenario: Scenario, official_dir: Path, work: Path, sets: list[str],
                 dtype: torch.dtype = torch.float32, lr_update: str = "start") -> dict:
    batches = synthetic_batches(scenario)
    ReplayedDraws.coins = ReplayedDraws.swaps = 0
    tag = str(dtype).removeprefix("torch.")
    ours = OurRun(scenario, work / f"ours_{name}_{tag}", *sets, batches=batches, dtype=dtype)
    official = OfficialRun(scenario, official_dir, work / f"official_{name}_{tag}", dtype=dtype, lr_update=lr_update)
    init = {n: largest_network_difference(ours.networks[n], official.networks[n])[0] for n in ours.networks}
    copied = any(init.values())
    if copied:  # not expected: our init draws what theirs draws; say so and carry on from one set of weights
        for n, module in official.networks.items():
            module.load_state_dict(ours.networks[n].state_dict())
    initial = snapshot(official.networks)
    initial_checksums = {n: tensor_checksums(network_tensors(m)) for n, m in official.networks.items()}
    rows, fixture_steps = [], []
    for k in range(STEPS):
        mine = ours.step(k)
        theirs = official.step(k, batches[k], ours.pool_draws)
        nets = {n: largest_network_difference(ours.networks[n], official.networks[n]) for n in ours.networks}
        opts = {key: largest_optimizer_difference(ours.trainer.optimizers[key], official.optimizers[key])
                for key in official.optimizers}
        rows.append({"step": k + 1, "lr": (mine["lr"], theirs["lr"]), "networks": nets, "optimizers": opts,
                     "losses": (official_losses(scenario, mine["losses"]), theirs["losses"])})
        fixture_steps.append({"lr": theirs["lr"], "losses": theirs["losses"], "checksums": official.checksums(initial)})
    return {"dtype": tag, "init": init, "copied": copied, "rows": rows,
            "pool": (ReplayedDraws.coins, ReplayedDraws.swaps),
            "fixture": {"initial": initial_checksums, "steps": fixture_steps}}


def print_table(name: str, result: dict) -> float:
    print(f"\n## {name}, {result['dtype']}")
    init = ", ".join(f"{n} {v:.1e}" for n, v in result["init"].items())
    print(f"initial weights, max |ours − official| from the same seed: {init}"
          + (" (copied ours into the official networks)" if result["copied"] else ""))
    if result["pool"][0]:
        print(f"image pools: {result['pool'][0]} coin flips, {result['pool'][1]} swaps with a stored fake")
    nets = list(result["rows"][0]["networks"])
    opts = list(result["rows"][0]["optimizers"])
    header = ["step", "lr ours", "lr official", *[f"{n} max|Δ|" for n in nets], *[f"Adam {o} max|Δ|" for o in opts]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    worst = 0.0
    for row in result["rows"]:
        cells = [str(row["step"]), f"{row['lr'][0]:.6g}", f"{row['lr'][1]:.6g}"]
        for n in nets:
            cells.append(f"{row['networks'][n][0]:.2e}")
            worst = max(worst, row["networks"][n][0])
        for o in opts:
            cells.append(f"{row['optimizers'][o]:.2e}")
            worst = max(worst, row["optimizers"][o])
        if row["lr"][0] != row["lr"][1]:
            worst = float("inf")
        print("| " + " | ".join(cells) + " |")
    losses = list(result["rows"][0]["losses"][1])
    print("\nlosses, ours / official:")
    print("| step | " + " | ".join(losses) + " |")
    print("|---|" + "---|" * len(losses))
    for row in result["rows"]:
        ours, theirs = row["losses"]
        print(f"| {row['step']} | " + " | ".join(f"{ours[k]:.6f} / {theirs[k]:.6f}" for k in losses) + " |")
    where = {n: row["networks"][n][1] for row in result["rows"] for n in nets}
    print(f"\nlargest difference anywhere: {worst:.2e} (goal ≤ {GOAL:g}); tensors with the largest one per network "
          f"at the last step: " + ", ".join(f"{n}: {w or '-'}" for n, w in where.items()))
    return worst


# --- the learning-rate schedule over a whole run (no training) -------------------------------------------
def official_lr_factor(step: int, steps_per_epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """The official ``linear`` policy as its train.py applies it: the scheduler steps at the start of every
    epoch (epoch_count 1), so epoch e trains at 1 − max(0, e + 1 − n_epochs) / (n_epochs_decay + 1)."""
    epoch = step // steps_per_epoch + 1
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def schedule_table() -> None:
    from ganpost.training.engine.config import OptimConfig
    from ganpost.training.engine.schedule import lr_factor

    print("\n## learning-rate schedule over a whole run: ours (per step) vs official (per epoch), no training")
    print("| run | steps per epoch | our settings | max |Δ| / base lr | mean |Δ| / base lr | official last epoch |")
    print("|---|---|---|---|---|---|")
    n = d = 100
    for per_epoch in (1, 400, 1096):  # facades has 400 training pairs, maps 1096
        total = (n + d) * per_epoch
        for label, start, steps in (("total (n+d)·E, decay_start 0 (half-way; the preset)", 0, total),
                                    ("total (n+d)·E − 1, decay_start (n−1)·E − 1", (n - 1) * per_epoch - 1,
                                     total - 1)):
            cfg = OptimConfig(schedule="linear_decay", decay_start=start)
            deltas = [abs(lr_factor(k, cfg, steps) - official_lr_factor(k, per_epoch, n, d)) for k in range(steps)]
            print(f"| n = d = {n} epochs | {per_epoch} | {label} | {max(deltas):.4f} | {sum(deltas) / steps:.5f} "
                  f"| lr × {official_lr_factor(total - 1, per_epoch, n, d):g} |")


# --- the data: our resize against the official transform's (PIL's bicubic on 8-bit pixels) -----------------
KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "kodak"


def resize_table(folder: Path, sides=(286, 256)) -> None:
    """What ``data.resize`` changes: each photo resized as the official ``transforms.Resize`` does on a PIL
    image (the reference) and by ours in both modes; differences in 8-bit levels."""
    import numpy as np
    from PIL import Image

    from ganpost.training.data import list_images, load_rgb
    from ganpost.training.translation_data import _resize

    files = list_images(folder, "photos")
    stats = {how: [] for how in ("float", "pil")}
    for path in files:
        image = Image.open(path).convert("RGB")
        for side in sides:
            reference = np.asarray(image.resize((side, side), Image.BICUBIC)).astype(np.float64)
            for how in stats:
                stats[how].append(np.abs(_resize(load_rgb(path), side, how) * 255 - reference))
    print(f"\n## data: resized photos against PIL's bicubic (the official transform), {len(files)} photos of "
          f"{folder.name} to {' and '.join(map(str, sides))} px")
    print("| data.resize | mean |Δ| (levels of 255) | 99.9th pct | max |")
    print("|---|---|---|---|")
    for how, deltas in stats.items():
        every = np.concatenate([d.ravel() for d in deltas])
        print(f"| {how} | {every.mean():.3f} | {np.percentile(every, 99.9):.2f} | {every.max():.2f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, type=Path, help="folder with the official models/ and util/")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="default: all")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="our config only: KEY=VALUE")
    parser.add_argument("--lr-update", choices=["start", "end"], default="start",
                        help="when the official train.py steps its scheduler: at the start of each epoch (da39a52) "
                             "or at the end (older and possibly newer versions)")
    parser.add_argument("--write-fixture", action="store_true", help=f"store the official numbers in {FIXTURE}")
    parser.add_argument("--json", type=Path, help="also write the full comparison here")
    parser.add_argument("--photos", type=Path, default=KODAK if KODAK.is_dir() else None,
                        help="photos for the resize comparison (default: ../shared/datasets/kodak when present)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # tiny networks: more threads only contend on a shared CPU
    names = args.scenario or list(SCENARIOS)
    results, worst = {}, 0.0
    dtypes = [torch.float32, torch.float64] if args.write_fixture else [torch.float32]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for dtype in dtypes:
                result = run_scenario(name, SCENARIOS[name], args.official.resolve(), Path(tmp), args.sets, dtype,
                                      args.lr_update)
                results[f"{name}, {result['dtype']}"] = result
                worst = max(worst, print_table(name, result))
    schedule_table()
    if args.photos:
        resize_table(args.photos)
    if args.write_fixture:
        if args.sets:
            raise SystemExit("--write-fixture stores the official run; leave our side at its defaults (no --set)")
        # float64: in float32 an activation within rounding of a ReLU kink, or a gradient within rounding of
        # zero under Adam, makes other CPUs differ from these numbers by far more than rounding.
        fixture = {"source": OFFICIAL_SOURCE, "made_by": "bench/translate_train_parity.py --write-fixture",
                   "dtype": "float64", "steps": STEPS, "step_seed": STEP_SEED,
                   "scenarios": {n: rounded(results[f"{n}, float64"]["fixture"], 12) for n in names}}
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"\nwrote {FIXTURE}")
    if args.json:
        args.json.write_text(json.dumps({n: {k: v for k, v in r.items() if k != "fixture"} for n, r in results.items()},
                                        indent=1, default=str))
    print(f"\nOVERALL max |Δ| {worst:.2e}: {'PASS' if worst <= GOAL else 'FAIL'} (goal ≤ {GOAL:g})")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
