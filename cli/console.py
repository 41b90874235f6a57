"""The CLI's stderr: a progress line redrawn in place on a terminal, and every message on a line of its own.

The progress bar ends with ``\\r``, not a newline; anything printed after it (a result, an error,
a log record) must first take over that line, or it would be glued to the bar.
"""

from __future__ import annotations

import logging
import sys


class Console:
    def __init__(self):
        self._status_width = 0  # length of the unfinished progress line on screen, 0 when none

    @property
    def stream(self):
        return sys.stderr  # looked up each time: tests and callers may swap sys.stderr

    def status(self, text: str) -> None:
        """Redraw the progress line; only on a terminal (a log file would fill with redraws)."""
        if not self.stream.isatty():
            return
        self.stream.write("\r" + text.ljust(self._status_width))
        self.stream.flush()
        self._status_width = len(text)

    def line(self, text: str) -> None:
        """A message on its own line; it replaces an unfinished progress line."""
        if self._status_width:
            text = "\r" + text.ljust(self._status_width)
            self._status_width = 0
        print(text, file=self.stream, flush=True)


console = Console()


class ConsoleHandler(logging.Handler):
    """Log records through the console, so they never land in the middle of the progress line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            console.line(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"ganpost: {level}{record.getMessage()}"


def log_to_console(verbose: bool):
    """Route the package's logging to the console; returns a function that undoes it."""
    logger = logging.getLogger("ganpost")
    handler = ConsoleHandler()
    handler.setFormatter(_Format())
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False  # an application's root handler would print every record twice

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    return undo
