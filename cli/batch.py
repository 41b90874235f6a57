"""How every image command runs: outputs checked before compute, the loop over files with one line
per result, the summary line, SIGTERM and Pillow's pixel limit.

A command supplies ``setup(device)``, called once every output is known to be writable: it loads
and checks its models (so a mistake costs seconds, not a batch) and returns ``handle(source,
target, label)``, which reads one file, writes its result and returns what to show about it.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from ..gan_models import GanpostError
from ..runtime.imaging.files import read_header
from ..runtime.memory import image_job_bytes, is_out_of_memory, require_memory
from ..runtime.precision import resolve_device
from .console import console
from .flag_names import in_cli_terms
from .outputs import check_writable, collect_inputs, plan_outputs

log = logging.getLogger("ganpost.cli")
# Pillow's own refusal threshold (2 × its MAX_IMAGE_PIXELS), a 13,377² image: ×4 that is a 2.9-gigapixel
# output no viewer opens. Larger inputs are gigapixel scans and panoramas (--max-pixels 0) or forged
# headers. Whether a job fits the machine is checked apart, from the memory it needs (tasks.upscale).
DEFAULT_MAX_PIXELS = 178_956_970

Handle = Callable[[Path, Path, str], str]


def run_files(args, setup: Callable[[object], Handle]) -> int:
    """Plan and check every output, ``setup`` the models, then handle the files one by one."""
    with terminate_as_interrupt(), pixel_limit(args.max_pixels):
        device = resolve_device(args.device)  # a missing GPU is said now, not after loading and reading
        files = collect_inputs(args.inputs)
        plan = plan_outputs(files, args.output, args.ext, overwrite=args.overwrite, skip_existing=args.skip_existing)
        check_writable([target for _, target in plan.jobs])
        if not plan.jobs:
            console.line(f"ganpost: nothing to do: all {len(plan.skipped)} outputs already exist")
            return 0
        handle = setup(device)
        for note in plan.notes:
            console.line(f"ganpost: note: {note}")
        written = failed = 0
        flags = getattr(args, "cli_flags", {})  # the command's flags, to name options in its errors
        try:
            for index, (source, target) in enumerate(plan.jobs, 1):
                label = f"[{index}/{len(plan.jobs)}] {source.name}"
                try:
                    started = time.perf_counter()
                    shown = handle(source, target, label)
                    written += 1
                    console.line(f"{label} → {target} ({shown}, {time.perf_counter() - started:.1f} s)")
                except Exception as err:  # noqa: BLE001 - one file's failure (an encoder, the allocator) ends only it
                    failed += 1  # Ctrl-C and SIGTERM are not Exceptions: they still stop the batch
                    console.line(f"ganpost: error: {in_cli_terms(failure_line(source, err), flags)}")
        finally:  # also after Ctrl-C / SIGTERM: what was done is worth knowing
            skipped = f", {len(plan.skipped)} skipped (already there)" if plan.skipped else ""
            console.line(f"ganpost: {written} written, {failed} failed{skipped}")
        return 1 if failed else 0


def check_fits(source: Path, scale: float, fix: str) -> None:
    """Refuse, from its header and before decoding, an image whose result at ``scale`` × its size would
    not fit in the memory available (``ganpost upscale`` has the model's own check, tasks.upscale)."""
    header = read_header(source)
    out_w, out_h = max(1, round(header.width * scale)), max(1, round(header.height * scale))
    needed = image_job_bytes(header.pixels, out_w * out_h, out_w * out_h, channels=header.channels,
                             sample_bytes=header.sample_bytes)
    require_memory(needed, f"{source}: {header.width}×{header.height} → {out_w}×{out_h}", fix)


def failure_line(source: Path, err: Exception) -> str:
    """``<file>: <reason>`` on one line, whatever raised: our errors name the file already, others do not."""
    if isinstance(err, GanpostError):
        reason = str(err)
    elif isinstance(err, MemoryError) or is_out_of_memory(err):
        reason = f"out of memory ({_first_line(err) or 'the allocator refused'})"
    else:
        reason = _first_line(err) or type(err).__name__
    return reason if str(source) in reason or source.name in reason else f"{source}: {reason}"


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""


def progress_bar(label: str, unit: str):
    def show(done: int, total: int) -> None:
        filled = int(24 * done / max(total, 1))
        console.status(f"{label} [{'#' * filled}{'.' * (24 - filled)}] {done}/{total} {unit}")

    return show


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
