"""Where a clip cuts to another shot, so landmark tracks never run across the cut.

Two frames of one shot differ little once shrunk to 32×32 grey (a mean difference of 0.002-0.01 on the
bench clip's swaying faces, a few hundredths on a fast pan); a cut to another shot differs by about 0.2.
Without this, a face in the next shot that overlaps the last one's box (IoU ≥ 0.3, common for close-ups)
would continue its track and the smoothing would average two people's landmarks around the cut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CUT_THRESHOLD = 0.1  # mean absolute difference of the 32×32 grey thumbnails, [0, 1] scale
THUMBNAIL = 32


def thumbnail(rgb: torch.Tensor) -> torch.Tensor:
    """``1×3×H×W`` (or ``3×H×W``) in [0, 1] → 32×32 grey, on the CPU in float64 (batch-independent)."""
    grey = rgb.reshape(-1, *rgb.shape[-3:])[:1].double().mean(1, keepdim=True).cpu()
    return F.adaptive_avg_pool2d(grey, THUMBNAIL)[0, 0]


class CutDetector:
    """Feed frames in order, in any batches: ``starts(frames)`` gives the indices (in that batch) of frames
    that begin a new shot. The first frame of a clip is not a cut."""

    def __init__(self, threshold: float = CUT_THRESHOLD):
        self.threshold, self.last = threshold, None

    def starts(self, frames: list[torch.Tensor]) -> list[int]:
        out = []
        for index, rgb in enumerate(frames):
            small = thumbnail(rgb)
            if self.last is not None and float((small - self.last).abs().mean()) > self.threshold:
                out.append(index)
            self.last = small
        return out


def shot_starts(frames: list[torch.Tensor], threshold: float = CUT_THRESHOLD) -> list[int]:
    """Indices of the frames that begin a new shot (cuts) in a list of consecutive frames."""
    return CutDetector(threshold).starts(frames)
