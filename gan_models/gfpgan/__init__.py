"""GFPGAN: the clean v1 face-restoration network (v1.2 / v1.3 / v1.4 files) with the official key names."""

from .discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator
from .gfpganv1_clean import GFPGANv1Clean
from .known_files import KNOWN_FILES
from .registration import ENTRIES, FACIAL_COMPONENT_DISCRIMINATOR, GFPGAN_CLEAN, STYLEGAN2_DISCRIMINATOR
from .stylegan2_clean import StyleGAN2GeneratorClean, StyleGAN2GeneratorCSFT

__all__ = ["ENTRIES", "KNOWN_FILES", "GFPGAN_CLEAN", "GFPGANv1Clean", "StyleGAN2GeneratorCSFT",
           "StyleGAN2GeneratorClean", "STYLEGAN2_DISCRIMINATOR", "FACIAL_COMPONENT_DISCRIMINATOR",
           "StyleGAN2Discriminator", "FacialComponentDiscriminator"]
