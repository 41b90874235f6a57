"""GFPGAN: the clean v1 face-restoration network (v1.2 / v1.3 / v1.4 files) with the official key names."""

from .discriminators import (FACIAL_COMPONENT_DISCRIMINATOR, STYLEGAN2_DISCRIMINATOR, FacialComponentDiscriminator,
                             StyleGAN2Discriminator)
from .entry import GFPGAN_CLEAN
from .gfpganv1_clean import GFPGANv1Clean
from .stylegan2_clean import StyleGAN2GeneratorClean, StyleGAN2GeneratorCSFT

__all__ = ["GFPGAN_CLEAN", "GFPGANv1Clean", "StyleGAN2GeneratorCSFT", "StyleGAN2GeneratorClean",
           "STYLEGAN2_DISCRIMINATOR", "FACIAL_COMPONENT_DISCRIMINATOR", "StyleGAN2Discriminator",
           "FacialComponentDiscriminator"]
