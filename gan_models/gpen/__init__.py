"""GPEN (GAN Prior Embedded Network, CVPR 2021): the GPEN-BFR blind face restorers, official key names.

The code is ours; the released weights are © Alibaba for academic and non-commercial use only
(see ``known_files``).
"""

from .gpen_model import FullGenerator
from .known_files import KNOWN_FILES
from .registration import ENTRIES, GPEN, GPEN_ALIGNMENT

__all__ = ["ENTRIES", "FullGenerator", "GPEN", "GPEN_ALIGNMENT", "KNOWN_FILES"]
