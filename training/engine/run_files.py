"""Where a run keeps its files, and writing them so a kill at any moment leaves the last good one.

    <output>/models/<prefix>_<step>.pth  each of the recipe's outputs (Real-ESRGAN: net_g_, net_d_)
    <output>/models/<prefix>_latest.pth  the same, newest
    <output>/state/latest.state          everything a resume needs (networks, optimizers, EMA, step…)
    <output>/config.json                 the resolved config
    <output>/log.jsonl                   one JSON object per logged step / validation
    <output>/previews/step_<step>.png    the recipe's validation preview
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ...gan_models.atomic import atomic_copy, atomic_write, sweep_partials
from ...gan_models.checkpoint_io import save_state_dict
from ...gan_models.errors import GanpostError


class ResumeError(GanpostError):
    """A run folder that cannot be resumed."""


class RunFiles:
    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir)
        self.models = self.root / "models"
        self.state = self.root / "state" / "latest.state"
        self.config = self.root / "config.json"
        self.log = self.root / "log.jsonl"
        self.previews = self.root / "previews"

    def output(self, prefix: str, step: int | None = None) -> Path:
        """``<prefix>_<step>.pth``, or ``<prefix>_latest.pth`` without a step."""
        return self.models / (f"{prefix}_latest.pth" if step is None else f"{prefix}_{step:08d}.pth")

    def has_state(self) -> bool:
        return self.state.is_file()

    def save_output(self, prefix: str, step: int, payload: dict) -> Path:
        """The numbered file, then ``latest`` as a byte copy of it (each atomically); returns the numbered one."""
        path = save_state_dict(self.output(prefix, step), payload)
        atomic_copy(path, self.output(prefix))
        return path

    def save_state(self, state: dict) -> Path:
        return atomic_write(self.state, lambda tmp: torch.save(state, tmp))

    def load_state(self) -> dict:
        if not self.has_state():
            raise ResumeError(f"{self.root}: no training state to resume (looked for {self.state}). "
                              "Start without --resume, or point --output at the run folder.")
        try:
            return torch.load(self.state, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable state gets the same advice
            raise ResumeError(f"{self.state}: unreadable training state ({err}). "
                              "Delete it to restart from the last saved network as --pretrained.") from err

    def write_config(self, config: dict) -> None:
        text = json.dumps(config, indent=2)
        atomic_write(self.config, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def remove_leftovers(self) -> None:
        """Temporary files of writes that a kill interrupted (never read; the renamed files are whole)."""
        for folder in (self.models, self.state.parent, self.root):
            if folder.is_dir():
                sweep_partials(folder)

    def prune(self, prefixes, keep: int) -> None:
        """Delete all but the newest ``keep`` numbered files of each output."""
        for prefix in prefixes:
            numbered = sorted(p for p in self.models.glob(f"{prefix}_*.pth")
                              if re.fullmatch(rf"{re.escape(prefix)}_\d+\.pth", p.name))
            for old in numbered[:-keep]:
                old.unlink(missing_ok=True)
