"""Run by tests/training/engine/test_train_distributed.py under ``accelerate launch``: a few steps, then each rank
writes its own generator weights so the test can compare them."""

import sys
from pathlib import Path

import torch

from ganpost.training.config import load_config
from ganpost.training import Trainer
from ganpost.training.engine.distributed import finish_processes


def main(data: str, out: str) -> None:
    cfg = load_config(preset="compact-x4-clean", sets=[
        f"data.train_dir={data}", f"run.output_dir={out}/run", "data.gt_size=32", "data.batch_size=2",
        "generator.num_feat=8", "generator.num_conv=2", "run.total_steps=4", "run.channels_last=false",
        "optim.warmup_steps=0", "optim.lr_g=1e-3", "run.device=cpu"])
    trainer = Trainer(cfg)
    trainer.fit()
    rank = trainer.processes.rank
    torch.save({"world": trainer.processes.world, "generator": trainer.network("generator").state_dict(),
                "ema": trainer.emas["ema"].state_dict()}, Path(out) / f"rank{rank}.pt")
    finish_processes()  # everything is saved: end the process without c10d's teardown


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
