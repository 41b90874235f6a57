"""RestoreFormer and RestoreFormer++: VQ-dictionary face restorers with multi-head cross-attention, loading the
official files (GFPGAN's ``RestoreFormer.pth``, RestoreFormerPlusPlus's Lightning ``.ckpt`` files) strictly."""

from .known_files import KNOWN_FILES
from .network import RestoreFormer, RestoreFormerPlusPlus
from .registration import (
    ENTRIES, RESTOREFORMER, RESTOREFORMER_PLUSPLUS, official_tensors, restoreformer_hyperparameters,
)

__all__ = ["ENTRIES", "KNOWN_FILES", "RESTOREFORMER", "RESTOREFORMER_PLUSPLUS", "RestoreFormer", "RestoreFormerPlusPlus",
           "official_tensors", "restoreformer_hyperparameters"]
