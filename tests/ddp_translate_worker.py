"""Run by tests/training/recipes/test_train_cyclegan.py under ``accelerate launch``: a few CycleGAN steps, then each
rank writes its networks so the test can compare them."""

import sys
from pathlib import Path

import torch

from ganpost.training import Trainer
from ganpost.training.config import load_config
from ganpost.training.engine.distributed import finish_processes


def main(folder_a: str, folder_b: str, out: str) -> None:
    cfg = load_config(recipe="cyclegan", sets=[
        f"data.dir_a={folder_a}", f"data.dir_b={folder_b}", f"run.output_dir={out}/run", "data.load_size=36",
        "data.crop_size=32", "generator.net=resnet_2blocks", "generator.num_feat=4", "discriminator.num_feat=4",
        "losses.pool_size=2", "run.total_steps=3", "run.device=cpu"])
    trainer = Trainer(cfg)
    trainer.fit()
    nets = {name: trainer.network(name).state_dict() for name in ("G_A", "G_B", "D_A", "D_B")}
    torch.save({"world": trainer.processes.world, **nets}, Path(out) / f"rank{trainer.processes.rank}.pt")
    finish_processes()  # everything is saved: end the process without c10d's teardown


if __name__ == "__main__":
    main(*sys.argv[1:4])
