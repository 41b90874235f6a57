"""Super-resolution data: random high-resolution crops (inputs made later), paired low/high crops,
and held-out images for validation. Used by the Real-ESRGAN and AuraSR recipes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ...gan_models.errors import ImageInputError
from .images import (DatasetError, ImageCache, Sampled, augment, centre_crop, image_size, list_images, load_rgb,
                     pad_to, sample_generator, to_tensor)

log = logging.getLogger(__name__)

MADE_INPUTS = ("realesrgan", "bicubic")
"""How inputs are made from high-resolution crops (the SR recipes' ``data.degradation`` without pairs)."""
MADE_INPUTS_TOOLTIP = ("realesrgan: blur, resize, noise and JPEG like real-world photos; bicubic: clean downscales "
                       "(for clean sources such as renders)")


def warn_if_padded(folder, files: list[Path], crop: int) -> None:
    """Say once, when the run starts, which images are smaller than the crop (their mirrored borders teach
    nothing real), instead of padding them silently at every sample."""
    small = [(path, size) for path in files if min(size := image_size(path)) < crop]
    if not small:
        return
    named = ", ".join(f"{path.name} ({w}×{h})" for path, (h, w) in small[:3]) + (", …" if len(small) > 3 else "")
    log.warning("training folder %s: %d of %d images are smaller than the %d px training crop (data.gt_size) "
                "and are padded by mirroring their edges: %s. Use images at least %d px on each side, or lower "
                "data.gt_size", folder, len(small), len(files), crop, named, crop)


class HighResolutionCrops(Sampled):
    """Random ``gt_size`` crops of a folder of high-resolution images; inputs are made later."""

    def __init__(self, folder: str | os.PathLike, gt_size: int, *, seed: int = 0, hflip: bool = True,
                 rot: bool = False):
        self.files = list_images(folder, "training folder")
        super().__init__(len(self.files), seed)
        self.gt_size, self.hflip, self.rot = gt_size, hflip, rot
        self.cache = ImageCache()
        warn_if_padded(folder, self.files, gt_size)

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = sample_generator(self.seed, sample_id)
        image = pad_to(self.cache.get(self.files[self.image_index(sample_id)]), self.gt_size)
        h, w = image.shape[:2]
        top, left = rng.integers(0, h - self.gt_size + 1), rng.integers(0, w - self.gt_size + 1)
        crop = image[top: top + self.gt_size, left: left + self.gt_size]
        (crop,) = augment([crop], rng, self.hflip, self.rot)
        return {"gt": to_tensor(crop)}


class PairedCrops(Sampled):
    """Aligned random crops from low/high-resolution folders matched by file name (extension aside)."""

    def __init__(self, gt_folder: str | os.PathLike, lq_folder: str | os.PathLike, scale: int, gt_size: int, *,
                 seed: int = 0, hflip: bool = True, rot: bool = False):
        self.pairs = match_pairs(gt_folder, lq_folder, scale)
        super().__init__(len(self.pairs), seed)
        self.scale, self.gt_size, self.hflip, self.rot = scale, gt_size, hflip, rot
        self.cache = ImageCache()

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = sample_generator(self.seed, sample_id)
        gt_path, lq_path = self.pairs[self.image_index(sample_id)]
        gt, lq = self.cache.get(gt_path), self.cache.get(lq_path)
        lq_size = self.gt_size // self.scale
        if min(lq.shape[:2]) < lq_size:
            raise DatasetError(f"{lq_path}: {lq.shape[1]}×{lq.shape[0]} is smaller than the {lq_size} px input crop "
                               f"(data.gt_size {self.gt_size} / scale {self.scale}); lower data.gt_size")
        top, left = rng.integers(0, lq.shape[0] - lq_size + 1), rng.integers(0, lq.shape[1] - lq_size + 1)
        lq = lq[top: top + lq_size, left: left + lq_size]
        s = self.scale
        gt = gt[top * s: (top + lq_size) * s, left * s: (left + lq_size) * s]
        gt, lq = augment([gt, lq], rng, self.hflip, self.rot)
        return {"gt": to_tensor(gt), "lq": to_tensor(lq)}


def match_pairs(gt_folder, lq_folder, scale: int) -> list[tuple[Path, Path]]:
    """(gt, lq) file pairs by name; unmatched names and wrong sizes are all listed in one error."""
    gt_files = {p.stem: p for p in list_images(gt_folder, "high-resolution folder")}
    lq_files = {p.stem: p for p in list_images(lq_folder, "low-resolution folder")}
    problems = [f"{gt_files[n]}: no low-resolution image named {n}.* in {lq_folder}"
                for n in sorted(gt_files.keys() - lq_files.keys())]
    problems += [f"{lq_files[n]}: no high-resolution image named {n}.* in {gt_folder}"
                 for n in sorted(lq_files.keys() - gt_files.keys())]
    pairs = []
    for name in sorted(gt_files.keys() & lq_files.keys()):
        (gh, gw), (lh, lw) = image_size(gt_files[name]), image_size(lq_files[name])
        if (gh, gw) != (lh * scale, lw * scale):
            problems.append(f"{lq_files[name]}: {lw}×{lh}, but its high-resolution image is {gw}×{gh}, "
                            f"not ×{scale} ({lw * scale}×{lh * scale} expected)")
        pairs.append((gt_files[name], lq_files[name]))
    if problems:
        listing = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DatasetError(f"paired folders do not match ({len(problems)} problem(s)):\n  {listing}")
    return pairs


def validation_images(folder, scale: int, *, lq_folder=None, max_images: int = 8, crop: int = 0):
    """Held-out (name, gt, lq or None) triples as 1×3×H×W tensors, sides trimmed to the scale."""
    if lq_folder:
        pairs = match_pairs(folder, lq_folder, scale)[:max_images]
    else:
        pairs = [(p, None) for p in list_images(folder, "validation folder")[:max_images]]
    out = []
    for gt_path, lq_path in pairs:
        gt = load_rgb(gt_path)
        lq = load_rgb(lq_path) if lq_path else None
        if crop and lq is None:
            gt = centre_crop(gt, crop)
        h, w = (gt.shape[0] // scale) * scale, (gt.shape[1] // scale) * scale
        if h == 0 or w == 0:
            raise ImageInputError(f"{gt_path}: smaller than the scale ({scale})")
        gt = gt[:h, :w]
        out.append((gt_path.stem, to_tensor(gt)[None], None if lq is None else to_tensor(lq)[None]))
    return out
