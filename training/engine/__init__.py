"""The training engine: it runs any recipe (see ``training/recipes``)."""

from .config import OptimConfig, RunConfig
from .ema import EMA
from .loop import (Callbacks, CheckpointWriteError, StepReport, Timings, Trainer, TrainingDivergedError,
                   TrainingResult, train)
from .run_files import ResumeError, RunFiles
from .run_folder import RunFolderError

__all__ = ["OptimConfig", "RunConfig", "EMA", "Callbacks", "StepReport", "Timings", "Trainer",
           "TrainingDivergedError", "TrainingResult", "train", "ResumeError", "RunFiles", "RunFolderError",
           "CheckpointWriteError"]
