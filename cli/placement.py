"""Where a folder run's workers go: ``--devices`` and ``--workers`` turned into one device per worker
process, and how many CPU threads each may use.

``--devices all`` is every CUDA GPU (the CPU where there is none); a list names them
(``cuda:0,cuda:1``); ``--workers N`` runs N workers on each device, and on the CPU splits its
cores between them, since N processes each using every core would only fight over them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..gan_models.errors import InvalidOptionError
from ..runtime.precision import resolve_device


@dataclass(frozen=True)
class Worker:
    name: str  # how lines name it: "cpu#1", "cuda:0"
    device: str
    threads: int | None  # torch intra-op threads (CPU workers); None: torch's default


def plan_workers(devices: str | None, workers: int | None, device: str | None) -> list[Worker]:
    """The worker processes a run uses; an empty list: run in this process (no ``--devices``/``--workers``)."""
    if devices is None and (workers or 1) == 1:
        return []
    if devices is not None and device is not None:
        raise InvalidOptionError("give --device or --devices, not both")
    names = _device_names(devices if devices is not None else (device or "auto"))
    per_device = workers or 1
    cpu_workers = per_device * sum(1 for name in names if name == "cpu")
    cores = _cores()
    plan = []
    for name in names:
        for k in range(per_device):
            label = name if per_device == 1 else f"{name}#{k + 1}"
            threads = max(1, cores // cpu_workers) if name == "cpu" else None
            plan.append(Worker(label, name, threads))
    return plan


def _device_names(text: str) -> list[str]:
    text = text.strip().lower()
    if text in ("all", "auto"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(count)] or [str(resolve_device(None))]
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidOptionError(f"--devices takes 'all' or a list such as cuda:0,cuda:1 or cpu, not {text!r}")
    resolved = [str(resolve_device(name)) for name in names]  # a device this machine lacks is refused now
    if len(set(resolved)) != len(resolved):
        raise InvalidOptionError(f"--devices names a device twice ({text}); use --workers N for N workers on one")
    return resolved


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
