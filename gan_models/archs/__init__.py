"""Network definitions with the official parameter names, so official checkpoints load strict."""

from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact

__all__ = ["RRDBNet", "SRVGGNetCompact"]
