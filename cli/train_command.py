"""``ganpost train <recipe> ...``: one command per recipe in ``training.recipes.RECIPES``, generated from
what the recipe declares (``Recipe.command_line``: its flags and the settings they fill), then
flags → config → a run with a one-line progress display. No recipe is named in this file.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from pathlib import Path

from .batch import Terminated

# The flags every recipe's command has, after its own: flag → (setting it fills, argparse keywords).
SHARED_FLAGS = {
    "--config": (None, {"type": Path, "help": "a .toml or .yaml config with any of the recipe's settings"}),
    "--preset": (None, {}),
    "--output": (("run", "output_dir"), {"type": Path, "help": "run folder for checkpoints, logs and previews"}),
    "--resume": (None, {"action": "store_true", "help": "continue the run in --output from its last state"}),
    "--steps": (("run", "total_steps"), {"type": int, "help": "total optimizer steps"}),
    "--batch-size": (("data", "batch_size"), {"type": int}),
    "--device": (("run", "device"), {"help": "cpu, cuda, cuda:1, mps (default: the best available)"}),
    "--precision": (("run", "precision"), {"choices": ("auto", "fp32", "bf16", "fp16")}),
    "--models-dir": (None, {"type": Path, "help": "where model files are looked for and downloaded"}),
    "--set": (None, {"action": "append", "default": [], "metavar": "SECTION.KEY=VALUE"}),
    "--print-config": (None, {"action": "store_true", "help": "print the resolved config as JSON and exit"}),
}


def add_train_parser(sub) -> None:
    from ..training.recipes import RECIPES

    train = sub.add_parser("train", help="fine-tune a model on your own images")
    kinds = train.add_subparsers(required=True, metavar="FAMILY")
    for recipe in RECIPES.values():
        if recipe.command_line is not None:
            add_recipe_parser(kinds, recipe)


def add_recipe_parser(kinds, recipe) -> None:
    """``ganpost train <recipe.name>`` from ``recipe.command_line``."""
    declared = recipe.command_line
    p = kinds.add_parser(recipe.name, help=declared.summary, description=declared.summary)
    for flag in declared.flags:
        if flag.switch is not None:
            p.add_argument(flag.flag, action="store_true", help=flag.help)
        else:
            p.add_argument(flag.flag, type=flag.type, choices=flag.choices, help=flag.help)
    worded = {"--preset": f"base recipe: {_presets_text(recipe)}",
              "--set": f"any config value, e.g. --set {declared.set_example} (repeatable)", **declared.shared_help}
    for name, (_, keywords) in SHARED_FLAGS.items():
        p.add_argument(name, **{**keywords, **({"help": worded[name]} if name in worded else {})})
    p.set_defaults(run=run_recipe, recipe=recipe.name)


def _presets_text(recipe) -> str:
    """``realesrgan-x4plus (default, the official fine-tune), realesrnet-x4plus (L1 only), ...``."""
    texts = []
    for name, note in recipe.command_line.presets.items():
        words = ", ".join(w for w in ("default" if name == recipe.default_preset else "", note) if w)
        texts.append(f"{name} ({words})" if words else name)
    return ", ".join(texts)


def flag_overrides(recipe, args) -> dict:
    """The settings the given flags fill, as ``{section: {key: value}}`` (flags not given leave theirs alone)."""
    pairs = {}
    for flag in recipe.command_line.flags:
        pairs.update(flag.settings(getattr(args, _dest(flag.flag))))
    for name, (setting, _) in SHARED_FLAGS.items():
        value = getattr(args, _dest(name))
        if setting is not None and value is not None:
            pairs[setting] = str(value) if isinstance(value, Path) else value
    out: dict = {}
    for (section, key), value in pairs.items():
        out.setdefault(section, {})[key] = value
    return out


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


# --- running ------------------------------------------------------------------------------------

def resolve_config(args):
    from ..training.config import load_config
    from ..training.config_schema import to_dict
    from ..training.recipes import recipe_named

    recipe = recipe_named(args.recipe)
    overrides = flag_overrides(recipe, args)
    if args.resume and not args.config:
        from ..training.config import saved_config

        if args.output is None:
            raise SystemExit("ganpost: error: --resume needs --output, the run folder to continue")
        saved = saved_config(args.output)
        if not isinstance(saved, recipe.config_type):
            raise SystemExit(f"ganpost: error: {args.output} is not a {recipe.name} run; resume it with its own "
                             "`ganpost train` command")
        return load_config(preset=None, base=to_dict(saved), overrides=overrides, sets=args.set, recipe=recipe.name)
    return load_config(args.config, preset=args.preset, overrides=overrides, sets=args.set, recipe=recipe.name)


def _missing_setting(recipe, config) -> str | None:
    """The error for a required setting left empty (by the flag and the config alike), if any."""
    for flag in recipe.command_line.flags:
        if flag.required and not callable(flag.setting):
            section, key = flag.setting
            if not getattr(getattr(config, section), key):
                metavar = "DIR" if flag.type is Path else "VALUE"
                return f"ganpost: error: give {flag.required} with {flag.flag} {metavar} (or {section}.{key} in --config)"
    return None


def run_recipe(args) -> int:
    """``ganpost train <recipe>``: resolve the config, train with a progress line, say where the model is."""
    import json

    from ..training.config_schema import to_dict
    from ..training.engine import Trainer
    from ..training.engine.distributed import finish_processes
    from ..training.engine.run_folder import RunFolderError
    from ..training.recipes import recipe_named

    recipe = recipe_named(args.recipe)
    config = resolve_config(args)
    if args.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    missing = _missing_setting(recipe, config)
    if missing:
        raise SystemExit(missing)
    output = config.run.output_dir
    with StopOnSignals() as stop:
        bar = ProgressLine(stop=stop, scores=recipe.validation_text)
        try:
            trainer = Trainer(config, recipe=recipe, resume=args.resume, callbacks=bar, models_dir=args.models_dir)
        except RunFolderError as err:
            raise RunFolderError(f"{err}. {_run_folder_fix(err.kind, recipe.name, output)}", err.kind) from None
        print(f"ganpost: training {recipe.name}: {recipe.describe(config)} on {trainer.device}, "
              f"steps {trainer.step} → {config.run.total_steps}; run folder {output}", file=sys.stderr)
        stop.training = True
        result = trainer.fit()
    bar.finish()
    if result.interrupted:
        print(f"ganpost: stopped at step {result.step}{stop.reason}; saved. Continue with: ganpost train "
              f"{recipe.name} --output {output} --resume", file=sys.stderr)
        code = stop.exit_status
    else:
        print(f"ganpost: done, step {result.step}. Model: {result.generator}{recipe.command_line.model_note}",
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

    def __init__(self, stream=None, width: int = 20, stop=None, scores=None):
        self.stream = stream or sys.stderr  # looked up now: sys.stderr may have been replaced since import
        self.scores = scores
        """The recipe's ``validation_text``: metrics → words."""
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
        scores = self.scores(metrics) if self.scores else ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self.stream.write(f"\nvalidation at step {step}: {scores}; preview {preview}\n")

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
