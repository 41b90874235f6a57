"""One line for one file's failure, whatever raised it."""

from __future__ import annotations

from pathlib import Path

from ..gan_models import GanpostError
from ..runtime.memory import is_out_of_memory


def failure_line(source: Path, err: BaseException) -> str:
    """``<file>: <reason>`` on one line, whatever raised: our errors name the file already, others do not."""
    if isinstance(err, GanpostError):
        reason = str(err)
    elif isinstance(err, MemoryError) or is_out_of_memory(err):
        reason = f"out of memory ({first_line(err) or 'the allocator refused'})"
    else:
        reason = first_line(err) or type(err).__name__
    return reason if str(source) in reason or source.name in reason else f"{source}: {reason}"


def first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""
