"""How every image command runs: outputs checked before compute, the files streamed through the
command's stages (in this process or in worker processes), one line per result, the summary line,
the run's record, SIGTERM and Pillow's pixel limit.

A command supplies a module-level ``stages(args, device) -> FileStages`` (``stages``), called once
every output is known to be writable: it loads and checks its models (so a mistake costs seconds,
not a batch) and says how to read, compute and write one file.
"""

from __future__ import annotations

import logging
import signal
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from ..gan_models.errors import InvalidOptionError
from ..runtime.imaging.files import read_header
from ..runtime.memory import image_job_bytes, require_memory
from ..runtime.precision import resolve_device
from .console import console
from .failures import failure_line
from .flag_names import in_cli_terms
from .manifest import Manifest, settings_of
from .outputs import check_writable, collect_inputs, plan_outputs
from .placement import plan_workers
from .progress import files_bar, steps_bar
from .stages import StagesFactory
from .stream import InProcess, Job, Outcome
from .workers import SetupFailed, WorkerPool

log = logging.getLogger("ganpost.cli")
# Pillow's own refusal threshold (2 × its MAX_IMAGE_PIXELS), a 13,377² image: ×4 that is a 2.9-gigapixel
# output no viewer opens. Larger inputs are gigapixel scans and panoramas (--max-pixels 0) or forged
# headers. Whether a job fits the machine is checked apart, from the memory it needs (tasks.upscale).
DEFAULT_MAX_PIXELS = 178_956_970
DEFAULT_QUEUE_DEPTH = 2


def run_files(args, stages: StagesFactory) -> int:
    """Plan and check every output, build the stages, then stream the files through them."""
    with terminate_as_interrupt(), pixel_limit(args.max_pixels):
        placement = _placement(args)  # a missing GPU, Ray or device is said before anything is read
        files = collect_inputs(args.inputs)
        plan = plan_outputs(files, args.output, args.ext, overwrite=args.overwrite, skip_existing=args.skip_existing)
        check_writable([target for _, target in plan.jobs])
        manifest = _manifest(args, plan)
        if not plan.jobs:
            console.line(f"ganpost: nothing to do: all {len(plan.skipped)} outputs already exist")
            return 0
        jobs = [Job(index, source, target) for index, (source, target) in enumerate(plan.jobs, 1)]
        pool = _pool(placement, stages, args, jobs)  # in this process: the model loads now
        tally = _Tally(len(jobs), getattr(args, "cli_flags", {}), manifest)
        for note in plan.notes:
            console.line(f"ganpost: note: {note}")
        try:
            manifest.start()
            pool.run(group_jobs(jobs, getattr(args, "batch_size", 1) or 1), tally.report, tally.note)
        except SetupFailed:  # every worker refused the model or options: one line, as a one-process run
            tally.quiet = True
            raise
        finally:  # also after Ctrl-C / SIGTERM: what was done is worth knowing
            tally.close(len(plan.skipped))
        return 1 if tally.failed else 0


def _placement(args):
    """Where the files will run: ``"ray"``, a list of worker processes, or a device for this process."""
    if getattr(args, "ray", None) is not None:
        _check_ray(args)
        return "ray"
    workers = plan_workers(getattr(args, "devices", None), getattr(args, "workers", None), args.device)
    return workers or resolve_device(args.device)


def queue_depth(args) -> int:
    """--queue-depth, or its default where it was not given."""
    depth = getattr(args, "queue_depth", None)
    return DEFAULT_QUEUE_DEPTH if depth is None else depth


def _pool(placement, stages: StagesFactory, args, jobs: list[Job]):
    """What runs the groups: Ray actors, worker processes, or this process (each ``run(groups, report, note)``)."""
    depth = queue_depth(args)
    if placement == "ray":
        from .ray_pool import RayPool  # Ray is an optional extra

        return RayPool(stages, args, depth=depth)
    if isinstance(placement, list):
        console.line(f"ganpost: {len(jobs)} file(s) on {len(placement)} workers: "
                     + ", ".join(w.name for w in placement))
        return WorkerPool(stages, args, placement, depth=depth)
    built = stages(args, placement)
    if len(jobs) > 1:
        return InProcess(built, depth=depth)
    # One file: nothing to overlap; its own steps are the progress worth showing (a video counts its frames).
    unit = "frames" if built.takes_whole(jobs[0].source) else built.unit
    return InProcess(built, depth=0, progress=steps_bar(f"[1/1] {jobs[0].source.name}", unit))


def _check_ray(args) -> None:
    """--ray's refusals, before any output is planned: Ray missing, or this machine's devices named."""
    from .ray_pool import require_ray

    if getattr(args, "devices", None) is not None:
        raise InvalidOptionError("--devices picks this machine's devices; with --ray, Ray places the actors "
                                 "(one per GPU; --workers N per GPU, or N on the CPU)")
    require_ray()


def group_jobs(jobs: list[Job], batch_size: int) -> list[list[Job]]:
    """Consecutive files of one size and kind, up to ``batch_size`` each, so they can share a forward.

    Decided from the headers before any work starts, so every run (one process or many) forms the
    same groups and computes the same bytes. A header that cannot be read makes a group of its own
    (reading it will say what is wrong).
    """
    if batch_size <= 1:
        return [[job] for job in jobs]
    groups: list[list[Job]] = []
    last_key = None
    for job in jobs:
        try:
            header = read_header(job.source)
            key = (header.width, header.height, header.channels, header.sample_bytes)
        except Exception:  # noqa: BLE001 - said when the file is read
            key = None
        if key is not None and key == last_key and len(groups[-1]) < batch_size:
            groups[-1].append(job)
        else:
            groups.append([job])
        last_key = key
    return groups


class _Tally:
    """Counts, lines and the record of every file's outcome; the progress bar over the files."""

    def __init__(self, total: int, flags: dict, manifest: Manifest):
        self.total, self.flags, self.manifest = total, flags, manifest
        self.written = self.failed = 0
        self.quiet = False  # nothing ran: no summary
        self.bar = files_bar("ganpost", total) if total > 1 else None

    def report(self, outcome: Outcome) -> None:
        job = outcome.job
        label = f"[{job.index}/{self.total}] {job.source.name}"
        if outcome.error is None:
            self.written += 1
            console.line(f"{label} → {job.target} ({outcome.shown}, {outcome.seconds:.1f} s)")
            self.manifest.record(job.source, job.target, seconds=outcome.seconds)
        else:
            self.failed += 1
            line = failure_line(job.source, outcome.error)
            console.line(f"ganpost: error: {in_cli_terms(line, self.flags)}")
            self.manifest.record(job.source, job.target, error=line)
        if self.bar is not None:
            self.bar.update(1)

    def note(self, text: str) -> None:
        console.line(f"ganpost: {text}")

    def close(self, skipped: int) -> None:
        if self.bar is not None:
            self.bar.close()
        self.manifest.close()
        if self.quiet:
            return
        also = f", {skipped} skipped (already there)" if skipped else ""
        console.line(f"ganpost: {self.written} written, {self.failed} failed{also}")


def _manifest(args, plan) -> Manifest:
    manifest = Manifest(plan.folder, settings_of(args))
    others = manifest.earlier_settings() if plan.skipped else []
    if others:
        differing = sorted(k for k in set(others[0]) | set(manifest.settings)
                           if others[0].get(k) != manifest.settings.get(k))
        console.line(f"ganpost: warning: some outputs in {plan.folder} were made by an earlier run with other settings "
                     f"({', '.join(differing)}); --skip-existing keeps them. Use --overwrite to redo them.")
    return manifest


def check_fits(source: Path, scale: float, fix: str) -> None:
    """Refuse, from its header and before decoding, an image whose result at ``scale`` × its size would
    not fit in the memory available (``ganpost upscale`` has the model's own check, tasks.upscale)."""
    header = read_header(source)
    out_w, out_h = max(1, round(header.width * scale)), max(1, round(header.height * scale))
    needed = image_job_bytes(header.pixels, out_w * out_h, out_w * out_h, channels=header.channels,
                             sample_bytes=header.sample_bytes)
    require_memory(needed, f"{source}: {header.width}×{header.height} → {out_w}×{out_h}", fix)


@contextmanager
def pixel_limit(limit: int | None):
    """Pillow's decompression-bomb limit for this run (the CLI owns the process; restored after).

    By default the size Pillow itself refuses (it only warns between 89 and 179 megapixels).
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS if limit is None else (limit or None)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop) unwinds like Ctrl-C, so temporaries are removed."""

    reason = "terminated"
    exit_status = 128 + signal.SIGTERM


@contextmanager
def terminate_as_interrupt():
    def stop(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding application): leave its signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
