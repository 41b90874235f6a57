"""``ganpost sample-data``, ``ganpost export`` and ``ganpost evaluate``: the tools around training runs.

Top-level commands rather than ``ganpost train <tool>``: ``train``'s commands are the recipe table
(one per recipe, generated), where a tool's name could one day be a recipe's; and export and
evaluate work on any model file, not only a run's. ``python -m ganpost.training.<tool>`` still runs them.
"""

from __future__ import annotations

from pathlib import Path


def add_train_tool_parsers(sub) -> None:
    from .export_command import add_export_parser

    p = sub.add_parser("sample-data", help="write scikit-image's photos as a train/val split (offline sample data)",
                       description="Write the photos scikit-image ships as TARGET/train and TARGET/val (PNG): the "
                                   "split the default model was trained and scored on.")
    p.add_argument("target", type=Path, help="folder to write train/ and val/ into")
    p.set_defaults(run=_sample_data)

    add_export_parser(sub)  # weights or ONNX: its own module

    p = sub.add_parser("evaluate", help="score an upscaler against bicubic on held-out photos",
                       description="Score an upscaler against bicubic on held-out photos (luma PSNR/SSIM, border "
                                   "shaved by the scale). Each target is downscaled with antialiased bicubic "
                                   "(rounded to 8 bits) unless --lq gives the inputs.")
    p.add_argument("--model", required=True, help="model file or name")
    p.add_argument("--data", required=True, type=Path, help="folder of held-out high-resolution images")
    p.add_argument("--lq", type=Path, help="folder of matching low-resolution inputs (default: bicubic)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=_evaluate)


def _sample_data(args) -> int:
    from ..training.components.sample_photos import write_split

    for split, paths in write_split(args.target).items():
        print(f"{split}: {len(paths)} images in {args.target / split}")
    return 0


def _evaluate(args) -> int:
    from ..training.components.sr_validation import evaluate

    rows = evaluate(args.model, args.data, args.lq, args.device)
    print(f"{'image':<16} {'PSNR model':>11} {'bicubic':>8} {'gain':>6} {'SSIM model':>11} {'bicubic':>8}")
    for name, m in rows:
        print(f"{name:<16} {m['psnr']:>11.2f} {m['psnr_bicubic']:>8.2f} {m['psnr_gain']:>+6.2f} "
              f"{m['ssim']:>11.4f} {m['ssim_bicubic']:>8.4f}")
    mean = {k: sum(m[k] for _, m in rows) / len(rows) for k in rows[0][1]}
    print(f"{'mean':<16} {mean['psnr']:>11.2f} {mean['psnr_bicubic']:>8.2f} {mean['psnr_gain']:>+6.2f} "
          f"{mean['ssim']:>11.4f} {mean['ssim_bicubic']:>8.4f}")
    return 0
