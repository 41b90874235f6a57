"""What a command does to one file, split into the three steps a folder run overlaps.

``read`` (decode and check one input) and ``write`` (encode one result, atomically) run on I/O
threads; ``compute`` runs on the compute thread, one call per group of inputs of one size, so they
can share a forward. A file too big to hold (a video) is done ``whole`` on the compute thread
instead. A command builds its stages with a module-level function ``(args, device) ->
FileStages``: worker processes and Ray actors call the same function to build their own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Progress = Callable[[int, int], None]


@dataclass
class FileStages:
    read: Callable[[Path], Any]
    """Decode one input (refusing what cannot fit before decoding); thread-safe."""
    compute: Callable[[list[Any], Progress | None], list[Any]]
    """Results for decoded inputs of one size, in order; ``progress(done, total)`` for a single file's steps."""
    write: Callable[[Path, Any, Any], str]
    """Write one result to its target (``(target, result, decoded)``) atomically; returns what to show."""
    unit: str = "tiles"
    """What ``compute``'s progress counts."""
    whole: Callable[[Path, Path, Progress | None], str] | None = None
    """For the sources ``takes_whole`` accepts (videos): ``whole(source, target, progress)`` reads, computes
    and writes the file on the compute thread as it goes, atomically; returns what to show."""
    takes_whole: Callable[[Path], bool] = lambda source: False


StagesFactory = Callable[[Any, Any], FileStages]
