"""One process or many: the same training code under ``accelerate launch`` or ``torchrun``.

Process-group setup goes through Hugging Face accelerate when it is installed (it reads the
launcher's environment and picks gloo on CPU, nccl on CUDA); plain ``torch.distributed`` otherwise.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ...runtime.precision import default_device, resolve_device


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def device(self, preference: str) -> torch.device:
        if preference == "auto":
            if not self.distributed:
                return default_device()
            preference = "cuda" if torch.cuda.is_available() else "cpu"  # no MPS process groups
        device = resolve_device(preference)  # a GPU this machine lacks is one clear error, not a traceback later
        if device.type == "cuda" and device.index is None and self.distributed:
            device = torch.device("cuda", self.local_rank)
        return device

    def wrap(self, module: nn.Module, device: torch.device, *, find_unused: bool = False) -> nn.Module:
        """DistributedDataParallel around ``module`` when there are several processes.

        DDP waits for a gradient of every parameter that requires one; ``find_unused`` lets a
        backward pass leave some out (at the cost of a graph walk after each forward pass)."""
        if not self.distributed:
            return module
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)

    def all_agree(self, flag: bool, device: torch.device) -> bool:
        """True only if ``flag`` is true on every process (a NaN on one rank skips the step on all)."""
        if not self.distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return bool(value.item() == 1.0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def start_processes() -> Processes:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        try:
            from accelerate import PartialState

            PartialState()
        except ImportError:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend=backend)
    return Processes(rank=dist.get_rank(), world=dist.get_world_size(),
                     local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def finish_processes(code: int = 0) -> None:
    """End a multi-process run's process here, with ``code``, once its work is saved; return at once
    in a single process. Leaving the group and then letting the interpreter shut down sometimes
    aborts it as c10d's background threads are torn down ("terminate called without an active
    exception", SIGABRT: 1 run in 24 of a CPU gloo test), and the launcher then reports a finished
    run as failed; ending the process skips that teardown."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
