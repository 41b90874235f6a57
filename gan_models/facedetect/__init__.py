"""Face detection networks: RetinaFace (MobileNet-0.25 and ResNet-50 backbones); ``tasks.detect_faces`` runs them."""

from .known_files import KNOWN_FILES
from .registration import ENTRIES, RETINAFACE
from .retinaface import RetinaFace

__all__ = ["ENTRIES", "KNOWN_FILES", "RETINAFACE", "RetinaFace"]
