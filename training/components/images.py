"""Images from plain folders, for every recipe's data: no meta-info files, every bad file named.

Sampling is a pure function of (seed, global sample number): which image, where to crop and how
to flip never depend on worker count or on how the run was split by resumes, so a resumed run
sees exactly the batches the uninterrupted run would have seen. :class:`Sampled` maps a sample
number to an image; the engine's :class:`~..engine.sampling.SampleIds` hands out the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ...gan_models.errors import GanpostError
from ...runtime.imaging.files import READABLE, read_image

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


class ImageCache:
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


def sample_generator(seed: int, sample_id: int) -> np.random.Generator:
    return np.random.default_rng([seed, sample_id])


def augment(arrays: list[np.ndarray], rng: np.random.Generator, hflip: bool, rot: bool) -> list[np.ndarray]:
    """The same random flip/rotation for every array (a pair must stay aligned)."""
    if hflip and rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    if rot:
        if rng.random() < 0.5:
            arrays = [a[::-1] for a in arrays]
        if rng.random() < 0.5:
            arrays = [a.transpose(1, 0, 2) for a in arrays]
    return arrays


def to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad an image smaller than the crop (as the official recipe pads to 400 px)."""
    h, w = image.shape[:2]
    if h >= size and w >= size:
        return image
    pad_h, pad_w = max(0, size - h), max(0, size - w)
    mode = "reflect" if pad_h < h and pad_w < w else "symmetric"
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)


class Sampled(Dataset):
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


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top: top + size, left: left + size]
