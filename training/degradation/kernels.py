"""Blur kernels of Real-ESRGAN's degradation model, sampled from a ``torch.Generator``.

Gaussian (isotropic or rotated anisotropic), generalized Gaussian (exponent beta: sharper or
flatter peaks), plateau (flat top), and the circular sinc (2-D low-pass) that mimics ringing.
Every kernel sums to 1 and is zero-padded to 21×21 so a batch can stack them. Kernels are
small numpy arrays (built once per sample on the CPU); the batch pipeline moves them to the device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

if TYPE_CHECKING:  # only for type hints: degradation.py imports this module
    from .second_order import DegradationStage

PADDED = 21
MIN_SIZE, MAX_SIZE = 7, 21
KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KIND_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()


def random_odd_size(generator: torch.Generator, low: int = MIN_SIZE, high: int = MAX_SIZE) -> int:
    """An odd kernel size drawn uniformly from ``low..high`` (7, 9, …, 21 by default)."""
    return 2 * int(torch.randint(low // 2, high // 2 + 1, (), generator=generator)) + 1


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(size, dtype=np.float64) - size // 2
    return np.meshgrid(ax, ax, indexing="xy")


def _mahalanobis(size: int, sigma_x: float, sigma_y: float, rotation: float) -> np.ndarray:
    """x^T Σ^-1 x on a ``size``² grid, Σ = R diag(σx², σy²) Rᵀ."""
    cos, sin = math.cos(rotation), math.sin(rotation)
    rot = np.array([[cos, -sin], [sin, cos]])
    inverse = np.linalg.inv(rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T)
    x, y = _grid(size)
    return inverse[0, 0] * x * x + (inverse[0, 1] + inverse[1, 0]) * x * y + inverse[1, 1] * y * y


def shaped_kernel(kind: str, size: int, sigma_x: float, sigma_y: float, rotation: float,
                  beta: float = 1.0) -> np.ndarray:
    """One ``size``×``size`` kernel of ``kind`` (see ``KINDS``), normalised to sum 1."""
    d = _mahalanobis(size, sigma_x, sigma_y, rotation)
    if kind in ("iso", "aniso"):
        kernel = np.exp(-0.5 * d)
    elif kind in ("generalized_iso", "generalized_aniso"):
        kernel = np.exp(-0.5 * np.power(d, beta))
    elif kind in ("plateau_iso", "plateau_aniso"):
        kernel = 1.0 / (1.0 + np.power(d, beta))
    else:
        raise ValueError(f"kernel kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kernel / kernel.sum()


def bessel_j1(x: np.ndarray) -> np.ndarray:
    """Bessel J1 from its integral form (1/π)∫₀^π cos(τ − x sin τ) dτ.

    The trapezoid rule on this smooth periodic integrand converges fast: ~1e-12 for |x| < 50,
    far more than kernels need, and it keeps scipy out of the run-time dependencies.
    """
    tau = np.linspace(0.0, math.pi, 513)
    values = np.cos(tau[None, :] - np.asarray(x, dtype=np.float64).reshape(-1, 1) * np.sin(tau)[None, :])
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz
    return (trapezoid(values, tau, axis=1) / math.pi).reshape(np.shape(x))


def pad(kernel: np.ndarray, size: int = PADDED) -> np.ndarray:
    """Zero-pad an odd square kernel to ``size``×``size`` (centre kept)."""
    p = (size - kernel.shape[0]) // 2
    return np.pad(kernel, p) if p > 0 else kernel


def sinc_kernel(size: int, omega_c: float, pad_to: int = PADDED) -> np.ndarray:
    """Circular low-pass (2-D jinc) with cut-off ``omega_c`` (radians per pixel), normalised, padded."""
    x, y = _grid(size)
    r = np.hypot(x, y)
    safe = np.where(r == 0, 1.0, r)  # the limit at r = 0 is omega_c² / (4π)
    kernel = np.where(r == 0, omega_c ** 2 / (4 * math.pi), omega_c * bessel_j1(omega_c * safe) / (2 * math.pi * safe))
    return pad(kernel / kernel.sum(), pad_to)


def pulse(size: int = PADDED) -> np.ndarray:
    """The identity kernel."""
    kernel = np.zeros((size, size))
    kernel[size // 2, size // 2] = 1.0
    return kernel


def _beta(generator: torch.Generator, low: float, high: float) -> float:
    # As the official sampler: half the time below 1 (sharper peak), half above (flatter).
    if torch.rand((), generator=generator) < 0.5:
        return _uniform(generator, low, 1.0)
    return _uniform(generator, 1.0, high)


def sample_mixed_kernel(size: int, kinds: Sequence[str] = KINDS, probs: Sequence[float] = KIND_PROBS,
                        sigma_range: tuple[float, float] = (0.2, 3.0), betag_range: tuple[float, float] = (0.5, 4.0),
                        betap_range: tuple[float, float] = (1.0, 2.0),
                        generator: torch.Generator | None = None) -> np.ndarray:
    """A ``size``×``size`` kernel of a kind drawn from ``kinds`` with ``probs`` (not padded)."""
    generator = generator if generator is not None else torch.default_generator
    kind = kinds[int(torch.multinomial(torch.tensor(probs, dtype=torch.float64), 1, generator=generator))]
    sigma_x = _uniform(generator, *sigma_range)
    if kind.endswith("_iso") or kind == "iso":
        sigma_y, rotation = sigma_x, 0.0
    else:
        sigma_y, rotation = _uniform(generator, *sigma_range), _uniform(generator, -math.pi, math.pi)
    beta = 1.0
    if kind.startswith("generalized"):
        beta = _beta(generator, *betag_range)
    elif kind.startswith("plateau"):
        beta = _beta(generator, *betap_range)
    return shaped_kernel(kind, size, sigma_x, sigma_y, rotation, beta)


def sample_kernel(stage: DegradationStage, generator: torch.Generator) -> np.ndarray:
    """One stage's 21×21 blur kernel: a sinc with probability ``stage.sinc_prob``, else a mixed kernel."""
    size = random_odd_size(generator)
    if torch.rand((), generator=generator) < stage.sinc_prob:
        # Large kernels may use a lower cut-off (more blur), as the official sampler does.
        omega = _uniform(generator, math.pi / 3, math.pi) if size < 13 else _uniform(generator, math.pi / 5, math.pi)
        return sinc_kernel(size, omega)
    kernel = sample_mixed_kernel(size, stage.kernel_kinds, stage.kernel_probs, stage.blur_sigma, stage.betag_range,
                                 stage.betap_range, generator)
    return pad(kernel)


def sample_final_kernel(final_sinc_prob: float, generator: torch.Generator) -> np.ndarray:
    """The last sinc filter: with probability ``final_sinc_prob`` a sinc, else the identity."""
    if torch.rand((), generator=generator) < final_sinc_prob:
        size = random_odd_size(generator)
        return sinc_kernel(size, _uniform(generator, math.pi / 3, math.pi))
    return pulse()
