"""Time ganpost's upscale path against ComfyUI core's path on the same weights, image and machine.

Core's path is re-created here from its description: spandrel's descriptor, 512 px tiles with a
32 px overlap, linear feathering accumulated into output and weight buffers, fp32.
Run: python bench/upscale.py [--model PATH] [--size 512] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import ganpost  # noqa: E402
from reference import spandrel  # noqa: E402  (imports spandrel behind a torchvision stub)


def core_style_tiled(descriptor, image: torch.Tensor, scale: int, tile: int = 512, overlap: int = 32) -> torch.Tensor:
    """Feathered overlapping tiles, each output weighted by a linear ramp over the overlap."""
    _, c, h, w = image.shape
    out = torch.zeros(1, c, h * scale, w * scale)
    weight = torch.zeros_like(out)
    stride = tile - overlap
    ys = list(range(0, max(h - overlap, 1), stride)) if h > tile else [0]
    xs = list(range(0, max(w - overlap, 1), stride)) if w > tile else [0]
    for y in ys:
        for x in xs:
            y0, x0 = min(y, max(h - tile, 0)), min(x, max(w - tile, 0))
            patch = image[..., y0: y0 + tile, x0: x0 + tile]
            with torch.inference_mode():
                result = descriptor(patch)
            ph, pw = result.shape[-2:]
            mask = torch.ones(1, 1, ph, pw)
            feather = overlap * scale
            for i in range(feather):
                v = (i + 1) / feather
                if y0 > 0:
                    mask[..., i, :] *= v
                if y0 + tile < h:
                    mask[..., ph - 1 - i, :] *= v
                if x0 > 0:
                    mask[..., :, i] *= v
                if x0 + tile < w:
                    mask[..., :, pw - 1 - i] *= v
            out[..., y0 * scale: y0 * scale + ph, x0 * scale: x0 * scale + pw] += result * mask
            weight[..., y0 * scale: y0 * scale + ph, x0 * scale: x0 * scale + pw] += mask
    return (out / weight).clamp(0, 1)


def photo(size: int) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    img = data.astronaut()
    return (resize(img, (size, size), anti_aliasing=True)).astype(np.float32)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default=str(Path(__file__).resolve().parents[2] / "shared/weights/RealESRGAN_x4plus.pth"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--tile", default="auto")
    p.add_argument("--json")
    a = p.parse_args()
    if not Path(a.model).is_file():
        sys.exit(f"{a.model} not found: pass --model PATH")
    device = torch.device(a.device)
    img = photo(a.size)
    ours_model = ganpost.load_model(a.model)
    theirs = spandrel().ModelLoader().load_from_file(a.model).eval().to(device)
    tensor = torch.from_numpy(img).permute(2, 0, 1)[None].to(device)
    tile = a.tile if a.tile == "auto" else int(a.tile)

    reference, _ = timed(lambda: ganpost.upscale(ours_model, img, tile=0, precision="fp32", device=device))
    ours, t_ours = timed(lambda: ganpost.upscale(ours_model, img, tile=tile, precision=a.precision, device=device))
    core, t_core = timed(lambda: core_style_tiled(theirs, tensor, theirs.scale).cpu()[0].permute(1, 2, 0).numpy())

    def accuracy(x):
        d = np.abs(x - reference) * 255
        return round(float(d.mean()), 4), round(float(np.percentile(d, 99.9)), 3)

    row = {"model": Path(a.model).name, "size": a.size, "device": str(device), "threads": torch.get_num_threads(),
           "ours_s": round(t_ours, 2), "core_s": round(t_core, 2), "speedup": round(t_core / t_ours, 2),
           "ours_err_mean_p999": accuracy(ours), "core_err_mean_p999": accuracy(core)}
    print(json.dumps(row, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(row))


if __name__ == "__main__":
    main()
