"""Face-parsing networks (facexlib's ParseNet and BiSeNet): per-pixel face-part labels for the paste-back mask."""

from .bisenet import BiSeNet
from .known_files import KNOWN_FILES
from .parsenet import ParseNet
from .registration import BISENET, ENTRIES, PARSENET

__all__ = ["BISENET", "ENTRIES", "KNOWN_FILES", "PARSENET", "BiSeNet", "ParseNet"]
