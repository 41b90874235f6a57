"""Face geometry on the device: the FFHQ template, similarity alignment, batched crops and paste-back."""

from .official_paste import paste_back_official
from .parse_mask import FACE_PARTS, face_channels, parsing_mask
from .paste import MaskShape, Pasted, crop_mask, paste_back, seam_strength
from .similarity import invert_affine, similarity_transform, upscale_affine
from .tracking import link_tracks, smooth_landmarks
from .template import FFHQ_512_TEMPLATE, face_template
from .warp import crop_faces, warp_affine

__all__ = [
    "FACE_PARTS", "FFHQ_512_TEMPLATE", "MaskShape", "Pasted", "crop_faces", "crop_mask", "face_channels",
    "face_template", "invert_affine", "paste_back", "paste_back_official", "parsing_mask", "seam_strength",
    "similarity_transform", "link_tracks", "smooth_landmarks", "upscale_affine", "warp_affine",
]
