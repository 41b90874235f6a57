"""The GPU check: one prepared run (under 8 minutes on one GPU) of what only a GPU can show.

For every family of the registry whose weights are in --weights-dir, four sections:
  precision   fp16 and bf16 against fp32, untiled, on a photo crop (error in 1/255 steps);
  overflow    a half-precision tile that overflows (inf injected into the 2nd tile's output by a
              forward hook on a copy of the network) is recomputed in fp32: fallbacks, finiteness,
              error against an fp32 run;
  oom         an untiled run under a memory cap (torch.cuda.set_per_process_memory_fraction) runs out
              of memory, and the runner halves the tile until it fits: tile counts tried, peak memory
              against the cap, error against the uncapped run;
  throughput  ``ganpost.upscale`` (precision auto) against ComfyUI core's path (bench/core_path.py,
              needs spandrel) in turns: median seconds, megapixels/s, peak memory of each;
  tensorrt    the model exported to ONNX (fp32), built into an fp16 TensorRT engine (onnxruntime's
              TensorRT provider, else the tensorrt API; bench/onnx_engines.py), against PyTorch:
              max / mean |Δ| on [0, 1] images vs fp32, seconds vs PyTorch fp16, at two sizes. For
              Real-ESRGAN, SRVGG, CycleGAN's ResnetGenerator and GFPGAN (a released-size GFPGAN
              with random weights when no GFPGAN file is there). Skipped, with a line saying so,
              where neither TensorRT route is installed.
Then, once for the run:
  folders     ``ganpost upscale FOLDER --devices ...`` on 1, 2, ... N GPUs (bench/folder_devices.py):
              images/s, the ratio to one GPU, outputs byte-identical to the one-GPU run;
  video       a 48-frame 256² clip upscaled ×4 on the GPU with the codecs taking turns with the
              compute and overlapping it (bench/video_overlap.py): frames/s, same bytes. Needs PyAV.
Prints one table per section and writes everything to --out (JSON). Exit status 1 if a section failed.

--dry-run runs every code path on the CPU in well under a minute: tiny random networks for every
registry entry, bf16 instead of fp16, a simulated out-of-memory error (a forward pre-hook raising
torch.OutOfMemoryError above a pixel count) instead of the memory cap, and onnxruntime's CPU
provider in place of TensorRT.

    python bench/gpu_check.py --out gpu_check.json                  # on a CUDA machine
    python bench/gpu_check.py --sections tensorrt --out trt.json    # the TensorRT engines only
    python bench/gpu_check.py --dry-run --out /tmp/gpu_check.json   # anywhere
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import inspect
import json
import logging
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from core_path import load_core_model, core_upscale  # noqa: E402
from folder_devices import folder_rates  # noqa: E402
from video_overlap import video_rates  # noqa: E402
from measure import PeakMemory, errors_255, load_image, release_freed_memory  # noqa: E402
import onnx_engines  # noqa: E402

SECTIONS = ("precision", "overflow", "oom", "throughput", "tensorrt")  # one per model
RUN_SECTIONS = ("folders", "video")  # once per run
# What the tensorrt section builds engines for (the issue's list: x4plus, compact, CycleGAN, GFPGAN)
ENGINE_ARCHITECTURES = ("RRDBNet", "SRVGGNetCompact", "ResnetGenerator", "GFPGANv1Clean")
IMAGE_TASKS = ("upscale", "translate", "face_restore")  # image in, image out: what the runner runs

MIB = 1 << 20
# Tiny networks for --dry-run, by architecture; entries not listed here get every num_* default
# of their create() divided by 8 (see tiny_hyperparameters).
TINY = {
    "RRDBNet": {"num_feat": 8, "num_block": 1},  # spandrel reads every grow width as 32: keep the default
    "SRVGGNetCompact": {"num_feat": 8, "num_conv": 2},
    "GFPGANv1Clean": {"out_size": 64, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.25, "num_mlp": 2},
    "UnetGenerator": {"num_downs": 5, "num_feat": 8},  # five levels is the shallowest U-Net
    # AuraSR at the released depth, narrowed (its widths are not num_* arguments)
    "UnetUpsampler": {"dim": 4, "style_network": {"dim_in": 16, "dim_out": 32, "depth": 2},
                      "self_attn_dim_head": 4, "attn_depths": (1, 1, 1, 1, 2), "mid_attn_depth": 1},
    "StyleGAN2Discriminator": {"out_size": 64, "narrow": 0.0625},
    "GPEN": {"size": 32, "style_dim": 32, "n_mlp": 2, "narrow": 1 / 8},  # its face size has no default
}


def import_ganpost():
    """ganpost from the checkout this script is in (the repository root is the package), through a
    symlink when ``import ganpost`` would find nothing or another copy (an installed one)."""
    import importlib.util

    spec = importlib.util.find_spec("ganpost")
    if spec is None or spec.origin is None or Path(spec.origin).resolve().parent != REPO:
        link_dir = Path(tempfile.mkdtemp(prefix="ganpost-path-"))
        (link_dir / "ganpost").symlink_to(REPO, target_is_directory=True)
        sys.path.insert(0, str(link_dir))
    import ganpost

    return ganpost


ganpost = import_ganpost()
from ganpost.gan_models import registry  # noqa: E402
from ganpost.gan_models.loader import describe_state_dict  # noqa: E402
from ganpost.runtime.runner import Runner  # noqa: E402


@dataclasses.dataclass
class Plan:
    """Sizes and settings of one run: real ones on a GPU, small ones for --dry-run."""

    device: torch.device
    dry_run: bool
    halves: tuple[str, ...]  # half precisions compared with fp32
    precision_size: int
    overflow_size: int
    overflow_tile: int
    oom_size: int
    throughput_size: int
    repeats: int
    budget_s: float
    engine_sizes: tuple[int, ...] = (256, 512)

    @property
    def half(self) -> str:
        return self.halves[0]

    def half_for(self, model) -> str:
        """The first of the plan's half precisions the model's contract allows (AuraSR: fp16, not
        bf16); fp32 where none is (e.g. AuraSR on a CPU, where fp16 is not offered)."""
        safe = {"fp16": model.contract.fp16_safe, "bf16": model.contract.bf16_safe}
        return next((h for h in self.halves if safe[h]), "fp32")


def make_plan(a) -> Plan:
    device = torch.device(a.device)
    if a.dry_run:
        return Plan(device, True, ("bf16",), 48, 64, 32, 128, 64, 2, a.budget_s, (32, 48))
    if device.type == "cuda":
        return Plan(device, False, ("fp16", "bf16"), 512, 512, 256, a.oom_size, a.size, a.repeats, a.budget_s)
    return Plan(device, False, ("bf16",), 64, 128, 64, 128, 128, 1, a.budget_s, (64, 128))


# ----------------------------------------------------------------------------------- models


def tiny_hyperparameters(entry) -> dict:
    """Every constructor argument of ``entry.create``: its defaults with the TINY overrides, or
    (for an architecture not in TINY) every ``num_*`` width/depth default divided by 8."""
    hp = {name: p.default for name, p in inspect.signature(entry.create).parameters.items()
          if p.default is not inspect.Parameter.empty}
    if entry.architecture in TINY:
        return {**hp, **TINY[entry.architecture]}
    return {k: max(1, v // 8) if k.startswith("num_") and "_ch" not in k and isinstance(v, int) else v
            for k, v in hp.items()}


def tiny_models() -> tuple[list[tuple[str, object, object]], list[str]]:
    """(label, ModelDescriptor, spandrel's input) for each registry entry: a random tiny network,
    passed through detection like a file would be (so the check also covers detecting it); and a
    note per entry that could not be made."""
    models, notes = [], []
    for entry in registry.DETECTION_ORDER:
        hp = tiny_hyperparameters(entry)
        torch.manual_seed(0)  # each network's weights from its own seed: a family added elsewhere changes no other's
        try:
            sd = entry.create(**hp).state_dict()
            model = describe_state_dict(sd)
        except Exception as err:  # noqa: BLE001 - one family's failure must not hide the others
            notes.append(f"FAILED: a tiny {entry.architecture} {hp}: {type(err).__name__}: {err}")
            continue
        if model.architecture != entry.architecture:
            notes.append(f"FAILED: a tiny {entry.architecture} {hp} is detected as {model.architecture}")
            continue
        models.append((f"tiny-{entry.architecture}", model, sd))
    return models, notes


def real_models(weights_dir: Path) -> tuple[list[tuple[str, object, object]], list[str]]:
    """(label, ModelDescriptor, path) for every known file of every registry entry present in
    ``weights_dir``; and a note per entry with none."""
    models, notes = [], []
    for entry in registry.DETECTION_ORDER:
        present = [weights_dir / f.filename for f in entry.known_files if (weights_dir / f.filename).is_file()]
        if not present:
            names = ", ".join(f.filename for f in entry.known_files)
            notes.append(f"{entry.architecture}: no weights in {weights_dir} (looked for {names}); skipped")
        for path in present:
            models.append((path.stem, ganpost.load_model(path), path))
    return models, notes


def default_weights_dir() -> Path:
    """../shared/weights beside the checkout, else shared/weights inside it (how a device run carries it)."""
    for candidate in (REPO.parent / "shared" / "weights", REPO / "shared" / "weights"):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "weights"


# ----------------------------------------------------------------------------------- helpers


def photo_tensor(size: int) -> torch.Tensor:
    img, _ = load_image(None, "astronaut", size)
    return torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()


def run_once(model, plan: Plan, x: torch.Tensor, precision: str, tile, progress=None) -> tuple[torch.Tensor, int]:
    """The runner's result for one image (clamped to [0, 1] as every task does) and its fp32 fallbacks."""
    with Runner(model, device=plan.device, precision=precision, progress=progress) as runner:
        out = next(runner.run([x], tile))
        return out.clamp(0, 1), runner.fp32_fallbacks


def with_hook(model, pre_hook=None, hook=None):
    """A descriptor over a deep copy of the network carrying a forward (pre-)hook; ``model`` is untouched.

    The runner deep-copies the network into its working copies, hooks included."""
    module = copy.deepcopy(model.module)
    if pre_hook:
        module.register_forward_pre_hook(pre_hook)
    if hook:
        module.register_forward_hook(hook)
    return dataclasses.replace(model, module=module, working_copies={})


class RunnerLog(logging.Handler):
    """Keeps the runner's warnings (out-of-memory retries, fp32 recomputes) for the report."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records


LOG = RunnerLog()


def empty_cache(device: torch.device) -> None:
    release_freed_memory()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------- sections


def check_precision(model, plan: Plan, _core) -> dict:
    x = photo_tensor(plan.precision_size)
    ref, _ = run_once(model, plan, x, "fp32", 0)
    result = {"size": plan.precision_size}
    for half in plan.halves:
        if not getattr(model, f"{half}_safe"):
            result[half] = {"skipped": f"the contract says {half} is not safe"}
            continue
        out, fallbacks = run_once(model, plan, x, half, 0)
        result[half] = {**errors_255(out, ref), "fp32_fallbacks": fallbacks}
    LOG.take()
    return result


def check_overflow(model, plan: Plan, _core) -> dict:
    """inf in the half-precision output of the 2nd tile: the runner must redo that tile in fp32."""
    half_dtypes = (torch.float16, torch.bfloat16)
    calls = {"half": 0}

    def overflow_second_tile(_module, _inputs, output):
        image = model.contract.output_adapter(output)
        if image.dtype in half_dtypes:
            before = calls["half"]  # windows seen so far: the runner may batch several per forward
            calls["half"] += image.shape[0]
            if before < 2 <= calls["half"]:
                image[1 - before] = float("inf")  # the second window of the run, in whichever batch it is
        return output

    x = photo_tensor(plan.overflow_size)
    ref, _ = run_once(model, plan, x, "fp32", plan.overflow_tile)
    half = plan.half_for(model)
    if half == "fp32":
        return {"skipped": f"the contract allows none of {', '.join(plan.halves)}"}
    plain, _ = run_once(model, plan, x, half, plan.overflow_tile)
    hooked = with_hook(model, hook=overflow_second_tile)
    out, fallbacks = run_once(hooked, plan, x, half, plan.overflow_tile)
    warnings = [r.getMessage() for r in LOG.take()]
    return {
        "precision": half, "size": plan.overflow_size, "tile": plan.overflow_tile, "half_calls": calls["half"],
        "fp32_fallbacks": fallbacks, "finite": bool(torch.isfinite(out).all()),
        "error_vs_fp32": errors_255(out, ref), "error_without_overflow_vs_fp32": errors_255(plain, ref),
        "warnings": warnings[-2:],
    }


def check_oom(model, plan: Plan, _core) -> dict:
    """An untiled run that does not fit: the runner halves the tile until it does."""
    if model.contract.size.fixed:
        return {"skipped": f"a fixed {model.contract.size.fixed} px window: smaller tiles would not use less memory"}
    x = photo_tensor(plan.oom_size)
    size, totals = plan.oom_size, []

    def progress(_done, total):
        if not totals or totals[-1] != total:
            totals.append(total)

    precision = "auto" if not plan.dry_run else plan.half_for(model)
    with Runner(model, device=plan.device, precision=precision) as probe:
        dtype_name, small = probe.precision_name, probe.estimate_bytes(size // 4)
    uncapped, _ = run_once(model, plan, x, precision, 0)
    empty_cache(plan.device)
    result = {"precision": dtype_name, "size": size}
    if plan.device.type == "cuda":
        total = torch.cuda.get_device_properties(plan.device).total_memory
        cap = torch.cuda.memory_allocated(plan.device) + int(small * 1.5)
        result.update(cap="memory fraction", cap_bytes=cap)
        torch.cuda.set_per_process_memory_fraction(cap / total, plan.device)
        try:
            with PeakMemory(plan.device) as mem:
                out, _ = run_once(model, plan, x, precision, 0, progress)
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, plan.device)
            empty_cache(plan.device)
    else:
        margin, overlap = model.contract.tiling.margin, model.contract.tiling.overlap
        read = size // 4 + 2 * margin + overlap
        read += -read % model.size_multiple  # the runner pads each read to the network's multiple
        cap_px = read ** 2  # a quarter-side tile fits, a half-side one does not

        def simulated_oom(_module, inputs):
            h, w = inputs[0].shape[-2:]
            if h * w > cap_px:
                raise torch.OutOfMemoryError(f"simulated: {w}×{h} input over the {cap_px} px cap")

        result.update(cap="simulated", cap_pixels=cap_px)
        with PeakMemory(plan.device) as mem:
            out, _ = run_once(with_hook(model, pre_hook=simulated_oom), plan, x, precision, 0, progress)
    records = LOG.take()  # the runner halves the batch of tiles first, then the tile
    retries = [r.args for r in records if r.msg.startswith("out of memory with %d px tiles")]
    result["batches_tried"] = [r.args[2] for r in records if r.msg.startswith("out of memory with %d tiles per")]
    result.update(
        tile_counts=totals, tiles_tried=[retries[0][0]] + [r[2] for r in retries] if retries else [size],
        oom_exercised=bool(retries), peak_bytes=mem.peak, peak_kind=mem.kind,
        error_vs_uncapped=errors_255(out, uncapped),
    )
    if "cap_bytes" in result:
        result["peak_within_cap"] = mem.peak <= result["cap_bytes"]
    return result


def check_throughput(model, plan: Plan, core) -> dict:
    if model.task != "upscale":
        return {"skipped": f"a {model.task} model: ganpost.upscale and core's path are for upscalers"}
    img, _ = load_image(None, "astronaut", plan.throughput_size)
    precision = "auto" if not plan.dry_run else plan.half_for(model)
    paths = {"ours": lambda: ganpost.upscale(img, model, precision=precision, device=plan.device)}
    result = {"size": plan.throughput_size, "precision": precision, "repeats": plan.repeats}
    if isinstance(core, str):
        result["core"] = {"skipped": core}
    else:
        paths["core"] = lambda: core_upscale(core, img, plan.device)
    for fn in paths.values():  # warm-up: working copies, kernels for these shapes
        fn()
    times = {name: [] for name in paths}
    peaks = {name: 0 for name in paths}
    outputs = {}
    for _ in range(plan.repeats):
        for name, fn in paths.items():
            release_freed_memory()  # host heap only: each path keeps its own CUDA caching behaviour
            with PeakMemory(plan.device) as mem:
                if plan.device.type == "cuda":
                    torch.cuda.synchronize(plan.device)
                start = time.perf_counter()
                outputs[name] = fn()
                if plan.device.type == "cuda":
                    torch.cuda.synchronize(plan.device)
                times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], mem.peak)
    megapixels = plan.throughput_size ** 2 / 1e6
    for name in paths:
        median = statistics.median(times[name])
        result[name] = {"median_s": round(median, 4), "times_s": [round(t, 4) for t in times[name]],
                        "input_mp_per_s": round(megapixels / median, 3), "peak_bytes": peaks[name],
                        "peak_kind": mem.kind}
    if "core" in outputs:
        result["ours_over_core"] = round(result["ours"]["median_s"] / result["core"]["median_s"], 3)
        result["ours_vs_core"] = errors_255(np.asarray(outputs["ours"]), outputs["core"])
    LOG.take()
    return result


def check_tensorrt(model, plan: Plan, _core) -> dict:
    """Export to ONNX (fp32), build an fp16 engine, compare with PyTorch (bench/onnx_engines.py)."""
    if model.architecture not in ENGINE_ARCHITECTURES:
        return {"skipped": f"engines are built for {', '.join(ENGINE_ARCHITECTURES)} only"}
    kinds = onnx_engines.engine_kinds(plan.device)
    if plan.device.type == "cuda":
        kinds = [k for k in kinds if k in (onnx_engines.TRT_ORT, onnx_engines.TRT_API)]
        if not kinds:
            return {"skipped": "no TensorRT here: onnxruntime has no TensorrtExecutionProvider and tensorrt is not "
                               "importable (pip install onnxruntime-gpu tensorrt)"}
    elif not kinds:
        return {"skipped": "onnxruntime is not installed (pip install 'ganpost[onnx]')"}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export = ganpost.export_onnx(model, path, check=False)  # fp32 file; the engine is built in fp16
        del export
        profile = onnx_engines.profile_for(model, list(plan.engine_sizes))
        errors = []
        for kind in kinds:  # the first route that builds; the others' failures are reported
            t0 = time.perf_counter()
            try:
                engine = onnx_engines.build_engine(path, kind, plan.device, profile, model.contract.in_channels,
                                                   fp16=True, cache=Path(folder))
            except onnx_engines.EngineError as err:
                errors.append(str(err))
                continue
            result = onnx_engines.check_engine(model, engine, list(plan.engine_sizes), repeats=plan.repeats)
            result["build_s"] = round(time.perf_counter() - t0, 2)
            outside = (1, model.contract.in_channels, *(2 * [profile.maximum[1] * 2]))
            try:  # a size outside the profile: one clear line, never a crash
                engine(torch.zeros(outside, device=plan.device))
                result["outside_profile"] = "accepted"
            except onnx_engines.EngineError as err:
                result["outside_profile"] = str(err)
            if errors:
                result["other_routes"] = errors
            return result
    return {"error": "; ".join(errors)}


CHECKS = {"precision": check_precision, "overflow": check_overflow, "oom": check_oom, "throughput": check_throughput,
          "tensorrt": check_tensorrt}


# ----------------------------------------------------------------------------------- report


def _err(e: dict) -> str:
    return f"{e['mean_255']:.3g} / {e['p99_9_255']:.3g} / {e['max_255']:.3g}"


def print_tables(report: dict, plan: Plan) -> None:
    rows = report["models"]

    def section(name: str, title: str, head: str, line) -> None:
        if not any(name in row["sections"] for row in rows):
            return  # not run (--sections)
        print(f"\n== {name}: {title}")
        print(head)
        for row in rows:
            r = row["sections"].get(name)
            if r is None:
                continue
            if "error" in r or "skipped" in r:
                print(f"{row['model']:<28} {'FAILED: ' + r['error'] if 'error' in r else 'skipped: ' + r['skipped']}")
            else:
                for text in line(r):
                    print(f"{row['model']:<28} {text}")

    section("precision", f"half vs fp32, untiled {plan.precision_size}² crop (error /255: mean / p99.9 / max)",
            f"{'model':<28} {'half':<5} {'error':<28} fp32 fallbacks",
            lambda r: [f"{h:<5} {r[h].get('skipped') or _err(r[h]):<28} {r[h].get('fp32_fallbacks', '')}"
                       for h in plan.halves])
    section("overflow", f"inf injected into tile 2, {plan.half}, {plan.overflow_size}² in "
            f"{plan.overflow_tile} px tiles",
            f"{'model':<28} {'fallbacks':>9} {'finite':>6}  {'error vs fp32 (/255)':<28} without overflow",
            lambda r: [f"{r['fp32_fallbacks']:>9} {str(r['finite']):>6}  {_err(r['error_vs_fp32']):<28} "
                       f"{_err(r['error_without_overflow_vs_fp32'])}"])
    section("oom", f"untiled {plan.oom_size}² under a memory cap → smaller tiles",
            f"{'model':<28} {'cap':<22} {'tiles tried (px)':<20} {'peak MiB':>9}  error vs uncapped (/255)",
            lambda r: [f"{_cap(r):<22} {' → '.join(map(str, r['tiles_tried'])):<20} {r['peak_bytes'] / MIB:>9.0f}  "
                       f"{_err(r['error_vs_uncapped'])}" + ("" if r["oom_exercised"] else "  (no OOM: not exercised)")])
    section("tensorrt", "fp16 engine from the exported ONNX file vs PyTorch ([0, 1] images; |Δ| vs fp32, time vs "
            "PyTorch fp16 on a GPU, fp32 on a CPU)",
            f"{'model':<28} {'engine':<32} {'side':>5} {'max |Δ|':>9} {'mean |Δ|':>9} {'engine s':>9} {'torch s':>9} "
            f"{'ratio':>6}",
            lambda r: [f"{r['kind']:<32} {s['side']:>5} {s['max']:>9.2e} {s['mean']:>9.2e} {s['engine_s']:>9.4f} "
                       f"{s['torch_s']:>9.4f} {s['engine_over_torch']:>6.2f}" for s in r["sizes"]])
    section("throughput", f"ours vs core's path, {plan.throughput_size}² photo, median of {plan.repeats}; peak memory",
            f"{'model':<28} {'ours s':>8} {'core s':>8} {'ours/core':>9} {'ours MP/s':>9} {'core MP/s':>9} "
            f"{'peak ours':>9} {'peak core':>9} MiB",
            lambda r: [_throughput_line(r)])
    for note in report["notes"]:
        print(f"note: {note}")


def _cap(r: dict) -> str:
    if r["cap"] == "simulated":
        return f"simulated > {r['cap_pixels']} px"
    return f"{r['cap_bytes'] / MIB:.0f} MiB" + ("" if r.get("peak_within_cap", True) else " EXCEEDED")


def _throughput_line(r: dict) -> str:
    ours, core = r["ours"], r["core"]
    if "skipped" in core:
        return (f"{ours['median_s']:>8.3f} {'-':>8} {'-':>9} {ours['input_mp_per_s']:>9.3f} {'-':>9} "
                f"{ours['peak_bytes'] / MIB:>9.0f} {'-':>9}  core's path skipped (see the notes)")
    return (f"{ours['median_s']:>8.3f} {core['median_s']:>8.3f} {r['ours_over_core']:>9.3f} "
            f"{ours['input_mp_per_s']:>9.3f} {core['input_mp_per_s']:>9.3f} {ours['peak_bytes'] / MIB:>9.0f} "
            f"{core['peak_bytes'] / MIB:>9.0f}")


# ----------------------------------------------------------------------------------- main


def core_model_for(source) -> object:
    """spandrel's model for core's path, or a string saying why there is none."""
    try:
        model = load_core_model(source)
    except ImportError as err:
        return f"spandrel is not importable ({err}); install it (pip install --no-deps spandrel) to compare"
    except Exception as err:  # noqa: BLE001 - spandrel refusing a file is a finding, not a crash
        first_line = (str(err).splitlines() or [""])[0][:200]
        return f"spandrel cannot load it ({type(err).__name__}{': ' + first_line if first_line else ''})"
    return model if model is not None else "spandrel sees no image model in it"


def check_folders(plan: Plan, start: float) -> list[dict]:
    """A folder on 1..N GPUs (--dry-run: 1 and 2 CPU workers, tiny images)."""
    if time.perf_counter() - start > plan.budget_s:
        return [{"skipped": f"over the {plan.budget_s:.0f} s budget"}]
    try:
        if plan.dry_run:
            return folder_rates(images=4, size=64, cpu_workers=2)
        return folder_rates(images=64, size=512)
    except Exception as err:  # noqa: BLE001 - report it with the rest
        traceback.print_exc()
        return [{"error": f"{type(err).__name__}: {err}"}]


def check_video(plan: Plan, start: float) -> dict:
    """The built-in model over a clip, codecs in turns and overlapped (--dry-run: 8 frames of 64² on the CPU)."""
    if time.perf_counter() - start > plan.budget_s:
        return {"skipped": f"over the {plan.budget_s:.0f} s budget"}
    if importlib.util.find_spec("av") is None:  # the video extra
        return {"skipped": "PyAV is not installed (pip install 'ganpost[video]')"}
    try:
        if plan.dry_run:
            return video_rates(frames=8, size=64, device="cpu")
        return video_rates(frames=48, size=256, device=str(plan.device))
    except Exception as err:  # noqa: BLE001 - report it with the rest
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


def print_folders(rows: list[dict], plan: Plan) -> None:
    print(f"\n== folders: the built-in model over a folder, {'CPU workers' if plan.dry_run else '1..N GPUs'}")
    for row in rows:
        if "images_per_s" in row:
            print(f"  {row['way']:16s} {row['images_per_s']:7.2f} images/s  ×{row['ratio_to_first']:.2f}  "
                  f"byte-identical to the first: {row['byte_identical_to_first']}")
        else:
            print(f"  {row}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="tiny random models on the CPU, simulated OOM")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --dry-run)")
    p.add_argument("--weights-dir", type=Path, default=None, help="default: ../shared/weights beside the checkout")
    p.add_argument("--size", type=int, default=1024, help="throughput image side on CUDA (default 1024)")
    p.add_argument("--oom-size", type=int, default=1024, help="side of the capped untiled run on CUDA (default 1024)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget-s", type=float, default=420, help="skip what is left after this many seconds")
    p.add_argument("--threads", type=int, help="torch.set_num_threads")
    p.add_argument("--out", type=Path, help="write the report here (JSON)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS + RUN_SECTIONS, default=list(SECTIONS + RUN_SECTIONS),
                   help="which sections to run")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.device = a.device or ("cpu" if a.dry_run else "cuda")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run with --dry-run (tiny models on the CPU) or --device cpu", file=sys.stderr)
        return 2
    plan = make_plan(a)
    runner_log = logging.getLogger("ganpost.runtime")
    runner_log.addHandler(LOG)
    runner_log.propagate = False  # the report prints what matters; keep stderr for real failures

    found, notes = tiny_models() if plan.dry_run else real_models(a.weights_dir or default_weights_dir())
    engine_only = set()
    if "tensorrt" in a.sections and not any(m.architecture == "GFPGANv1Clean" for _, m, _ in found):
        torch.manual_seed(0)  # no GFPGAN file: its released size with random weights, for the engine section only
        gfpgan = registry.entry_for("GFPGANv1Clean")
        found.append(("random-GFPGANv1Clean-512", describe_state_dict(gfpgan.create().state_dict()), None))
        engine_only.add("random-GFPGANv1Clean-512")
    models = []
    for label, model, source in found:
        if model.task in IMAGE_TASKS:
            models.append((label, model, core_model_for(source) if model.task == "upscale" else "not an upscaler"))
        else:
            notes.append(f"{label}: a {model.task} model, not image-to-image: no GPU check sections apply")
    device_name = torch.cuda.get_device_name(plan.device) if plan.device.type == "cuda" else "CPU"
    print(f"gpu_check{' --dry-run' if plan.dry_run else ''}: {device_name} ({plan.device}), torch {torch.__version__}, "
          f"{len(models)} model(s), halves {', '.join(plan.halves)}", flush=True)
    for label, _, core in models:
        if isinstance(core, str) and core != "not an upscaler":
            notes.append(f"{label}: core's path skipped: {core}")

    start, failed = time.perf_counter(), any(note.startswith("FAILED") for note in notes)
    report = {"mode": "dry-run" if plan.dry_run else "real", "device": str(plan.device), "device_name": device_name,
              "torch": torch.__version__, "plan": {k: v for k, v in dataclasses.asdict(plan).items() if k != "device"},
              "notes": notes, "models": []}
    for label, model, core in models:
        row = {"model": label, "architecture": model.architecture, "task": model.task, "parameters": model.param_count, "sections": {}}
        report["models"].append(row)
        for name in (n for n in a.sections if n in SECTIONS):
            if label in engine_only and name != "tensorrt":
                continue
            if time.perf_counter() - start > plan.budget_s:
                row["sections"][name] = {"skipped": f"over the {plan.budget_s:.0f} s budget"}
                continue
            t0 = time.perf_counter()
            try:
                row["sections"][name] = CHECKS[name](model, plan, core)
            except Exception as err:  # noqa: BLE001 - report it and go on with the next section
                failed = True
                row["sections"][name] = {"error": f"{type(err).__name__}: {err}"}
                traceback.print_exc()
            row["sections"][name]["seconds"] = round(time.perf_counter() - t0, 2)
            empty_cache(plan.device)
            print(f"  {label}: {name} done in {row['sections'][name]['seconds']:.1f} s", flush=True)
    if "folders" in a.sections:
        report["folders"] = check_folders(plan, start)
    if "video" in a.sections:
        report["video"] = check_video(plan, start)
    report["seconds"] = round(time.perf_counter() - start, 1)
    print_tables(report, plan)
    if "folders" in report:
        print_folders(report["folders"], plan)
    if "video" in report:
        print(f"\n== video: codecs in turns with the compute vs overlapped\n  {report['video']}")
    print(f"\ntotal {report['seconds']:.0f} s{'; some sections FAILED' if failed else ''}")
    if a.out:
        a.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"wrote {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
