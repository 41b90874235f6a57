"""AuraSR fine-tuning on CPU: does the recipe improve a network on held-out degradations, how fast,
and how much memory does one step take.

No released weights are read here: a random-start UnetUpsampler at the release's depth (five up
and three down stages, six blocks each, attention in the middle and at the two coarsest up
stages) but reduced width (``--dim``; the release is 64) is trained with the full recipe — fresh
GigaGAN-style discriminator warmed up with the generator frozen, hinge + multi-scale + gradient
penalty + reconstruction, L1 anchor (no perceptual loss: VGG19 weights are not available offline)
— on crops of scikit-image's training photos, and scored on its held-out photos against the
starting weights and bicubic. This shows the machinery works, not AuraSR-v2's quality.

``--faces``: the faces of bench/train_gfpgan.py instead (those its RetinaFace finds in scikit-image's
astronaut and camera photos, aligned to ``--face-size`` px crops and written to a folder), trained
under the recipe's own Real-ESRGAN degradation and scored on the same faces under that degradation
drawn with seeds the run never draws (HELD_OUT_SEEDS).

    python bench/train_aurasr.py --minutes 10 --dim 8
    python bench/train_aurasr.py --faces --minutes 10 --dim 8
    python bench/train_aurasr.py --memory --dim 16 --gt-size 256   # peak RSS of one step, in a child process
    python bench/train_aurasr.py --memory --full --batch 1 --precision bf16

``--full`` is the release's size: fal's config.json (dim 64, 617.6 M parameters, random weights) and
the recipe's own discriminator, 256 px crops from 64 px inputs. ``--memory`` measures the step
that carries the gradient penalty (every ``gp_every``-th in training), and stops a child whose
resident memory passes ``--max-rss-gib``, reporting how far it got.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from train_gfpgan import DEFAULT_DETECTOR, MIN_FACE_SIZE, THRESHOLD, face_photos  # the GFPGAN bench's faces
from train_gfpgan import held_out as held_out_faces

from ganpost.gan_models.aurasr.config import RELEASE_CONFIG

PROBE_STEPS = 4
EVAL_CROP = 128  # held-out target side (input 32 px)


def network_config(dim: int) -> dict:
    """The release's config.json; at another width its attention keeps 8 heads (of max(dim, 8) channels)."""
    if dim == RELEASE_CONFIG["dim"]:
        return dict(RELEASE_CONFIG)
    return {**RELEASE_CONFIG, "dim": dim, "self_attn_dim_head": max(dim, 8)}


def settings(folder: Path, config: Path, output: Path, steps: int, warmup: int, args,
             degradation: str = "bicubic") -> list:
    """The recipe on CPU; with ``args.full`` its own discriminator, else a narrow one."""
    small_discriminator = [
        f"discriminator.multiscale_inputs=[{args.gt_size // 2}]", "discriminator.dim_capacity=8",
        "discriminator.dim_max=128", "discriminator.attn_resolutions=[8]", "discriminator.attn_heads=4",
        "discriminator.attn_dim_head=16"]
    return [f"data.train_dir={folder}", f"generator.config={config}", f"run.output_dir={output}",
            f"run.total_steps={steps}", f"data.gt_size={args.gt_size}", f"data.batch_size={args.batch}",
            f"data.degradation={degradation}", "losses.perceptual_weight=0", f"discriminator.warmup_steps={warmup}",
            *([] if args.full else small_discriminator), "optim.lr_g=5e-4", "optim.ema_warmup=true",
            f"run.device={args.device}", f"run.precision={args.precision}", "run.save_every=1000000", "run.log_every=10",
            *args.set]


def held_out(root: Path, max_images: int = 3) -> list:
    """(lq, gt) pairs: scikit-image's held-out photos, centre crops, bicubic ×4 down."""
    from ganpost.training.data import validation_images
    from ganpost.training.degradation import bicubic_downscale
    from ganpost.training.sample_data import write_split

    write_split(root)
    images = validation_images(root / "val", 4, max_images=max_images, crop=EVAL_CROP)
    return [(bicubic_downscale(gt, 4), gt) for _, gt, _ in images]


def write_faces(root: Path, size: int, detector: Path) -> np.ndarray:
    """The GFPGAN bench's faces aligned at ``size`` px, written to ``root/faces`` as PNG (also returned)."""
    from PIL import Image

    from ganpost.gan_models.loader import load_model
    from ganpost.training.face_data import prepare_faces

    crops, _ = prepare_faces(face_photos(root / "photos"), size, root / "face_cache",
                             load_detector=lambda: load_model(detector), detector_name=str(detector),
                             threshold=THRESHOLD, min_face_size=MIN_FACE_SIZE)
    (root / "faces").mkdir()
    for i, crop in enumerate(crops):
        Image.fromarray(crop).save(root / "faces" / f"face_{i}.png")
    return crops


def scores(network, pairs) -> dict:
    from ganpost.training.components.metrics import psnr, ssim
    from ganpost.training.validation import bicubic_upscale

    out = {"psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []}
    network = network.eval()
    device = next(network.parameters()).device
    for lq, gt in pairs:
        lq, gt = lq.cpu(), gt.cpu()
        with torch.no_grad():
            sr = network(lq.to(device), seed=0).clamp(0, 1).cpu()
        out["psnr"].append(psnr(sr, gt, 4))
        out["ssim"].append(ssim(sr, gt, 4))
        out["psnr_bicubic"].append(psnr(bicubic_upscale(lq, 4), gt, 4))
        out["ssim_bicubic"].append(ssim(bicubic_upscale(lq, 4), gt, 4))
    return {k: round(sum(v) / len(v), 4) for k, v in out.items()}


def fine_tune(args) -> dict:
    from ganpost.training.config import load_config
    from ganpost.training.run import Trainer

    root = Path(tempfile.mkdtemp(prefix="aurasr_bench_"))
    if args.faces:
        crops = write_faces(root, args.face_size, args.detector)
        folder, degradation = root / "faces", "realesrgan"
    else:
        pairs, folder, degradation = held_out(root), root / "train", "bicubic"
    config = root / "config.json"
    config.write_text(json.dumps(network_config(args.dim)))
    sets = settings(folder, config, root / "run", 10**9, args.warmup, args, degradation)
    torch.manual_seed(0)
    trainer = Trainer(load_config(recipe="aurasr", sets=sets))
    if args.faces:  # the recipe's own degradation, with seeds training never draws
        degrade = trainer.recipe.degrade
        pairs = held_out_faces(crops, lambda gt, generator: (degrade(gt, generator), gt))
    generator = trainer.network("generator")
    params = sum(p.numel() for p in generator.parameters())
    before = scores(_copy(generator), pairs)
    started = time.perf_counter()
    budget = args.minutes * 60
    warm = []
    while time.perf_counter() - started < budget:
        t0 = time.perf_counter()
        report = trainer.train_step()
        (warm if trainer.step <= args.warmup else []).append(time.perf_counter() - t0)
        if trainer.step % 50 == 0:
            print(f"step {trainer.step} {report.losses} {report.seconds_per_step:.2f} s", file=sys.stderr)
    elapsed = time.perf_counter() - started
    after = scores(_copy(trainer.emas["ema"].network), pairs)
    data = {"faces": len(crops), "face_size": args.face_size, "held_out_pairs": len(pairs)} if args.faces else {}
    return {"data": "faces" if args.faces else "photos", "degradation": degradation, **data, "dim": args.dim,
            "generator_params": params, "gt_size": args.gt_size, "batch": args.batch,
            "steps": trainer.step, "warmup_steps": args.warmup, "seconds": round(elapsed, 1),
            "steps_per_second": round(trainer.step / elapsed, 3), "held_out_before": before, "held_out_after": after}


def _copy(network):
    import copy

    return copy.deepcopy(network).float()


def one_step_memory(args) -> dict:
    """Peak resident memory of one training step above the memory after building (this process)."""
    from ganpost.training.config import load_config
    from ganpost.training.run import Trainer
    from ganpost.training.sample_data import write_split

    root = Path(tempfile.mkdtemp(prefix="aurasr_mem_"))
    write_split(root)
    config = root / "config.json"
    config.write_text(json.dumps(network_config(args.dim)))
    sets = settings(root / "train", config, root / "run", 10, 0, args)
    sets += ["losses.gp_every=1", f"generator.gradient_checkpointing={'true' if args.checkpointing else 'false'}"]
    trainer = Trainer(load_config(recipe="aurasr", sets=sets))
    started = time.perf_counter()
    trainer.train_step()  # first step: optimizer states exist from here on
    first = time.perf_counter() - started
    built = _rss_mib()
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    started = time.perf_counter()
    trainer.train_step()
    cuda = {"peak_cuda_allocated_mib": round(torch.cuda.max_memory_allocated(trainer.device) / 2**20),
            "peak_cuda_reserved_mib": round(torch.cuda.max_memory_reserved(trainer.device) / 2**20)} \
        if trainer.device.type == "cuda" else {}
    count = lambda networks: sum(p.numel() for n in networks for p in n.parameters())  # noqa: E731
    trained = sum(p.numel() for o in trainer.optimizers.values() for g in o.param_groups for p in g["params"]
                  if p.requires_grad)
    weights = count(trainer.networks.values()) + count(e.network for e in trainer.emas.values())
    return {"dim": args.dim, "gt_size": args.gt_size, "batch": args.batch, "checkpointing": args.checkpointing,
            "precision": args.precision, "generator_params": count([trainer.network("generator")]),
            "discriminator_params": count([trainer.network("discriminator")]), "trained_params": trained,
            # fp32 weights (networks and EMA), and a gradient and Adam's two moments per trained parameter
            "static_mib": round(4 * (weights + 3 * trained) / 2**20),
            "rss_after_first_step_mib": round(built), "peak_rss_mib": round(_peak_mib()), **cuda,
            "first_step_seconds": round(first, 1), "second_step_seconds": round(time.perf_counter() - started, 1)}


def measured_in_child(argv: list, checkpointing: bool, limit_gib: float) -> dict:
    """``one_step_memory`` in a child process, stopped if its resident memory passes ``limit_gib``."""
    flag = "--checkpointing" if checkpointing else "--no-checkpointing"
    child = subprocess.Popen([sys.executable, __file__, *argv, "--child", flag], stdout=subprocess.PIPE, text=True)
    highest, started = 0.0, time.perf_counter()
    while child.poll() is None:
        highest = max(highest, _rss_mib(child.pid))
        if highest > limit_gib * 1024:
            child.kill()
            child.wait()
            return {"checkpointing": checkpointing, "stopped_above_rss_mib": round(highest),
                    "seconds": round(time.perf_counter() - started)}
        time.sleep(0.1)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return json.loads(child.stdout.read().strip().splitlines()[-1])


def _rss_mib(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):  # the child has just exited
        return 0.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=8, help="base width (release: 64)")
    parser.add_argument("--full", action="store_true", help="the release's size: dim 64, the recipe's own "
                                                           "discriminator, 256 px crops")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (with --memory: also the peak CUDA memory)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: the engine's autocast")
    parser.add_argument("--gt-size", type=int, default=64, help="training crop at the output resolution")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=20, help="discriminator-only steps")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--faces", action="store_true", help="train and score on the GFPGAN bench's aligned faces")
    parser.add_argument("--face-size", type=int, default=128, help="aligned face crop side (--faces)")
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="RetinaFace weights (--faces)")
    parser.add_argument("--memory", action="store_true", help="measure one step's memory (with and without "
                                                              "gradient checkpointing unless one is given, each "
                                                              "in a child process)")
    parser.add_argument("--checkpointing", action=argparse.BooleanOptionalAction)
    parser.add_argument("--max-rss-gib", type=float, default=14.0, help="stop a --memory child above this")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help="any recipe setting, e.g. losses.gan_weight=0")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.faces and not args.detector.is_file():
        parser.error(f"no face detector at {args.detector}: pass --detector retinaface_mobilenet0.25.pth")
    if args.full:
        args.dim, args.gt_size = RELEASE_CONFIG["dim"], RELEASE_CONFIG["image_size"]
    if args.memory and not args.child:
        argv = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.endswith("checkpointing")]
        flags = (False, True) if args.checkpointing is None else (args.checkpointing,)
        result = [measured_in_child(argv, flag, args.max_rss_gib) for flag in flags]
    elif args.memory:
        result = one_step_memory(args)
    else:
        result = fine_tune(args)
    text = json.dumps(result, indent=None if args.child else 2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
