"""Time and check ganpost's upscale path against ComfyUI core's path, same weights, image and machine.

Core's path ("Upscale Image (using Model)") is re-created here from its description, not copied:
the model loaded by spandrel and called through its descriptor, fp32, 512 px tiles with a 32 px
overlap on a stride of tile - overlap, every output tile weighted by a linear feather over
overlap*scale pixels on each edge, accumulated into full-size ``out`` and ``out_div`` buffers on the
CPU, divided at the end and clamped to [0, 1]; an image that fits in one tile runs in one call.

Accuracy is measured against an untiled fp32 run of the same network through spandrel (only when
the image is at most --ref-max px on a side, as it costs one more full pass).

    python bench/upscale.py                               # RealESRGAN_x4plus, 512x512, best device
    python bench/upscale.py --device cpu --threads 2 --size 256 --json out.json
    python bench/upscale.py --model /path/realesr-animevideov3.pth --device cuda --precision auto
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ganpost  # noqa: E402
from spandrel_shim import import_spandrel  # noqa: E402

DEFAULT_MODEL = "/work/shared/weights/RealESRGAN_x4plus.pth"
CORE_TILE, CORE_OVERLAP = 512, 32


# --------------------------------------------------------------------------------------------
# ComfyUI core's path, written from its description


def _core_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: stride tile - overlap; the last tile is cut at the edge."""
    if length <= tile:
        return [0]
    starts = []
    for s in range(0, length - overlap, tile - overlap):
        starts.append(max(0, min(s, length - overlap)))
    return starts


def _feather(h: int, w: int, width: int) -> torch.Tensor:
    """H×W weights: a linear ramp (1/width, 2/width, ..., 1) inward from all four edges."""
    mask = torch.ones(h, w)
    for axis, n in ((0, h), (1, w)):
        if width >= n:
            continue
        ramp = torch.ones(n)
        steps = torch.arange(1, width + 1, dtype=torch.float32) / width
        ramp[:width] *= steps
        ramp[n - width:] *= steps.flip(0)
        mask *= ramp.view(-1, 1) if axis == 0 else ramp.view(1, -1)
    return mask


@torch.inference_mode()
def core_tiled_scale(fn, image: torch.Tensor, scale: int, out_channels: int = 3,
                     tile: int = CORE_TILE, overlap: int = CORE_OVERLAP, output_device="cpu") -> torch.Tensor:
    """B×C×H×W → B×out_channels×sH×sW by feathered, accumulated tiles (fp32, out and out_div)."""
    b, _, h, w = image.shape
    results = []
    for i in range(b):
        x = image[i: i + 1]
        if h <= tile and w <= tile:
            results.append(fn(x).to(output_device))
            continue
        out = torch.zeros(1, out_channels, h * scale, w * scale, device=output_device)
        out_div = torch.zeros_like(out)
        for y in _core_starts(h, tile, overlap):
            for xo in _core_starts(w, tile, overlap):
                th, tw = min(tile, h - y), min(tile, w - xo)
                result = fn(x[..., y: y + th, xo: xo + tw]).to(output_device)
                mask = _feather(result.shape[-2], result.shape[-1], round(overlap * scale)).to(output_device)
                oy, ox = y * scale, xo * scale
                region = (..., slice(oy, oy + result.shape[-2]), slice(ox, ox + result.shape[-1]))
                out[region] += result * mask
                out_div[region] += mask
        results.append(out / out_div)
    return torch.cat(results)


def core_upscale(descriptor, image: np.ndarray, device: torch.device) -> np.ndarray:
    """The node's whole call: model to device, HWC→BCHW, tiled fp32, model back to CPU, clamp."""
    descriptor.to(device)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].to(device)
    s = core_tiled_scale(lambda a: descriptor(a), x, descriptor.scale, descriptor.output_channels)
    descriptor.to("cpu")
    return torch.clamp(s[0].permute(1, 2, 0), 0, 1).numpy()


def core_tile_count(h: int, w: int) -> int:
    return len(_core_starts(h, CORE_TILE, CORE_OVERLAP)) * len(_core_starts(w, CORE_TILE, CORE_OVERLAP))


# --------------------------------------------------------------------------------------------
# Measurement


class PeakMemory:
    """Peak memory during a block: CUDA max allocated, or the process's RSS high-water mark.

    On Linux the RSS peak (VmHWM) is reset through /proc/self/clear_refs, so each block gets its
    own peak; where that is refused, a 2 ms sampler of the current RSS stands in.
    """

    def __init__(self, device: torch.device):
        self.device, self.peak, self.baseline, self.kind = device, 0, 0, ""

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline, self.kind = torch.cuda.memory_allocated(self.device), "cuda_max_allocated"
            return self
        self.baseline = _rss()
        self._sampler = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.kind = "rss_hwm"
        except OSError:
            self.kind, self._stop = "rss_sampled", threading.Event()
            self._sampled = self.baseline
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.002):
            self._sampled = max(self._sampled, _rss())

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self._sampler is None:
            self.peak = _status_kb("VmHWM") * 1024
        else:
            self._stop.set()
            self._sampler.join()
            self.peak = max(self._sampled, _rss())
        return False


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS, so one path's leftovers do not count as the next's baseline."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(fn, device: torch.device, repeats: int):
    """(last result, list of wall seconds, peak bytes, baseline bytes, memory kind)."""
    times, result = [], None
    release_freed_memory()
    with PeakMemory(device) as mem:
        for _ in range(repeats):
            result = None
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            result = fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    return result, times, mem.peak, mem.baseline, mem.kind


def accuracy(x: np.ndarray, ref: np.ndarray) -> dict:
    d = np.abs(x.astype(np.float64) - ref.astype(np.float64)) * 255.0
    return {k: float(f"{v:.4g}") for k, v in
            (("mean_abs_255", d.mean()), ("p99_9_255", np.percentile(d, 99.9)), ("max_255", d.max()))}


# --------------------------------------------------------------------------------------------
# Inputs


def load_image(path: str | None, photo: str, size: int) -> tuple[np.ndarray, str]:
    """float32 H×W×3 in [0, 1]: --image as is, else a centre crop of a scikit-image photo at --size."""
    if path:
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        return arr, Path(path).name
    from skimage import data
    from skimage.transform import resize

    img = getattr(data, photo)()[..., :3]
    h, w = img.shape[:2]
    side = min(h, w)
    if side >= size:  # natural-scale crop from the centre
        y, x = (h - size) // 2, (w - size) // 2
        out = img[y: y + size, x: x + size].astype(np.float32) / 255.0
        return out, f"{photo} centre crop {size}x{size}"
    y, x = (h - side) // 2, (w - side) // 2
    sq = img[y: y + side, x: x + side]
    out = resize(sq, (size, size), order=3, anti_aliasing=False).astype(np.float32)
    return np.clip(out, 0, 1), f"{photo} {side}px square resized to {size}x{size}"


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="weights file (default: %(default)s)")
    p.add_argument("--image", help="input image file (default: a scikit-image photo, see --photo/--size)")
    p.add_argument("--photo", default="astronaut", help="scikit-image data photo: astronaut, chelsea, coffee …")
    p.add_argument("--size", type=int, default=512, help="side of the square crop (default 512)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto", help="ours: auto|fp32|fp16|bf16 (core is always fp32)")
    p.add_argument("--tile", default="auto", help="ours: 'auto', 0 (one pass) or pixels")
    p.add_argument("--repeats", type=int, help="timed runs per path, median reported "
                   "(default 1 for models over 5M parameters on CPU, else 3)")
    p.add_argument("--warmup", choices=("auto", "full", "small", "none"), default="auto",
                   help="full image, a 64 px crop, or nothing before timing (auto: full on CUDA, small on CPU)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    p.add_argument("--ref-max", type=int, default=512, help="compute the untiled reference only up to this side")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)

    if not Path(a.model).is_file():
        print(f"SKIP: model weights {a.model} not found; pass --model PATH", file=sys.stderr)
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        print("SKIP: --device cuda but CUDA is not available", file=sys.stderr)
        return 0
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    tile = a.tile if a.tile == "auto" else int(a.tile)

    img, image_label = load_image(a.image, a.photo, a.size)
    h, w = img.shape[:2]
    ours_model = ganpost.load_model(a.model)
    spandrel = import_spandrel()
    core_model = spandrel.ModelLoader().load_from_file(a.model).eval()
    if not isinstance(core_model, spandrel.ImageModelDescriptor):
        print(f"SKIP: spandrel loads {a.model} as {type(core_model).__name__}, not an image model", file=sys.stderr)
        return 0
    repeats = a.repeats or (1 if device.type == "cpu" and ours_model.param_count > 5_000_000 else 3)
    warmup = a.warmup if a.warmup != "auto" else ("full" if device.type == "cuda" else "small")

    ours_tile = _resolved_tile(ours_model, tile, a.precision, device, h, w)

    def run_ours(x=img):
        return ganpost.upscale(ours_model, x, tile=tile, precision=a.precision, device=device)

    def run_core(x=img):
        return core_upscale(core_model, x, device)

    if warmup != "none":
        x = img if warmup == "full" else np.ascontiguousarray(img[:64, :64])
        run_ours(x)
        run_core(x)

    print(f"{ours_model.summary()}\nimage: {image_label} ({w}x{h}); device {device}; threads "
          f"{torch.get_num_threads()}; repeats {repeats}; warm-up {warmup}", flush=True)
    ours, t_ours, m_ours, b_ours, mem_kind = measure(run_ours, device, repeats)
    print(f"  ours done: {statistics.median(t_ours):.2f} s", flush=True)
    core, t_core, m_core, b_core, _ = measure(run_core, device, repeats)
    print(f"  core done: {statistics.median(t_core):.2f} s", flush=True)

    reference, ref_note = None, "skipped (image larger than --ref-max)"
    if max(h, w) <= a.ref_max:
        if h <= CORE_TILE and w <= CORE_TILE:
            # Core ran the whole image in one fp32 call through spandrel: that *is* the reference.
            reference, ref_note = core, "spandrel fp32 untiled (core ran one pass: identical computation)"
        else:
            with torch.inference_mode():
                core_model.to(device)
                x = torch.from_numpy(img).permute(2, 0, 1)[None].to(device)
                reference = core_model(x).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
                core_model.to("cpu")
            ref_note = "spandrel fp32 untiled"

    rows = {}
    for name, out, times, peak, base, tiles, prec in (
        ("ours", ours, t_ours, m_ours, b_ours, ours_tile, a.precision),
        ("core", core, t_core, m_core, b_core, f"512/32 ({core_tile_count(h, w)} tiles)", "fp32"),
    ):
        rows[name] = {"median_s": round(statistics.median(times), 3), "times_s": [round(t, 3) for t in times],
                      "peak_bytes": peak, "peak_over_baseline_bytes": max(0, peak - base), "tile": tiles,
                      "precision": prec, **(accuracy(out, reference) if reference is not None else {})}
    result = {
        "model": Path(a.model).name, "architecture": ours_model.architecture, "scale": ours_model.scale,
        "image": image_label, "width": w, "height": h, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": repeats, "warmup": warmup,
        "memory_kind": mem_kind, "reference": ref_note,
        "ratio_core_over_ours": round(rows["core"]["median_s"] / rows["ours"]["median_s"], 3),
        "ours_vs_core": accuracy(ours, core), "ours": rows["ours"], "core": rows["core"],
    }
    print_table(result)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


def _resolved_tile(model, tile, precision, device, h, w) -> str:
    """What --tile auto becomes, for the table (reads the core's own rule)."""
    try:
        from ganpost.gan_models.inference import auto_tile
        from ganpost.gan_models.precision import resolve_dtype
        from ganpost.gan_models.tiling import tile_count

        dtype = resolve_dtype(model, precision, device)
        side = auto_tile(model, device, dtype) if tile == "auto" else (max(h, w) if tile == 0 else tile)
        return f"{tile} -> {side} ({tile_count(h, w, side)} tiles, {dtype})".replace("torch.", "")
    except Exception:  # noqa: BLE001 - informational only
        return str(tile)


def print_table(r: dict) -> None:
    mib = 1 << 20
    print()
    print(f"{r['model']} ({r['architecture']} x{r['scale']}) on {r['image']}, {r['width']}x{r['height']}, "
          f"{r['device']} [{r['device_name']}], {r['threads']} threads, torch {r['torch']}")
    print(f"reference: {r['reference']}; memory: {r['memory_kind']}")
    head = f"{'path':<5} {'median s':>9} {'peak MiB':>9} {'+base MiB':>9} {'mean|d|/255':>11} " \
           f"{'p99.9/255':>9} {'max/255':>8}  tiles / precision"
    print(head)
    print("-" * len(head))
    for name in ("ours", "core"):
        row = r[name]
        acc = [f"{row[k]:>{wd}.3g}" if k in row else f"{'-':>{wd}}"
               for k, wd in (("mean_abs_255", 11), ("p99_9_255", 9), ("max_255", 8))]
        print(f"{name:<5} {row['median_s']:>9.2f} {row['peak_bytes'] / mib:>9.0f} "
              f"{row['peak_over_baseline_bytes'] / mib:>9.0f} {' '.join(acc)}  {row['tile']} / {row['precision']}")
    d = r["ours_vs_core"]
    print(f"core_time / ours_time = {r['ratio_core_over_ours']:.2f}   "
          f"ours vs core: mean {d['mean_abs_255']:.3g}, p99.9 {d['p99_9_255']:.3g}, max {d['max_255']:.3g} (/255)")


if __name__ == "__main__":
    sys.exit(main())
