"""Training and validation images from plain folders: no meta-info files, every bad file named.

Sampling is a pure function of (seed, global sample number): which image, where to crop and how
to flip never depend on worker count or on how the run was split by resumes, so a resumed run
sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Sampler

from ..gan_models.errors import GanpostError, ImageInputError
from ..runtime.imaging.files import READABLE, read_image

log = logging.getLogger(__name__)
CACHE_BUDGET_BYTES = 2 << 30  # keep decoded images in memory up to this much


class DatasetError(GanpostError):
    """A training or validation folder that cannot be used as it is."""


def list_images(folder: str | os.PathLike, what: str = "image folder") -> list[Path]:
    """Image files under ``folder`` (recursively, sorted); every unreadable one is reported at once."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{what} {folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in READABLE and p.is_file()
                   and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"{what} {folder}: no images found (looked for {', '.join(sorted(READABLE))})")
    bad = [f"{p}: {reason}" for p in files if (reason := _unreadable(p))]
    if bad:
        listing = "\n  ".join(bad[:20]) + (f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise DatasetError(f"{what} {folder}: {len(bad)} file(s) cannot be read; fix or remove them:\n  {listing}")
    return files


def _unreadable(path: Path) -> str | None:
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018 - the header parse is the check
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return f"not a readable image ({err})"


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header alone."""
    with Image.open(path) as im:
        return im.height, im.width


def load_rgb(path: Path) -> np.ndarray:
    """H×W×3 float32 in [0, 1]; grey is repeated, alpha dropped, 16-bit kept at full precision."""
    pixels = read_image(path).pixels
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    pixels = pixels[..., :3] if pixels.shape[-1] in (3, 4) else np.repeat(pixels[..., :1], 3, axis=-1)
    return pixels.astype(np.float32) / scale


class _ImageCache:
    """Decoded images kept in memory while they fit the budget (small fine-tuning sets read once)."""

    def __init__(self, budget: int = CACHE_BUDGET_BYTES):
        self.budget, self.used, self.images = budget, 0, {}

    def get(self, path: Path) -> np.ndarray:
        image = self.images.get(path)
        if image is None:
            image = load_rgb(path)
            if self.used + image.nbytes <= self.budget:
                self.images[path] = image
                self.used += image.nbytes
        return image


def _sample_generator(seed: int, sample_id: int) -> np.random.Generator:
    return np.random.default_rng([seed, sample_id])


def _augment(arrays: list[np.ndarray], rng: np.random.Generator, hflip: bool, rot: bool) -> list[np.ndarray]:
    """The same random flip/rotation for every array (a pair must stay aligned)."""
    if hflip and rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    if rot:
        if rng.random() < 0.5:
            arrays = [a[::-1] for a in arrays]
        if rng.random() < 0.5:
            arrays = [a.transpose(1, 0, 2) for a in arrays]
    return arrays


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad an image smaller than the crop (as the official recipe pads to 400 px)."""
    h, w = image.shape[:2]
    if h >= size and w >= size:
        return image
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    mode = "reflect" if pad_h < h and pad_w < w else "symmetric"
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def _warn_if_padded(folder, files: list[Path], crop: int) -> None:
    """Say once, when the run starts, which images are smaller than the crop (their mirrored borders teach
    nothing real), instead of padding them silently at every sample."""
    small = [(path, size) for path in files if min(size := image_size(path)) < crop]
    if not small:
        return
    named = ", ".join(f"{path.name} ({w}×{h})" for path, (h, w) in small[:3]) + (", …" if len(small) > 3 else "")
    log.warning("training folder %s: %d of %d images are smaller than the %d px training crop (data.gt_size) "
                "and are padded by mirroring their edges: %s. Use images at least %d px on each side, or lower "
                "data.gt_size", folder, len(small), len(files), crop, named, crop)


class _Sampled(Dataset):
    """Indexable by global sample number; maps it to an image by a per-epoch seeded permutation."""

    def __init__(self, count: int, seed: int):
        self.count, self.seed = count, seed
        self._perm_epoch, self._perm = -1, None

    def __len__(self) -> int:  # the sampler never asks; DataLoader wants something finite-looking
        return self.count

    def image_index(self, sample_id: int) -> int:
        epoch, position = divmod(sample_id, self.count)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch, 7]).permutation(self.count)
            self._perm_epoch = epoch
        return int(self._perm[position])


class HighResolutionCrops(_Sampled):
    """Random ``gt_size`` crops of a folder of high-resolution images; inputs are made later."""

    def __init__(self, folder: str | os.PathLike, gt_size: int, *, seed: int = 0, hflip: bool = True,
                 rot: bool = False):
        self.files = list_images(folder, "training folder")
        super().__init__(len(self.files), seed)
        self.gt_size, self.hflip, self.rot = gt_size, hflip, rot
        self.cache = _ImageCache()
        _warn_if_padded(folder, self.files, gt_size)

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = _sample_generator(self.seed, sample_id)
        image = _pad_to(self.cache.get(self.files[self.image_index(sample_id)]), self.gt_size)
        h, w = image.shape[:2]
        top, left = rng.integers(0, h - self.gt_size + 1), rng.integers(0, w - self.gt_size + 1)
        crop = image[top: top + self.gt_size, left: left + self.gt_size]
        (crop,) = _augment([crop], rng, self.hflip, self.rot)
        return {"gt": _to_tensor(crop)}


class PairedCrops(_Sampled):
    """Aligned random crops from low/high-resolution folders matched by file name (extension aside)."""

    def __init__(self, gt_folder: str | os.PathLike, lq_folder: str | os.PathLike, scale: int, gt_size: int, *,
                 seed: int = 0, hflip: bool = True, rot: bool = False):
        self.pairs = match_pairs(gt_folder, lq_folder, scale)
        super().__init__(len(self.pairs), seed)
        self.scale, self.gt_size, self.hflip, self.rot = scale, gt_size, hflip, rot
        self.cache = _ImageCache()

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = _sample_generator(self.seed, sample_id)
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
        gt, lq = _augment([gt, lq], rng, self.hflip, self.rot)
        return {"gt": _to_tensor(gt), "lq": _to_tensor(lq)}


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


class SampleIds(Sampler[int]):
    """Global sample numbers for one process, endless, starting after ``done_batches`` batches.

    Batch ``m`` on rank ``r`` of ``world`` holds ids ``(m * world + r) * batch + i``: ranks never
    share a sample and the sequence does not depend on where a run was resumed.
    """

    def __init__(self, batch_size: int, done_batches: int = 0, rank: int = 0, world: int = 1):
        self.batch_size, self.done_batches, self.rank, self.world = batch_size, done_batches, rank, world

    def __iter__(self) -> Iterator[int]:
        m = self.done_batches
        while True:
            first = (m * self.world + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            m += 1


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
            gt = _centre_crop(gt, crop)
        h, w = (gt.shape[0] // scale) * scale, (gt.shape[1] // scale) * scale
        if h == 0 or w == 0:
            raise ImageInputError(f"{gt_path}: smaller than the scale ({scale})")
        gt = gt[:h, :w]
        out.append((gt_path.stem, _to_tensor(gt)[None], None if lq is None else _to_tensor(lq)[None]))
    return out


def _centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top: top + size, left: left + size]
