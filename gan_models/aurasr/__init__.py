"""AuraSR v1/v2 (fal): the GigaGAN-style UnetUpsampler with the official key names, its config and registry entry."""

from .config import ConfigError, infer_config
from .entry import AURASR
from .unet_upsampler import UnetUpsampler

__all__ = ["AURASR", "ConfigError", "UnetUpsampler", "infer_config"]
