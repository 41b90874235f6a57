"""The pix2pix and CycleGAN recipes on fixed inputs, for checking them against the official trainer.

Shared by ``bench/translate_train_parity.py`` (which runs the official code beside ours and writes
``tests/fixtures/translate_train_parity.json``) and ``tests/training/recipes/test_train_translate_parity.py`` (which
runs ours alone against that file). Everything random is pinned:

- initial weights: the run's seed (our init draws exactly what the official ``init_weights`` draws);
- batches: :func:`synthetic_batches`, 8-bit images made with integer draws, one batch per step;
- dropout masks: the global torch seed is set to ``STEP_SEED + k`` before step ``k`` in both trainers;
- image-pool choices: ours come from the step's own generator; the bench replays them to the official pool.

The learning rate follows the official ``linear`` policy with ``n_epochs`` 3 and ``n_epochs_decay`` 3 at
one step per epoch (its first decay is at step 3); ours matches it with ``run.total_steps`` 5 and
``optim.decay_start`` 1 (see ``bench/TRANSLATE_PARITY.md``). The stored numbers come from a float64 run
(:class:`OurRun` takes a dtype): in float32, other CPUs' rounding moves an activation across a ReLU kink
or a near-zero gradient's sign, and Adam turns that into weight changes far above rounding.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ganpost.training.config import load_config
from ganpost.training.engine import Trainer
from ganpost.training.recipes.translation import CycleGAN, Pix2Pix

STEPS = 5
STEP_SEED = 1000
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "translate_train_parity.json"

# The official options these runs share (the rest are its defaults: Adam 2e-4, β1 0.5, init normal 0.02).
OFFICIAL_SCHEDULE = {"lr_policy": "linear", "n_epochs": 3, "n_epochs_decay": 3, "epoch_count": 1}
OUR_SCHEDULE = ("optim.schedule=linear_decay", f"run.total_steps={STEPS}", "optim.decay_start=1")
COMMON = ("run.device=cpu", "run.precision=fp32", "run.seed=0", "run.log_every=1000", "run.save_every=1000",
          "generator.num_feat=8", "discriminator.num_feat=8", *OUR_SCHEDULE)


@dataclass(frozen=True)
class Scenario:
    recipe: str
    side: int
    batch: int
    sets: tuple[str, ...]
    """Our config (on top of the recipe's official preset)."""
    official: dict = field(default_factory=dict)
    """The official model's options that differ from its training defaults."""
    losses: dict = field(default_factory=dict)
    """Official loss name → (our loss name, what ours is multiplied by to equal it)."""


PIX2PIX_LOSSES = {"G_GAN": ("l_G_GAN", 1.0), "G_L1": ("l_G_L1", 1.0),
                  "D_real": ("l_D_real", 2.0), "D_fake": ("l_D_fake", 2.0)}  # ours carry the ½ of the D loss
CYCLEGAN_LOSSES = {name: (f"l_{name}", 1.0) for name in
                   ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")}

SCENARIOS = {
    # pix2pix: U-Net 128 with batch norm and dropout, PatchGAN on cat(A, B), vanilla GAN + 100·L1, batch 1.
    "pix2pix": Scenario(
        "pix2pix", side=128, batch=1,
        sets=(*COMMON, "generator.net=unet_128", "data.crop_size=128", "data.load_size=128"),
        official={"model": "pix2pix", "netG": "unet_128", "norm": "batch", "no_dropout": False,
                  "gan_mode": "vanilla", "pool_size": 0, "lambda_L1": 100.0},
        losses=PIX2PIX_LOSSES),
    # CycleGAN: ResNet 6 blocks with instance norm, LSGAN, cycle 10, identity 0.5, pools of 50, batch 1.
    "cyclegan": Scenario(
        "cyclegan", side=64, batch=1,
        sets=(*COMMON, "generator.net=resnet_6blocks", "data.crop_size=64", "data.load_size=64"),
        official={"model": "cycle_gan", "netG": "resnet_6blocks", "norm": "instance", "no_dropout": True,
                  "gan_mode": "lsgan", "pool_size": 50, "lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5},
        losses=CYCLEGAN_LOSSES),
    # The same with pools of 2 and batches of 2: from step 2 on every fake meets the pool's coin and swap.
    "cyclegan_pool2": Scenario(
        "cyclegan", side=64, batch=2,
        sets=(*COMMON, "generator.net=resnet_6blocks", "data.crop_size=64", "data.load_size=64",
              "losses.pool_size=2", "data.batch_size=2"),
        official={"model": "cycle_gan", "netG": "resnet_6blocks", "norm": "instance", "no_dropout": True,
                  "gan_mode": "lsgan", "pool_size": 2, "lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5,
                  "batch_size": 2},
        losses=CYCLEGAN_LOSSES),
}


# --- inputs ---------------------------------------------------------------------------------------------
def synthetic_batches(scenario: Scenario, steps: int = STEPS) -> list[dict[str, torch.Tensor]]:
    """One ``{"a", "b"}`` batch in [0, 1] per step: 8-bit images of coloured 8 px blocks plus texture,
    made with integer arithmetic only, so they are the same bits on every CPU."""
    g = torch.Generator().manual_seed(20240601)
    side, n = scenario.side, scenario.batch

    def image() -> torch.Tensor:
        blocks = torch.randint(0, 256, (n, 3, side // 8, side // 8), generator=g)
        flat = blocks.repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)
        texture = torch.randint(-24, 25, (n, 3, side, side), generator=g)
        return (flat + texture).clamp(0, 255).float() / 255

    return [{"a": image(), "b": image()} for _ in range(steps)]


class FixedSamples(Dataset):
    """The batches as the engine asks for them: sample id ``k·batch + i`` is image ``i`` of batch ``k``."""

    def __init__(self, batches: list[dict[str, torch.Tensor]]):
        self.batches = batches
        self.batch = batches[0]["a"].shape[0]

    def __len__(self) -> int:
        return len(self.batches) * self.batch

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        step, i = divmod(sample_id, self.batch)
        return {k: v[i] for k, v in self.batches[step].items()}


def _on_fixed_batches(recipe: type, batches):
    class OnFixedBatches(recipe):
        """The recipe with its data replaced by ``batches``; remembers each step's random source."""

        def dataset(self):
            return FixedSamples(batches)

        def make_batch(self, samples, micro):
            batch = super().make_batch(samples, micro)
            self.rng_state = batch["rng"].get_state()  # the bench replays these draws to the official pool
            return batch

    return OnFixedBatches


# --- our run --------------------------------------------------------------------------------------------
@contextmanager
def default_dtype(dtype: torch.dtype):
    """New networks and random draws in ``dtype`` while inside."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


class OurRun:
    """Our recipe on the scenario's fixed batches, in ``dtype`` (float64 for the stored numbers: see the
    bench's notes on why float32 results differ between CPUs by more than rounding)."""

    def __init__(self, scenario: Scenario, output_dir: Path, *extra_sets: str,
                 batches: list[dict[str, torch.Tensor]] | None = None, dtype: torch.dtype = torch.float32):
        config = load_config(recipe=scenario.recipe,
                             sets=[*scenario.sets, f"run.output_dir={output_dir}", *extra_sets])
        batches = [{k: v.to(dtype) for k, v in b.items()} for b in batches or synthetic_batches(scenario)]
        base = Pix2Pix if scenario.recipe == "pix2pix" else CycleGAN
        self.dtype = dtype
        with default_dtype(dtype):
            self.trainer = Trainer(config, recipe=_on_fixed_batches(base, batches))
        self.networks = {name: self.trainer.network(name) for name in self.trainer.networks}

    def step(self, k: int) -> dict:
        """Step ``k`` (0-based) with the pinned dropout seed; the learning rate it used and its losses."""
        lr = next(iter(self.trainer.optimizers.values())).param_groups[0]["lr"]
        torch.manual_seed(STEP_SEED + k)
        with default_dtype(self.dtype):
            report = self.trainer.train_step()
        return {"lr": lr, "losses": report.losses}

    @property
    def pool_draws(self) -> torch.Tensor:
        """The state of the last step's random source (its image-pool choices)."""
        return self.trainer.recipe.rng_state

    def checksums(self, initial: dict[str, dict[str, torch.Tensor]]) -> dict:
        optimizers = {key: optimizer_states(opt) for key, opt in self.trainer.optimizers.items()}
        return checksums(self.networks, optimizers, initial)


def official_losses(scenario: Scenario, ours: dict[str, float]) -> dict[str, float]:
    """Our loss values under the official names and scales."""
    return {name: ours[mine] * scale for name, (mine, scale) in scenario.losses.items()}


# --- what is compared -----------------------------------------------------------------------------------
def optimizer_states(optimizer: torch.optim.Optimizer) -> list[dict[str, torch.Tensor]]:
    """Adam's state per parameter, in parameter order (``exp_avg``, ``exp_avg_sq``, ``step``)."""
    return [optimizer.state.get(p, {}) for group in optimizer.param_groups for p in group["params"]]


def _signs(n: int) -> torch.Tensor:
    """A fixed ±1 pattern (integer draws: the same on every CPU)."""
    g = torch.Generator().manual_seed(7919 + n)
    return (torch.randint(0, 2, (n,), generator=g) * 2 - 1).double()


def tensor_checksums(named: dict[str, torch.Tensor], initial: dict[str, torch.Tensor] | None = None) -> dict:
    """Of every floating tensor together (or of its change since ``initial``): the count, sum, sum of |x|,
    L2 norm, a signed projection and five single values; and the sum of the integer tensors (batch-norm
    counters). The projection sees one element's sign flip, the sums of |x| a change of scale."""
    flat, counters = [], 0
    for name in sorted(named):
        tensor = named[name].detach()
        if not tensor.is_floating_point():
            counters += int(tensor.sum())
            continue
        value = tensor.double().flatten()
        if initial is not None:
            value = value - initial[name].detach().double().flatten()
        flat.append(value)
    values = torch.cat(flat) if flat else torch.zeros(1, dtype=torch.float64)
    picks = torch.linspace(0, len(values) - 1, 5).long()
    return {"n": len(values), "sum": float(values.sum()), "abs_sum": float(values.abs().sum()),
            "l2": float(values.norm()), "projection": float((values * _signs(len(values))).sum()),
            "picks": [float(values[i]) for i in picks], "counters": counters}


def biases_without_effect(module: torch.nn.Module) -> set[str]:
    """Biases of convolutions followed directly by an instance norm without scale and shift (CycleGAN's).

    The norm subtracts each channel's mean, so such a bias never changes the output and its gradient is
    rounding noise; Adam's normalised step turns that noise into a full-size step of arbitrary sign, which
    differs between CPUs (official code and ours alike). The checksums leave these tensors out."""
    leaves = [(name, m) for name, m in module.named_modules() if not any(m.children())]
    return {f"{name}.bias" for (name, layer), (_, after) in zip(leaves, leaves[1:])
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and layer.bias is not None
            and isinstance(after, torch.nn.InstanceNorm2d) and not after.affine}


def network_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without the biases that have no effect (see :func:`biases_without_effect`)."""
    dead = biases_without_effect(module)
    return {k: v for k, v in module.state_dict().items() if k not in dead}


def adam_tensors(states: list[dict], key: str) -> dict[str, torch.Tensor]:
    return {f"{i:05d}": s[key] for i, s in enumerate(states) if key in s}


def checksums(networks: dict[str, torch.nn.Module], optimizers: dict[str, list[dict]],
              initial: dict[str, dict[str, torch.Tensor]]) -> dict:
    """Every network's tensors (their change since step 0) and every optimizer's Adam moments and step."""
    out = {}
    for name, module in networks.items():
        out[f"net_{name}"] = tensor_checksums(network_tensors(module), initial[name])
    for name, states in optimizers.items():
        out[f"adam_{name}_exp_avg"] = tensor_checksums(adam_tensors(states, "exp_avg"))
        out[f"adam_{name}_exp_avg_sq"] = tensor_checksums(adam_tensors(states, "exp_avg_sq"))
        out[f"adam_{name}_step"] = sorted({float(s["step"]) for s in states if "step" in s})
    return out


def snapshot(networks: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().clone() for k, v in m.state_dict().items()} for name, m in networks.items()}


def rounded(values, digits: int = 9):
    """Floats to ``digits`` significant digits, for a fixture that diffs well."""
    if isinstance(values, dict):
        return {k: rounded(v, digits) for k, v in values.items()}
    if isinstance(values, list):
        return [rounded(v, digits) for v in values]
    if isinstance(values, float):
        return float(np.format_float_positional(values, precision=digits, unique=False, fractional=False, trim="-"))
    return values
