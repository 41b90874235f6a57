"""Image pairs for pix2pix and image sets for CycleGAN, prepared as the official code prepares them.

Three layouts: the official aligned images (A and B side by side in one file, split at half the
width), two folders paired by file name, and two unpaired folders. Each sample is resized to
``load_size``² (bicubic), randomly cropped to ``crop_size`` and maybe flipped (the official
``resize_and_crop``); ``preprocess="crop"`` skips the resize. A pair gets the same crop and flip.
As in ``data.py``, every random choice is a function of (seed, sample number), so resumed runs
see the same samples. Tensors are ``3×H×W`` in [0, 1]; the recipes move them to [-1, 1].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ...components.images import (CACHE_BUDGET_BYTES, DatasetError, Sampled, image_size, list_images, load_rgb,
                                 sample_generator, to_tensor)

Preprocess = Literal["resize_and_crop", "crop"]
Direction = Literal["AtoB", "BtoA"]


def aligned_pairs(folder: str | os.PathLike) -> list[Path]:
    """The official aligned layout: each file is A | B side by side (so its width is even)."""
    files = list_images(folder, "aligned A|B folder")
    odd = [f"{p}: {w}×{h}" for p in files for h, w in [image_size(p)] if w % 2]
    if odd:
        raise DatasetError(f"aligned A|B folder {folder}: {len(odd)} image(s) have an odd width, so they cannot be "
                           f"split into A | B halves: {', '.join(odd[:5])}. Pass the two halves as --data-a/--data-b "
                           "folders paired by file name instead.")
    return files


def pairs_by_name(folder_a: str | os.PathLike, folder_b: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(A, B) files with the same name (extension aside) and size; every mismatch listed in one error."""
    a = {p.stem: p for p in list_images(folder_a, "A folder")}
    b = {p.stem: p for p in list_images(folder_b, "B folder")}
    problems = [f"{a[n]}: no image named {n}.* in {folder_b}" for n in sorted(a.keys() - b.keys())]
    problems += [f"{b[n]}: no image named {n}.* in {folder_a}" for n in sorted(b.keys() - a.keys())]
    for name in sorted(a.keys() & b.keys()):
        (ha, wa), (hb, wb) = image_size(a[name]), image_size(b[name])
        if (ha, wa) != (hb, wb):
            problems.append(f"{b[name]}: {wb}×{hb}, but {a[name]} is {wa}×{ha}; a pair must be the same size")
    if problems:
        listing = "\n  ".join(problems[:20]) + (f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise DatasetError(f"paired folders {folder_a} and {folder_b} do not match ({len(problems)} problem(s)):"
                           f"\n  {listing}")
    return [(a[n], b[n]) for n in sorted(a.keys() & b.keys())]


Resize = Literal["float", "pil"]


def _resize(image: np.ndarray, side: int, how: Resize = "float") -> np.ndarray:
    """Bicubic (antialiased, PIL's kernel) to side × side: in float in one go ("float"), or as the official
    transform does ("pil": PIL on the 8-bit image, rounded to 8 bits after each pass)."""
    if image.shape[:2] == (side, side):
        return image
    if how == "pil":
        from PIL import Image

        pixels = np.round(image * 255).astype(np.uint8)
        return np.asarray(Image.fromarray(pixels).resize((side, side), Image.BICUBIC)).astype(np.float32) / 255
    t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    out = F.interpolate(t, size=(side, side), mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
    return out[0].numpy().transpose(1, 2, 0)


class _Prepared:
    """Each file decoded (and resized) once while the results fit the budget; reloaded after that."""

    def __init__(self, load, budget: int = CACHE_BUDGET_BYTES):
        self.load, self.items, self.budget, self.used = load, {}, budget, 0

    def get(self, key):
        item = self.items.get(key)
        if item is None:
            item = self.load(key)
            size = sum(a.nbytes for a in item) if isinstance(item, tuple) else item.nbytes
            if self.used + size <= self.budget:
                self.items[key], self.used = item, self.used + size
        return item


class _Crops:
    """The official transform's random part: one crop position and flip for every image passed."""

    def __init__(self, crop_size: int, flip: bool):
        self.crop_size, self.flip = crop_size, flip

    def __call__(self, images: list[np.ndarray], rng: np.random.Generator, where: Path) -> list[torch.Tensor]:
        h, w = images[0].shape[:2]
        size = self.crop_size
        if h < size or w < size:
            raise DatasetError(f"{where}: {w}×{h} is smaller than the {size} px crop; lower data.crop_size or "
                               "raise data.load_size")
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        images = [im[top: top + size, left: left + size] for im in images]
        if self.flip and rng.random() < 0.5:
            images = [im[:, ::-1] for im in images]
        return [to_tensor(im) for im in images]


class PairedImages(Sampled):
    """pix2pix's training pairs: ``{"a": input, "b": target}`` (swapped for ``direction="BtoA"``).

    ``aligned`` is a folder of A|B images; or give ``folder_a`` and ``folder_b`` paired by name.
    """

    def __init__(self, *, aligned: str | os.PathLike | None = None, folder_a=None, folder_b=None,
                 load_size: int = 286, crop_size: int = 256, preprocess: Preprocess = "resize_and_crop",
                 flip: bool = True, direction: Direction = "AtoB", seed: int = 0, resize: Resize = "float"):
        if aligned:
            self.sources: list = aligned_pairs(aligned)
            load = self._load_aligned
        elif folder_a and folder_b:
            self.sources = pairs_by_name(folder_a, folder_b)
            load = self._load_pair
        else:
            raise DatasetError("paired training data: give an aligned A|B folder, or both an A and a B folder")
        super().__init__(len(self.sources), seed)
        self.load_size = load_size if preprocess == "resize_and_crop" else 0
        self.resize = resize
        self.swap = direction == "BtoA"
        self.crops = _Crops(crop_size, flip)
        self.prepared = _Prepared(load)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        return _resize(image, self.load_size, self.resize) if self.load_size else image

    def _load_aligned(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        both = load_rgb(path)
        half = both.shape[1] // 2
        return self._fit(both[:, :half]), self._fit(both[:, half:])

    def _load_pair(self, paths: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
        return self._fit(load_rgb(paths[0])), self._fit(load_rgb(paths[1]))

    def name(self, index: int) -> str:
        source = self.sources[index]
        return (source[0] if isinstance(source, tuple) else source).stem

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index`` as (input, target) H×W×3 arrays after the resize (no crop): for validation."""
        a, b = self.prepared.get(self.sources[index])
        return (b, a) if self.swap else (a, b)

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = sample_generator(self.seed, sample_id)
        index = self.image_index(sample_id)
        a, b = self.crops(list(self.pair(index)), rng, self.sources[index])
        return {"a": a, "b": b}


class UnpairedImages(Sampled):
    """CycleGAN's training images: ``{"a": ..., "b": ...}`` drawn independently from two folders.

    A goes through its folder in a shuffled order per epoch, B is drawn at random (the official
    unaligned dataset's ``serial_batches`` off); each gets its own crop and flip.
    """

    def __init__(self, folder_a: str | os.PathLike, folder_b: str | os.PathLike, *, load_size: int = 286,
                 crop_size: int = 256, preprocess: Preprocess = "resize_and_crop", flip: bool = True,
                 direction: Direction = "AtoB", seed: int = 0, resize: Resize = "float"):
        files_a, files_b = list_images(folder_a, "A folder"), list_images(folder_b, "B folder")
        if direction == "BtoA":
            files_a, files_b = files_b, files_a
        self.files_a, self.files_b = files_a, files_b
        super().__init__(len(files_a), seed)
        size = load_size if preprocess == "resize_and_crop" else 0
        self.prepared = _Prepared(lambda path: _resize(load_rgb(path), size, resize) if size else load_rgb(path))
        self.crops = _Crops(crop_size, flip)

    def __getitem__(self, sample_id: int) -> dict[str, torch.Tensor]:
        rng = sample_generator(self.seed, sample_id)
        path_a = self.files_a[self.image_index(sample_id)]
        path_b = self.files_b[int(rng.integers(len(self.files_b)))]
        (a,) = self.crops([self.prepared.get(path_a)], rng, path_a)
        (b,) = self.crops([self.prepared.get(path_b)], rng, path_b)
        return {"a": a, "b": b}
