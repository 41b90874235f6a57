"""The CLI's stderr: a progress line redrawn in place on a terminal, and every message on a line of its own.

The progress bar ends with ``\\r``, not a newline; anything printed after it (a result, an error,
a log record) must first take over that line, or it would be glued to the bar.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import ExitStack, contextmanager


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


def record_text(record: logging.LogRecord) -> str:
    """A log record as ganpost says it: the message, after ``warning: `` / ``error: `` for those levels."""
    level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
    return f"{level}{record.getMessage()}"


class _LineHandler(logging.Handler):
    def __init__(self, emit: Callable[[str], None]):
        super().__init__()
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record_text(record))
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


@contextmanager
def log_lines_to(emit: Callable[[str], None], verbose: bool = False):
    """While the block runs, the package's log records go to ``emit`` as lines (``record_text``), and nowhere
    else: an application's root handler would print each twice. Info too when ``verbose``."""
    logger = logging.getLogger("ganpost")
    handler, saved = _LineHandler(emit), (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def log_to_console(verbose: bool):
    """Route the package's logging to the console, never inside the progress line; returns a function that
    undoes it."""
    routed = ExitStack()
    routed.enter_context(log_lines_to(lambda text: console.line(f"ganpost: {text}"), verbose))
    return routed.close
