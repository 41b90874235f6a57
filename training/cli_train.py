"""``ganpost train realesrgan|pix2pix|cyclegan|aurasr|gfpgan ...``: flags → config → a run with a one-line progress display.

Imported lazily by the main CLI so ``ganpost upscale`` never pays for the training imports.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from pathlib import Path

from ..cli.batch import Terminated
from .engine.run_folder import RunFolderError


def add_train_parser(sub) -> None:
    train = sub.add_parser("train", help="fine-tune a model on your own images")
    kinds = train.add_subparsers(required=True, metavar="FAMILY")
    _add_realesrgan_parser(kinds)
    _add_translation_parser(kinds, "pix2pix", "pix2pix: paired images (A|B files, or two folders matched by name) "
                                              "in, an A→B generator out")
    _add_translation_parser(kinds, "cyclegan", "CycleGAN: two unpaired folders in, A→B and B→A generators out")
    _add_aurasr_parser(kinds)
    _add_gfpgan_parser(kinds)


# --- what every recipe's command takes ----------------------------------------------------------

def _add_run_flags(p, *, preset: str, set_example: str, precision: str | None = None,
                   output: str = "run folder for checkpoints, logs and previews",
                   steps: str = "total optimizer steps") -> None:
    p.add_argument("--config", type=Path, help="a .toml or .yaml config with any of the recipe's settings")
    p.add_argument("--preset", help=f"base recipe: {preset}")
    p.add_argument("--output", type=Path, help=output)
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last state")
    p.add_argument("--steps", type=int, help=steps)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help=precision)
    p.add_argument("--models-dir", type=Path, help="where model files are looked for and downloaded")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=f"any config value, e.g. --set {set_example} (repeatable)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")


def _run_pairs(args) -> dict:
    return {("data", "batch_size"): args.batch_size, ("run", "output_dir"): args.output,
            ("run", "total_steps"): args.steps, ("run", "device"): args.device, ("run", "precision"): args.precision}


def _nested(pairs: dict) -> dict:
    """``{(section, key): value}`` → ``{section: {key: value}}``, leaving out flags not given."""
    out: dict = {}
    for (section, key), value in pairs.items():
        if value is not None:
            out.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return out


# --- one parser per recipe ----------------------------------------------------------------------

def _add_realesrgan_parser(kinds) -> None:
    p = kinds.add_parser("realesrgan", help="Real-ESRGAN (RRDBNet or compact): a folder of images in, a model out")
    p.add_argument("--data", type=Path, help="folder of high-resolution training images")
    p.add_argument("--lq", type=Path, help="folder of matching low-resolution images (paired training)")
    p.add_argument("--val", type=Path, help="folder of held-out high-resolution images for validation")
    p.add_argument("--pretrained", help="generator to start from: a file or an official name")
    p.add_argument("--discriminator", help="discriminator to start from, e.g. RealESRGAN_x4plus_netD.pth")
    p.add_argument("--gt-size", type=int, help="training crop side at the output resolution")
    _add_run_flags(p, preset="realesrgan-x4plus (default, the official fine-tune), realesrnet-x4plus (L1 only), "
                             "compact-x4-clean (our default model's)", set_example="losses.gan_weight=0.05")
    p.set_defaults(run=run_recipe, recipe="realesrgan", flag_overrides=_realesrgan_overrides,
                   needs_train_dir=True, starting=_realesrgan_start)


def _realesrgan_overrides(args) -> dict:
    out = _nested({
        ("data", "train_dir"): args.data, ("data", "lq_dir"): args.lq, ("data", "val_dir"): args.val,
        ("generator", "pretrained"): args.pretrained, ("discriminator", "pretrained"): args.discriminator,
        ("data", "gt_size"): args.gt_size, **_run_pairs(args),
    })
    if args.lq is not None:
        out["data"]["degradation"] = "paired"
    return out


def _realesrgan_start(config) -> str:
    return f"{config.generator.arch} ×{config.generator.scale}"


def _add_translation_parser(kinds, name: str, summary: str) -> None:
    cycle = name == "cyclegan"
    p = kinds.add_parser(name, help=summary, description=summary)
    if not cycle:
        p.add_argument("--data", type=Path, help="folder of aligned training images, A and B side by side (official)")
    p.add_argument("--data-a", type=Path, help="folder of domain A images" + ("" if cycle else
                                                                            " (paired with --data-b by file name)"))
    p.add_argument("--data-b", type=Path, help="folder of domain B images")
    p.add_argument("--val", type=Path, help="held-out aligned A|B images: PSNR and a preview at each validation")
    p.add_argument("--val-a", type=Path, help="held-out A images, paired with --val-b by file name")
    p.add_argument("--val-b", type=Path, help="held-out B images")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), help="which side is the input (default AtoB)")
    p.add_argument("--pretrained", help="generator to fine-tune" + (" as G_A" if cycle else "") +
                                        ", e.g. a latest_net_G.pth; its architecture comes from the file")
    if cycle:
        p.add_argument("--pretrained-b", help="G_B to fine-tune (default: fresh, with G_A's architecture)")
    p.add_argument("--discriminator", help="discriminator to continue from" + (" as D_A" if cycle else ""))
    p.add_argument("--load-size", type=int, help="images are resized to this square first (official 286)")
    p.add_argument("--crop-size", type=int, help="random training crop side (official 256)")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    finetune = "" if cycle else ", pix2pix-finetune (a --pretrained ResNet translator to a new look)"
    _add_run_flags(p, preset=f"{name} (default, the official one){finetune}", set_example="losses.l1_weight=50",
                   steps="total optimizer steps (official: 200 epochs = 200 × images / batch)")
    p.set_defaults(run=run_recipe, recipe=name, flag_overrides=_translation_overrides, starting=_translation_start)


def _translation_overrides(args) -> dict:
    return _nested({
        ("data", "dir"): getattr(args, "data", None), ("data", "dir_a"): args.data_a, ("data", "dir_b"): args.data_b,
        ("data", "val_dir"): args.val, ("data", "val_dir_a"): args.val_a, ("data", "val_dir_b"): args.val_b,
        ("data", "direction"): args.direction, ("data", "load_size"): args.load_size,
        ("data", "crop_size"): args.crop_size, ("data", "flip"): False if args.no_flip else None,
        ("generator", "pretrained"): args.pretrained, ("generator", "pretrained_b"): getattr(args, "pretrained_b", None),
        ("discriminator", "pretrained"): args.discriminator, **_run_pairs(args),
    })


def _translation_start(config) -> str:
    g = config.generator
    net = f"fine-tuning {g.pretrained}" if g.pretrained else f"{g.net} ({g.norm} norm)"
    return f"{config.data.direction}, {net}"


def _add_aurasr_parser(kinds) -> None:
    summary = "AuraSR ×4: fine-tune fal's UnetUpsampler (e.g. AuraSR-v2) on a folder of images"
    p = kinds.add_parser("aurasr", help=summary, description=summary)
    p.add_argument("--data", type=Path, help="folder of high-resolution training images")
    p.add_argument("--val", type=Path, help="folder of held-out high-resolution images for validation")
    p.add_argument("--pretrained", help="generator to start from: AuraSR-v2, AuraSR, or a file our loader reads")
    p.add_argument("--model-config", type=Path, help="config.json of the generator (a fresh one, or a file without one)")
    p.add_argument("--discriminator", help="discriminator of an earlier run to continue from (net_d_latest.safetensors)")
    p.add_argument("--degradation", choices=("realesrgan", "bicubic"),
                   help="how inputs are made: Real-ESRGAN's degradation (default) or a clean bicubic downscale")
    p.add_argument("--warmup-steps", type=int, help="steps that train only the discriminator (default 1000)")
    p.add_argument("--gt-size", type=int, help="training crop side at the output resolution (default 256)")
    _add_run_flags(p, preset="aurasr-finetune (default)", set_example="losses.gan_weight=0.05",
                   precision="auto: bf16 autocast on CUDA")
    p.set_defaults(run=run_recipe, recipe="aurasr", flag_overrides=_aurasr_overrides, needs_train_dir=True,
                   starting=_aurasr_start, model_note=" (with config.json beside it)")


def _aurasr_overrides(args) -> dict:
    return _nested({
        ("data", "train_dir"): args.data, ("data", "val_dir"): args.val, ("data", "degradation"): args.degradation,
        ("data", "gt_size"): args.gt_size,
        ("generator", "pretrained"): args.pretrained, ("generator", "config"): args.model_config,
        ("discriminator", "pretrained"): args.discriminator, ("discriminator", "warmup_steps"): args.warmup_steps,
        **_run_pairs(args),
    })


def _aurasr_start(config) -> str:
    start = config.generator.pretrained or f"a fresh network ({config.generator.config})"
    return f"fine-tuning from {start}, discriminator warm-up to step {config.discriminator.warmup_steps}"


def _add_gfpgan_parser(kinds) -> None:
    summary = ("GFPGAN v1.4 / v1.3 (clean): a folder of face photos in (any size: faces are found, aligned and "
               "cached), a restorer plus its v1-layout discriminators out")
    p = kinds.add_parser("gfpgan", help=summary, description=summary)
    p.add_argument("--data", type=Path, help="folder of photos with faces")
    p.add_argument("--aligned", action="store_true", help="the photos are aligned face crops already (FFHQ-style)")
    p.add_argument("--val", type=Path, help="held-out face photos: PSNR/SSIM on fixed degradations and a preview")
    p.add_argument("--pretrained", help="generator to fine-tune: GFPGANv1.4, GFPGANv1.3 or a GFPGANv1Clean file")
    p.add_argument("--train", choices=("encoder", "all"),
                   help="encoder (default): the StyleGAN2 decoder stays frozen; all: everything learns")
    p.add_argument("--discriminator", help="global discriminator to continue from (GFPGANv1_net_d.pth)")
    p.add_argument("--components", type=Path, help="folder with GFPGANv1_net_d_left_eye/right_eye/mouth.pth")
    p.add_argument("--warmup", type=int, help="steps that train only the discriminators first (default 5000)")
    p.add_argument("--detector", help="RetinaFace file or name (default retinaface_resnet50)")
    _add_run_flags(p, preset="gfpgan-v1.4-finetune (default)", set_example="losses.style_weight=0",
                   output="run folder for checkpoints, logs, previews and the face cache")
    p.set_defaults(run=run_recipe, recipe="gfpgan", flag_overrides=_gfpgan_overrides, starting=_gfpgan_start)


def _gfpgan_overrides(args) -> dict:
    components = {}
    if args.components is not None:
        components = {("discriminator", part): str(args.components / f"GFPGANv1_net_d_{part}.pth")
                      for part in ("left_eye", "right_eye", "mouth")}
    return _nested({
        ("data", "dir"): args.data, ("data", "aligned"): True if args.aligned else None, ("data", "val_dir"): args.val,
        ("data", "detector"): args.detector,
        ("generator", "pretrained"): args.pretrained, ("generator", "train"): args.train,
        ("discriminator", "pretrained"): args.discriminator, ("discriminator", "warmup_steps"): args.warmup,
        **components, **_run_pairs(args),
    })


def _gfpgan_start(config) -> str:
    g = config.generator
    return f"fine-tuning {g.pretrained or 'a fresh GFPGANv1Clean'} ({g.train})"


# --- running ------------------------------------------------------------------------------------

def resolve_config(args):
    from .config import load_config
    from .config_schema import to_dict

    recipe = args.recipe
    overrides = args.flag_overrides(args)
    if args.resume and not args.config:
        from .config import saved_config
        from .recipes import recipe_named

        if args.output is None:
            raise SystemExit("ganpost: error: --resume needs --output, the run folder to continue")
        saved = saved_config(args.output)
        if not isinstance(saved, recipe_named(recipe).config_type):
            raise SystemExit(f"ganpost: error: {args.output} is not a {recipe} run; resume it with its own "
                             "`ganpost train` command")
        return load_config(preset=None, base=to_dict(saved), overrides=overrides, sets=args.set, recipe=recipe)
    return load_config(args.config, preset=args.preset, overrides=overrides, sets=args.set, recipe=recipe)


def run_recipe(args) -> int:
    """``ganpost train <recipe>``: resolve the config, train with a progress line, say where the model is."""
    import json

    from .config_schema import to_dict

    config = resolve_config(args)
    if args.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    if getattr(args, "needs_train_dir", False) and not config.data.train_dir:
        raise SystemExit("ganpost: error: give the training images with --data DIR (or data.train_dir in --config)")
    from .engine import Trainer
    from .engine.distributed import finish_processes

    output = config.run.output_dir
    with StopOnSignals() as stop:
        bar = ProgressLine(stop=stop)
        try:
            trainer = Trainer(config, resume=args.resume, callbacks=bar, models_dir=args.models_dir)
        except RunFolderError as err:
            raise RunFolderError(f"{err}. {_run_folder_fix(err.kind, args.recipe, output)}", err.kind) from None
        print(f"ganpost: training {args.recipe}: {args.starting(config)} on {trainer.device}, "
              f"steps {trainer.step} → {config.run.total_steps}; run folder {output}", file=sys.stderr)
        stop.training = True
        result = trainer.fit()
    bar.finish()
    if result.interrupted:
        print(f"ganpost: stopped at step {result.step}{stop.reason}; saved. Continue with: ganpost train "
              f"{args.recipe} --output {output} --resume", file=sys.stderr)
        code = stop.exit_status
    else:
        print(f"ganpost: done, step {result.step}. Model: {result.generator}{getattr(args, 'model_note', '')}",
              file=sys.stderr)
        code = 0
    finish_processes(code)
    return code


def _run_folder_fix(kind: str, recipe: str, output) -> str:
    return {
        "saved": f"Continue it with: ganpost train {recipe} --output {output} --resume; or give the new run "
                 "another --output",
        "busy": "Wait for that run to finish, or give this one another --output",
        "overlap": "Give --output a folder outside the image folders",
    }.get(kind, "Give --output a new or empty folder")


class StopOnSignals:
    """Ctrl-C or SIGTERM (docker, systemd and SLURM stop jobs with it) while training: finish the
    step, save, and exit 130 / 143. A second signal stops at once, keeping the last saved state.
    Before training starts (loading, caching faces) there is nothing to save: a signal stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.training = False
        self.received: int | None = None
        self._previous: dict = {}

    def __enter__(self):
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread (an embedding application): its signals stay its own
            self._previous = {}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        first = self.received is None
        self.received = signum
        if not self.training or not first:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        print(f"\nganpost: {signal.Signals(signum).name} received: saving after this step "
              "(again to stop at once, keeping the last save)", file=sys.stderr, flush=True)

    def should_stop(self) -> bool:
        return self.received is not None

    @property
    def reason(self) -> str:
        return " (terminated)" if self.received == signal.SIGTERM else ""

    @property
    def exit_status(self) -> int:
        return 128 + (self.received or signal.SIGINT)


class ProgressLine:
    """``step 120/4000 ▕███····▏ 3% l_pix 0.031 … 1.20 s/it ETA 1:17:40`` redrawn in place."""

    WINDOW = 50
    """Steps the speed is averaged over: one slow step (a save, a validation) doesn't swing the ETA."""

    def __init__(self, stream=None, width: int = 20, stop=None):
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced since import
        self.width, self.last_draw = width, 0.0
        self.interactive = self.stream.isatty()
        self.stop = stop
        self.recent: deque[tuple[float, int]] = deque(maxlen=self.WINDOW + 1)

    def on_step(self, report) -> None:
        now = time.monotonic()
        self.recent.append((now, report.step))
        if self.interactive and now - self.last_draw < 0.2 and report.step != report.total:
            return
        if not self.interactive and report.step % 100 and report.step != report.total:
            return
        self.last_draw = now
        done = report.step / report.total
        filled = int(done * self.width)
        losses = " ".join(f"{k} {v:.4g}" for k, v in report.losses.items())
        per_step = self.seconds_per_step(report.seconds_per_step)
        eta = format_duration((report.total - report.step) * per_step)
        line = (f"step {report.step}/{report.total} ▕{'█' * filled}{'·' * (self.width - filled)}▏ {done:4.0%} "
                f"{losses} lr {report.lr:.2g} {per_step:.2f} s/it ETA {eta}")
        self.stream.write(("\r\033[K" if self.interactive else "") + line + ("" if self.interactive else "\n"))
        self.stream.flush()

    def seconds_per_step(self, last: float) -> float:
        """Wall time per step over the recent window (saves and validations included); the last
        step's own time until there are two steps to measure between."""
        (t0, s0), (t1, s1) = self.recent[0], self.recent[-1]
        return (t1 - t0) / (s1 - s0) if s1 > s0 else last

    def on_validation(self, step, metrics, preview) -> None:
        if "psnr_bicubic" not in metrics:  # a translation recipe: each direction against its input left as is
            scores = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
            self.stream.write(f"\nvalidation at step {step}: {scores} dB; preview {preview}\n")
            return
        self.stream.write(f"\nvalidation at step {step}: PSNR {metrics['psnr']:.2f} dB (bicubic "
                          f"{metrics['psnr_bicubic']:.2f}), SSIM {metrics['ssim']:.4f}; preview {preview}\n")

    def on_checkpoint(self, step, path) -> None:
        pass

    def should_stop(self) -> bool:
        return self.stop is not None and self.stop.should_stop()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")



def format_duration(seconds: float) -> str:
    """``1:02:03``, or ``2d 01:02:03`` past a day (a clock format would wrap at 24 hours)."""
    whole = int(max(seconds, 0))
    days, rest = divmod(whole, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}d {clock}" if days else clock
