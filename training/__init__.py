"""Fine-tuning the pack's GANs on your own images (see README, "Training").

``engine/`` runs the loop for any recipe; ``recipes/`` declares what is trained (Real-ESRGAN first).
"""

from .config import PRESETS, TrainConfig, load_config
from .config_schema import ConfigError
from .engine import (Callbacks, CheckpointWriteError, ResumeError, RunFolderError, StepReport, Trainer,
                     TrainingDivergedError, TrainingResult, train)

__all__ = ["PRESETS", "TrainConfig", "load_config", "ConfigError", "Callbacks", "StepReport", "Trainer",
           "TrainingDivergedError", "TrainingResult", "train", "RunFolderError", "ResumeError", "CheckpointWriteError"]
