"""Where a run keeps its files, and writing them so a kill at any moment leaves the last good one.

    <output>/models/<prefix>_<step>.pth  each of the recipe's outputs (e.g. net_g_, net_d_)
    <output>/models/<prefix>_latest.pth  the same, newest
        (pix2pix / CycleGAN name them as their official code does: iter_<step>_net_G.pth, latest_net_G.pth)
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


class OutputNames:
    """BasicSR's naming: ``net_g_00005000.pth`` and ``net_g_latest.pth``."""

    def numbered(self, prefix: str, step: int) -> str:
        return f"{prefix}_{step:08d}.pth"

    def latest(self, prefix: str) -> str:
        return f"{prefix}_latest.pth"

    def step_of(self, prefix: str, name: str) -> int | None:
        match = re.fullmatch(rf"{re.escape(prefix)}_(\d+)\.pth", name)
        return int(match[1]) if match else None


class OfficialPix2PixNames(OutputNames):
    """pytorch-CycleGAN-and-pix2pix's naming (its ``--save_by_iter`` form): ``iter_5000_net_G.pth``
    and ``latest_net_G.pth``, so its ``test.py --epoch latest`` finds our files."""

    def numbered(self, prefix: str, step: int) -> str:
        return f"iter_{step}_{prefix}.pth"

    def latest(self, prefix: str) -> str:
        return f"latest_{prefix}.pth"

    def step_of(self, prefix: str, name: str) -> int | None:
        match = re.fullmatch(rf"iter_(\d+)_{re.escape(prefix)}\.pth", name)
        return int(match[1]) if match else None


class RunFiles:
    def __init__(self, output_dir: str | Path, names: OutputNames | None = None):
        self.root = Path(output_dir)
        self.names = names or OutputNames()
        self.models = self.root / "models"
        self.state = self.root / "state" / "latest.state"
        self.config = self.root / "config.json"
        self.log = self.root / "log.jsonl"
        self.previews = self.root / "previews"

    def output(self, prefix: str, step: int | None = None) -> Path:
        """``<prefix>_<step>.pth``, or ``<prefix>_latest.pth`` without a step (in the recipe's naming)."""
        return self.models / (self.names.latest(prefix) if step is None else self.names.numbered(prefix, step))

    def has_state(self) -> bool:
        return self.state.is_file()

    def save_output(self, prefix: str, step: int, payload: dict) -> Path:
        """The numbered file, then ``latest`` as a byte copy of it (each atomically); returns the numbered one.

        ``payload`` is ``{'params': state_dict, ...}``, or one flat state dict (saved as it is, the
        official pix2pix layout)."""
        if all(isinstance(v, torch.Tensor) for v in payload.values()):
            plain = {k: v.detach().cpu() for k, v in payload.items()}
            path = atomic_write(self.output(prefix, step), lambda tmp: torch.save(plain, tmp))
        else:
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
            from ...gan_models.unreadable import why_unreadable  # our words: torch's suggest weights_only=False

            raise ResumeError(f"{self.state}: unreadable training state: {why_unreadable(self.state, err)}. "
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
            numbered = sorted((step, p) for p in self.models.glob("*")
                              if (step := self.names.step_of(prefix, p.name)) is not None)
            for _, old in numbered[:-keep]:
                old.unlink(missing_ok=True)
