"""``ganpost train realesrgan ...``: flags → config → a run with a one-line progress display.

Imported lazily by the main CLI so ``ganpost upscale`` never pays for the training imports.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path



def add_train_parser(sub) -> None:
    train = sub.add_parser("train", help="fine-tune a model on your own images")
    kinds = train.add_subparsers(required=True, metavar="FAMILY")
    p = kinds.add_parser("realesrgan", help="Real-ESRGAN (RRDBNet or compact): a folder of images in, a model out")
    p.add_argument("--data", type=Path, help="folder of high-resolution training images")
    p.add_argument("--lq", type=Path, help="folder of matching low-resolution images (paired training)")
    p.add_argument("--val", type=Path, help="folder of held-out high-resolution images for validation")
    p.add_argument("--pretrained", help="generator to start from: a file or an official name")
    p.add_argument("--discriminator", help="discriminator to start from, e.g. RealESRGAN_x4plus_netD.pth")
    p.add_argument("--config", type=Path, help="a .toml or .yaml config (see `ganpost train realesrgan --help`)")
    p.add_argument("--preset", help="base recipe: realesrgan-x4plus (default, the official fine-tune), "
                                    "realesrnet-x4plus (L1 only), compact-x4-clean (our default model's)")
    p.add_argument("--output", type=Path, help="run folder for checkpoints, logs and previews")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last state")
    p.add_argument("--steps", type=int, help="total optimizer steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--gt-size", type=int, help="training crop side at the output resolution")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--models-dir", type=Path, help="where model files are looked for and downloaded")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any config value, e.g. --set losses.gan_weight=0.05 (repeatable)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    p.set_defaults(run=run_train)


def _flag_overrides(args) -> dict:
    pairs = {
        ("data", "train_dir"): args.data, ("data", "lq_dir"): args.lq, ("data", "val_dir"): args.val,
        ("generator", "pretrained"): args.pretrained, ("discriminator", "pretrained"): args.discriminator,
        ("run", "output_dir"): args.output, ("run", "total_steps"): args.steps,
        ("data", "batch_size"): args.batch_size, ("data", "gt_size"): args.gt_size,
        ("run", "device"): args.device, ("run", "precision"): args.precision,
    }
    out: dict = {}
    for (section, key), value in pairs.items():
        if value is not None:
            out.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    if args.lq is not None:
        out["data"]["degradation"] = "paired"
    return out


def resolve_config(args):
    from .config import load_config
    from .config_schema import to_dict

    overrides = _flag_overrides(args)
    if args.resume and not args.config:
        from .config import saved_config

        if args.output is None:
            raise SystemExit("ganpost: error: --resume needs --output, the run folder to continue")
        base = to_dict(saved_config(args.output))
        return load_config(preset=None, base=base, overrides=overrides, sets=args.set)
    return load_config(args.config, preset=args.preset, overrides=overrides, sets=args.set)


def run_train(args) -> int:
    import json

    from .config_schema import to_dict

    config = resolve_config(args)
    if args.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    if not config.data.train_dir:
        raise SystemExit("ganpost: error: give the training images with --data DIR (or data.train_dir in --config)")
    from .engine import Trainer

    bar = ProgressLine()
    trainer = Trainer(config, resume=args.resume, callbacks=bar, models_dir=args.models_dir)
    print(f"ganpost: training {config.generator.arch} ×{config.generator.scale} on {trainer.device}, "
          f"steps {trainer.step} → {config.run.total_steps}; run folder {config.run.output_dir}", file=sys.stderr)
    result = trainer.fit()
    bar.finish()
    if result.interrupted:
        print(f"ganpost: stopped at step {result.step}; saved. Continue with: ganpost train realesrgan "
              f"--output {config.run.output_dir} --resume", file=sys.stderr)
        return 130
    print(f"ganpost: done, step {result.step}. Model: {result.generator}", file=sys.stderr)
    return 0


class ProgressLine:
    """``step 120/4000 ▕███····▏ 3% l_pix 0.031 … 1.20 s/it ETA 1:17:40`` redrawn in place."""

    def __init__(self, stream=None, width: int = 20):
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced since import
        self.width, self.last_draw = width, 0.0
        self.interactive = self.stream.isatty()

    def on_step(self, report) -> None:
        now = time.monotonic()
        if self.interactive and now - self.last_draw < 0.2 and report.step != report.total:
            return
        if not self.interactive and report.step % 100 and report.step != report.total:
            return
        self.last_draw = now
        done = report.step / report.total
        filled = int(done * self.width)
        losses = " ".join(f"{k} {v:.4g}" for k, v in report.losses.items())
        eta = time.strftime("%H:%M:%S", time.gmtime(report.eta_seconds))
        line = (f"step {report.step}/{report.total} ▕{'█' * filled}{'·' * (self.width - filled)}▏ {done:4.0%} "
                f"{losses} lr {report.lr:.2g} {report.seconds_per_step:.2f} s/it ETA {eta}")
        self.stream.write(("\r\033[K" if self.interactive else "") + line + ("" if self.interactive else "\n"))
        self.stream.flush()

    def on_validation(self, step, metrics, preview) -> None:
        self.stream.write(f"\nvalidation at step {step}: PSNR {metrics['psnr']:.2f} dB (bicubic "
                          f"{metrics['psnr_bicubic']:.2f}), SSIM {metrics['ssim']:.4f}; preview {preview}\n")

    def on_checkpoint(self, step, path) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")

