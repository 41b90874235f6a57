"""Run under ``accelerate launch`` by tests/training/recipes/test_train_distributed_gans.py: any recipe for a few steps,
then each rank writes its networks and averages (at the start and the end) and the losses of every
step, so the test can compare the ranks.

    python ddp_recipe_worker.py RECIPE OUT_DIR SETTING...   (SETTING: ``section.key=value``)
"""

import sys
from pathlib import Path

import torch

from ganpost.training import Trainer
from ganpost.training.config import load_config
from ganpost.training.engine import Callbacks
from ganpost.training.engine.distributed import finish_processes


class Losses(Callbacks):
    def __init__(self):
        self.steps: list[dict[str, float]] = []

    def on_step(self, report):
        self.steps.append(dict(report.losses))


def _weights(trainer) -> dict:
    out = {f"net:{name}": trainer.network(name).state_dict() for name in trainer.networks}
    out.update({f"ema:{key}": ema.network.state_dict() for key, ema in trainer.emas.items()})
    return {part: {k: v.detach().clone() for k, v in weights.items()} for part, weights in out.items()}


def main(recipe: str, out: str, *settings: str) -> None:
    cfg = load_config(recipe=recipe, sets=[f"run.output_dir={out}/run", "run.device=cpu", *settings])
    losses = Losses()
    trainer = Trainer(cfg, callbacks=losses)
    start = _weights(trainer)
    trainer.fit()
    torch.save({"world": trainer.processes.world, "start": start, "end": _weights(trainer), "losses": losses.steps},
               Path(out) / f"rank{trainer.processes.rank}.pt")
    finish_processes()  # everything is saved: end the process without c10d's teardown


if __name__ == "__main__":
    main(*sys.argv[1:])
