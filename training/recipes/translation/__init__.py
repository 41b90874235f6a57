"""Image-to-image translation recipes: ``ganpost train pix2pix`` and ``ganpost train cyclegan``."""

from .config import CYCLEGAN_PRESETS, PIX2PIX_PRESETS, CycleGANConfig, Pix2PixConfig
from .cyclegan import CycleGAN
from .pix2pix import Pix2Pix

__all__ = ["CYCLEGAN_PRESETS", "PIX2PIX_PRESETS", "CycleGANConfig", "Pix2PixConfig", "CycleGAN", "Pix2Pix"]
