"""Progress on the console's status line: a file's steps, and a run's files with their rate and ETA.

tqdm keeps the counts, the smoothed rate and the time left; what it draws goes through the console,
so result lines and log records never land in the middle of the bar (``console``).
"""

from __future__ import annotations

from tqdm import tqdm

from .console import console


class _StatusLine:
    """A file-like tqdm draws into: each redraw becomes the console's status line."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n")
        if text:
            console.status(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return console.stream.isatty()


def steps_bar(label: str, unit: str):
    """``progress(done, total)`` for one file's tiles, faces or steps."""

    def show(done: int, total: int) -> None:
        filled = int(24 * done / max(total, 1))
        console.status(f"{label} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total} {unit}")

    return show


def files_bar(label: str, total: int) -> tqdm:
    """The run's bar: files done of ``total``, files/s and time left. Drawn on a terminal only."""
    return tqdm(total=total, desc=label, unit="file", file=_StatusLine(), disable=not console.stream.isatty(),
                dynamic_ncols=False, ncols=100, mininterval=0.5, smoothing=0.1, leave=False)
