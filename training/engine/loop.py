"""The training engine: steps, accumulation, AMP, NaN skips, EMA, checkpoints, validation, resume.

What is trained, on what and against which losses comes from the recipe it is given (a subclass of
``training.recipes.base.Recipe``); this module runs any recipe and imports none. Every source of
randomness is either seeded from (seed, step, rank) or saved in the state, so a run resumed from its state continues exactly as if it had never stopped.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import warnings
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ...gan_models.errors import GanpostError
from ..config_schema import to_dict
from .distributed import Processes, start_processes, unwrap
from .ema import EMA
from .precision import amp_dtype
from .run_files import RunFiles
from .run_folder import RunFolder, RunFolderError
from .run_log import RunLog
from .sampling import SampleIds
from .schedule import build_scheduler
from .seeding import seed_everything
from .state import collect_state, restore_state

log = logging.getLogger(__name__)


class CheckpointWriteError(GanpostError, OSError):
    """A checkpoint or state could not be written; the previous ones are intact. (An OSError too, as
    the failed write itself was before.)"""


class TrainingDivergedError(GanpostError):
    """Too many consecutive steps with a NaN or infinite loss."""


@dataclass
class StepReport:
    step: int
    total: int
    losses: dict[str, float]
    lr: float
    seconds_per_step: float
    skipped: bool = False

    @property
    def eta_seconds(self) -> float:
        return (self.total - self.step) * self.seconds_per_step


@dataclass
class TrainingResult:
    step: int
    generator: Path | None
    """The newest file of the recipe's main output (e.g. net_g_latest.pth)."""
    interrupted: bool
    validation: dict = field(default_factory=dict)


class Callbacks:
    """Hooks for a progress display (CLI bar, ComfyUI node); all optional."""

    def on_step(self, report: StepReport) -> None: ...

    def on_validation(self, step: int, metrics: dict, preview: Path | None) -> None: ...

    def on_checkpoint(self, step: int, path: Path) -> None: ...

    def should_stop(self) -> bool:
        return False


@dataclass
class Timings:
    """Seconds spent per part of the step, for the benchmark's share-outside-the-networks figure."""

    data: float = 0.0
    degradation: float = 0.0
    """Making the batch from the loaded samples (the recipe's ``make_batch``)."""
    networks: float = 0.0
    steps: int = 0


class Trainer:
    """Runs ``recipe`` (a ``Recipe`` class taking ``config``) for ``config.run.total_steps``.

    ``training.Trainer`` finds the recipe from the config's type; the engine is always given it.
    ``recipe_options`` go to the recipe (e.g. ``initial_generator``). For a recipe:
    ``networks`` (possibly DDP-wrapped, for forward passes that train), ``network(name)`` (the bare
    module), ``emas``, ``device``, ``step``, ``processes``, ``autocast()`` and ``models_dir``.
    """

    def __init__(self, config, *, recipe, resume: bool = False, callbacks: Callbacks | None = None,
                 processes: Processes | None = None, models_dir=None, synchronize_timings: bool = False,
                 **recipe_options):
        self.config = config
        self.callbacks = callbacks or Callbacks()
        self.processes = processes or start_processes()
        self.models_dir = models_dir
        self.device = self.processes.device(config.run.device)
        self.files = RunFiles(config.run.output_dir, recipe.output_names)
        self.folder = self._claim_run_folder(recipe, resume)
        try:
            self._start(recipe, resume, recipe_options)
        except BaseException:
            self.folder.release(undo=True)
            raise
        self.synchronize_timings = synchronize_timings
        self.timings = Timings()

    def _claim_run_folder(self, recipe, resume: bool) -> RunFolder:
        """The main process claims the run folder (lock, no overwriting); every process learns the outcome."""
        folder = RunFolder(self.files.root)
        refusal = None
        if self.processes.is_main:
            try:
                folder.claim(resume=resume, inputs=recipe.input_folders(self.config))
            except RunFolderError as err:
                refusal = err
        if not self.processes.all_agree(refusal is None, self.device):
            raise refusal or RunFolderError(f"{self.files.root}: the main process refused the run folder", "busy")
        return folder

    def _start(self, recipe, resume: bool, recipe_options: dict) -> None:
        if self.processes.is_main:
            self.files.remove_leftovers()
            self.files.write_config(to_dict(self.config))  # first: the folder is now recognisably this run's
        state = self.files.load_state() if resume else None
        self.step = 0
        self.bad_steps = 0
        seed_everything(self.config.run.seed)  # the same on every rank: identical initial networks
        self.recipe = recipe(self.config, self, **recipe_options)
        self._build(resuming=state is not None)
        if state is not None:
            restore_state(self, state)
        self.saved_step = self.step
        self._build_data()
        self.run_log = RunLog(self.files.log, self.files.root / "tensorboard", enabled=self.processes.is_main)

    # ----------------------------------------------------------------------------------- set-up
    def _build(self, resuming: bool) -> None:
        recipe, o = self.recipe, self.config.optim
        built = recipe.build_networks(resuming=resuming)
        self.networks = {name: self.processes.wrap(module, self.device, find_unused=recipe.skips_parameters(name))
                         for name, module in built.items()}
        self.emas = {key: EMA(self.network(source), o.ema_decay, warmup=o.ema_warmup)
                     for key, source in recipe.averaged().items()}
        self.optimizers, self.schedulers, self.scalers = {}, {}, {}
        self.amp_dtype = amp_dtype(self.config.run.precision, self.device)
        for key, spec in recipe.optimizers().items():
            self.optimizers[key] = torch.optim.Adam(self._parameter_groups(spec), lr=spec.lr,
                                                    betas=spec.betas or o.betas, weight_decay=o.weight_decay)
            self.schedulers[key] = build_scheduler(self.optimizers[key], o, self.config.run.total_steps)
            self.scalers[key] = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.phases = recipe.phases()
        unknown = [p.optimizer for p in self.phases if p.optimizer not in self.optimizers]
        if unknown:
            raise ValueError(f"recipe {recipe.name}: phase optimizer {unknown[0]!r} is not one of its optimizers "
                             f"({', '.join(self.optimizers)})")

    def _parameter_groups(self, spec) -> list:
        if spec.lr_scale is None:
            return [p for name in spec.networks for p in self.network(name).parameters()]
        groups: dict[float, list] = {}
        for name in spec.networks:
            for parameter_name, parameter in self.network(name).named_parameters():
                scale = float(spec.lr_scale(name, parameter_name))
                if scale > 0:
                    groups.setdefault(scale, []).append(parameter)
        ordered = sorted(groups.items(), key=lambda item: item[0] != 1.0)  # the reported lr is group 0's: the base
        return [{"params": params, "lr": spec.lr * scale} for scale, params in ordered]

    def _build_data(self) -> None:
        cfg, recipe = self.config, self.recipe
        dataset = recipe.dataset()
        done = self.step * cfg.optim.accumulation
        sampler = SampleIds(recipe.batch_size, done, self.processes.rank, self.processes.world)
        loader = torch.utils.data.DataLoader(dataset, batch_size=recipe.batch_size, sampler=sampler,
                                             num_workers=recipe.num_workers,
                                             pin_memory=self.device.type == "cuda",
                                             persistent_workers=recipe.num_workers > 0)
        self.batches = iter(loader)

    def network(self, name: str) -> nn.Module:
        """The bare module (no DDP wrapper) of one of the recipe's networks."""
        return unwrap(self.networks[name])

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ------------------------------------------------------------------------------------ the step
    def train_step(self) -> StepReport:
        cfg = self.config
        accumulation = cfg.optim.accumulation
        started = time.perf_counter()
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = defaultdict(float)
        finite = True
        for micro in range(accumulation):
            t0 = time.perf_counter()
            samples = next(self.batches)
            t1 = self._tick()
            batch = self.recipe.make_batch(samples, micro)
            t2 = self._tick()
            self.timings.data += t1 - t0
            self.timings.degradation += t2 - t1
            for phase in self.phases:  # later phases see what earlier ones left in ``batch``
                losses = self.recipe.losses(phase.name, batch)
                if not losses:  # nothing to train in this phase this step (a warm-up)
                    continue
                finite = self._backward(losses, self.scalers[phase.optimizer], accumulation, totals)
                if not finite:
                    break
            self.timings.networks += self._tick() - t2
            if not finite:
                break
        t3 = self._tick()
        if finite:
            for key, optimizer in self.optimizers.items():
                self._apply(optimizer, self.scalers[key])
            for key, source in self.recipe.averaged().items():
                self.emas[key].update(self.network(source), self.step)
            self.bad_steps = 0
        else:
            self._skip_bad_step()
        with warnings.catch_warnings():  # a skipped step still moves the schedule: it is indexed by step
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            for scheduler in self.schedulers.values():
                scheduler.step()
        self.step += 1
        t4 = self._tick()
        self.timings.networks += t4 - t3
        self.timings.steps += 1
        first = next(iter(self.optimizers.values()))
        return StepReport(self.step, cfg.run.total_steps, dict(totals), first.param_groups[0]["lr"],
                          t4 - started, skipped=not finite)

    def _backward(self, losses: dict[str, torch.Tensor], scaler, accumulation: int, totals: dict) -> bool:
        """Backpropagate one micro-batch's losses; False, with nothing done, if any rank's sum is not finite.

        A phase may return no losses (nothing of its own to train this step, e.g. a warm-up)."""
        if not losses:
            return True
        total = sum(losses.values())
        if not self.processes.all_agree(bool(torch.isfinite(total)), self.device):
            return False
        scaler.scale(total / accumulation).backward()
        for name, value in losses.items():
            totals[name] += value.item() / accumulation
        return True

    def step_optimizer(self, key: str) -> None:
        """Optimizer ``key`` takes its step now, inside the step, for a recipe whose later phase must
        see the update (pix2pix's D, as in the official trainer). Its gradients are then cleared, so
        the step's end passes it by; clipping and loss scaling stay those of :meth:`_apply`. A
        non-finite loss in a later phase then skips only the other optimizers' steps."""
        optimizer = self.optimizers[key]
        self._apply(optimizer, self.scalers[key])
        optimizer.zero_grad(set_to_none=True)

    def _apply(self, optimizer: torch.optim.Optimizer, scaler) -> None:
        if all(p.grad is None for g in optimizer.param_groups for p in g["params"]):
            return  # its networks took no part this step (frozen for a warm-up): leave them and their state alone
        clip = self.config.optim.grad_clip
        if clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
        scaler.step(optimizer)
        scaler.update()

    def _skip_bad_step(self) -> None:
        self.bad_steps += 1
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)
        log.warning("step %d: non-finite loss, step skipped (%d in a row)", self.step + 1, self.bad_steps)
        if self.bad_steps >= self.config.run.max_bad_steps:
            raise TrainingDivergedError(
                f"{self.bad_steps} steps in a row had a NaN or infinite loss (last at step {self.step + 1}); "
                f"the run stopped. The last good checkpoint is in {self.files.models}. {self.recipe.divergence_advice}")

    def _tick(self) -> float:
        if self.synchronize_timings and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    # ------------------------------------------------------------------------------------ the run
    def fit(self) -> TrainingResult:
        """Train to ``run.total_steps`` or until stopped; the run folder is released at the end either way."""
        try:
            return self._fit()
        finally:
            self.folder.release()

    def _fit(self) -> TrainingResult:
        run = self.config.run
        log.info("training %s on %s from step %d to %d", self.recipe.name, self.device, self.step, run.total_steps)
        last_metrics: dict = {}
        in_step = False
        try:
            while self.step < run.total_steps:
                in_step = True
                report = self.train_step()
                in_step = False
                if report.skipped or self.step % run.log_every == 0 or self.step == run.total_steps:
                    self._log_step(report)
                self.callbacks.on_step(report)
                if self.step % run.save_every == 0 or self.step == run.total_steps:
                    self.save()
                if self.recipe.validates and (self.step % run.val_every == 0 or self.step == run.total_steps):
                    last_metrics = self.run_validation()
                if self._stop_requested():
                    break
        except KeyboardInterrupt:
            self._keep_finished_steps(in_step)
            self.run_log.close()
            return TrainingResult(self.saved_step if in_step else self.step, self._latest_output(), True, last_metrics)
        except CheckpointWriteError:
            self.run_log.close()  # saving again would fail the same way
            raise
        except BaseException:
            # A host's cancel raised from a progress callback (ComfyUI does this) lands between
            # steps: keep the finished steps, then let the host see its exception.
            self._keep_finished_steps(in_step)
            self.run_log.close()
            raise
        stopped = self.step < run.total_steps
        self._save_if_new()
        self.run_log.close()
        return TrainingResult(self.step, self._latest_output(), stopped, last_metrics)

    def _keep_finished_steps(self, in_step: bool) -> None:
        """Save after an interruption between steps; inside a step the networks may be half-updated
        (one optimizer stepped, another not), so the last saved state stands instead."""
        if in_step:
            log.warning("interrupted inside step %d; the state saved at step %d is kept", self.step + 1,
                        self.saved_step)
            return
        log.warning("stopped at step %d; saving", self.step)
        self._save_if_new()

    def _stop_requested(self) -> bool:
        stop = bool(self.callbacks.should_stop())
        return not self.processes.all_agree(not stop, self.device)

    def _save_if_new(self) -> None:
        if self.step != self.saved_step:
            self.save()

    def _latest_output(self) -> Path | None:
        path = self.files.output(self.recipe.main_output)
        return path if path.is_file() else None

    def _log_step(self, report: StepReport) -> None:
        values = {**report.losses, "lr": report.lr, "seconds_per_step": report.seconds_per_step}
        if report.skipped:
            values["skipped"] = True
        self.run_log.write("train", report.step, values)

    def run_validation(self) -> dict:
        preview = self.files.previews / f"step_{self.step:08d}.png"
        metrics = self.recipe.validate(preview)
        self.run_log.write("validation", self.step, metrics)
        log.info("step %d: validation %s", self.step, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        self.callbacks.on_validation(self.step, metrics, preview if preview.is_file() else None)
        return metrics

    # ----------------------------------------------------------------------------- checkpoints
    def save(self) -> None:
        """The recipe's output files (the main one first), then the full state, each written atomically.

        A write that fails (a full disk, a folder gone) stops the run with :class:`CheckpointWriteError`;
        every file is either the new one or the last good one, never a partial."""
        failure = None
        if self.processes.is_main:
            try:
                outputs = self.recipe.outputs()
                paths = [self.files.save_output(prefix, self.step, payload) for prefix, payload in outputs.items()]
                self.files.save_state(collect_state(self))
                self.files.prune(outputs, self.config.run.keep_checkpoints)
            except (OSError, RuntimeError) as err:
                if isinstance(err, RuntimeError) and "writ" not in str(err):  # not torch's failed-write error
                    raise
                failure = err
        if not self.processes.all_agree(failure is None, self.device):  # also the barrier after a save
            raise CheckpointWriteError(self._write_failure(failure)) from failure
        self.saved_step = self.step
        if self.processes.is_main:
            self.callbacks.on_checkpoint(self.step, paths[0])

    def _write_failure(self, err: BaseException | None) -> str:
        where = self.files.root
        if err is None:
            return f"another process could not save step {self.step}; the run stopped"
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "the write failed"
        try:
            reason += f"; {shutil.disk_usage(where).free / 2**20:,.0f} MiB free on that disk"
        except OSError:
            pass
        return (f"could not save step {self.step} in {where} ({reason}). The files saved at step {self.saved_step} "
                "are intact: free some space (or fix the folder) and resume the run")


def train(config, *, recipe, resume: bool = False, callbacks: Callbacks | None = None,
          models_dir=None) -> TrainingResult:
    """Run (or resume) ``recipe`` on ``config``."""
    return Trainer(config, recipe=recipe, resume=resume, callbacks=callbacks, models_dir=models_dir).fit()
