"""GFPGAN fine-tuning, shown offline: does a short run improve PSNR/SSIM on held-out degradations, how fast
is a step, how much memory does it take.

    python bench/train_gfpgan.py                         # tiny random-start GFPGAN, 64 px faces, CPU
    python bench/train_gfpgan.py --steps 600 --size 256 --device cuda
    python bench/train_gfpgan.py --pretrained GFPGANv1.4 --size 512   # the released model, if you have it

Faces: the photos scikit-image ships in which our RetinaFace finds one (astronaut, cameraman),
detected with the shared ``retinaface_mobilenet0.25.pth`` (or ``--detector``), aligned and boxed by
the recipe's own data code. Held out: the same faces under degradations the run never draws (their
own seeds). Without VGG weights offline, perceptual and style losses are off here (a random VGG
would measure nothing); every other official loss runs. The released weights are not available
offline, so by default the generator starts random at a tiny width: the figures show the
machinery works, not restoration quality.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

DEFAULT_DETECTOR = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "retinaface_mobilenet0.25.pth"
FACE_PHOTOS = ("astronaut.png", "camera.png")
HELD_OUT_SEEDS = range(900_000, 900_006)
THRESHOLD, MIN_FACE_SIZE = 0.9, 32  # the detector's settings for these photos


def face_photos(folder: Path) -> Path:
    """``folder`` with copies of the FACE_PHOTOS in it (the recipe aligns every photo of its folder)."""
    from ganpost.training.sample_data import skimage_data_dir

    folder.mkdir(parents=True, exist_ok=True)
    for name in FACE_PHOTOS:
        shutil.copy(skimage_data_dir() / name, folder / name)
    return folder


def held_out(crops, degrade) -> list:
    """(lq, gt) pairs: every face under each held-out seed's degradation, in [0, 1]."""
    faces = torch.from_numpy(crops.transpose(0, 3, 1, 2)).float() / 255
    pairs = []
    for seed in HELD_OUT_SEEDS:
        lq, gt = degrade(faces, torch.Generator().manual_seed(seed))
        pairs += list(zip(lq.split(1), gt.split(1), strict=True))
    return pairs


def main() -> int:
    from ganpost.training.config import load_config
    from ganpost.training.engine import Timings
    from ganpost.training.run import Trainer
    from ganpost.training.recipes.gfpgan.recipe import validate_faces

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--size", type=int, default=64, help="face crop side")
    p.add_argument("--narrow", type=float, default=0.125, help="width of a fresh generator (1 = released)")
    p.add_argument("--warmup", type=int, default=20, help="discriminator-only steps first")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--pretrained", help="start from this GFPGANv1Clean file or name instead of a random one")
    p.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.detector.is_file():
        print(f"no face detector at {args.detector}: pass --detector retinaface_mobilenet0.25.pth", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="ganpost-bench-gfpgan-"))
    photos = face_photos(work / "photos")
    generator = [] if args.pretrained else [
        f"generator.out_size={args.size}", f"generator.narrow={args.narrow}", "generator.num_mlp=2",
        f"generator.num_style_feat={max(16, int(512 * args.narrow))}",
        "generator.train=all", "optim.ema_warmup=true"]  # a random start: no face prior to freeze or keep
    sets = [f"data.dir={photos}", f"data.detector={args.detector}", f"data.threshold={THRESHOLD}",
            f"data.min_face_size={MIN_FACE_SIZE}",
            f"data.batch_size={args.batch_size}", f"run.output_dir={work / 'run'}", f"run.device={args.device}",
            f"run.total_steps={args.steps}", "run.save_every=1000000", "run.log_every=1000000",
            f"discriminator.warmup_steps={args.warmup}", f"discriminator.narrow={args.narrow}",
            f"discriminator.component_num_feat={max(4, int(64 * args.narrow))}",
            "losses.perceptual_weight=0", "losses.style_weight=0", "losses.identity_weight=0", *generator,
            *([f"generator.pretrained={args.pretrained}"] if args.pretrained else []), *args.set]
    config = load_config(recipe="gfpgan", sets=sets)
    trainer = Trainer(config, synchronize_timings=True)
    recipe = trainer.recipe
    faces = held_out(recipe.training_faces.crops, recipe.degrade)
    ema = trainer.emas["ema"].network
    before = validate_faces(ema, faces, trainer.device)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    trainer.timings = Timings()
    start = time.perf_counter()
    losses = {}
    while trainer.step < args.steps:
        losses = trainer.train_step().losses
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    elapsed = time.perf_counter() - start
    after = validate_faces(ema, faces, trainer.device, work / "preview.png")
    t = trainer.timings
    result = {
        "device": str(trainer.device), "threads": torch.get_num_threads(), "face_size": recipe.face_size,
        "generator": args.pretrained or f"random GFPGANv1Clean narrow {args.narrow}",
        "generator_parameters": sum(p.numel() for p in trainer.network("generator").parameters()),
        "faces": len(recipe.training_faces.crops), "held_out_pairs": len(faces), "steps": args.steps,
        "batch_size": config.data.batch_size, "it_per_s": args.steps / elapsed, "seconds_per_it": elapsed / args.steps,
        "share_degradation": t.degradation / max(1e-9, t.data + t.degradation + t.networks),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "input": {"psnr": before["psnr_input"], "ssim": before["ssim_input"]},
        "start": {"psnr": before["psnr"], "ssim": before["ssim"]},
        "tuned": {"psnr": after["psnr"], "ssim": after["ssim"]}, "last_losses": losses,
        "preview": str(work / "preview.png"),
    }
    if trainer.device.type == "cuda":
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated(trainer.device) / 2**20
    print(f"GFPGAN fine-tune on {result['device']} ({result['threads']} threads): {result['generator']} "
          f"({result['generator_parameters'] / 1e6:.2f} M parameters), {result['face_size']} px faces, "
          f"{result['faces']} faces, batch {result['batch_size']}, {args.steps} steps ({args.warmup} D-only)")
    print(f"  held-out degradations ({len(faces)}): PSNR / SSIM (luma)")
    for key in ("input", "start", "tuned"):
        print(f"    {key:>6}: {result[key]['psnr']:6.2f} dB  {result[key]['ssim']:.4f}")
    print(f"  {result['it_per_s']:.3f} it/s ({result['seconds_per_it']:.3f} s/it), degradation "
          f"{result['share_degradation']:.1%} of the step; peak RSS {result['peak_rss_mib']:.0f} MiB" +
          (f", peak CUDA {result['peak_cuda_mib']:.0f} MiB" if "peak_cuda_mib" in result else ""))
    print(f"  preview (degraded | restored | target): {result['preview']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
