"""How much of the vintage generator's shift simple maps can predict: the ceiling under the pix2pix target.

Reads the pairs ``bench/train_translate.py`` made (``--work DIR`` keeps them: DIR/data/{A,B}/{train,val})
and scores, on the held-out photos, against the generator's output (RGB PSNR, mean over photos):

- identity: the input unchanged (the baseline the target is measured from);
- fitted on the training pairs, then applied to the held-out photos: the least-squares affine colour
  map (3×3 + offset) and a linear 5×5 colour filter (75 weights per output channel + offset);
- oracles, fitted on each held-out photo's own output (not reachable by any trained model): its
  mean colour shift, and its own affine colour map.

    python bench/train_translate.py --recipe pix2pix --work /tmp/t --minutes 1   # makes the pairs
    python bench/translate_baselines.py /tmp/t/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

FILTER = 5


def _load(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255 for p in sorted(folder.glob("*.png"))}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((np.clip(a, 0, 1) - b) ** 2)))


def _affine_features(a: np.ndarray) -> np.ndarray:
    return np.c_[a.reshape(-1, 3), np.ones(a.shape[0] * a.shape[1])]


def _filter_features(a: np.ndarray) -> np.ndarray:
    """Each pixel's FILTER × FILTER neighbourhood (reflect-padded), all channels, plus a constant."""
    t = torch.from_numpy(a).permute(2, 0, 1)[None]
    patches = F.unfold(F.pad(t, (FILTER // 2,) * 4, mode="reflect"), FILTER)[0].T.numpy()
    return np.c_[patches, np.ones(len(patches))]


def _fit(features, pairs) -> np.ndarray:
    """Least squares over all training pixels, accumulated as normal equations (small memory)."""
    gram = sum(features(a).T @ features(a) for a, _ in pairs)
    cross = sum(features(a).T @ b.reshape(-1, 3) for a, b in pairs)
    return np.linalg.solve(gram + 1e-6 * np.eye(len(gram)), cross)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="the data folder train_translate.py made (A/, B/ with train/ and val/)")
    args = p.parse_args()
    train_a, train_b = _load(args.data / "A/train"), _load(args.data / "B/train")
    val_a, val_b = _load(args.data / "A/val"), _load(args.data / "B/val")
    pairs = [(train_a[k], train_b[k]) for k in train_a]
    affine, linear = _fit(_affine_features, pairs), _fit(_filter_features, pairs)
    rows: dict[str, list[float]] = {k: [] for k in (
        "identity", "affine colour map (trained)", f"linear {FILTER}×{FILTER} filter (trained)",
        "oracle: own mean colour shift", "oracle: own affine colour map")}
    for name, a in val_a.items():
        b = val_b[name]
        own = np.linalg.lstsq(_affine_features(a), b.reshape(-1, 3), rcond=None)[0]
        for key, prediction in zip(rows, (
                a, (_affine_features(a) @ affine).reshape(a.shape), (_filter_features(a) @ linear).reshape(a.shape),
                a + (b.mean((0, 1)) - a.mean((0, 1))), (_affine_features(a) @ own).reshape(a.shape))):
            rows[key].append(_psnr(prediction, b))
    print(f"{len(pairs)} training pairs, held out: {', '.join(val_a)}")
    for key, values in rows.items():
        per_photo = " / ".join(f"{v:.2f}" for v in values)
        print(f"  {key:34s} {np.mean(values):6.2f} dB ({per_photo}); {np.mean(values) - np.mean(rows['identity']):+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
