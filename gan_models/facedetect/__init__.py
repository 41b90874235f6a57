"""Face detection networks: RetinaFace (MobileNet-0.25 and ResNet-50 backbones); ``tasks.detect_faces`` runs them."""

from .entry import RETINAFACE
from .retinaface import RetinaFace

__all__ = ["RETINAFACE", "RetinaFace"]
