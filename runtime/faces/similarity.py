"""Similarity transforms (rotation, uniform scale, translation) from point pairs, batched on the device."""

from __future__ import annotations

import itertools

import torch

from ...gan_models.errors import InvalidOptionError

# LMedS inlier rule (Rousseeuw's robust standard deviation with the small-sample correction), the rule
# OpenCV's LMEDS applies before refining on the inliers: keep points within 2.5 robust sigmas.
_SIGMA_PER_MEDIAN = 2.5 * 1.4826


def similarity_transform(src: torch.Tensor, dst: torch.Tensor, *, robust: bool = True) -> torch.Tensor:
    """``B×2×3`` matrices mapping ``src`` (``B×K×2``) onto ``dst`` (``K×2`` or ``B×K×2``), least squares.

    ``robust`` first finds the least-median-of-squares model over every pair of points (all ten pairs for
    five landmarks: exhaustive, so deterministic), drops points outside 2.5 robust sigmas of it, and fits
    the rest by least squares: what OpenCV's ``estimateAffinePartial2D(method=LMEDS)`` does with random
    pairs. Without it, all points are fitted (steadier from frame to frame in a video).
    """
    if src.ndim != 3 or src.shape[-1] != 2 or src.shape[1] < 2:
        raise InvalidOptionError(f"landmarks must be B×K×2 with K ≥ 2 points, got shape {tuple(src.shape)}")
    dst = dst.to(src).expand_as(src)
    if not robust or src.shape[1] < 3:
        return _weighted_fit(src, dst, torch.ones_like(src[..., 0]))
    count = src.shape[1]
    pairs = torch.tensor(list(itertools.combinations(range(count), 2)), device=src.device)
    pair_weights = torch.zeros(len(pairs), count, dtype=src.dtype, device=src.device)
    pair_weights.scatter_(1, pairs, 1.0)
    candidates = _weighted_fit(src[:, None], dst[:, None], pair_weights.expand(src.shape[0], -1, -1))
    residuals = _squared_residuals(candidates, src[:, None], dst[:, None])  # B×P×K
    medians = _median(residuals).nan_to_num(nan=torch.inf)
    best = medians.argmin(dim=1)
    rows = torch.arange(src.shape[0], device=src.device)
    sigma = (_SIGMA_PER_MEDIAN * (1 + 5.0 / (count - 2)) * medians[rows, best].sqrt()).clamp_min(1e-3)
    inliers = residuals[rows, best] <= sigma[:, None] ** 2
    return _weighted_fit(src, dst, inliers.to(src.dtype))


def _weighted_fit(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Closed-form weighted least squares for ``[[a, -b, tx], [b, a, ty]]`` (about the centroids, for float32)."""
    w = weights[..., None]
    total = w.sum(dim=-2, keepdim=True).clamp_min(torch.finfo(src.dtype).tiny)
    src_mean, dst_mean = (w * src).sum(-2, keepdim=True) / total, (w * dst).sum(-2, keepdim=True) / total
    p, q = src - src_mean, dst - dst_mean
    spread = (weights * (p * p).sum(-1)).sum(-1).clamp_min(torch.finfo(src.dtype).tiny)
    a = (weights * (p[..., 0] * q[..., 0] + p[..., 1] * q[..., 1])).sum(-1) / spread
    b = (weights * (p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0])).sum(-1) / spread
    linear = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)
    shift = dst_mean[..., 0, :] - (linear @ src_mean[..., 0, :, None])[..., 0]
    return torch.cat([linear, shift[..., None]], dim=-1)


def _squared_residuals(matrices: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    mapped = src @ matrices[..., :2].transpose(-1, -2) + matrices[..., None, :, 2]
    return ((mapped - dst) ** 2).sum(-1)


def _median(values: torch.Tensor) -> torch.Tensor:
    """Median over the last dimension, the mean of the middle two for an even count (as LMedS defines it)."""
    ordered = values.sort(dim=-1).values
    middle = values.shape[-1] // 2
    if values.shape[-1] % 2:
        return ordered[..., middle]
    return (ordered[..., middle - 1] + ordered[..., middle]) / 2


def invert_affine(matrices: torch.Tensor) -> torch.Tensor:
    """Inverses of ``…×2×3`` affine matrices (the crop→image map from an image→crop one)."""
    linear, shift = matrices[..., :2], matrices[..., 2:]
    inverse = torch.linalg.inv(linear)
    return torch.cat([inverse, -inverse @ shift], dim=-1)


def upscale_affine(matrices: torch.Tensor, factor: float) -> torch.Tensor:
    """Follow a map into an image with the image resized by ``factor`` (pixel centres kept aligned).

    A pixel centre ``x`` of the original lands at ``factor·x + (factor − 1)/2`` in the resized image
    (the convention of ``F.interpolate(align_corners=False)`` and OpenCV's resize). The official helper adds
    ``factor/2`` instead, which places pasted faces half an output pixel right and down of the background.
    """
    scaled = matrices * factor
    return torch.cat([scaled[..., :2], scaled[..., 2:] + (factor - 1) / 2], dim=-1)
