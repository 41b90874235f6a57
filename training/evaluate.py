"""Score an upscaler against bicubic on held-out photos (luma PSNR/SSIM, border shaved by the scale).

    python -m ganpost.training.evaluate --model ganpost-compact-x4 --data DIR [--lq DIR]

Each target is downscaled with antialiased bicubic (rounded to 8 bits) unless --lq gives the inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..gan_models.loader import load_model
from .data import validation_images
from .validation import validate


def evaluate(model_name: str, data: Path, lq: Path | None = None, device: str = "cpu",
             max_images: int = 100) -> list[tuple[str, dict]]:
    model = load_model(model_name)
    rows = []
    for item in validation_images(data, model.scale, lq_folder=lq, max_images=max_images):
        rows.append((item[0], validate(model.module, [item], model.scale, torch.device(device))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganpost.training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model file or name")
    parser.add_argument("--data", required=True, type=Path, help="folder of held-out high-resolution images")
    parser.add_argument("--lq", type=Path, help="folder of matching low-resolution inputs (default: bicubic)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rows = evaluate(args.model, args.data, args.lq, args.device)
    print(f"{'image':<16} {'PSNR model':>11} {'bicubic':>8} {'gain':>6} {'SSIM model':>11} {'bicubic':>8}")
    for name, m in rows:
        print(f"{name:<16} {m['psnr']:>11.2f} {m['psnr_bicubic']:>8.2f} {m['psnr_gain']:>+6.2f} "
              f"{m['ssim']:>11.4f} {m['ssim_bicubic']:>8.4f}")
    mean = {k: sum(m[k] for _, m in rows) / len(rows) for k in rows[0][1]}
    print(f"{'mean':<16} {mean['psnr']:>11.2f} {mean['psnr_bicubic']:>8.2f} {mean['psnr_gain']:>+6.2f} "
          f"{mean['ssim']:>11.4f} {mean['ssim_bicubic']:>8.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
