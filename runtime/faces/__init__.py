"""Face geometry on the device: the FFHQ template, similarity alignment, batched crops, paste-back (square or
parsing masks), box suppression and landmark smoothing over video frames."""

from .align import align_faces, landmark_tensor
from .boxes import box_iou, nms
from .cuts import CutDetector, shot_starts
from .official_paste import paste_back_official
from .parse_mask import FACE_PARTS, face_channels, parsing_mask
from .paste import MaskShape, Pasted, crop_mask, paste_back, seam_strength
from .similarity import invert_affine, similarity_transform, upscale_affine
from .template import FFHQ_512_TEMPLATE, face_template
from .tracking import SteadyLandmarks, check_smoothing, link_tracks, smooth_landmarks, window_radius
from .warp import crop_faces, warp_affine

__all__ = [
    "CutDetector", "FACE_PARTS", "FFHQ_512_TEMPLATE", "MaskShape", "Pasted", "SteadyLandmarks", "align_faces",
    "box_iou", "check_smoothing", "crop_faces", "crop_mask", "face_channels", "face_template", "invert_affine",
    "landmark_tensor", "link_tracks", "nms", "parsing_mask", "paste_back", "paste_back_official", "seam_strength",
    "shot_starts", "similarity_transform", "smooth_landmarks", "upscale_affine", "warp_affine", "window_radius",
]
