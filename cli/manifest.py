"""The run's record in its output folder: what each output was made with, and how each file went.

``<output folder>/.ganpost-runs.jsonl`` gains one line when a run starts (the command, its model and
options) and one per file as it finishes (written, or the error), flushed at once: a run killed at
any moment leaves an exact account, and ``--skip-existing`` uses it to warn when the outputs already
there were made with other settings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

NAME = ".ganpost-runs.jsonl"
NOT_SETTINGS = {"inputs", "output", "overwrite", "skip_existing", "verbose", "devices", "workers", "queue_depth", "ray",
                "max_pixels", "models_dir", "offline", "device", "run", "cli_flags", "save_faces", "command_name"}


def settings_of(args) -> dict:
    """What decides an output's pixels: the command and its model and options (not where or how fast)."""
    settings = {"command": getattr(args, "command_name", None)}
    for key, value in sorted(vars(args).items()):
        if key in NOT_SETTINGS or callable(value):
            continue
        settings[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return settings


class Manifest:
    """The record of a run into ``folder``; with no folder (``-o`` names one file) it keeps none."""

    def __init__(self, folder: Path | None, settings: dict):
        self.path, self.settings = (None if folder is None else folder / NAME), settings
        self._file = None

    def earlier_settings(self) -> list[dict]:
        """The settings of earlier runs into this folder that differ from this one's."""
        if self.path is None:
            return []
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        others = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed run
            if isinstance(entry, dict) and "run" in entry and entry["run"] != self.settings and entry["run"] not in others:
                others.append(entry["run"])
        return others

    def start(self) -> None:
        if self.path is None:
            return
        try:
            self._file = self.path.open("a", encoding="utf-8")
        except OSError:
            self._file = None  # the record is a convenience: a read-only folder was refused earlier anyway
            return
        self._append({"run": self.settings, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def record(self, source: Path, target: Path, error: str | None = None, seconds: float | None = None) -> None:
        entry = {"source": str(source), "target": target.name}
        entry.update({"error": error} if error else {"seconds": round(seconds or 0.0, 3)})
        self._append(entry)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, entry: dict) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError:  # a full disk stops the record, not the run (the outputs say so themselves)
            self.close()
