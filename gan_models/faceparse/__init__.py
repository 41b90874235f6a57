"""Face-parsing networks (facexlib's ParseNet and BiSeNet): per-pixel face-part labels for the paste-back mask."""

from .bisenet import BiSeNet
from .entry import BISENET, PARSENET
from .parsenet import ParseNet

__all__ = ["BISENET", "PARSENET", "BiSeNet", "ParseNet"]
