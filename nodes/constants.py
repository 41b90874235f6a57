"""Numbers the nodes share: widget limits and the sizes they plan memory for."""

from ..tasks.shared_options import SEED

MAX_SEED = SEED.maximum  # 2**64 - 1: what torch.Generator.manual_seed takes, as KSampler's seed widget
# Restore Faces and Translate Image shipped with a signed 64-bit cap; saved workflows carry it, so it stays.
SIGNED_MAX_SEED = 2**63 - 1
MAX_TILE = 4096
PLANNING_TILE = 512  # tile side to make room for when tile = 0 (auto picks from what is then free)
PLANNING_SIDE = 1024  # room for a one-pass translation when tile = 0 (auto decides from what is free)
NO_FACE_SIDE = 64  # the placeholder crop when nothing was found: IMAGE outputs cannot be empty
