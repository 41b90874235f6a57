"""Which global sample numbers each process reads: the engine's sampler for every recipe's dataset."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler


class SampleIds(Sampler[int]):
    """Global sample numbers for one process, endless, starting after ``done_batches`` batches.

    Batch ``m`` on rank ``r`` of ``world`` holds ids ``(m * world + r) * batch + i``: ranks never
    share a sample and the sequence does not depend on where a run was resumed.
    """

    def __init__(self, batch_size: int, done_batches: int = 0, rank: int = 0, world: int = 1):
        self.batch_size, self.done_batches, self.rank, self.world = batch_size, done_batches, rank, world

    def __iter__(self) -> Iterator[int]:
        m = self.done_batches
        while True:
            first = (m * self.world + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            m += 1
