"""AuraSR window stitching: ours against fal's ``upscale_4x`` and ``upscale_4x_overlapped``, same weights.

AuraSR reads fixed 64 px windows, so every method stitches windows; this measures how well and
at what cost, on a real photo (skimage's astronaut, area-downscaled to --size), with random
weights at the released layout and a reduced width (--dim; 64 is the released width):

* error against a dense reference: the average of --offsets² plain tilings whose window grids
  are shifted over a 64 px period, so every output pixel is averaged over many window positions;
* the seam: the mean gradient across each method's own window borders over the mean gradient
  elsewhere (1.0 = no seam);
* cost: windows through the network and CPU time, all methods in one run on one machine.

fal's tilings are called as published (aura-sr 0.0.4, under the tests' torchvision stub), with
the same weights. Their style noise is unseeded, one draw per batch of windows; they are run
twice: as published, and with the style fixed to ours (seed 0), which isolates the tiling.
Random weights' outputs are centred on mid-grey first (final bias and gain), so clamping to
[0, 1] keeps the gradients. ``--policy M,O`` (repeatable) tries other context margins and
cross-fades than the contract's.

    python bench/aurasr.py --dim 8 --size 128 --offsets 4 --threads 2 [--policy 4,4 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.aurasr import official_aurasr_module  # noqa: E402

from ganpost.gan_models.aurasr import UnetUpsampler  # noqa: E402
from ganpost.gan_models.aurasr.config import RELEASE_CONFIG  # noqa: E402
from ganpost.gan_models.contract import TilingPolicy  # noqa: E402
from ganpost.gan_models.loader import describe_state_dict  # noqa: E402
from ganpost.runtime.tiling import plan_axis  # noqa: E402
from ganpost.tasks.upscale import upscale  # noqa: E402

WINDOW, SCALE, SEED = 64, 4, 0


# ------------------------------------------------------------------------------------- inputs
def photo(size: int) -> np.ndarray:
    """size×size×3 float32 in [0, 1]: the astronaut's central square, area-downscaled."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()[..., :3].copy()).permute(2, 0, 1)[None].float() / 255
    img = F.interpolate(img, size=(size, size), mode="area")
    return (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8).astype(np.float32) / 255


def network(dim: int) -> tuple[UnetUpsampler, dict]:
    config = {**RELEASE_CONFIG, "dim": dim, "self_attn_dim_head": dim}
    torch.manual_seed(1)
    return UnetUpsampler(**config).eval().requires_grad_(False), config


def centre_output(net: UnetUpsampler, image: np.ndarray) -> None:
    """Set the last conv's gain and bias so one window's output is mid-grey with a 0.2 spread."""
    window = torch.from_numpy(image[:WINDOW, :WINDOW]).permute(2, 0, 1)[None]
    with torch.inference_mode():
        out = net(window, seed=SEED)
    mean, std = out.mean(dim=(0, 2, 3)), out.std(dim=(0, 2, 3))
    with torch.no_grad():
        net.final_to_rgb.weight.mul_((0.2 / std)[:, None, None, None])
        net.final_to_rgb.bias.sub_(mean).mul_(0.2 / std).add_(0.5)


def style_noise() -> torch.Tensor:
    """The style noise our forward draws for ``seed=SEED`` (after one window's input noise)."""
    generator = torch.Generator().manual_seed(SEED)
    torch.randn((1, 3, WINDOW, WINDOW), generator=generator)
    return torch.randn((1, 128), generator=generator)


# ------------------------------------------------------------------------------------- methods
class Counted(nn.Module):
    """Counts the windows that go through ``net``; ``style`` fixes fal's per-batch style noise."""

    def __init__(self, net: nn.Module, style: torch.Tensor | None = None):
        super().__init__()
        self.net, self.style, self.windows = net, style, 0

    @property
    def device(self) -> torch.device:  # fal's AuraSR asks its upsampler for this
        return next(self.net.parameters()).device

    def forward(self, lowres_image: torch.Tensor, noise: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        self.windows += lowres_image.shape[0]
        if self.style is not None:
            noise = self.style.expand(lowres_image.shape[0], -1)
        return self.net(lowres_image, noise=noise, **kwargs)


def dense_reference(net: UnetUpsampler, image: np.ndarray, offsets: int) -> tuple[np.ndarray, int]:
    """The mean of plain 64 px tilings with their grid shifted by multiples of 64/offsets on each axis."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    padded = F.pad(x, (WINDOW, WINDOW, WINDOW, WINDOW), mode="reflect")
    total, windows = torch.zeros(3, h * SCALE, w * SCALE), 0
    step = WINDOW // offsets
    for oy in range(0, WINDOW, step):
        for ox in range(0, WINDOW, step):
            ys = list(range(oy, WINDOW + h, WINDOW))
            xs = list(range(ox, WINDOW + w, WINDOW))
            crops = torch.cat([padded[..., y:y + WINDOW, x_:x_ + WINDOW] for y in ys for x_ in xs])
            with torch.inference_mode():
                outs = torch.cat([net(batch, seed=SEED) for batch in crops.split(8)]).clamp(0, 1)
            windows += len(crops)
            canvas = torch.zeros(3, len(ys) * WINDOW * SCALE, len(xs) * WINDOW * SCALE)
            for k, out in enumerate(outs):
                i, j = divmod(k, len(xs))
                canvas[:, i * WINDOW * SCALE:(i + 1) * WINDOW * SCALE, j * WINDOW * SCALE:(j + 1) * WINDOW * SCALE] = out
            top, left = (WINDOW - oy) * SCALE, (WINDOW - ox) * SCALE
            total += canvas[:, top:top + h * SCALE, left:left + w * SCALE]
    return (total / offsets**2).permute(1, 2, 0).numpy(), windows


def run_ours(net: UnetUpsampler, image: np.ndarray, policy: TilingPolicy) -> tuple[np.ndarray, int, float]:
    counted = Counted(net)
    model = describe_state_dict(net.state_dict())
    model = dataclasses.replace(model, module=counted, contract=dataclasses.replace(model.contract, tiling=policy),
                                working_copies={})
    start = time.perf_counter()
    out = upscale(image, model, precision="fp32", seed=SEED, tile="auto", device="cpu")
    elapsed = time.perf_counter() - start
    windows = sum(m.windows for m in model.working_copies.values())  # the runner ran a copy of ``counted``
    return out, windows, elapsed


def run_official(aura, image: np.ndarray, method: str) -> tuple[np.ndarray, int, float]:
    from PIL import Image

    pil = Image.fromarray((image * 255).round().astype(np.uint8), "RGB")
    aura.upsampler.windows = 0
    torch.manual_seed(SEED)  # their input noise comes from the global generator
    start = time.perf_counter()
    out = getattr(aura, method)(pil)
    elapsed = time.perf_counter() - start
    return np.asarray(out, dtype=np.float32) / 255, aura.upsampler.windows, elapsed


def window_times(ours: nn.Module, theirs: nn.Module, image: np.ndarray, repeats: int) -> tuple[float, float]:
    """Seconds for one batch of 8 windows through each network, the fastest of ``repeats``, alternating."""
    x = torch.from_numpy(image[:WINDOW, :WINDOW]).permute(2, 0, 1)[None].expand(8, -1, -1, -1).contiguous()
    style = style_noise().expand(8, -1)
    best = [float("inf"), float("inf")]
    with torch.inference_mode():
        for _ in range(repeats):
            for k, call in enumerate((lambda: ours(x, seed=SEED), lambda: theirs(x, noise=style))):
                start = time.perf_counter()
                call()
                best[k] = min(best[k], time.perf_counter() - start)
    return best[0], best[1]


# ------------------------------------------------------------------------------------- metrics
def our_borders(length: int, policy: TilingPolicy) -> list[int]:
    side = WINDOW - 2 * policy.margin - policy.overlap
    spans = plan_axis(length, side, policy.margin, policy.overlap)
    return [(span.keep_start + span.fade_in // 2) * SCALE for span in spans[1:]]


def seam_ratio(out: np.ndarray, borders: list[int]) -> float:
    """Mean |step| across the border lines over the mean |step| everywhere else (both axes)."""
    steps = {}
    for axis in (0, 1):
        d = np.abs(np.diff(out, axis=axis)).mean(axis=(1 - axis, 2))  # one value per line between pixels
        steps[axis] = d
    at = [steps[a][b - 1] for a in (0, 1) for b in borders if 0 < b < len(steps[a]) + 1]
    mask = {a: np.ones(len(steps[a]), bool) for a in (0, 1)}
    for a in (0, 1):
        for b in borders:
            if 0 < b <= len(mask[a]):
                mask[a][b - 1] = False
    elsewhere = np.concatenate([steps[a][mask[a]] for a in (0, 1)])
    return float(np.mean(at) / elsewhere.mean()) if at else float("nan")


def error(out: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    diff = np.abs(out - reference) * 255
    return float(diff.mean()), float(np.percentile(diff, 99.9))


# ------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--size", type=int, default=128, help="input side (a multiple of 64)")
    parser.add_argument("--offsets", type=int, default=4, help="grid shifts per axis for the dense reference")
    parser.add_argument("--policy", action="append", default=[], help="margin,overlap (repeatable)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-published", action="store_true", help="skip fal's runs with their unseeded noise")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings of one batch of 8 windows")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    image = photo(args.size)
    net, config = network(args.dim)
    centre_output(net, image)
    contract_policy = describe_state_dict(net.state_dict()).contract.tiling
    policies = [contract_policy] + [TilingPolicy(*map(int, p.split(","))) for p in args.policy]

    fal = official_aurasr_module()
    aura = fal.AuraSR(config, device="cpu")
    aura.upsampler.load_state_dict(net.state_dict(), strict=True)
    published, fixed_style = Counted(aura.upsampler.eval()), Counted(aura.upsampler, style_noise())

    start = time.perf_counter()
    reference, ref_windows = dense_reference(net, image, args.offsets)
    print(f"AuraSR layout, dim {args.dim} ({sum(p.numel() for p in net.parameters()):,} parameters, random), "
          f"astronaut {args.size}x{args.size} -> {args.size * 4}, {torch.get_num_threads()} threads")
    print(f"dense reference: {args.offsets}x{args.offsets} grid offsets, {ref_windows} windows, "
          f"{time.perf_counter() - start:.0f} s")

    n = args.size
    plain_borders = list(range(WINDOW * SCALE, n * SCALE, WINDOW * SCALE))
    half_borders = list(range(WINDOW * SCALE // 2, n * SCALE, WINDOW * SCALE // 2))
    rows = []
    fal_runs = [("fal upscale_4x, style fixed", fixed_style, "upscale_4x", plain_borders),
                ("fal upscale_4x_overlapped, style fixed", fixed_style, "upscale_4x_overlapped", half_borders)]
    if not args.no_published:
        fal_runs += [("fal upscale_4x (unseeded, as published)", published, "upscale_4x", plain_borders),
                     ("fal upscale_4x_overlapped (as published)", published, "upscale_4x_overlapped", half_borders)]
    for label, wrapper, method, borders in fal_runs:
        aura.upsampler = wrapper
        out, windows, seconds = run_official(aura, image, method)
        rows.append((label, out, windows, seconds, borders))
    for policy in policies:
        out, windows, seconds = run_ours(net, image, policy)
        out = np.floor(np.clip(out, 0, 1) * 255) / 255  # quantised like fal's ToPILImage
        rows.append((f"ours margin {policy.margin}, cross-fade {policy.overlap}", out, windows, seconds,
                     our_borders(n, policy)))

    overlapped = next(r for r in rows if r[0].startswith("fal upscale_4x_overlapped, style"))
    print(f"{'method':44s} {'mean err':>9s} {'p99.9':>7s} {'seam':>6s} {'seam@256':>8s} {'windows':>7s} "
          f"{'time':>7s} {'vs overlapped':>13s}")
    results = []
    for label, out, windows, seconds, borders in rows:
        mean, p999 = error(out, reference)
        seam, seam_plain = seam_ratio(out, borders), seam_ratio(out, plain_borders)
        print(f"{label:44s} {mean:9.2f} {p999:7.1f} {seam:6.2f} {seam_plain:8.2f} {windows:7d} {seconds:6.1f}s "
              f"{seconds / overlapped[3]:12.2f}x")
        results.append(dict(method=label, mean_err_255=mean, p999_err_255=p999, seam_ratio=seam,
                            seam_ratio_at_plain_borders=seam_plain, windows=windows, seconds=seconds))
    print("errors in /255 against the dense reference; seam = mean |step| across the method's own window "
          "borders / elsewhere (1.0 = none); seam@256 = the same at the plain 64 px grid's borders")
    ours_s, theirs_s = window_times(net, aura.upsampler.net, image, args.repeats)
    print(f"one forward of 8 windows (min of {args.repeats}, interleaved): ours {ours_s:.2f} s, "
          f"fal's module {theirs_s:.2f} s ({ours_s / theirs_s:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(dict(dim=args.dim, size=args.size, offsets=args.offsets, results=results),
                                        indent=1))


if __name__ == "__main__":
    main()
