"""``restore_faces(image, model)``: detect, align, restore in batches, colour-match and paste back.

Every face of every image goes through the restorer in memory-sized chunks; the background is
resized (or upscaled by a model, tiled) once per image; faces are pasted with a soft mask that
scales with the face. ``strength`` scales that mask instead of mixing the restored crop with a
resampled original: at 0 the input comes back bit for bit, and in between the untouched pixels
stay sharp rather than twice resampled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..gan_models.contract import ModelDescriptor, Task
from ..gan_models.errors import CancelledError, InvalidOptionError
from ..gan_models.loader import load_model
from ..runtime.faces import (
    MaskShape, crop_faces, crop_mask, face_template, invert_affine, paste_back, paste_back_official,
    similarity_transform, upscale_affine, warp_affine,
)
from ..runtime.imaging import convert
from ..runtime.imaging.resize import resize, target_size
from ..runtime.memory import CUDA_BUDGET_SHARE, cpu_tile_budget, is_out_of_memory
from ..runtime.runner import Runner
from .detect_faces import DEFAULT_DETECTION_SIZE, Face, check_detect_options, detect_in_core, detector_network
from .face_colour import COLOR_FIXES, color_fix
from .upscale import check_options as check_upscaler, resize_alpha
from .upscale import upscale as upscale_image

log = logging.getLogger(__name__)
DEFAULT_DETECTOR = "retinaface_resnet50"
PASTE_MODES = ("soft", "official")
MAX_FACES_PER_FORWARD = 16


@dataclass
class RestoredFace:
    """One face that was restored, for callers that want the pieces (``return_faces=True``)."""

    image_index: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in input pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # five (x, y) in input pixels
    crop: torch.Tensor  # 3×S×S in [0, 1]: the aligned face as it was
    restored: torch.Tensor  # 3×S×S: what was pasted (after colour correction)
    mask: torch.Tensor  # 1×H×W in output pixels: how much of each pixel this face set (strength included)


def restore_faces(
    image,
    model: ModelDescriptor | str,
    *,
    detector: ModelDescriptor | str | None = None,
    upscaler: ModelDescriptor | str | None = None,
    upscale: float = 1,
    strength: float = 1.0,
    color_fix: str = "none",
    paste: str = "soft",
    threshold: float = 0.97,
    max_faces: int | None = None,
    only_center_face: bool = False,
    seed: int | None = None,
    detection_size: int | None = DEFAULT_DETECTION_SIZE,
    precision: str = "auto",
    device: str | torch.device | None = None,
    return_faces: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
):
    """Restore the faces of a PIL image (or list), numpy array or tensor; returns the same kind.

    model:      a face restorer (``load_model`` result or a file / known name).
    detector:   a RetinaFace model, file or name (default: the known ``retinaface_resnet50``).
    upscaler:   an upscaling model for the background, at any ``upscale`` (default: bicubic resize).
    upscale:    output size / input size; the faces are pasted at that size.
    strength:   0 keeps the input, 1 pastes the restored faces fully; in between blends them.
    color_fix:  none | adain (each face's channel mean and spread from the original) | wavelet
                (the original's low frequencies under the restored detail).
    paste:      soft (default: a mask scaled to the face, weaker seams) | official (facexlib's mask and
                order, to match the official pipeline's output).
    threshold, max_faces, only_center_face, detection_size: as :func:`detect_faces` (largest faces first).
    seed:       fresh noise for restorers that take it (GFPGAN), drawn from this seed: same image, same
                result. None: the model's default (GFPGAN: the checkpoint's stored noise, also deterministic).
    return_faces: also return, per image, a list of :class:`RestoredFace`.
    progress:   called as ``progress(done_faces, total_faces)``; cancel: checked between face chunks.

    An image without faces comes back unchanged (resized when ``upscale`` > 1), with a logged note.
    """
    model = _as_model(model)
    detector = _as_model(DEFAULT_DETECTOR if detector is None else detector)
    upscaler = None if upscaler is None else _as_model(upscaler)
    check_options(model, detector=detector, upscaler=upscaler, upscale=upscale, strength=strength,
                  color_fix=color_fix, threshold=threshold, max_faces=max_faces, detection_size=detection_size,
                  paste=paste)
    batch = convert.to_core(image)
    with Runner(model, device=device, precision=precision) as runner:
        network = detector_network(detector, runner.device)
        found = detect_in_core(network, [item.rgb for item in batch.items], threshold=threshold,
                               detection_size=detection_size, max_faces=max_faces, only_center_face=only_center_face)
        size = model.contract.size.fixed
        crops, matrices, owners = _aligned_crops(batch, found, size, runner.device)
        restored = _restore(runner, crops, seed, progress, cancel)
        restored = color_fix_faces(restored, crops, color_fix)

    outputs, records = [], []
    for index, (item, faces) in enumerate(zip(batch.items, found)):
        if not faces:
            log.info("no faces found in image %d (threshold %s); it is returned %s", index, threshold,
                     "unchanged" if upscale == 1 else "resized only")
        rgb, alpha, factors = _background(item, upscale, upscaler, precision, device)
        mine = [k for k, owner in enumerate(owners) if owner == index]
        face_records = []
        if mine:
            inverse = _to_output(invert_affine(matrices[mine]), factors)
            background = rgb.to(runner.device)[None]
            if paste == "official":
                pasted = paste_back_official(background, restored[mine], inverse, [0] * len(mine), upscale)
            else:
                pasted = paste_back(background, restored[mine], inverse, [0] * len(mine))
            rgb = (background + strength * (pasted.image - background))[0].clamp(0, 1).cpu()
            if return_faces:
                face_records = _records(index, faces, crops[mine], restored[mine], inverse, strength,
                                        rgb.shape[-2:])
        outputs.append((rgb, alpha))
        records.append(face_records)
    images = convert.from_core(outputs, batch)
    return (images, records) if return_faces else images


def check_options(model: ModelDescriptor, *, detector: ModelDescriptor | None = None,
                  upscaler: ModelDescriptor | None = None, upscale: float = 1, strength: float = 1.0,
                  color_fix: str = "none", threshold: float = 0.97, max_faces: int | None = None, paste: str = "soft",
                  detection_size: int | None = DEFAULT_DETECTION_SIZE) -> None:
    """Refuse swapped models and bad options before any image is read (the CLI calls this once)."""
    if model.contract.task != Task.FACE_RESTORE:
        where = " pass it as detector=" if model.contract.task == Task.FACE_DETECT else ""
        raise InvalidOptionError(f"{model.name} is a {model.task} model, not a face restorer "
                                 f"(GFPGAN and the like);{where or ' load a face restoration model'}.")
    if not model.contract.size.fixed:
        raise InvalidOptionError(f"{model.name} declares no fixed face size; a face restorer reads aligned "
                                 "square crops of one size (e.g. 512 px).")
    if model.in_channels != 3 or model.out_channels != 3 or model.scale != 1:
        raise InvalidOptionError(f"{model.name} maps {model.in_channels} to {model.out_channels} channels at "
                                 f"×{model.scale}; a face restorer maps RGB to RGB at ×1.")
    if detector is not None and detector.contract.task != Task.FACE_DETECT:
        where = " pass it as model=" if detector.contract.task == Task.FACE_RESTORE else ""
        raise InvalidOptionError(f"{detector.name} is a {detector.task} model, not a face detector;"
                                 f"{where or ' load a RetinaFace file (e.g. detection_Resnet50_Final.pth)'}.")
    if isinstance(upscale, bool) or not isinstance(upscale, (int, float)) or not (
            math.isfinite(upscale) and 1 <= upscale <= 16):
        raise InvalidOptionError(f"upscale must be a number from 1 to 16 (output size / input size), not {upscale!r}")
    if upscaler is not None:
        check_upscaler(upscaler)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise InvalidOptionError(f"strength must be from 0 (keep the input) to 1 (restored faces), not {strength!r}")
    if paste not in PASTE_MODES:
        raise InvalidOptionError(f"paste must be one of {', '.join(PASTE_MODES)}, not {paste!r}")
    if color_fix not in COLOR_FIXES:
        raise InvalidOptionError(f"color_fix must be one of {', '.join(COLOR_FIXES)}, not {color_fix!r}")
    check_detect_options(threshold=threshold, max_faces=max_faces, detection_size=detection_size)


def color_fix_faces(restored: torch.Tensor, crops: torch.Tensor, mode: str) -> torch.Tensor:
    return restored if restored.shape[0] == 0 else color_fix(restored, crops, mode)


# ------------------------------------------------------------------------------ steps
def _as_model(model) -> ModelDescriptor:
    return model if isinstance(model, ModelDescriptor) else load_model(model)


def _aligned_crops(batch: convert.CoreBatch, found: list[list[Face]], size: int, device: torch.device):
    """All faces as ``N×3×S×S`` crops on the device, their image→crop matrices and owning image index."""
    template = face_template(size, device=device)
    crops, matrices, owners = [], [], []
    for index, (item, faces) in enumerate(zip(batch.items, found)):
        if not faces:
            continue
        landmarks = torch.tensor([face.landmarks for face in faces], dtype=torch.float32, device=device)
        to_crop = similarity_transform(landmarks, template)
        crops.append(crop_faces(item.rgb.to(device), to_crop, [0] * len(faces), size))
        matrices.append(to_crop)
        owners += [index] * len(faces)
    if not crops:
        empty = torch.empty(0, 3, size, size, device=device)
        return empty, torch.empty(0, 2, 3, device=device), owners
    return torch.cat(crops), torch.cat(matrices), owners


def _restore(runner: Runner, crops: torch.Tensor, seed: int | None, progress, cancel) -> torch.Tensor:
    """Every crop through the restorer, as many per forward as memory allows (halved on out-of-memory)."""
    count = crops.shape[0]
    if count == 0:
        return crops
    chunk = _faces_per_forward(runner, crops.shape[-1])
    out = torch.empty_like(crops)
    start = 0
    while start < count:
        try:
            if seed is not None and "noise" in runner.contract.call_options:
                result = runner.forward(crops[start: start + chunk], noise=seed)  # the model seeds its own noise
            else:
                with _seeded(seed, runner.device):
                    result = runner.forward(crops[start: start + chunk])
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err) or chunk == 1:
                raise
            chunk //= 2
            log.warning("out of memory restoring faces on %s; now %d per forward", runner.device, chunk)
            continue
        out[start: start + result.shape[0]] = result.to(out).clamp(0, 1)
        start += result.shape[0]
        if progress:
            progress(start, count)
        if cancel and cancel():
            raise CancelledError("cancelled")
    return out


def _faces_per_forward(runner: Runner, size: int) -> int:
    if runner.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(runner.device)
        budget = free * CUDA_BUDGET_SHARE
    else:
        budget = cpu_tile_budget()
    per_face = runner.model.contract.activation_bytes_per_pixel(runner.dtype) * size * size
    return max(1, min(MAX_FACES_PER_FORWARD, int(budget // max(per_face, 1))))


class _seeded:
    """The global RNG seeded for one forward and restored after: the hook for restorers that draw noise.

    A model that draws ``torch.randn`` noise (GFPGAN with ``randomize_noise``) then gives the same
    face for the same seed, and the caller's own random stream is left as it was.
    """

    def __init__(self, seed: int | None, device: torch.device):
        self.seed, self.device = seed, device
        self._fork = None

    def __enter__(self):
        if self.seed is None:
            return
        devices = [self.device] if self.device.type == "cuda" else []
        self._fork = torch.random.fork_rng(devices=devices, device_type=self.device.type)
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        if self._fork is not None:
            self._fork.__exit__(*exc)


def _background(item: convert.CoreImage, upscale: float, upscaler: ModelDescriptor | None, precision, device):
    """The image at its output size (``3×H×W``, alpha ``1×H×W`` or None) and the per-axis scale factors."""
    _, _, height, width = item.rgb.shape
    out_h, out_w = target_size(height, width, 1, None if upscale == 1 else upscale, None)
    if upscaler is not None:  # at ×1 too: a ×1 (or larger) model may clean the background, resized back
        rgb = upscale_image(upscaler, item.rgb[0], size=(out_w, out_h), precision=precision, device=device)
    else:
        rgb = resize(item.rgb[0], out_h, out_w).clone()  # a copy at ×1: from_core clamps in place
    alpha = None if item.alpha is None else (
        item.alpha[0] if (out_h, out_w) == (height, width) else resize_alpha(item.alpha, out_h, out_w))
    return rgb, alpha, (out_w / width, out_h / height)


def _to_output(crop_to_image: torch.Tensor, factors: tuple[float, float]) -> torch.Tensor:
    """Crop→input maps made crop→output maps, each axis with its own factor (rounded sizes differ a hair)."""
    fx, fy = factors
    if fx == fy == 1:
        return crop_to_image
    return torch.stack([upscale_affine(crop_to_image, fx)[:, 0], upscale_affine(crop_to_image, fy)[:, 1]], dim=1)


def _records(index: int, faces: list[Face], crops: torch.Tensor, restored: torch.Tensor, inverse: torch.Tensor,
             strength: float, out_size) -> list[RestoredFace]:
    size = crops.shape[-1]
    mask = crop_mask(size, MaskShape(), device=crops.device).expand(len(faces), 1, size, size)
    coverage = warp_affine(mask.contiguous(), inverse.to(mask.dtype), tuple(out_size)) * strength
    return [RestoredFace(index, face.box, face.score, face.landmarks, crop.cpu(), face_restored.cpu(), cover.cpu())
            for face, crop, face_restored, cover in zip(faces, crops, restored, coverage)]
