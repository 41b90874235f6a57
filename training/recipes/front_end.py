"""What a recipe declares once for the front-ends: its ``ganpost train <name>`` flags and its ComfyUI node.

Plain data, no argparse and no ComfyUI here: ``cli/train_command.py`` builds every recipe's parser
from :class:`CommandLine`, and ``nodes/train_nodes.py`` builds every training node from
:class:`NodeForm`. A recipe that sets ``command_line`` and ``node`` (see ``base.Recipe``) and is in
``recipes.RECIPES`` reaches both front-ends without either being edited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Setting = tuple[str, str]
"""A config setting as (section, key): ("data", "train_dir")."""


# ------------------------------------------------------------------------------ the command line
@dataclass(frozen=True)
class Flag:
    """One option of ``ganpost train <recipe>`` and the setting it fills when given."""

    flag: str
    """``--data``; argparse's dest (``data``) comes from it."""
    setting: Setting | Callable[[Any], dict[Setting, Any]]
    """Where the value goes; or a function of the value → several settings (``--components DIR``)."""
    help: str
    type: Callable | None = None
    """Path, int, or None for text."""
    choices: tuple[str, ...] | None = None
    switch: Any = None
    """Not None: an on/off flag (no value) that sets the setting to this when given (``--no-flip`` → False)."""
    also: dict[Setting, Any] = field(default_factory=dict)
    """More settings when the flag is given (``--lq`` also makes ``data.degradation`` 'paired')."""
    required: str | None = None
    """What the setting holds (``the training images``): a run without it stops before starting."""

    def settings(self, value) -> dict[Setting, Any]:
        """The settings this flag fills for ``value`` (as parsed), or nothing when it was not given."""
        if self.switch is not None:
            value = self.switch if value else None
        if value is None:
            return {}
        value = str(value) if isinstance(value, Path) else value
        filled = self.setting(value) if callable(self.setting) else {self.setting: value}
        return {**filled, **self.also}


@dataclass(frozen=True)
class CommandLine:
    """``ganpost train <recipe>``: the recipe's own flags, then the flags every recipe has
    (--config, --preset, --output, --resume, --steps, --batch-size, --device, --precision,
    --models-dir, --set, --print-config), worded here where a recipe words them its own way."""

    summary: str
    """The line in ``ganpost train --help`` and the command's description."""
    flags: tuple[Flag, ...]
    presets: dict[str, str]
    """Preset → a few words on it, for --preset's help (each preset the help lists)."""
    set_example: str
    """An example for --set's help, e.g. ``losses.gan_weight=0.05``."""
    shared_help: dict[str, str] = field(default_factory=dict)
    """The help of a shared flag worded for this recipe: ``{"--output": "..."}``."""
    model_note: str = ""
    """Said after the model's path when the run ends (`` (with config.json beside it)``)."""


# ------------------------------------------------------------------------------ the ComfyUI node
MODEL_KINDS = ("upscaler", "face_restorer", "face_detector", "translator")
"""The kinds of loaded model a node input or output can carry (the node pack maps each to its socket type)."""


@dataclass(frozen=True)
class NodeInput:
    """One input of a training node: ``kind`` is int, float, string, boolean, combo or a model kind."""

    id: str
    kind: str
    tooltip: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None
    optional: bool = False
    folder: bool = False
    """A string naming a folder: absolute, or inside ComfyUI's input folder. The node hands the
    recipe a resolved Path (an optional one left empty: None)."""


@dataclass(frozen=True)
class NodeOutput:
    kind: str
    """A model kind (the trained model, loaded)."""
    display_name: str
    tooltip: str


@dataclass(frozen=True)
class Publish:
    """Where the trained model is copied for ComfyUI: ``models/<folder>/<run_name><suffix>``."""

    folder: str
    """A ComfyUI folder key: upscale_models, facerestore_models, ..."""
    suffix: str = ".pth"
    companions: dict[str, str] = field(default_factory=dict)
    """Files beside the model to copy first, by name → the suffix they take (``config.json`` → ``.json``)."""


@dataclass(frozen=True)
class NodeRun:
    """What a node's inputs become: which recipe (and preset) runs on which settings, with which objects."""

    recipe: str
    overrides: dict
    """Config sections as dicts; the node adds the ``run`` section (folder, steps, seed, device, saves)."""
    preset: str | None = None
    options: dict = field(default_factory=dict)
    """Recipe options: loaded models that train or help (``initial_generator``, ``detector``)."""


@dataclass(frozen=True)
class NodeForm:
    """A training node: every input in order, the model it returns, where that model is published,
    and ``run(values)`` (input id → value, folders resolved) → the :class:`NodeRun`.

    Every form has the inputs ``steps``, ``seed``, ``run_name`` and ``resume`` (see :func:`steps_input`,
    :data:`SEED`, :func:`run_name_input`, :data:`RESUME`); the node runs ``steps`` steps in
    ``output/ganpost_training/<run_name>`` and saves/validates every tenth of them."""

    node_id: str
    display_name: str
    description: str
    inputs: tuple[NodeInput, ...]
    output: NodeOutput
    run: Callable[[dict], NodeRun]
    publish: Publish | None = None
    """None: the model stays in the run folder only."""
    check: Callable[[dict], None] | None = None
    """Refuses a wrong connected model (raising a GanpostError naming the input) before anything is unloaded."""


SEED_TOOLTIP = "seeds the crops, degradations and initialisation: the same seed and settings repeat a run"
SUMMARY_TOOLTIP = "steps done, last losses, where the model was saved and the validation scores"
SEED = NodeInput("seed", "int", SEED_TOOLTIP, default=0, min=0, max=2**31 - 1)
RESUME = NodeInput("resume", "boolean", "continue this run_name's last state if it exists", default=True)


def steps_input(default: int, tooltip: str = "training steps in all (a resumed run continues up to this count)"):
    return NodeInput("steps", "int", tooltip, default=default, min=1, max=10_000_000)


def run_name_input(default: str, *, publishes: bool = True) -> NodeInput:
    saved = " and the saved model's name" if publishes else ""
    return NodeInput("run_name", "string", f"run folder under output/ganpost_training{saved} (letters, digits, - _ .)",
                     default=default)


def every_tenth(steps: int) -> int:
    """How often a node's run saves and validates."""
    return max(50, steps // 10)
