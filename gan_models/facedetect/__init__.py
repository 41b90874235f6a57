"""Face detection: RetinaFace (MobileNet-0.25 and ResNet-50 backbones) and batched detection."""

from .detect import Face, detect_faces
from .entry import RETINAFACE
from .retinaface import RetinaFace

__all__ = ["Face", "RETINAFACE", "RetinaFace", "detect_faces"]
