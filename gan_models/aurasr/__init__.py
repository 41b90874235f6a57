"""AuraSR v1/v2 (fal): the GigaGAN-style UnetUpsampler with the official key names, its config and registry entry."""

from .config import ConfigError, infer_config
from .discriminator import GigaGANDiscriminator
from .known_files import KNOWN_FILES
from .registration import AURASR, AURASR_DISCRIMINATOR, ENTRIES
from .unet_upsampler import UnetUpsampler

__all__ = ["AURASR", "AURASR_DISCRIMINATOR", "ENTRIES", "KNOWN_FILES", "GigaGANDiscriminator", "ConfigError",
           "UnetUpsampler", "infer_config"]
