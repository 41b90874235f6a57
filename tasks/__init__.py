"""Tasks: thin policies over the runner that the front-ends (API, CLI, nodes, diffusers) call."""

from .detect_faces import Face, detect_faces
from .restore_faces import RestoredFace, restore_faces
from .translate import translate
from .upscale import upscale

__all__ = ["Face", "RestoredFace", "detect_faces", "restore_faces", "translate", "upscale"]
