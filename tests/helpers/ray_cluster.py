"""One local Ray for the tests that need it (two CPUs, no dashboard, nothing over the network), and
stages that kill their own process once, to show what a dead actor costs.

Ray's workers are new processes: they find ``ganpost`` and ``helpers`` through ``PYTHONPATH``,
set here before Ray starts (pytest's own ``sys.path`` entries do not reach them).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from ganpost.integrations.ray import FileProcessor

from .paths import REPO, TESTS


@contextmanager
def local_ray():
    """A Ray started here for the block; skips (with Ray's reason) where Ray is missing or cannot start."""
    ray = pytest.importorskip("ray")
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), str(REPO.parent), saved["PYTHONPATH"]]))
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage report over the network
    try:
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as err:  # noqa: BLE001 - a sandbox without shared memory or sockets
            pytest.skip(f"Ray cannot start here: {str(err).strip().splitlines()[0] if str(err).strip() else err!r}")
        try:
            yield ray
        finally:
            ray.shutdown()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def killed_once(stages, marker: Path, victim: str, write_log: Path):
    """``stages`` that SIGKILL their process when computing ``victim`` (a file name) the first time
    (``marker`` says it happened), and append each finished write's file name to ``write_log``."""
    from ganpost.cli.stages import FileStages

    def read(source: Path):
        return source.name, stages.read(source)

    def compute(items, progress):
        if victim in [name for name, _ in items] and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return stages.compute([item for _, item in items], progress)

    def write(target: Path, result, item) -> str:
        shown = stages.write(target, result, item[1])
        with open(write_log, "a", encoding="utf-8") as log:
            log.write(target.name + "\n")
        return shown

    return FileStages(read, compute, write, unit=stages.unit)


def upscale_stages_killed_once(args, device):
    """``cli.upscale_command.upscale_stages`` under :func:`killed_once` (``args.kill_marker`` etc.)."""
    from ganpost.cli.upscale_command import upscale_stages

    return killed_once(upscale_stages(args, device), Path(args.kill_marker), args.kill_victim, Path(args.write_log))


class KilledOnceProcessor(FileProcessor):
    """``FileProcessor`` under :func:`killed_once`, for Ray Data (its workers import it from here)."""

    def __init__(self, marker, victim, write_log, **kwargs):
        super().__init__(**kwargs)
        self.stages = killed_once(self.stages, Path(marker), victim, Path(write_log))
