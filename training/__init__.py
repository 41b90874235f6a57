"""Fine-tuning the pack's GANs on your own images (docs/training/).

``engine/`` runs the loop for any recipe it is given; ``recipes/`` declares what is trained (one
folder per recipe: config, networks, data, validation, front-end); ``components/`` holds what
several recipes share (image folders, SR data and validation, losses, discriminators, metrics);
``degradation/`` makes training inputs. ``Trainer``/``train`` find a config's recipe.
"""

from .config import load_config
from .config_schema import ConfigError
from .engine import (Callbacks, CheckpointWriteError, ResumeError, RunFolderError, StepReport, TrainingDivergedError,
                     TrainingResult)
from .recipes.realesrgan import PRESETS, TrainConfig  # compatibility: the Real-ESRGAN recipe's, exported here before
from .run import Trainer, train

__all__ = ["PRESETS", "TrainConfig", "load_config", "ConfigError", "Callbacks", "StepReport", "Trainer",
           "TrainingDivergedError", "TrainingResult", "train", "RunFolderError", "ResumeError", "CheckpointWriteError"]
