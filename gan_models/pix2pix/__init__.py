"""pix2pix / CycleGAN. For now only the PatchGAN discriminator, which Real-ESRGAN training can use too."""

from .patchgan import NLAYER_DISCRIMINATOR, NLayerDiscriminator

__all__ = ["NLAYER_DISCRIMINATOR", "NLayerDiscriminator"]
