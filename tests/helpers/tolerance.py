"""How close two forward passes of a whole network must be when they take different code paths.

The official class against ours, a batch of one against a batch, tiles against the whole image, a reloaded
copy against the original: the same products are summed in another order, and which order also depends on
the CPU (AVX2, AVX-512 and AMX kernels block differently) and even on how the weights sit in memory. On a
deep network the results then differ by a few float32 steps of the output's magnitude: GFPGAN's ±11 output
moved 1.05e-5 on an AVX2 machine, which failed a 1e-5 bound. ``RELATIVE`` of the output's magnitude leaves
hundreds of such steps and stays far below what a wrong weight, layer, padding or noise draw changes (1e-2
and more). Where the computation is literally the same, tests keep ``torch.equal``.
"""

from __future__ import annotations

import numpy as np
import torch

RELATIVE = 1e-4


def assert_close_to_scale(actual, expected, rel: float = RELATIVE) -> None:
    """``max |actual − expected| ≤ rel · max(max |expected|, 1)``: outputs within ±1 get ``rel`` absolute."""
    actual, expected = _tensor(actual), _tensor(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(expected.abs().max().item(), 1.0) if expected.numel() else 1.0
    diff = (actual - expected).abs().max().item() if expected.numel() else 0.0
    assert diff <= rel * scale, f"max difference {diff:.3g} > {rel:g} × output magnitude {scale:.3g}"


def _tensor(values) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double()
    return torch.from_numpy(np.asarray(values, dtype=np.float64))
