"""The old name of :mod:`.registration` (this family's registry entries)."""

from .registration import *  # noqa: F401,F403
