"""The registry entries under the name every family folder keeps for them (:mod:`.registration`)."""

from .registration import *  # noqa: F401,F403
from .registration import ENTRIES, RESTOREFORMER, RESTOREFORMER_PLUSPLUS  # noqa: F401
