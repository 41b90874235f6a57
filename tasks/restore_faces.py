"""``restore_faces(image, model)``: detect, align, restore in batches, colour-match and paste back.

Every face of every image goes through the restorer as the runner's equal windows (memory-sized
batches, halved on out-of-memory, fp32 where half overflows, cancellable); the background is
resized (or upscaled by a model, tiled) once per image; faces are pasted with a soft mask that
scales with the face. ``strength`` scales that mask instead of mixing the restored crop with a
resampled original: at 0 the input comes back bit for bit, and in between the untouched pixels
stay sharp rather than twice resampled.

Optional on the way: a parser's face-part mask, picks by index, landmark smoothing over frames and
large faces sent through the background upscaler.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..gan_models.contract import FaceAlignment, ModelDescriptor, Task
from ..gan_models.errors import InvalidOptionError
from ..gan_models.options import CLI, EVERYWHERE, Option, Options
from ..runtime.faces import (
    MaskShape, align_faces, crop_mask, face_channels, invert_affine, paste_back, paste_back_official,
    parsing_mask, shot_starts, upscale_affine, warp_affine,
)
from ..runtime.faces import smooth_landmarks as smooth_face_landmarks
from ..runtime.imaging import convert
from ..runtime.imaging.resize import resize, target_size
from ..runtime.memory import PLANNING_TILE, placed_bytes
from ..runtime.precision import resolve_device
from ..runtime.runner import Runner
from ..runtime.seeding import seeded_rng
from .detect_faces import DEFAULT_DETECTION_SIZE, DEFAULT_DETECTOR, DETECTION, Face, detect_in_core
from .face_colour import COLOR_FIXES, color_fix
from .upscale import check_options as check_upscaler, resize_alpha
from .shared_options import DEVICE, PRECISION, SEED, check_runtime, forward_keywords, forward_options, model_for, takes_seed
from .wrong_model import wrong_model

log = logging.getLogger(__name__)
DEFAULT_FACE_MODEL = "GFPGANv1.4"
PASTE_MODES = ("soft", "official")


@dataclass
class RestoredFace:
    """One face that was restored, for callers that want the pieces (``restore_faces_detailed(...).faces``)."""

    image_index: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in input pixels
    score: float
    landmarks: tuple[tuple[float, float], ...]  # five (x, y) in input pixels
    crop: torch.Tensor  # 3×S×S in [0, 1]: the aligned face as it was
    restored: torch.Tensor  # 3×S×S: what was pasted (after colour correction)
    mask: torch.Tensor  # 1×H×W in output pixels: how much of each pixel this face set (strength included)


OPTIONS = Options(
    Option("upscale", float, 1.0, "output size / input size, 1 to 16; the faces are pasted at that size",
           minimum=1, maximum=16),
    Option("strength", float, 1.0, "0 keeps the input faces, 1 pastes the restored ones; in between blends them",
           minimum=0, maximum=1),
    Option("color_fix", str, "none", "adain: each face keeps the original's colour mean and spread; wavelet: the "
           "original's low frequencies under the restored detail", choices=COLOR_FIXES),
    Option("paste", str, "soft", "soft: a mask scaled to the face (weaker seams); official: facexlib's mask, to "
           "match the official tool's output", choices=PASTE_MODES),
    *DETECTION,
    Option("upscale_large_faces", bool, False, "with an upscaler: a face that lands larger than the restorer's crop "
           "(512 px) is upscaled by it first, not stretched"),
    Option("smooth_landmarks", float, 0.0, "the images are consecutive video frames: average each face's landmarks "
           "over this many neighbouring frames (0 = off) so faces do not flicker", minimum=0,
           front_ends=EVERYWHERE - {CLI}),  # the CLI's own --smooth-landmarks is for videos: image files are not frames
    SEED,
    PRECISION,
    DEVICE,
)


@dataclass
class FaceRestoration:
    """What :func:`restore_faces_detailed` returns: the images and, per image, the faces restored in it."""

    images: Any
    """The restored images, in the input's form (as :func:`restore_faces` returns them)."""
    faces: list[list[RestoredFace]]


def restore_faces(image, model: ModelDescriptor | str = DEFAULT_FACE_MODEL, **options):
    """Restore the faces of a PIL image (or list), numpy array or tensor; returns the same kind.

    The options are :func:`restore_faces_detailed`'s. ``return_faces=True`` (deprecated: use
    ``restore_faces_detailed``) returns ``(images, faces)`` for one more release.
    """
    if options.pop("return_faces", False):
        warnings.warn("restore_faces(return_faces=True) is deprecated: restore_faces_detailed(...) returns "
                      "the images and faces as .images and .faces", DeprecationWarning, stacklevel=2)
        result = restore_faces_detailed(image, model, **options)
        return result.images, result.faces
    return restore_faces_detailed(image, model, _keep_faces=False, **options).images  # no face records to make


def restore_faces_detailed(
    image,
    model: ModelDescriptor | str = DEFAULT_FACE_MODEL,
    *,
    detector: ModelDescriptor | str | None = None,
    parser: ModelDescriptor | str | None = None,
    upscaler: ModelDescriptor | str | None = None,
    upscale: float = 1,
    strength: float = 1.0,
    color_fix: str = "none",
    paste: str = "soft",
    threshold: float = 0.97,
    max_faces: int | None = None,
    only_center_face: bool = False,
    face_index: str | Sequence[int] | None = None,
    upscale_large_faces: bool = False,
    smooth_landmarks: float = 0.0,
    seed: int | None = None,
    detection_size: int | None = DEFAULT_DETECTION_SIZE,
    precision: str = "auto",
    device: str | torch.device | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool | None] | None = None,
    detected: Sequence[Sequence[Face]] | None = None,
    **model_options,
) -> FaceRestoration:
    """Restore the faces of a PIL image (or list), numpy array or tensor: the images and the faces.

    model:      a face restorer (``load_model`` result or a file / known name; default GFPGANv1.4).
    detector:   a RetinaFace model, file or name (default: the known ``retinaface_resnet50``).
    parser:     a face parser (ParseNet, BiSeNet; file or name, e.g. ``parsing_parsenet``): each face is
                pasted only where the parser sees face parts and hair (GFPGAN's ``use_parse``), so
                collars, hats and backdrops inside the crop keep the original pixels. None: square mask.
    upscaler:   an upscaling model for the background, at any ``upscale`` (default: bicubic resize).
    upscale:    output size / input size; the faces are pasted at that size.
    strength:   0 keeps the input, 1 pastes the restored faces fully; in between blends them.
    color_fix:  none | adain (each face's channel mean and spread from the original) | wavelet
                (the original's low frequencies under the restored detail).
    paste:      soft (default: a mask scaled to the face, weaker seams) | official (facexlib's mask and
                order, to match the official pipeline's output).
    threshold, max_faces, only_center_face, face_index, detection_size: as :func:`detect_faces` (largest
                faces first; ``face_index="0,2"`` restores the first and third).
    upscale_large_faces: with an ``upscaler``, a restored face that lands larger than the restorer's crop
                (512 px) is upscaled by it first, instead of being stretched by the paste-back's sampler.
    smooth_landmarks: the images are consecutive video frames: each face's landmarks are averaged with
                the same face's in neighbouring frames (Gaussian, this many frames; 0 off), so the
                aligned crops, and the restored faces, do not flicker.
    seed:       fresh noise for restorers that take it (GFPGAN), drawn from this seed: same image, same
                result. None: the model's default (GFPGAN: the checkpoint's stored noise, also deterministic).
    model_options: options the restorer's family declares for its forward (a fidelity weight).
    progress:   called as ``progress(done, total)`` over the background's upscale tiles, then the faces;
    cancel:     checked after every forward of the detector, the upscaler, the restorer and the parser
                (raises CancelledError).
    detected:   the faces already found, one list per image (``detect_faces``' result, or landmarks smoothed
                over a clip by :class:`~ganpost.tasks.face_video.SteadyFaceRestorer`): used as they are, the
                detector is not run and the detection options do not apply.

    An image without faces comes back unchanged (resized when ``upscale`` > 1), with a logged note.
    """
    keep_faces = model_options.pop("_keep_faces", True)
    model = model_for("restore_faces", model)
    options = dict(upscale=upscale, strength=strength, color_fix=color_fix, threshold=threshold, max_faces=max_faces,
                   detection_size=detection_size, paste=paste, face_index=face_index,
                   smooth_landmarks=smooth_landmarks, seed=seed, upscale_large_faces=upscale_large_faces,
                   only_center_face=only_center_face, precision=precision, device=device, **model_options)
    checked = check_options(model, **options)  # a bad option costs nothing: refused before the companions load
    if detected is None or detector is not None:  # found faces need no detector (none is loaded)
        detector = model_for("restore_faces", DEFAULT_DETECTOR if detector is None else detector, "detector")
    upscaler = None if upscaler is None else model_for("restore_faces", upscaler, "upscaler")
    parser = None if parser is None else model_for("restore_faces", parser, "parser")
    _check_detector_and_parser(detector, parser)
    _check_upscaler(upscaler, checked)
    keywords = forward_keywords(Task.FACE_RESTORE, model, seed, model_options)
    batch = convert.to_core(image)
    target = resolve_device(device)
    if detected is None:
        # The detector's precision is its contract's ("auto": fp32 unless half is safe for it), fp32 when asked.
        found = detect_in_core(detector, [item.rgb for item in batch.items], threshold=threshold,
                               detection_size=detection_size, max_faces=max_faces, only_center_face=only_center_face,
                               face_index=face_index, device=target,
                               precision="fp32" if precision == "fp32" else "auto", cancel=cancel)
    elif len(detected) != len(batch.items):
        raise InvalidOptionError(f"detected holds faces for {len(detected)} images; {len(batch.items)} were given.")
    else:
        found = [list(faces) for faces in detected]
    if smooth_landmarks:  # no track runs across a cut to another shot
        found = smooth_face_landmarks(found, smooth_landmarks, cuts=shot_starts([item.rgb for item in batch.items]))
    steps = _Steps(progress, sum(len(faces) for faces in found))
    backgrounds = _backgrounds(batch, upscale, upscaler, precision, target, steps, cancel)
    size = model.contract.size.fixed
    crops, matrices, owners = _aligned_crops(batch, found, size, target, model.contract.face_alignment)
    with Runner(model, device=target, precision=precision, progress=steps.on_faces if progress else None,
                cancel=cancel) as runner, seeded_rng(None if takes_seed(model) else seed, runner.device):
        # The seed reaches a family that takes one under its own keyword (in ``keywords``); the global RNG
        # is seeded for the others.
        restored = runner.run_windows(crops, **keywords).clamp_(0, 1) if owners else crops
    masks = None if parser is None or not owners else parse_faces(parser, restored, precision, target,
                                                                  cancel=cancel)
    restored = color_fix_faces(restored, crops, color_fix)

    outputs, records = [], []
    for index, (faces, (rgb, alpha, factors)) in enumerate(zip(found, backgrounds)):
        if not faces:
            log.info("no faces found in image %d (threshold %s); it is returned %s", index, threshold,
                     "unchanged" if upscale == 1 else "resized only")
        mine = [k for k, owner in enumerate(owners) if owner == index]
        face_records = []
        if mine:
            inverse = _to_output(invert_affine(matrices[mine]), factors)
            background = rgb.to(target)[None]
            face_masks = None if masks is None else masks[mine]
            large = _large(inverse, size) if upscale_large_faces and upscaler is not None else []
            pasted = _paste_groups(background, restored[mine], inverse, face_masks, large, paste, upscale,
                                   upscaler, precision, target, model.contract.parse_within_square)
            rgb = (background + strength * (pasted - background))[0].clamp(0, 1).cpu()
            if keep_faces:
                face_records = _records(index, faces, crops[mine], restored[mine], inverse, strength,
                                        rgb.shape[-2:], face_masks)
        outputs.append((rgb, alpha))
        records.append(face_records)
    return FaceRestoration(convert.from_core(outputs, batch), records)


def device_bytes(longest_side: int, model: ModelDescriptor, *, detector=None, parser=None, upscaler=None,
                 precision: str = "auto", device=None, **_options) -> int:
    """What a run needs on the device to start: the restorer with one face, the detector's weights, one
    upscaler tile and the parser with one face."""
    parser_side = parser.contract.size.fixed if isinstance(parser, ModelDescriptor) else None
    placed = [(model, model.contract.size.fixed), (detector, None), (upscaler, PLANNING_TILE),
              (parser, parser_side or model.contract.size.fixed)]
    return placed_bytes(placed, precision, device)


def check_options(model: ModelDescriptor, *, detector: ModelDescriptor | None = None,
                  parser: ModelDescriptor | None = None, upscaler: ModelDescriptor | None = None,
                  **options) -> dict:
    """Refuse swapped models and bad options (``OPTIONS``, the model's forward options) before any image
    is read; returns the options normalised (the CLI calls this once)."""
    if model.contract.task != Task.FACE_RESTORE:
        raise wrong_model(model, "a face restorer (GFPGAN and the like)", given_as="model",
                          hints={Task.FACE_DETECT: "pass it as detector=",
                                 Task.UPSCALE: "pass it as upscaler= to upscale the background, or use "
                                               "ganpost.upscale for it"},
                          otherwise="load a face restoration model such as GFPGANv1.4")
    if not model.contract.size.fixed:
        raise InvalidOptionError(f"{model.name} declares no fixed face size; a face restorer reads aligned "
                                 "square crops of one size (e.g. 512 px).")
    if model.in_channels != 3 or model.out_channels != 3 or model.scale != 1:
        raise InvalidOptionError(f"{model.name} maps {model.in_channels} to {model.out_channels} channels at "
                                 f"×{model.scale}; a face restorer maps RGB to RGB at ×1.")
    _check_detector_and_parser(detector, parser)
    forward = {k: options.pop(k) for k in list(options) if k in forward_options(Task.FACE_RESTORE)}
    checked = OPTIONS.defaults() | OPTIONS.check(options)
    _check_upscaler(upscaler, checked)
    check_runtime(model, precision=checked["precision"], device=checked["device"])
    forward_keywords(Task.FACE_RESTORE, model, None, forward)
    return checked


def _check_detector_and_parser(detector: ModelDescriptor | None, parser: ModelDescriptor | None) -> None:
    if detector is not None and detector.contract.task != Task.FACE_DETECT:
        raise wrong_model(detector, "a face detector", given_as="detector",
                          hints={Task.FACE_RESTORE: "pass it as model="},
                          otherwise="load a RetinaFace file (e.g. detection_Resnet50_Final.pth)")
    if parser is not None:
        check_parser(parser)


def _check_upscaler(upscaler: ModelDescriptor | None, checked: dict) -> None:
    if upscaler is not None:
        check_upscaler(upscaler, given_as="upscaler", precision=checked["precision"], device=checked["device"])
    elif checked["upscale_large_faces"]:
        log.info("upscale_large_faces needs an upscaler; faces are pasted without it")


def check_parser(parser: ModelDescriptor) -> None:
    """A face parser whose channels name face parts; a restorer or detector passed here is named as such."""
    if parser.contract.task != Task.FACE_PARSE:
        raise wrong_model(parser, "a face parser", given_as="parser",
                          hints={Task.FACE_RESTORE: "pass it as model="},
                          otherwise="load ParseNet (parsing_parsenet.pth) or BiSeNet (parsing_bisenet.pth) as parser=")
    face_channels(parser.contract.labels, parser.name)


def parse_faces(parser: ModelDescriptor, faces: torch.Tensor, precision: str = "auto",
                device: str | torch.device | None = None,
                cancel: Callable[[], bool | None] | None = None) -> torch.Tensor:
    """``N×1×S×S`` soft face-part masks of ``N×3×S×S`` crops in [0, 1] (each resized to the parser's size),
    as many per forward as memory holds (the runner's windows)."""
    size = faces.shape[-1]
    side = parser.contract.size.fixed or size
    channels = face_channels(parser.contract.labels, parser.name)
    if side != size:
        faces = F.interpolate(faces, size=(side, side), mode="bilinear", align_corners=False)
    with Runner(parser, device=device, precision=precision, cancel=cancel) as runner:
        return runner.run_windows(faces, finish=lambda logits: parsing_mask(logits, channels, size))


def color_fix_faces(restored: torch.Tensor, crops: torch.Tensor, mode: str) -> torch.Tensor:
    return restored if restored.shape[0] == 0 else color_fix(restored, crops, mode)


# ------------------------------------------------------------------------------ steps
def _aligned_crops(batch: convert.CoreBatch, found: list[list[Face]], size: int, device: torch.device,
                   alignment: FaceAlignment | None = None):
    """All faces as ``N×3×S×S`` crops on the device, their image→crop matrices and owning image index; aligned
    to the restorer's own template where its contract gives one."""
    template = None if alignment is None else torch.tensor(alignment.points, dtype=torch.float64) * (
        size / alignment.size)
    robust = True if alignment is None else alignment.robust
    crops, matrices, owners = [], [], []
    for index, (item, faces) in enumerate(zip(batch.items, found)):
        if faces:
            face_crops, to_crop = align_faces(item.rgb, faces, size, device, template=template, robust=robust)
            crops.append(face_crops)
            matrices.append(to_crop)
            owners += [index] * len(faces)
    if not crops:
        empty = torch.empty(0, 3, size, size, device=device)
        return empty, torch.empty(0, 2, 3, device=device), owners
    return torch.cat(crops), torch.cat(matrices), owners


class _Steps:
    """One progress over two stages: the background's upscale tiles (total known once they start), then faces."""

    def __init__(self, callback: Callable[[int, int], None] | None, faces: int):
        self.callback, self.faces, self.tiles = callback, faces, 0

    def on_tiles(self, done: int, total: int) -> None:
        self.tiles = total
        if self.callback:
            self.callback(done, total + self.faces)

    def on_faces(self, done: int, total: int) -> None:
        if self.callback:
            self.callback(self.tiles + done, self.tiles + total)


def _backgrounds(batch: convert.CoreBatch, upscale: float, upscaler: ModelDescriptor | None, precision,
                 device: torch.device, steps: _Steps, cancel):
    """Per image: the image at its output size (``3×H×W``), its alpha (``1×H×W`` or None) and the per-axis
    scale factors. With an upscaler, every image goes through one runner: one tile count, one cancel."""
    sizes = []
    for item in batch.items:
        _, _, height, width = item.rgb.shape
        sizes.append(target_size(height, width, 1, None if upscale == 1 else upscale, None))
    if upscaler is None:
        # a copy even at ×1: from_core clamps in place
        rgbs = [resize(item.rgb[0], h, w).clone() for item, (h, w) in zip(batch.items, sizes)]
    else:  # at ×1 too: a ×1 (or larger) model may clean the background, resized back
        with Runner(upscaler, device=device, precision=precision, progress=steps.on_tiles, cancel=cancel) as runner:
            rgbs = [resize(out, h, w) for out, (h, w) in zip(runner.run([item.rgb for item in batch.items]), sizes)]
    out = []
    for item, rgb, (h, w) in zip(batch.items, rgbs, sizes):
        height, width = item.rgb.shape[-2:]
        alpha = None if item.alpha is None else (
            item.alpha[0] if (h, w) == (height, width) else resize_alpha(item.alpha, h, w))
        out.append((rgb, alpha, (w / width, h / height)))
    return out


def _large(inverse: torch.Tensor, size: int) -> list[int]:
    """Faces whose crop lands larger than ``size`` px on the output (the map's linear scale > 1)."""
    scale = inverse[:, :, :2].det().abs().sqrt()
    return [k for k, s in enumerate(scale.tolist()) if s > 1]


def _paste_groups(background, faces, inverse, masks, large: list[int], paste: str, upscale: float,
                  upscaler: ModelDescriptor | None, precision, device, within_square: bool = False) -> torch.Tensor:
    """Paste the faces; those in ``large`` are first upscaled by ``upscaler`` to their output size and pasted
    over the others (a second pass: two crop sizes cannot share one sampler call)."""
    small = [k for k in range(faces.shape[0]) if k not in large]
    out = background
    if small:
        out = _paste(out, faces[small], inverse[small], None if masks is None else masks[small], paste, upscale,
                     within_square)
    if large:
        side = faces.shape[-1]
        target = int(math.ceil(float(inverse[large, :, :2].det().abs().sqrt().max()) * side))
        with Runner(upscaler, device=device, precision=precision) as runner:
            bigger = torch.stack([resize(out_face, target, target) for out_face in runner.run(
                [face[None].cpu() for face in faces[large]])]).to(faces)
        factor = target / side
        big_masks = None if masks is None else F.interpolate(masks[large], size=(target, target), mode="bilinear",
                                                              align_corners=False)
        out = _paste(out, bigger, _crop_scaled(inverse[large], factor), big_masks, paste, upscale, within_square)
    return out


def _paste(background, faces, inverse, masks, paste: str, upscale: float, within_square: bool = False) -> torch.Tensor:
    image_index = [0] * faces.shape[0]
    if paste == "official":
        return paste_back_official(background, faces, inverse, image_index, upscale, masks=masks,
                                   within_square=within_square).image
    return paste_back(background, faces, inverse, image_index, masks=masks).image


def _crop_scaled(crop_to_image: torch.Tensor, factor: float) -> torch.Tensor:
    """Crop→image maps for the same crops resampled ``factor`` times larger (pixel centres kept aligned)."""
    out = crop_to_image.clone()
    out[:, :, :2] = crop_to_image[:, :, :2] / factor
    shift = (1 / factor - 1) / 2  # x_small = x_big / factor + shift, on both axes
    out[:, :, 2] = crop_to_image[:, :, 2] + crop_to_image[:, :, :2].sum(-1) * shift
    return out


def _to_output(crop_to_image: torch.Tensor, factors: tuple[float, float]) -> torch.Tensor:
    """Crop→input maps made crop→output maps, each axis with its own factor (rounded sizes differ a hair)."""
    fx, fy = factors
    if fx == fy == 1:
        return crop_to_image
    return torch.stack([upscale_affine(crop_to_image, fx)[:, 0], upscale_affine(crop_to_image, fy)[:, 1]], dim=1)


def _records(index: int, faces: list[Face], crops: torch.Tensor, restored: torch.Tensor, inverse: torch.Tensor,
             strength: float, out_size, masks: torch.Tensor | None = None) -> list[RestoredFace]:
    size = crops.shape[-1]
    mask = crop_mask(size, MaskShape(), device=crops.device).expand(len(faces), 1, size, size)
    if masks is not None:
        mask = mask * masks.to(mask)
    coverage = warp_affine(mask.contiguous(), inverse.to(mask.dtype), tuple(out_size)) * strength
    return [RestoredFace(index, face.box, face.score, face.landmarks, crop.cpu(), face_restored.cpu(), cover.cpu())
            for face, crop, face_restored, cover in zip(faces, crops, restored, coverage)]
