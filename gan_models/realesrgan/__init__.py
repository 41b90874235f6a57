"""Real-ESRGAN: RRDBNet (ESRGAN / Real-ESRGAN ×1/×2/×4) and SRVGGNetCompact, with the official key names."""

from .discriminator import UNetDiscriminatorSN
from .known_files import KNOWN_FILES
from .registration import COMPACT, ENTRIES, RRDBNET, UNET_DISCRIMINATOR
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact

__all__ = ["COMPACT", "ENTRIES", "KNOWN_FILES", "RRDBNET", "RRDBNet", "SRVGGNetCompact", "UNET_DISCRIMINATOR",
           "UNetDiscriminatorSN"]
