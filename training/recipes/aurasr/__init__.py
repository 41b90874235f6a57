"""The AuraSR recipe: ``ganpost train aurasr``."""

from .config import AURASR_PRESETS, AuraSRConfig
from .recipe import AuraSR

__all__ = ["AURASR_PRESETS", "AuraSRConfig", "AuraSR"]
