"""Find faces: boxes, scores and five landmarks per image, through the runner on the detector's device.

The detector family's contract decodes the network's output (``ModelContract.decode``); this
module keeps the policy: thresholds, suppression, order and picks. Images of the same size go
through the runner together as one batch of windows (sized from memory, halved on out-of-memory,
cancellable; fp32 unless the contract says half is safe). An image whose long side exceeds
``detection_size`` (default 2048) is detected on a copy shrunk to that long side (antialiased
bilinear) and its boxes are mapped back, so a huge photo costs no more than one of that size and
faces far larger than the detector's biggest prior (512 px for RetinaFace) are still found. Images
at or below it, every SD output included, are detected as they are, exactly as facexlib's
``detect_faces(use_origin_size=True)`` does: a shrunk copy moves boxes and landmarks by several
pixels (bench/face_detection_size.py).

Also here, for every front-end: :func:`face_masks` (box or feathered ellipse masks of the faces
found) and :func:`aligned_crops` (the faces cut out and aligned to the FFHQ template).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError, OutOfMemoryError
from ..gan_models.loader import describe_state_dict
from ..gan_models.options import Option, Options
from ..runtime.faces import align_faces, nms
from ..runtime.imaging.convert import to_core
from ..runtime.memory import placed_bytes
from ..runtime.precision import resolve_device
from ..runtime.runner import Runner
from .shared_options import DEVICE, model_first, model_for
from .wrong_model import wrong_model

DEFAULT_DETECTOR = "retinaface_resnet50"
# Images up to this long side are detected as they are, as the official pipeline does: shrinking a 1280 or
# 1536 px image to 1024 moved boxes by 4-10 px on small faces (and more on large ones) against the official
# full-size detection; beyond it, full-size detection costs 4x and more and stops finding faces much larger
# than the detector's biggest prior (bench/face_detection_size.py).
DEFAULT_DETECTION_SIZE = 2048
ORDERS = ("largest", "left_to_right", "score")
MASK_SHAPES = ("box", "ellipse")
ELLIPSE_FEATHER = 0.15  # share of the ellipse radius that fades out


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
    Option("detection_size", int, DEFAULT_DETECTION_SIZE, "longest side the detector sees: a larger image is "
           "detected on a copy shrunk to it (faster, finds very large faces; small faces move a few px)",
           minimum=32, none="the image as it is"),
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
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
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
    ``progress(done, total)`` counts images; ``cancel`` is checked after every forward.
    The old order ``detect_faces(model, images)`` still works for one release, with a DeprecationWarning.
    """
    images, model = model_first("detect_faces", image, model)
    model = as_detector(model)
    check_detect_options(threshold=threshold, nms_threshold=nms_threshold, detection_size=detection_size,
                         min_face_size=min_face_size, max_faces=max_faces, order=order, face_index=face_index)
    rgb_images = [item.rgb for item in to_core(images).items]
    return detect_in_core(model, rgb_images, threshold=threshold, nms_threshold=nms_threshold,
                          detection_size=detection_size, min_face_size=min_face_size, max_faces=max_faces,
                          order=order, only_center_face=only_center_face, face_index=face_index, device=device,
                          progress=progress, cancel=cancel)


def detect_in_core(detector, rgb_images: list[torch.Tensor], *, threshold: float = 0.97,
                   nms_threshold: float = 0.4, detection_size: int | None = DEFAULT_DETECTION_SIZE,
                   min_face_size: float = 0, max_faces: int | None = None, order: str = "largest",
                   only_center_face: bool = False, face_index: str | Sequence[int] | None = None,
                   device: str | torch.device | None = None, precision: str = "auto",
                   progress: Callable[[int, int], None] | None = None,
                   cancel: Callable[[], bool | None] | None = None) -> list[list[Face]]:
    """:func:`detect_faces` on the core's ``1×3×H×W`` [0, 1] tensors, options already checked.

    ``detector`` is a loaded face detector (or what :func:`detector_network` returns); ``device`` None:
    where it is loaded. ``precision`` as the runner's (``"auto"``: fp32 unless the contract says half is
    safe for it).
    """
    model, device = _bound(detector, device)
    picks = parse_face_index(face_index)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, rgb in enumerate(rgb_images):
        groups.setdefault(tuple(rgb.shape[-2:]), []).append(index)

    results: list[list[Face]] = [[] for _ in rgb_images]
    total, done = len(rgb_images), 0
    with Runner(model, device=device, precision=precision, cancel=cancel) as runner:
        for (height, width), indices in groups.items():
            if progress is not None:
                runner.progress = lambda step, _, before=done: progress(before + step, total)
            batch = torch.cat([rgb_images[i] for i in indices]).to(runner.device)
            candidates = _detect_batch(runner, batch, detection_size, threshold)
            for index, (boxes, scores, points) in zip(indices, candidates):
                keep = nms(boxes, scores, nms_threshold)
                faces = _to_faces(boxes[keep], scores[keep], points[keep])
                results[index] = _select(faces, width, height, min_face_size, max_faces, order, only_center_face,
                                         picks)
            done += len(indices)
    return results


def _detect_batch(runner: Runner, batch: torch.Tensor, detection_size: int | None, threshold: float):
    """Per image, the boxes (K×4), scores (K) and landmarks (K×L×2) above ``threshold``, in input pixels."""
    height, width = batch.shape[-2:]
    if detection_size is not None and max(height, width) > detection_size:
        factor = detection_size / max(height, width)
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
    try:
        found = runner.run_windows(batch)  # B×P×(5 + 2L): box, score, points in the detected copy's pixels
    except OutOfMemoryError as err:
        raise OutOfMemoryError(f"{err} For face detection, a smaller detection_size (now "
                               f"{detection_size}) bounds the image the detector sees.") from err
    # Half-pixel-centred resize: a fraction of the detected copy is the same fraction of the input.
    scale = torch.tensor([width / batch.shape[-1], height / batch.shape[-2]], device=found.device)
    boxes = found[..., :4] * scale.repeat(2)
    points = found[..., 5:].unflatten(-1, (-1, 2)) * scale
    out = []
    for image_boxes, image_scores, image_points in zip(boxes, found[..., 4], points):
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


# ------------------------------------------------------------------------------ the detector
def as_detector(model) -> ModelDescriptor:
    """``model`` resolved (loaded, file, known name; a bare detector network is described from its tensors)
    and checked to be a face detector."""
    if isinstance(model, BoundDetector):
        model = model.model
    elif isinstance(model, nn.Module):
        model = describe_state_dict(model.state_dict(), device=_where(model))
    else:
        model = model_for("detect_faces", model)
    if model.contract.task != Task.FACE_DETECT or model.contract.decode is None:
        raise wrong_model(model, "a face detector", otherwise="load a RetinaFace file "
                          "(detection_Resnet50_Final.pth or detection_mobilenet0.25_Final.pth)")
    return model


@dataclass(frozen=True)
class BoundDetector:
    """A face detector and the device it runs on, as :func:`detector_network` gives it."""

    model: ModelDescriptor
    device: torch.device


def detector_network(model, device: str | torch.device | None = None) -> BoundDetector:
    """``model`` checked to be a face detector and bound to ``device`` (None: where it is loaded), for
    :func:`detect_in_core`. Kept for callers of the old two-step form; ``detect_in_core(model, images,
    device=...)`` does the same in one."""
    return BoundDetector(*_bound(model, device))


def _bound(detector, device) -> tuple[ModelDescriptor, torch.device]:
    if isinstance(detector, BoundDetector):
        return detector.model, detector.device if device is None else resolve_device(device)
    model = as_detector(detector)
    return model, _where(model.module) if device is None else resolve_device(device)


def _where(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


# ------------------------------------------------------------------------------ masks and crops
def face_masks(faces: Sequence[Face], height: int, width: int, shape: str = "box") -> torch.Tensor:
    """One ``height×width`` float mask of an image's faces: 1 inside each box (``"box"``), or an ellipse in
    each box whose edge fades out over the outer ``ELLIPSE_FEATHER`` of its radius (``"ellipse"``);
    overlapping faces take the larger value. Pixel centres are at half-integers of the box coordinates."""
    if shape not in MASK_SHAPES:
        raise InvalidOptionError(f"mask shape must be one of {', '.join(MASK_SHAPES)}, not {shape!r}")
    mask = torch.zeros(height, width)
    ys = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    for face in faces:
        x1, y1, x2, y2 = face.box
        if shape == "box":
            inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
            mask = torch.maximum(mask, inside.float())
        else:
            rx, ry = max((x2 - x1) / 2, 1e-3), max((y2 - y1) / 2, 1e-3)
            radius = (((xs - (x1 + x2) / 2) / rx) ** 2 + ((ys - (y1 + y2) / 2) / ry) ** 2).sqrt()
            mask = torch.maximum(mask, ((1 - radius) / ELLIPSE_FEATHER).clamp(0, 1))
    return mask


def aligned_crops(image, faces: Sequence[Face], size: int, device: str | torch.device | None = None) -> torch.Tensor:
    """``K×3×size×size`` crops (float32 in [0, 1], on the CPU) of one image's faces, aligned to the FFHQ
    template as a face restorer sees them. ``image``: a core ``1×3×H×W`` / ``3×H×W`` float tensor, or
    anything :func:`detect_faces` accepts (one image); ``device``: where the warp runs (default: the CPU)."""
    if isinstance(image, torch.Tensor) and image.is_floating_point() and image.ndim in (3, 4) \
            and image.shape[-3] == 3 and (image.ndim == 3 or image.shape[0] == 1):
        rgb = image
    else:
        rgb = to_core(image).items[0].rgb
    crops, _ = align_faces(rgb.float(), faces, size, device)
    return crops.cpu()


def device_bytes(longest_side: int, model: ModelDescriptor, *, precision: str = "auto", device=None,
                 **_options) -> int:
    """What a run needs on the device to start: the detector's weights (its images go one at a time)."""
    return placed_bytes([(model, None)], precision, device)


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
