"""What a recipe declares; the engine (``training/engine``) does the rest.

A recipe is one way of training: its config type (the engine's ``optim`` and ``run`` sections plus
its own), presets, networks (any number of generators and discriminators), which of them are
averaged, its optimizers, the phases of a step, the batch it needs, its losses, the files it writes
and how it validates. It gets the engine at construction and reads ``engine.networks``,
``engine.network(name)``, ``engine.emas``, ``engine.device``, ``engine.step``,
``engine.processes``, ``engine.autocast()`` and ``engine.models_dir`` from it, and may call
``engine.step_optimizer(key)`` to step one optimizer inside a step.

It also declares, once, what the front-ends show of it (see ``front_end``): its ``ganpost train``
flags (:attr:`Recipe.command_line`), its ComfyUI node (:attr:`Recipe.node`), the start line
(:meth:`Recipe.describe`) and how its validation scores read (:meth:`Recipe.validation_text`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from ..engine.run_files import OutputNames
from .front_end import CommandLine, NodeForm


@dataclass(frozen=True)
class Optimizer:
    """One Adam over the parameters of ``networks`` (in order), with its own schedule and scaler."""

    networks: tuple[str, ...]
    lr: float
    betas: tuple[float, float] | None = None
    """None: the config's ``optim.betas``."""
    lr_scale: Callable[[str, str], float] | None = None
    """(network, parameter name) → multiplier of ``lr`` for that tensor (its own parameter group);
    0 leaves the tensor out of the optimizer. None: every parameter at ``lr``."""


@dataclass(frozen=True)
class Phase:
    """A part of every micro-batch: ``losses(name, batch)``, backpropagated through ``optimizer``'s scaler.

    Phases run in order and stop at the first non-finite loss; the optimizers step once per step,
    after all micro-batches, in the order :meth:`Recipe.optimizers` lists them.
    """

    name: str
    optimizer: str


class Recipe:
    name: ClassVar[str]
    """``ganpost train <name>``, and what the state file records."""
    config_type: ClassVar[type]
    """A dataclass with ``optim`` (:class:`~..engine.config.OptimConfig`), ``run`` and a ``validate()``."""
    presets: ClassVar[dict[str, dict]] = {}
    default_preset: ClassVar[str] = ""
    main_output: ClassVar[str]
    """The prefix in :meth:`outputs` whose newest file a run hands back (the model)."""
    output_names: ClassVar[OutputNames] = OutputNames()
    """How the output files are named (BasicSR's ``net_g_latest.pth`` unless the recipe says otherwise)."""
    input_folder_settings: ClassVar[tuple[str, ...]] = ()
    """The ``data`` settings that name folders the run reads: the run folder may not overlap them."""
    reads_unnamed_states: ClassVar[bool] = False
    """Resumes states written before states named their recipe (only the first recipe's)."""
    divergence_advice: ClassVar[str] = ("Lower optim.lr_g / lr_d (e.g. halve them), set optim.grad_clip, or use "
                                        "precision bf16/fp32 instead of fp16.")
    """Said when the run stops for too many non-finite losses in a row."""

    # --- the front-ends ---------------------------------------------------------------------------
    command_line: ClassVar[CommandLine | None] = None
    """``ganpost train <name>``'s flags; None: no command."""
    node: ClassVar[NodeForm | None] = None
    """The ComfyUI training node (one node may run several recipes); None: no node."""

    @classmethod
    def describe(cls, config) -> str:
        """What this run trains, for the line the CLI prints as it starts (``RRDBNet ×4``)."""
        return cls.name

    @classmethod
    def validation_text(cls, metrics: dict) -> str:
        """The validation scores in words, for the CLI's progress and the node's summary."""
        return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())

    @classmethod
    def input_folders(cls, config) -> list[Path]:
        return [Path(value) for name in cls.input_folder_settings if (value := getattr(config.data, name, None))]

    def __init__(self, config, engine):
        self.config, self.engine = config, engine

    # --- networks and optimizers ------------------------------------------------------------------
    def build_networks(self, *, resuming: bool) -> dict[str, nn.Module]:
        """Trainable networks on ``engine.device`` by state name (weights come from the state when
        ``resuming``). Build them in a fixed order: fresh weights come from the seeded global RNG."""
        raise NotImplementedError

    def averaged(self) -> dict[str, str]:
        """EMA state name → the network it averages."""
        return {}

    def optimizers(self) -> dict[str, Optimizer]:
        """Key → optimizer; the state stores ``opt_<key>``, ``sched_<key>`` and ``scaler_<key>``."""
        raise NotImplementedError

    def phases(self) -> tuple[Phase, ...]:
        raise NotImplementedError

    def skips_parameters(self, network: str) -> bool:
        """True if a backward pass through ``network`` may leave some of its trainable parameters
        without a gradient (a loss that switches off part-way). Under DDP the wrapper then looks for
        them after every forward pass (``find_unused_parameters``, a graph walk per pass); parts that
        are never used should be frozen instead."""
        return False

    # --- data and losses --------------------------------------------------------------------------
    batch_size: int = 1
    num_workers: int = 0

    def dataset(self) -> Dataset:
        """Indexed by global sample number (:class:`~..engine.sampling.SampleIds`); collated into ``make_batch``'s samples."""
        raise NotImplementedError

    def make_batch(self, samples: dict, micro: int) -> dict:
        """The micro-batch on the device, with whatever the phases need (no gradients here)."""
        raise NotImplementedError

    def losses(self, phase: str, batch: dict) -> dict[str, torch.Tensor]:
        """Named scalar losses of one phase, summed for backward; may add to ``batch`` for later phases."""
        raise NotImplementedError

    # --- files, state, validation -----------------------------------------------------------------
    def outputs(self) -> dict[str, dict]:
        """File prefix → the ``{'params': ..., ...}`` payload saved as ``<prefix>_<step>.pth``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The recipe's own resumable parts (plain tensors and numbers), stored beside the engine's."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore them from the whole state dict (a part may be missing from older states)."""

    validates: bool = False

    def validate(self, preview: Path) -> dict:
        """Metrics on held-out data (main process only); may write ``preview``."""
        raise NotImplementedError
