"""Tasks: thin policies over the runner that the front-ends (API, CLI, nodes, diffusers) call."""

from .detect_faces import Face, detect_faces
from .restore_faces import FaceRestoration, RestoredFace, restore_faces, restore_faces_detailed
from .translate import translate
from .upscale import upscale

__all__ = ["Face", "FaceRestoration", "RestoredFace", "detect_faces", "restore_faces", "restore_faces_detailed",
           "translate", "upscale"]
