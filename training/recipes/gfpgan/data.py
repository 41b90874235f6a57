"""Aligned face crops for GFPGAN training, from a folder of photos of any size.

Each photo's faces are found with our RetinaFace, aligned to the FFHQ 5-point template (the crops
GFPGAN was trained on) and kept with their eye and mouth boxes. The crops are cached beside the
run (``face_cache/``), one file per photo, keyed by the photo's path, size, modification time and
every option that changes the crops, so an edited photo or a different detector re-aligns.

Eye and mouth boxes come from the five landmarks mapped into the crop (the official recipe reads
them from a file of FFHQ 68-point landmarks that fits FFHQ alone). Rule, with IOD the distance
between the two eye points:

* eye: centred on the eye point, half side ``max(0.22·IOD, 16·s) × 1.4``;
* mouth: centred on the mid-point of the two corners, half side ``max(0.36·IOD, 16·s)``;

(``s`` = crop side / 512). On the template (IOD 126 px at 512) that is an 80 px eye box and a
91 px mouth box; the official FFHQ file's sample face gives 80 and 84, the insightface mean shape
84 and 99. Boxes are ``(cx, cy, half)`` rows for the left eye, right eye and mouth as the image
shows them; a box covers ``[cx − half, cx + half]`` in pixel-centre coordinates.

A horizontal flip mirrors each centre (``cx → side − 1 − cx``) and swaps the two eyes' rows, on a
copy: the official loader rewrites its cached boxes in place, which corrupts them once a worker
outlives an epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ....gan_models.atomic import atomic_target
from ....runtime.faces.align import align_faces
from ....runtime.faces.template import face_template
from ...components.images import DatasetError, Sampled, list_images, load_rgb, sample_generator

log = logging.getLogger(__name__)

EYE_HALF_PER_IOD = 0.22
EYE_ENLARGE = 1.4
MOUTH_HALF_PER_IOD = 0.36
MIN_HALF_AT_512 = 16.0
CACHE_VERSION = 1


def component_boxes(landmarks: torch.Tensor, face_size: int) -> torch.Tensor:
    """3×3 ``(cx, cy, half)`` for the left eye, right eye and mouth from 5×2 landmarks in crop pixels."""
    points = landmarks.to(torch.float64)
    left_eye, right_eye, mouth = points[0], points[1], (points[3] + points[4]) / 2
    iod = torch.linalg.vector_norm(right_eye - left_eye)
    floor = MIN_HALF_AT_512 * face_size / 512
    eye_half = max(float(EYE_HALF_PER_IOD * iod), floor) * EYE_ENLARGE
    mouth_half = max(float(MOUTH_HALF_PER_IOD * iod), floor)
    rows = [(*left_eye.tolist(), eye_half), (*right_eye.tolist(), eye_half), (*mouth.tolist(), mouth_half)]
    return torch.tensor(rows, dtype=torch.float32)


def flip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """The boxes of the mirrored crop (a new tensor): centres mirrored, the two eyes swapped."""
    flipped = boxes[..., [1, 0, 2], :].clone()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped


def crop_boxes(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``B×C×size×size`` bilinear crops of ``images`` (B×C×H×W), one per ``(cx, cy, half)`` row of ``boxes``.

    Differentiable in the images (the generator's eye and mouth crops go to the component
    discriminators); samples past the edge read zero.
    """
    b, _, h, w = images.shape
    cx, cy, half = boxes[:, 0], boxes[:, 1], boxes[:, 2]
    # affine_grid's unit square is the whole image (align_corners=False: edges at ±1).
    theta = images.new_zeros(b, 2, 3)
    theta[:, 0, 0] = 2 * half / w
    theta[:, 0, 2] = (2 * cx + 1) / w - 1
    theta[:, 1, 1] = 2 * half / h
    theta[:, 1, 2] = (2 * cy + 1) / h - 1
    grid = F.affine_grid(theta, [b, images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# --- preparing the crops ----------------------------------------------------------------------------
def template_crop(image: np.ndarray, face_size: int) -> tuple[np.ndarray, torch.Tensor]:
    """An already aligned photo: resized to ``face_size`` (bilinear), boxes from the template."""
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    if tensor.shape[-2:] != (face_size, face_size):
        tensor = F.interpolate(tensor, size=(face_size, face_size), mode="bilinear", align_corners=False,
                               antialias=True)
    return _to_uint8(tensor[0]), component_boxes(face_template(face_size, dtype=torch.float64), face_size)


def aligned_crops(image: np.ndarray, detector, face_size: int, *, threshold: float = 0.97,
                  min_face_size: float = 0.0, max_faces: int | None = None,
                  device: str | torch.device = "cpu") -> tuple[list[tuple[np.ndarray, torch.Tensor]], list[float]]:
    """Every face of ``image`` (H×W×3 float in [0, 1]) aligned to the template, with its boxes; and the
    sides (px) of the faces found but left out for being smaller than ``min_face_size``."""
    from ....tasks.detect_faces import detect_in_core

    rgb = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(device)
    # Size filter here, not in the detector: a dropped face must be reported as too small, not as missing.
    found = detect_in_core(detector, [rgb[None]], threshold=threshold, device=device)[0]  # largest first
    kept = [face for face in found if face_side(face) >= min_face_size][:max_faces]
    too_small = [face_side(face) for face in found if face_side(face) < min_face_size]
    if not kept:
        return [], too_small
    crops, matrices = align_faces(rgb[None].cpu().double(), kept, face_size)  # the task's alignment, in float64
    out = []
    for face, crop, matrix in zip(kept, crops, matrices):
        points = torch.tensor(face.landmarks, dtype=torch.float64)
        mapped = points @ matrix[:, :2].T + matrix[:, 2]
        out.append((_to_uint8(crop), component_boxes(mapped, face_size)))
    return out, too_small


def face_side(face) -> float:
    """A detected face's size as ``min_face_size`` measures it: the shorter side of its box, in input pixels."""
    x1, y1, x2, y2 = face.box
    return min(x2 - x1, y2 - y1)


def _to_uint8(chw: torch.Tensor) -> np.ndarray:
    return (chw.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _cache_key(path: Path, options: dict) -> str:
    stat = path.stat()
    text = json.dumps({"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "version": CACHE_VERSION, **options}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def prepare_faces(folder, face_size: int, cache_dir, *, aligned: bool = False, load_detector=None,
                  detector_name: str = "", threshold: float = 0.97, min_face_size: float = 0.0,
                  max_faces: int | None = None, device: str | torch.device = "cpu") -> tuple[np.ndarray, torch.Tensor]:
    """(N×S×S×3 uint8 crops, N×3×3 boxes) for every face of every photo in ``folder``, through the cache.

    ``aligned``: the photos are aligned crops already (FFHQ-style); otherwise the RetinaFace that
    ``load_detector()`` returns finds them (loaded only when some photo is not cached yet).
    """
    paths = list_images(folder, "face folder")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    options = {"face_size": face_size, "aligned": aligned, "detector": detector_name, "threshold": threshold,
               "min_face_size": min_face_size, "max_faces": max_faces}
    crops, boxes, too_small = [], [], []
    detector = None
    for path in paths:
        cached = cache / f"{_cache_key(path, options)}.npz"
        if cached.is_file():
            with np.load(cached) as stored:
                faces = list(zip(stored["crops"], torch.from_numpy(stored["boxes"]), strict=True))
                small = stored["too_small"].tolist() if "too_small" in stored.files else []  # older caches
        else:
            image = load_rgb(path)
            small = []
            if aligned:
                faces = [template_crop(image, face_size)]
            else:
                if detector is None:
                    if load_detector is None:
                        raise DatasetError(f"{path}: not aligned, and no face detector was given (data.detector)")
                    detector = load_detector()
                faces, small = aligned_crops(image, detector, face_size, threshold=threshold,
                                             min_face_size=min_face_size, max_faces=max_faces, device=device)
            _save(cached, faces, small, face_size)
        if not faces and small:
            log.warning("%s: skipped: %s", path, _too_small_text(small, min_face_size))
        elif not faces:
            log.warning("%s: no face found (detector threshold %.2f); skipped", path, threshold)
        crops += [f[0] for f in faces]
        boxes += [f[1] for f in faces]
        too_small += small
    if not crops:
        if too_small:
            raise DatasetError(f"{folder}: no face large enough in any of its {len(paths)} images: "
                               f"{_too_small_text(too_small, min_face_size)}")
        raise DatasetError(f"{folder}: no face found in any of its {len(paths)} images. Lower the detector "
                           "threshold (data.threshold), or pass aligned crops with data.aligned true")
    return np.stack(crops), torch.stack(boxes)


def _too_small_text(sides: list[float], min_face_size: float) -> str:
    """Faces were found, but ``data.min_face_size`` dropped them: say so, with the value that would keep them."""
    largest = max(sides)
    found = "a face was found" if len(sides) == 1 else f"{len(sides)} faces were found"
    size = "it is" if len(sides) == 1 else "the largest is"
    return (f"{found} but smaller than data.min_face_size = {min_face_size:g} px ({size} {largest:.0f} px). "
            f"To train on faces this small, lower it: --set data.min_face_size={int(largest)}")


def _save(path: Path, faces: list, too_small: list[float], face_size: int) -> None:
    crops = np.stack([f[0] for f in faces]) if faces else np.zeros((0, face_size, face_size, 3), np.uint8)
    boxes = torch.stack([f[1] for f in faces]).numpy() if faces else np.zeros((0, 3, 3), np.float32)
    with atomic_target(path) as target, open(target, "wb") as handle:
        np.savez(handle, crops=crops, boxes=boxes, too_small=np.asarray(too_small, np.float64))


class FaceCrops(Sampled):
    """``{'gt': 3×S×S float in [0, 1], 'boxes': 3×3}`` per global sample number; flips are seeded by it."""

    def __init__(self, crops: np.ndarray, boxes: torch.Tensor, *, seed: int, hflip: bool = True):
        super().__init__(len(crops), seed)
        self.crops, self.boxes, self.hflip = crops, boxes, hflip

    def __getitem__(self, sample_id: int) -> dict:
        rng = sample_generator(self.seed, sample_id)
        index = self.image_index(sample_id)
        crop, boxes = self.crops[index], self.boxes[index]
        if self.hflip and rng.random() < 0.5:
            crop, boxes = crop[:, ::-1], flip_boxes(boxes, crop.shape[1])
        gt = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float() / 255
        return {"gt": gt, "boxes": boxes.clone()}

