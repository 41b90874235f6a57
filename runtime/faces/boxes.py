"""Boxes of any detector: overlap and greedy non-maximum suppression, in torch on any device."""

from __future__ import annotations

import torch


def box_iou(box: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Intersection over union of one corner box (x1, y1, x2, y2) with each of ``others`` (K×4)."""
    top_left = torch.maximum(box[:2], others[:, :2])
    bottom_right = torch.minimum(box[2:], others[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    area = (box[2:] - box[:2]).prod()
    areas = (others[:, 2:] - others[:, :2]).prod(dim=1)
    return inter / (area + areas - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy suppression, highest score first.

    A box is dropped when its IoU with a higher-scoring kept box exceeds ``iou_threshold``
    (torchvision's rule). One step per kept box, each vectorised over the remaining boxes.
    """
    order = scores.argsort(descending=True, stable=True)
    keep = []
    while order.numel():
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return torch.stack(keep) if keep else order
