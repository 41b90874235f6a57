"""Steady landmarks over consecutive frames: match faces frame to frame, smooth each track's landmarks.

A detector's five points jitter by a pixel or two between nearly identical frames; the aligned crop,
and so the restored face, then shimmers. Faces are linked frame to frame by box overlap (greedy,
highest IoU first), and each track's landmarks are replaced by a Gaussian-weighted average over its
neighbouring frames. The window is centred, so steady motion is followed without lag; a face that
appears or leaves just has fewer neighbours. Boxes and scores are left as detected.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ...gan_models.errors import InvalidOptionError

MIN_IOU = 0.3  # below this two boxes in consecutive frames are different faces


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def link_tracks(frames: list[list], min_iou: float = MIN_IOU, cuts=()) -> list[list[int]]:
    """A track id for every face of every frame (faces carry ``.box``); a face unmatched in the previous
    frame, or in a frame listed in ``cuts`` (the first of a new shot), starts a new track."""
    ids: list[list[int]] = []
    next_id = 0
    previous: list = []
    previous_ids: list[int] = []
    cuts = set(cuts)
    for t, faces in enumerate(frames):
        if t in cuts:
            previous, previous_ids = [], []
        pairs = sorted(((box_iou(f.box, p.box), i, j) for i, f in enumerate(faces) for j, p in enumerate(previous)),
                       reverse=True)
        mine = [-1] * len(faces)
        taken = set()
        for iou, i, j in pairs:
            if iou < min_iou:
                break
            if mine[i] < 0 and j not in taken:
                mine[i] = previous_ids[j]
                taken.add(j)
        for i in range(len(faces)):
            if mine[i] < 0:
                mine[i], next_id = next_id, next_id + 1
        ids.append(mine)
        previous, previous_ids = faces, mine
    return ids


def check_smoothing(sigma) -> None:
    if not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and math.isfinite(sigma) and sigma >= 0):
        raise InvalidOptionError(f"smooth_landmarks must be a number of frames ≥ 0 (0: off, e.g. 1.5), not {sigma!r}")


def window_radius(sigma: float) -> int:
    """How many frames on each side a smoothed frame reads (0 when off): three sigmas, at least one."""
    return 0 if sigma == 0 else max(1, math.ceil(3 * sigma))


def smooth_landmarks(frames: list[list], sigma: float, min_iou: float = MIN_IOU, cuts=()) -> list[list]:
    """``frames`` (per image, a list of faces with ``.box`` and ``.landmarks``) with each face's landmarks
    averaged over its track's neighbouring frames, Gaussian weights of ``sigma`` frames (0: unchanged).
    ``cuts``: indices of frames that begin a new shot (``runtime.faces.cuts``); no track crosses them."""
    check_smoothing(sigma)
    if sigma == 0:
        return frames
    ids = link_tracks(frames, min_iou, cuts)
    tracks: dict[int, list[tuple[int, int]]] = {}
    for t, frame_ids in enumerate(ids):
        for i, track in enumerate(frame_ids):
            tracks.setdefault(track, []).append((t, i))
    radius = window_radius(sigma)
    out = [list(faces) for faces in frames]
    for members in tracks.values():
        for t, i in members:
            weights, sums = 0.0, [[0.0, 0.0] for _ in frames[t][i].landmarks]
            for u, j in members:
                if abs(u - t) > radius:
                    continue
                w = math.exp(-((u - t) ** 2) / (2 * sigma * sigma))
                weights += w
                for k, (x, y) in enumerate(frames[u][j].landmarks):
                    sums[k][0] += w * x
                    sums[k][1] += w * y
            out[t][i] = replace(frames[t][i], landmarks=tuple((x / weights, y / weights) for x, y in sums))
    return out


class SteadyLandmarks:
    """:func:`smooth_landmarks` over a stream: frames' faces go in by batches, smoothed faces come out once the
    ``radius`` frames after them have arrived, identical to smoothing the whole clip at once.

    Exact because a smoothed frame reads only the frames within ``radius`` of it, and whether two faces in that
    window are one track is decided by box overlap between consecutive frames inside it; each release smooths
    a window holding all of them, summing in the same order. Only ``radius`` frames of faces are kept back.
    """

    def __init__(self, sigma: float, min_iou: float = MIN_IOU):
        check_smoothing(sigma)
        self.sigma, self.min_iou, self.radius = sigma, min_iou, window_radius(sigma)
        self.frames: list[list] = []  # faces of the clip's frames from ``start`` on
        self.start = 0
        self.released = 0  # frames handed out so far
        self.cuts: list[int] = []  # clip indices of frames that begin a shot

    def push(self, frames: list[list], cuts=()) -> list[list]:
        """Add the next frames' faces (``cuts``: indices in ``frames`` that begin a new shot); return the
        smoothed faces of the frames now complete (maybe none)."""
        self.cuts += [self.start + len(self.frames) + c for c in cuts]
        self.frames += list(frames)
        return self._release(self.start + len(self.frames) - self.radius)

    def finish(self) -> list[list]:
        """The clip has ended: the smoothed faces of every frame not yet returned."""
        return self._release(self.start + len(self.frames))

    def _release(self, until: int) -> list[list]:
        if until <= self.released:
            return []
        end = self.start + len(self.frames)
        low, high = max(self.start, self.released - self.radius), min(end, until + self.radius)
        smoothed = smooth_landmarks(self.frames[low - self.start: high - self.start], self.sigma, self.min_iou,
                                    [c - low for c in self.cuts if low < c < high])
        out = smoothed[self.released - low: until - low]
        self.released = until
        keep = max(self.start, until - self.radius)  # what the next release still reads
        self.frames, self.start = self.frames[keep - self.start:], keep
        self.cuts = [c for c in self.cuts if c > keep]
        return out
