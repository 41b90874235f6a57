"""Stages for worker tests: ``upscale_stages`` whose reader kills its own process on a chosen file.

It lives in a module (not a test) because worker processes are spawned: they import the factory by name.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ganpost.cli.stages import FileStages
from ganpost.cli.upscale_command import upscale_stages

DIE_ON = "die.png"  # kills the first worker that reads it
POISON = "poison.png"  # kills every worker that reads it


def dying_upscale_stages(args, device) -> FileStages:
    """As ``ganpost upscale``, but the process is SIGKILLed reading ``die.png`` (once: a marker next to it
    says it happened) or ``poison.png`` (always), as the kernel's out-of-memory killer would."""
    stages = upscale_stages(args, device)
    read = stages.read

    def read_or_die(source: Path):
        marker = source.with_suffix(".died")
        if (source.name == DIE_ON and not marker.exists()) or source.name == POISON:
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return read(source)

    return FileStages(read_or_die, stages.compute, stages.write, stages.unit)
