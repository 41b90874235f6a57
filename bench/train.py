"""Training throughput: iterations per second, peak memory, and the share of each step spent
outside the networks (reading data, degradation) for a recipe on this device.

    python bench/train.py                                  # official realesrgan-x4plus recipe
    python bench/train.py --preset compact-x4-clean --steps 50
    python bench/train.py --batch-size 4 --gt-size 128 --random-vgg   # offline: VGG with random weights

Network weights start random (timing does not depend on them). Photos come from scikit-image.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch



def main() -> int:
    from ganpost.training.config import load_config
    from ganpost.training.sample_data import write_split
    from ganpost.training.engine import Timings
    from ganpost.training.run import Trainer

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="realesrgan-x4plus")
    p.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--gt-size", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--random-vgg", action="store_true", help="perceptual loss on random VGG19 weights (offline)")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="ganpost-bench-train-"))
    write_split(work / "data")
    sets = [f"data.train_dir={work / 'data/train'}", f"run.output_dir={work / 'run'}", f"run.device={args.device}",
            "run.save_every=1000000", "run.log_every=1000000", *args.set]
    if args.batch_size:
        sets.append(f"data.batch_size={args.batch_size}")
    if args.gt_size:
        sets.append(f"data.gt_size={args.gt_size}")
    if args.random_vgg:
        from ganpost.training.components.vgg import VGG19Features

        torch.save(VGG19Features().state_dict(), work / "vgg19-random.pth")
        sets.append(f"losses.vgg_weights={work / 'vgg19-random.pth'}")
    config = load_config(preset=args.preset, sets=sets)
    trainer = Trainer(config, synchronize_timings=True)
    for _ in range(args.warmup):
        trainer.train_step()
    trainer.timings = Timings()  # count the timed steps only
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    elapsed = time.perf_counter() - start
    t = trainer.timings
    total = t.data + t.degradation + t.networks
    result = {
        "preset": args.preset, "device": str(trainer.device), "threads": torch.get_num_threads(),
        "batch_size": config.data.batch_size, "gt_size": config.data.gt_size, "steps": args.steps,
        "it_per_s": args.steps / elapsed, "seconds_per_it": elapsed / args.steps,
        "share_data": t.data / total, "share_degradation": t.degradation / total,
        "share_outside_networks": (t.data + t.degradation) / total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if trainer.device.type == "cuda":
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated(trainer.device) / 2**20
    print(f"{args.preset} on {result['device']} ({result['threads']} threads): batch {result['batch_size']}, "
          f"crop {result['gt_size']}")
    print(f"  {result['it_per_s']:.3f} it/s ({result['seconds_per_it']:.2f} s/it) over {args.steps} steps")
    print(f"  outside the networks: {result['share_outside_networks']:.1%} (data {result['share_data']:.1%}, "
          f"degradation {result['share_degradation']:.1%})")
    print(f"  peak RSS {result['peak_rss_mib']:.0f} MiB" +
          (f", peak CUDA {result['peak_cuda_mib']:.0f} MiB" if "peak_cuda_mib" in result else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
