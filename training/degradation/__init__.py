"""Making low-resolution inputs from high-resolution targets: Real-ESRGAN's second-order pipeline
(blur, resize, noise, JPEG, twice), a clean bicubic downscale, the target sharpening and the pair pool."""

from .downscale import bicubic_downscale
from .pool import TrainingPairPool
from .second_order import DegradationSettings, DegradationStage, SecondOrderDegradation, usm_sharpen

__all__ = ["bicubic_downscale", "TrainingPairPool", "DegradationSettings", "DegradationStage",
           "SecondOrderDegradation", "usm_sharpen"]
