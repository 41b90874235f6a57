"""A face-restorer family in one folder, as a new family would arrive: a network, its registry entry
with a forward option of its own (``fidelity``, like CodeFormer's weight), and nothing else.

``tests/gan_models/test_new_family.py`` registers it and finds the option in the API, the CLI, the nodes and
diffusers without any of them being edited. The network passes faces through unchanged and records
each ``fidelity`` its forward is given, so a test can see the value arrive.
"""

from __future__ import annotations

import torch
from torch import nn

from ganpost.gan_models.architecture import ArchitectureEntry, Built
from ganpost.gan_models.contract import ModelContract, SizeRule, Task, TilingPolicy
from ganpost.gan_models.options import Option

FACE_SIZE = 64
SEEN: list[float] = []  # every fidelity a forward was given, in order
FIDELITY = Option("fidelity", float, 0.5, "0 = the most restoration, 1 = the closest to the input face",
                  minimum=0.0, maximum=1.0, forward="w")


class ToyRestorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.toy_gain = nn.Parameter(torch.ones(1))

    def forward(self, x, w: float = 0.5):  # the network's own keyword (``w``) differs from the option's name
        SEEN.append(float(w))
        return x * self.toy_gain, None  # a tuple, as GFPGAN returns


def _contract(hyperparameters: dict) -> ModelContract:
    return ModelContract(task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
                         size=SizeRule(fixed=FACE_SIZE), tiling=TilingPolicy(margin=0), activation_elements=16,
                         fp16_safe=False, bf16_safe=False)


TOY_RESTORER = ArchitectureEntry(
    architecture="ToyRestorer", family="toy_restorer", detect=lambda sd: set(sd) == {"toy_gain"},
    build=lambda sd, options: Built(ToyRestorer(), {}, dict(sd)), contract=_contract, create=ToyRestorer,
    task=Task.FACE_RESTORE, forward_options=(FIDELITY,),
)
ENTRIES = (TOY_RESTORER,)


def save(path) -> str:
    """A checkpoint of the toy family, as a user would download one."""
    torch.save({"toy_gain": torch.ones(1)}, path)
    return str(path)
