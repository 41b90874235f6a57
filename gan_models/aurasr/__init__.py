"""AuraSR v1/v2 (fal): the GigaGAN-style UnetUpsampler with the official key names, its config and registry entry."""

from .config import ConfigError, infer_config
from .discriminator import AURASR_DISCRIMINATOR, GigaGANDiscriminator
from .entry import AURASR
from .unet_upsampler import UnetUpsampler

__all__ = ["AURASR", "AURASR_DISCRIMINATOR", "GigaGANDiscriminator", "ConfigError", "UnetUpsampler", "infer_config"]
