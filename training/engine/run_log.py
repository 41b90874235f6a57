"""Run logs: JSON lines always, TensorBoard too when it is installed."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)


class RunLog:
    def __init__(self, path: Path, tensorboard_dir: Path | None = None, enabled: bool = True):
        self.path, self.enabled = path, enabled
        self.board = _tensorboard(tensorboard_dir) if enabled and tensorboard_dir else None
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, step: int, values: dict) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, **{k: _json_number(v) for k, v in values.items()}}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        if self.board is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.board.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN; keep it readable rather than invalid
    return value


def _tensorboard(directory: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    try:
        return SummaryWriter(str(directory))
    except Exception as err:  # noqa: BLE001 - logging must never stop training
        log.warning("TensorBoard logging is off: %s", err)
        return None
