"""Peak host memory of AuraSR windows on CPU: the loaded model, the runner's working copy, one batch.

A run's memory is bounded by the batch of windows, not by the image: every window is 64 px, and
only the output canvas (3 × 4H × 4W float32) grows with the image. This builds the released
layout (--dim 64: 617,554,917 parameters) with random weights, loads it through the registry,
then resets the kernel's peak-RSS mark and runs one forward of --batch windows through the
runner in --precision, reporting:

* the RSS of the loaded model (the descriptor's fp32 module);
* the peak RSS during the run above that (the working copy in the compute dtype, the batch's
  activations and the output canvas);
* the runner's own activation estimate for that batch.

bf16 (the CPU's half precision; fp16 is refused on CPU) is forced past the contract, which
refuses it for its error at the released width: this measures memory, not accuracy.

    python bench/aurasr_memory.py --precision fp32 --batch 4 [--dim 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import time

import torch

from ganpost.gan_models.aurasr import UnetUpsampler
from ganpost.gan_models.aurasr.config import RELEASE_CONFIG
from ganpost.gan_models.loader import describe_state_dict
from ganpost.runtime.runner import Runner

MIB = 1 << 20


def status(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = {**RELEASE_CONFIG, "dim": args.dim, "self_attn_dim_head": args.dim}
    model = describe_state_dict(UnetUpsampler(**config).state_dict())
    if args.precision == "bf16":  # memory only: the contract refuses bf16 for its error at width (entry.py)
        model = dataclasses.replace(model, contract=dataclasses.replace(model.contract, bf16_safe=True))
    gc.collect()
    loaded = status("VmRSS")
    # The windows of a (48·batch)×48 image: ``batch`` 48 px tiles in one row, one forward.
    image = torch.rand(1, 3, 48, 48 * args.batch)
    reset_peak()
    start = time.perf_counter()
    with Runner(model, device="cpu", precision=args.precision) as runner:
        estimate = runner.contract.activation_bytes_per_pixel(runner.dtype) * 64 * 64 * args.batch
        out = next(runner.run([image], "auto", batch=args.batch, seed=0))
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    print(f"AuraSR dim {args.dim} ({model.param_count:,} parameters), {args.precision}, {args.batch} windows "
          f"in one forward, {torch.get_num_threads()} threads: {seconds:.0f} s")
    print(f"  loaded model (fp32 module):            {loaded / MIB:8.0f} MiB RSS")
    print(f"  peak during the run, above that:       {(peak - loaded) / MIB:8.0f} MiB")
    shared = " (shared with the loaded module)" if runner.dtype == torch.float32 else ""
    print(f"  working copy's weights:                {model.param_count * runner.dtype.itemsize / MIB:8.0f} MiB{shared}")
    print(f"  runner's activation estimate (batch):  {estimate / MIB:8.0f} MiB")
    print(f"  output {tuple(out.shape)}")


if __name__ == "__main__":
    main()
