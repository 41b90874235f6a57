"""The official training-pair pool: it mixes (input, target) pairs across batches."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


class TrainingPairPool:
    """The official training-pair pool: mixes (input, target) pairs across batches.

    A batch shares one resize factor, so swapping samples with a shuffled pool gives each batch a
    mix of degradations. Any size works: one that is not a multiple of the batch size is rounded
    down to one (at least one batch), with a warning, instead of the official "must divide" error.
    """

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"the training-pair pool size must be at least 1, not {size}")
        self.size = size
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.filled = 0

    def _allocate(self, lq: torch.Tensor, gt: torch.Tensor) -> None:
        b = lq.shape[0]
        capacity = max(b, self.size // b * b)
        if capacity != self.size:
            log.warning("training-pair pool size %d is not a multiple of the batch size %d: using %d",
                        self.size, b, capacity)
        self.lq = lq.new_empty((capacity, *lq.shape[1:]))
        self.gt = gt.new_empty((capacity, *gt.shape[1:]))

    @torch.no_grad()
    def push_pull(self, lq: torch.Tensor, gt: torch.Tensor,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this batch and return a batch of pairs: itself while filling, then older pairs."""
        if self.lq is None:
            self._allocate(lq, gt)
        capacity, b = self.lq.shape[0], lq.shape[0]
        if self.filled < capacity:
            n = min(b, capacity - self.filled)
            self.lq[self.filled: self.filled + n] = lq[:n]
            self.gt[self.filled: self.filled + n] = gt[:n]
            self.filled += n
            return lq, gt
        order = torch.randperm(capacity, generator=generator).to(self.lq.device)
        self.lq, self.gt = self.lq[order], self.gt[order]
        n = min(b, capacity)  # a batch larger than the pool (batch size changed): the rest passes through
        out_lq = torch.cat([self.lq[:n].clone(), lq[n:]])
        out_gt = torch.cat([self.gt[:n].clone(), gt[n:]])
        self.lq[:n], self.gt[:n] = lq[:n], gt[:n]
        return out_lq, out_gt

    def state_dict(self) -> dict:
        if self.lq is None:
            return {"filled": 0}
        return {"filled": self.filled, "lq": self.lq.cpu(), "gt": self.gt.cpu()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.filled = int(state["filled"])
        self.lq = state["lq"].to(device) if "lq" in state else None
        self.gt = state["gt"].to(device) if "gt" in state else None
