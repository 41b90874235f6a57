"""The known files under the name every family folder keeps for them (:mod:`.known_files`)."""

from .known_files import *  # noqa: F401,F403
