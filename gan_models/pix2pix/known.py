"""The old name of :mod:`.known_files`."""

from .known_files import *  # noqa: F401,F403
