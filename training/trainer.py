"""The training loop: generator step, discriminator step, EMA, checkpoints, validation, resume.

Every source of randomness is either seeded from (seed, step, rank) or saved in the state, so a
run resumed from its state continues exactly as if it had never stopped.
"""

from __future__ import annotations

import logging
import random
import re
import time
import warnings
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..gan_models.errors import GanpostError
from ..runtime.precision import DTYPES
from .config import TrainConfig
from .config_schema import from_dict, to_dict
from .data import HighResolutionCrops, PairedCrops, SampleIds, validation_images
from .downscale import bicubic_downscale
from .distributed import Processes, start_processes, unwrap
from .networks import EMA, build_generator
from .run_files import ResumeError, RunFiles
from .run_log import RunLog
from .schedule import build_scheduler
from .validation import validate

log = logging.getLogger(__name__)


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
    networks: float = 0.0
    steps: int = 0


class Trainer:
    def __init__(self, config: TrainConfig, *, resume: bool = False, callbacks: Callbacks | None = None,
                 processes: Processes | None = None, models_dir=None, synchronize_timings: bool = False,
                 initial_generator: nn.Module | None = None):
        """``initial_generator`` (a module with official names) replaces ``generator.pretrained``; it is copied."""
        self.config = config
        self.callbacks = callbacks or Callbacks()
        self.processes = processes or start_processes()
        self.files = RunFiles(config.run.output_dir)
        if self.processes.is_main:
            self.files.remove_leftovers()
        self.synchronize_timings = synchronize_timings
        self.timings = Timings()
        state = self.files.load_state() if resume else None
        self.device = self.processes.device(config.run.device)
        self._seed_everything(config.run.seed)  # the same on every rank: identical initial networks
        self._build(models_dir, from_state=state is not None, initial_generator=initial_generator)
        self.step = 0
        self.bad_steps = 0
        if state is not None:
            self._restore(state)
        self._build_data()
        self.run_log = RunLog(self.files.log, self.files.root / "tensorboard", enabled=self.processes.is_main)

    # ----------------------------------------------------------------------------------- set-up
    def _build(self, models_dir, from_state: bool, initial_generator: nn.Module | None) -> None:
        cfg, device = self.config, self.device
        generator = build_generator(cfg.generator, models_dir=models_dir, initial=initial_generator).to(device)
        if cfg.run.channels_last and device.type in ("cpu", "cuda"):
            generator = generator.to(memory_format=torch.channels_last)
        self.g = self.processes.wrap(generator, device)  # DDP broadcasts rank 0's weights here
        self.ema = EMA(generator, cfg.optim.ema_decay, warmup=cfg.optim.ema_warmup)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=o.lr_g, betas=o.betas, weight_decay=o.weight_decay)
        self.sched_g = build_scheduler(self.opt_g, o, cfg.run.total_steps)

        from .losses import GANLoss, PerceptualLoss, PixelLoss

        losses = cfg.losses
        self.pixel_loss = PixelLoss(losses.pixel_kind, losses.pixel_weight) if losses.pixel_weight > 0 else None
        self.perceptual_loss = None
        if losses.perceptual_weight > 0:
            from .vgg import load_vgg19_features, resolve_vgg19_weights

            vgg = load_vgg19_features(resolve_vgg19_weights(losses.vgg_weights, models_dir, download=True))
            self.perceptual_loss = PerceptualLoss(vgg.to(device), layer_weights=losses.perceptual_layers,
                                                  perceptual_weight=losses.perceptual_weight)
        self.d = self.opt_d = self.sched_d = self.gan_loss = None
        if cfg.discriminator.kind != "none" and losses.gan_weight > 0:
            from .discriminators import build_discriminator, load_discriminator

            d_cfg = cfg.discriminator
            if d_cfg.pretrained and not from_state:
                discriminator = load_discriminator(d_cfg.pretrained)
            elif d_cfg.kind == "unet":
                discriminator = build_discriminator("unet", num_feat=d_cfg.num_feat,
                                                    skip_connection=d_cfg.skip_connection)
            else:
                discriminator = build_discriminator("patchgan", num_feat=d_cfg.num_feat)
            discriminator = discriminator.to(device).train()
            self.d = self.processes.wrap(discriminator, device)
            self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=o.lr_d, betas=o.betas,
                                          weight_decay=o.weight_decay)
            self.sched_d = build_scheduler(self.opt_d, o, cfg.run.total_steps)
            self.gan_loss = GANLoss(losses.gan_kind, weight=losses.gan_weight)
        if self.pixel_loss is None and self.perceptual_loss is None and self.gan_loss is None:
            raise GanpostError("every loss weight is 0: set losses.pixel_weight, perceptual_weight or gan_weight")

        self.amp_dtype = _amp_dtype(cfg.run.precision, device)
        use_scaler = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=use_scaler)
        self.degrade = self.pool = None
        if cfg.data.degradation == "realesrgan" and not cfg.data.lq_dir:
            from .degradation import SecondOrderDegradation, TrainingPairPool

            self.degrade = SecondOrderDegradation(cfg.degradation, cfg.generator.scale)
            self.pool = TrainingPairPool(cfg.data.pool_size) if cfg.data.pool_size else None

    def _build_data(self) -> None:
        d, cfg = self.config.data, self.config
        seed = cfg.run.seed
        if d.degradation == "paired" or d.lq_dir:
            dataset = PairedCrops(d.train_dir, d.lq_dir, cfg.generator.scale, d.gt_size, seed=seed,
                                  hflip=d.use_hflip, rot=d.use_rot)
        else:
            dataset = HighResolutionCrops(d.train_dir, d.gt_size, seed=seed, hflip=d.use_hflip, rot=d.use_rot)
        done = self.step * cfg.optim.accumulation
        sampler = SampleIds(d.batch_size, done, self.processes.rank, self.processes.world)
        loader = torch.utils.data.DataLoader(dataset, batch_size=d.batch_size, sampler=sampler,
                                             num_workers=d.num_workers, pin_memory=self.device.type == "cuda",
                                             persistent_workers=d.num_workers > 0)
        self.batches = iter(loader)
        self.val_images = []
        if d.val_dir and self.processes.is_main:
            self.val_images = validation_images(d.val_dir, cfg.generator.scale, lq_folder=d.val_lq_dir,
                                                max_images=d.val_max_images, crop=d.val_crop)

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        torch.manual_seed(seed)

    # ------------------------------------------------------------------------------------ the step
    def _make_pair(self, batch: dict, micro: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input, target, sharpened target) on the device, for one micro-batch."""
        gt = batch["gt"].to(self.device, non_blocking=True)
        sharp = None
        if "lq" in batch:
            lq = batch["lq"].to(self.device, non_blocking=True)
        elif self.degrade is not None:
            rng = torch.Generator().manual_seed(_mix(self.config.run.seed, self.step, micro, self.processes.rank))
            with torch.no_grad():
                sharp = _sharpen(gt)  # the official recipe degrades the sharpened target
                lq = self.degrade(sharp, rng)
                if self.pool is not None:
                    lq, gt = self.pool.push_pull(lq, gt, rng)
                    sharp = None  # the pool swapped the targets: sharpen the ones that came out
        else:
            lq = bicubic_downscale(gt, self.config.generator.scale)
        losses = self.config.losses
        if sharp is None and (losses.sharpen_pixel_target or losses.sharpen_perceptual_target
                              or losses.sharpen_gan_target):
            with torch.no_grad():
                sharp = _sharpen(gt)
        if self.config.run.channels_last and self.device.type in ("cpu", "cuda"):
            lq = lq.contiguous(memory_format=torch.channels_last)
        return lq, gt, gt if sharp is None else sharp

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_step(self) -> StepReport:
        cfg = self.config
        accumulation = cfg.optim.accumulation
        started = time.perf_counter()
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_d is not None:
            self.opt_d.zero_grad(set_to_none=True)
        totals: dict[str, float] = defaultdict(float)
        finite = True
        for micro in range(accumulation):
            t0 = time.perf_counter()
            batch = next(self.batches)
            t1 = self._tick()
            lq, gt, sharp = self._make_pair(batch, micro)
            t2 = self._tick()
            self.timings.data += t1 - t0
            self.timings.degradation += t2 - t1
            losses_g, output = self._generator_losses(lq, gt, sharp)
            finite = self._backward(losses_g, self.scaler_g, accumulation, totals)
            if finite and self.d is not None:
                losses_d = self._discriminator_losses(output.detach(), gt, sharp)
                finite = self._backward(losses_d, self.scaler_d, accumulation, totals)
            self.timings.networks += self._tick() - t2
            if not finite:
                break
        t3 = self._tick()
        if finite:
            self._apply(self.opt_g, self.scaler_g, unwrap(self.g))
            if self.opt_d is not None:
                self._apply(self.opt_d, self.scaler_d, unwrap(self.d))
            self.ema.update(unwrap(self.g), self.step)
            self.bad_steps = 0
        else:
            self._skip_bad_step()
        with warnings.catch_warnings():  # a skipped step still moves the schedule: it is indexed by step
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.sched_g.step()
            if self.sched_d is not None:
                self.sched_d.step()
        self.step += 1
        t4 = self._tick()
        self.timings.networks += t4 - t3
        self.timings.steps += 1
        return StepReport(self.step, cfg.run.total_steps, dict(totals), self.opt_g.param_groups[0]["lr"],
                          t4 - started, skipped=not finite)

    def _backward(self, losses: dict[str, torch.Tensor], scaler, accumulation: int, totals: dict) -> bool:
        """Backpropagate one micro-batch's losses; False, with nothing done, if any rank's sum is not finite."""
        total = sum(losses.values())
        if not self.processes.all_agree(bool(torch.isfinite(total)), self.device):
            return False
        scaler.scale(total / accumulation).backward()
        for name, value in losses.items():
            totals[name] += value.item() / accumulation
        return True

    def _generator_losses(self, lq, gt, sharp) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        losses = self.config.losses
        with self._autocast():
            output = self.g(lq)
        output = output.float()
        out: dict[str, torch.Tensor] = {}
        if self.pixel_loss is not None:
            out["l_pix"] = self.pixel_loss(output, sharp if losses.sharpen_pixel_target else gt)
        if self.perceptual_loss is not None:
            with self._autocast():
                percep, style = self.perceptual_loss(output, sharp if losses.sharpen_perceptual_target else gt)
            if percep is not None:
                out["l_percep"] = percep.float()
            if style is not None:
                out["l_style"] = style.float()
        if self.gan_loss is not None:
            discriminator = unwrap(self.d)  # no DDP hooks: D's weights are frozen for this pass
            discriminator.requires_grad_(False)
            with self._autocast():
                fake = discriminator(output)
            out["l_g_gan"] = self.gan_loss(fake.float(), True, is_disc=False)
            discriminator.requires_grad_(True)
        return out, output

    def _discriminator_losses(self, fake_images: torch.Tensor, gt: torch.Tensor,
                              sharp: torch.Tensor) -> dict[str, torch.Tensor]:
        # The official recipe shows D the un-sharpened target as "real" (gan_gt_usm False).
        real_images = sharp if self.config.losses.sharpen_gan_target else gt
        with self._autocast():
            real = self.d(real_images)
            fake = self.d(fake_images)
        return {"l_d_real": self.gan_loss(real.float(), True, is_disc=True),
                "l_d_fake": self.gan_loss(fake.float(), False, is_disc=True)}

    def _apply(self, optimizer, scaler, network: nn.Module) -> None:
        clip = self.config.optim.grad_clip
        if clip > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(network.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()

    def _skip_bad_step(self) -> None:
        self.bad_steps += 1
        self.opt_g.zero_grad(set_to_none=True)
        if self.opt_d is not None:
            self.opt_d.zero_grad(set_to_none=True)
        log.warning("step %d: non-finite loss, step skipped (%d in a row)", self.step + 1, self.bad_steps)
        if self.bad_steps >= self.config.run.max_bad_steps:
            raise TrainingDivergedError(
                f"{self.bad_steps} steps in a row had a NaN or infinite loss (last at step {self.step + 1}); "
                f"the run stopped. The last good checkpoint is in {self.files.models}. Lower optim.lr_g / lr_d "
                "(e.g. halve them), set optim.grad_clip, or use precision bf16/fp32 instead of fp16.")

    def _tick(self) -> float:
        if self.synchronize_timings and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    # ------------------------------------------------------------------------------------ the run
    def fit(self) -> TrainingResult:
        run = self.config.run
        if self.processes.is_main:
            self.files.write_config(to_dict(self.config))
        log.info("training on %s from step %d to %d", self.device, self.step, run.total_steps)
        last_metrics: dict = {}
        saved_at = self.step
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
                    saved_at = self.step
                if self.val_images and (self.step % run.val_every == 0 or self.step == run.total_steps):
                    last_metrics = self.run_validation()
                if self._stop_requested():
                    break
        except KeyboardInterrupt:
            log.warning("interrupted at step %d; saving", self.step)
            self._save_if_new(saved_at)
            self.run_log.close()
            return TrainingResult(self.step, self._latest_generator(), True, last_metrics)
        except BaseException:
            # A host's cancel raised from a progress callback (ComfyUI does this) lands between
            # steps: keep the finished steps, then let the host see its exception.
            if not in_step:
                log.warning("stopped at step %d; saving", self.step)
                self._save_if_new(saved_at)
            self.run_log.close()
            raise
        stopped = self.step < run.total_steps
        self._save_if_new(saved_at)
        self.run_log.close()
        return TrainingResult(self.step, self._latest_generator(), stopped, last_metrics)

    def _stop_requested(self) -> bool:
        stop = bool(self.callbacks.should_stop())
        return not self.processes.all_agree(not stop, self.device)

    def _save_if_new(self, saved_at: int) -> None:
        if self.step != saved_at:
            self.save()

    def _latest_generator(self) -> Path | None:
        path = self.files.generator()
        return path if path.is_file() else None

    def _log_step(self, report: StepReport) -> None:
        values = {**report.losses, "lr": report.lr, "seconds_per_step": report.seconds_per_step}
        if report.skipped:
            values["skipped"] = True
        self.run_log.write("train", report.step, values)

    def run_validation(self) -> dict:
        preview = self.files.previews / f"step_{self.step:08d}.png"
        metrics = validate(self.ema.network, self.val_images, self.config.generator.scale, self.device, preview)
        self.run_log.write("validation", self.step, metrics)
        log.info("step %d: PSNR %.2f dB (bicubic %.2f), SSIM %.4f", self.step, metrics["psnr"],
                 metrics["psnr_bicubic"], metrics["ssim"])
        self.callbacks.on_validation(self.step, metrics, preview)
        return metrics

    # ----------------------------------------------------------------------------- checkpoints
    def save(self) -> None:
        """Generator (official layout), discriminator, then the full state, each written atomically."""
        if self.processes.is_main:
            generator = unwrap(self.g)
            path = self.files.save_generator(self.step, generator, self.ema.network)
            if self.d is not None:
                self.files.save_discriminator(self.step, unwrap(self.d))
            self.files.save_state(self._state())
            self.files.prune(self.config.run.keep_checkpoints)
            self.callbacks.on_checkpoint(self.step, path)
        self.processes.barrier()

    def _state(self) -> dict:
        state = {
            "format": "ganpost-train-state/1",
            "step": self.step,
            "bad_steps": self.bad_steps,
            "config": to_dict(self.config),
            "generator": unwrap(self.g).state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "rng_torch": torch.get_rng_state(),
        }
        if self.d is not None:
            state.update(discriminator=unwrap(self.d).state_dict(), opt_d=self.opt_d.state_dict(),
                         sched_d=self.sched_d.state_dict(), scaler_d=self.scaler_d.state_dict())
        if self.pool is not None:
            state["pool"] = self.pool.state_dict()
        return state

    def _restore(self, state: dict) -> None:
        if state.get("format") != "ganpost-train-state/1":
            raise ResumeError(f"{self.files.state}: not a ganpost training state")
        unwrap(self.g).load_state_dict(state["generator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        if self.d is not None:
            if "discriminator" not in state:
                raise ResumeError(f"{self.files.state}: was saved without a discriminator, but this config has one")
            unwrap(self.d).load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_d.load_state_dict(state["sched_d"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        if self.pool is not None and "pool" in state:
            self.pool.load_state_dict(state["pool"], self.device)
        torch.set_rng_state(state["rng_torch"])
        self.step, self.bad_steps = int(state["step"]), int(state["bad_steps"])


def saved_config(output_dir) -> TrainConfig:
    """The config a run folder was started with (for ``--resume`` without ``--config``)."""
    return from_dict(TrainConfig, RunFiles(output_dir).load_state()["config"]).validate()


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise GanpostError("run.precision fp16 needs a CUDA device; use bf16 or fp32 on this machine")
    return DTYPES[precision]


def _sharpen(images: torch.Tensor) -> torch.Tensor:
    from .degradation import usm_sharpen

    return usm_sharpen(images)


def _mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (the degradation RNG of one micro-batch)."""
    value = 0x9E3779B97F4A7C15
    for n in numbers:
        value = (value ^ (n + 0x632BE59BD9B4E019 + (value << 6) + (value >> 2))) & ((1 << 64) - 1)
    return value & ((1 << 63) - 1)


def train(config: TrainConfig, *, resume: bool = False, callbacks: Callbacks | None = None,
          models_dir=None) -> TrainingResult:
    """Run (or resume) a training run described by ``config``."""
    return Trainer(config, resume=resume, callbacks=callbacks, models_dir=models_dir).fit()


__all__ = ["Trainer", "Callbacks", "StepReport", "TrainingResult", "TrainingDivergedError", "train", "saved_config"]
