"""Face geometry on the device: the FFHQ template, similarity alignment, batched crops and paste-back."""

from .official_paste import paste_back_official
from .paste import MaskShape, Pasted, crop_mask, paste_back, seam_strength
from .similarity import invert_affine, similarity_transform, upscale_affine
from .template import FFHQ_512_TEMPLATE, face_template
from .warp import crop_faces, warp_affine

__all__ = [
    "FFHQ_512_TEMPLATE", "MaskShape", "Pasted", "crop_faces", "crop_mask", "face_template", "invert_affine",
    "paste_back", "paste_back_official", "seam_strength", "similarity_transform", "upscale_affine", "warp_affine",
]
