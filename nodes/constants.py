"""Numbers the nodes share: widget limits."""

from ..tasks.shared_options import SEED

MAX_SEED = SEED.maximum  # 2**64 - 1: what torch.Generator.manual_seed takes, as KSampler's seed widget
# Restore Faces and Translate Image shipped with a signed 64-bit cap; saved workflows carry it, so it stays.
SIGNED_MAX_SEED = 2**63 - 1
MAX_TILE = 4096
NO_FACE_SIDE = 64  # the placeholder crop when nothing was found: IMAGE outputs cannot be empty
