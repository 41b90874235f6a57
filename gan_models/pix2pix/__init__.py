"""pix2pix / CycleGAN: the U-Net and ResNet generators, the PatchGAN discriminators, their entries."""

from .known_files import KNOWN_FILES
from .norms import init_weights
from .patchgan import NLayerDiscriminator, PixelDiscriminator
from .registration import ENTRIES, NLAYER_DISCRIMINATOR, PIXEL_DISCRIMINATOR, RESNET_GENERATOR, UNET_GENERATOR
from .resnet import ResnetGenerator, build_resnet
from .unet import UnetGenerator, build_unet

__all__ = [
    "ENTRIES", "KNOWN_FILES", "NLAYER_DISCRIMINATOR", "PIXEL_DISCRIMINATOR", "RESNET_GENERATOR", "UNET_GENERATOR",
    "NLayerDiscriminator", "PixelDiscriminator", "ResnetGenerator", "UnetGenerator",
    "build_resnet", "build_unet", "init_weights",
]
