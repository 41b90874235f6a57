"""Find faces: boxes, scores and five landmarks per image, in torch on the detector's device.

Images of the same size go through the network together. An image whose long side exceeds
``detection_size`` is detected on a copy shrunk to that long side (antialiased bilinear) and its
boxes are mapped back, so a large photo costs no more than a 1024 px one and faces larger than
RetinaFace's biggest prior (512 px) are still found. Images at or below it are detected as they
are, exactly as facexlib's ``detect_faces(use_origin_size=True)`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.options import Option, Options
from ..gan_models.facedetect.boxes import decode_boxes, decode_landmarks, nms, prior_boxes
from ..gan_models.facedetect.retinaface import RetinaFace
from ..runtime.imaging.convert import to_core
from ..runtime.precision import resolve_device
from ..runtime.runner import working_copy
from .shared_options import DEVICE, model_first, model_for
from .wrong_model import wrong_model

DEFAULT_DETECTOR = "retinaface_resnet50"
DEFAULT_DETECTION_SIZE = 1024
ORDERS = ("largest", "left_to_right", "score")


def _face_index(value):
    picks = parse_face_index(value)
    return value if picks is None else picks


# Shared with restore_faces: the same names, defaults and rules in every front-end.
DETECTION = Options(
    Option("threshold", float, 0.97, "face score a detection must exceed; lower finds small or side faces (and "
           "more false ones)", minimum=0.0, maximum=1.0, below_maximum=True),
    Option("max_faces", int, None, "keep at most this many faces per image, largest first", minimum=1,
           none="all"),
    Option("only_center_face", bool, False, "keep only the face nearest the image centre"),
    Option("face_index", str, None, "only these faces, by place in the largest-first order from 0, e.g. 0,2",
           none="all", convert=_face_index),
    Option("detection_size", int, DEFAULT_DETECTION_SIZE, "longest side the detector sees; larger finds smaller "
           "faces in big images, slower", minimum=32, none="the image as it is"),
)
OPTIONS = DETECTION + (
    Option("nms_threshold", float, 0.4, "overlap above which the weaker of two boxes is dropped",
           minimum=0.0, maximum=1.0),
    Option("min_face_size", float, 0, "drop boxes whose shorter side is smaller (input pixels)", minimum=0.0),
    Option("order", str, "largest", "largest first (visible box area), left_to_right (box centre) or score",
           choices=ORDERS),
    DEVICE,
)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    """x1, y1, x2, y2 in input pixels (may reach past the image edge, as the network predicts)."""
    score: float
    landmarks: tuple[tuple[float, float], ...]
    """(x, y) of the left eye, right eye, nose tip, left and right mouth corners, as seen in the image."""


def detect_faces(
    image,
    model=DEFAULT_DETECTOR,
    *,
    threshold: float = 0.97,
    nms_threshold: float = 0.4,
    detection_size: int | None = DEFAULT_DETECTION_SIZE,
    min_face_size: float = 0,
    max_faces: int | None = None,
    order: str = "largest",
    only_center_face: bool = False,
    face_index: str | Sequence[int] | None = None,
    device: str | torch.device | None = None,
) -> list[list[Face]]:
    """The faces in each image: a list per image (empty when none), in ``order``.

    ``image`` is anything ``ganpost.upscale`` accepts (PIL, numpy, tensors; one or a list, sizes may
    differ); ``model`` a face detector: loaded, a file or a known name (default ``retinaface_resnet50``).
    ``threshold`` is the face score a box must exceed (facexlib's 0.97 by default), ``nms_threshold``
    the overlap above which the weaker of two boxes is dropped. ``detection_size`` caps the long
    side the network sees (None: always the image as it is). ``min_face_size`` drops boxes whose
    shorter side is smaller (input pixels). ``order``: ``largest`` first (visible box area),
    ``left_to_right`` (box centre) or ``score``. ``only_center_face`` keeps the face whose box centre
    is nearest the image centre. ``face_index`` picks faces by their place in that order (``"0,2"`` or
    ``[0, 2]``: the first and third; places an image does not have are skipped); ``max_faces`` then
    keeps the first ones. ``device``: where the network runs (None: where the model is).
    The old order ``detect_faces(model, images)`` still works for one release, with a DeprecationWarning.
    """
    images, model = model_first("detect_faces", image, model)
    if not isinstance(model, RetinaFace):
        model = model_for("detect_faces", model)
    check_detect_options(threshold=threshold, nms_threshold=nms_threshold, detection_size=detection_size,
                         min_face_size=min_face_size, max_faces=max_faces, order=order, face_index=face_index)
    network = detector_network(model, device)
    rgb_images = [item.rgb for item in to_core(images).items]
    return detect_in_core(network, rgb_images, threshold=threshold, nms_threshold=nms_threshold,
                          detection_size=detection_size, min_face_size=min_face_size, max_faces=max_faces,
                          order=order, only_center_face=only_center_face, face_index=face_index)


def detect_in_core(network: RetinaFace, rgb_images: list[torch.Tensor], *, threshold: float = 0.97,
                   nms_threshold: float = 0.4, detection_size: int | None = DEFAULT_DETECTION_SIZE,
                   min_face_size: float = 0, max_faces: int | None = None, order: str = "largest",
                   only_center_face: bool = False, face_index: str | Sequence[int] | None = None) -> list[list[Face]]:
    """:func:`detect_faces` on the core's ``1×3×H×W`` [0, 1] tensors, options already checked."""
    picks = parse_face_index(face_index)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, rgb in enumerate(rgb_images):
        groups.setdefault(tuple(rgb.shape[-2:]), []).append(index)

    results: list[list[Face]] = [[] for _ in rgb_images]
    parameter = next(network.parameters())
    with torch.inference_mode():
        for (height, width), indices in groups.items():
            batch = torch.cat([rgb_images[i] for i in indices]).to(parameter.device, parameter.dtype)
            candidates = _detect_batch(network, batch, detection_size, threshold)
            for index, (boxes, scores, points) in zip(indices, candidates):
                keep = nms(boxes, scores, nms_threshold)
                faces = _to_faces(boxes[keep], scores[keep], points[keep])
                results[index] = _select(faces, width, height, min_face_size, max_faces, order, only_center_face,
                                         picks)
    return results


def _detect_batch(network: RetinaFace, batch: torch.Tensor, detection_size: int | None, threshold: float):
    """Per image, the boxes (K×4), scores (K) and landmarks (K×5×2) above ``threshold``, in input pixels."""
    height, width = batch.shape[-2:]
    if detection_size is not None and max(height, width) > detection_size:
        factor = detection_size / max(height, width)
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    loc, scores, landmarks = network(batch)
    priors = prior_boxes(*batch.shape[-2:], device=loc.device)
    # Fractions of the detected copy are fractions of the input too (half-pixel-centred resize).
    scale = torch.tensor([width, height], device=loc.device, dtype=torch.float32)
    boxes = decode_boxes(loc.float(), priors) * scale.repeat(2)
    points = decode_landmarks(landmarks.float(), priors) * scale
    face_scores = scores[..., 1].float()
    out = []
    for image_boxes, image_scores, image_points in zip(boxes, face_scores, points):
        above = image_scores > threshold
        out.append((image_boxes[above], image_scores[above], image_points[above]))
    return out


def _to_faces(boxes: torch.Tensor, scores: torch.Tensor, points: torch.Tensor) -> list[Face]:
    boxes, scores, points = boxes.cpu().tolist(), scores.cpu().tolist(), points.cpu().tolist()
    return [Face(tuple(b), s, tuple(tuple(p) for p in pts)) for b, s, pts in zip(boxes, scores, points)]


def _select(faces: list[Face], width: int, height: int, min_face_size: float, max_faces: int | None,
            order: str, only_center_face: bool, picks: list[int] | None = None) -> list[Face]:
    faces = [f for f in faces if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_face_size]
    if only_center_face and faces:
        def distance(f: Face) -> float:
            return ((f.box[0] + f.box[2]) / 2 - width / 2) ** 2 + ((f.box[1] + f.box[3]) / 2 - height / 2) ** 2
        faces = [min(faces, key=distance)]
    if order == "largest":
        faces.sort(key=lambda f: _clipped_area(f, width, height), reverse=True)
    elif order == "left_to_right":
        faces.sort(key=lambda f: f.box[0] + f.box[2])
    if picks is not None:
        faces = [faces[k] for k in picks if k < len(faces)]
    return faces if max_faces is None else faces[:max_faces]


def _clipped_area(face: Face, width: int, height: int) -> float:
    """The box area inside the image (facexlib's rule for the largest face)."""
    x1, y1, x2, y2 = face.box
    return max(0.0, min(x2, width) - max(x1, 0.0)) * max(0.0, min(y2, height) - max(y1, 0.0))


def detector_network(model, device: str | torch.device | None = None) -> RetinaFace:
    """The RetinaFace module of ``model`` (on ``device`` when given, as a cached working copy)."""
    if isinstance(model, ModelDescriptor):
        if model.contract.task != Task.FACE_DETECT:
            raise wrong_model(model, "a face detector", otherwise="load a RetinaFace file "
                              "(detection_Resnet50_Final.pth or detection_mobilenet0.25_Final.pth)")
        if device is None:
            return model.module
        return working_copy(model, resolve_device(device), torch.float32, channels_last=False)
    if isinstance(model, RetinaFace):
        return model if device is None else model.to(resolve_device(device))
    raise InvalidOptionError(f"a {type(model).__name__} is not a face detector: pass a model from load_model.")


def check_detect_options(**options) -> dict:
    """Refuse bad detection options (``OPTIONS``) before any image is read; returns them normalised."""
    return OPTIONS.check(options)


def parse_face_index(face_index: str | int | Sequence[int] | None) -> list[int] | None:
    """``"0,2"`` / ``[0, 2]`` → ``[0, 2]`` (in order, no repeats), ``1`` → ``[1]``; None/``""``: all faces."""
    if face_index is None or (isinstance(face_index, str) and not face_index.strip()):
        return None
    if isinstance(face_index, str):
        parts = face_index.replace(";", ",").split(",")
    elif isinstance(face_index, (list, tuple, range)):
        parts = list(face_index)
    else:
        parts = [face_index]  # one index; anything else is refused below, by its text
    picks: list[int] = []
    for part in parts:
        text = str(part).strip()
        if isinstance(part, bool) or not text.isdigit():
            raise InvalidOptionError(f"face_index lists faces by their place in the order, from 0, separated by commas"
                                     f" (e.g. \"0,2\"); {face_index!r} has {text!r}")
        if int(text) not in picks:
            picks.append(int(text))
    return picks
