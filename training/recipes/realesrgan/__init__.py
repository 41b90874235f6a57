"""The Real-ESRGAN recipe: ``ganpost train realesrgan``."""

from .config import DEFAULT_PRESET, PRESETS, TrainConfig
from .recipe import RealESRGAN

__all__ = ["DEFAULT_PRESET", "PRESETS", "TrainConfig", "RealESRGAN"]
