"""Real-ESRGAN: RRDBNet (ESRGAN / Real-ESRGAN ×1/×2/×4) and SRVGGNetCompact, with the official key names."""

from .discriminator import UNET_DISCRIMINATOR, UNetDiscriminatorSN
from .entry import COMPACT, RRDBNET
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact

__all__ = ["COMPACT", "RRDBNET", "RRDBNet", "SRVGGNetCompact", "UNET_DISCRIMINATOR", "UNetDiscriminatorSN"]
