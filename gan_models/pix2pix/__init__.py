"""pix2pix / CycleGAN: the U-Net and ResNet generators, the PatchGAN discriminators, their entries."""

from .entry import RESNET_GENERATOR, UNET_GENERATOR
from .norms import init_weights
from .patchgan import NLAYER_DISCRIMINATOR, PIXEL_DISCRIMINATOR, NLayerDiscriminator, PixelDiscriminator
from .resnet import ResnetGenerator, build_resnet
from .unet import UnetGenerator, build_unet

__all__ = [
    "NLAYER_DISCRIMINATOR", "PIXEL_DISCRIMINATOR", "RESNET_GENERATOR", "UNET_GENERATOR",
    "NLayerDiscriminator", "PixelDiscriminator", "ResnetGenerator", "UnetGenerator",
    "build_resnet", "build_unet", "init_weights",
]
