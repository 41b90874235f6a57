"""CycleGAN's history of generated images: the discriminator also sees older fakes, not only the newest.

Shrivastava et al.'s trick as the official code applies it: while the pool is filling, each fake
passes through and is kept; once full, each fake is, with even odds, either passed through or
swapped for a random stored one (which is returned in its place).
"""

from __future__ import annotations

import torch


class ImagePool:
    """Up to ``size`` past fakes (0 = off: every batch passes through, detached)."""

    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"the image pool size must be 0 or more, not {size}")
        self.size = size
        self.images: torch.Tensor | None = None  # filled × C × H × W
        self.filled = 0

    @torch.no_grad()
    def query(self, fakes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The batch to show the discriminator; ``generator`` makes the choices (seeded per step by
        the recipe, so a resumed run draws the same ones)."""
        fakes = fakes.detach()
        if self.size == 0:
            return fakes
        if self.images is None or self.images.shape[1:] != fakes.shape[1:]:
            self.images, self.filled = fakes.new_empty((self.size, *fakes.shape[1:])), 0
        out = []
        for image in fakes:
            if self.filled < self.size:
                self.images[self.filled] = image
                self.filled += 1
                out.append(image)
            elif torch.rand((), generator=generator).item() > 0.5:
                index = int(torch.randint(self.size, (), generator=generator))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        if self.images is None:
            return {"filled": 0}
        return {"filled": self.filled, "images": self.images[: self.filled].cpu()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        if "images" not in state:
            self.images, self.filled = None, 0
            return
        stored = state["images"][: self.size].to(device)  # a smaller pool keeps the oldest
        self.filled = stored.shape[0]
        self.images = stored.new_empty((self.size, *stored.shape[1:]))
        self.images[: self.filled] = stored
