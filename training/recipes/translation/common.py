"""What pix2pix and CycleGAN share: data, batches in [-1, 1], per-step random choices, validation.

Validation follows the official ``test.py``: held-out images resized to ``crop_size``², and the
generator run as trained (batch norm on the image's own statistics, dropout on) — on a copy, with
a fixed seed and the training RNG set aside, so validating never changes the run.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...components.images import DatasetError
from ...components.metrics import psnr_rgb
from ...components.previews import write_strip
from ...engine.run_files import OfficialPix2PixNames
from ..base import Recipe
from . import front_end
from .data import PairedImages

VALIDATION_SEED = 0


class TranslationRecipe(Recipe):
    output_names = OfficialPix2PixNames()
    input_folder_settings = ("dir", "dir_a", "dir_b", "val_dir", "val_dir_a", "val_dir_b")
    node = front_end.NODE  # one node trains both translation recipes

    @classmethod
    def describe(cls, config) -> str:
        return front_end.describe(config)

    @classmethod
    def validation_text(cls, metrics: dict) -> str:
        return front_end.validation_text(metrics)

    def __init__(self, config, engine):
        super().__init__(config, engine)
        self.batch_size, self.num_workers = config.data.batch_size, config.data.num_workers
        self.val_pairs: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    # --- data ---------------------------------------------------------------------------------------
    def load_validation(self) -> None:
        d = self.config.data
        if not self.engine.processes.is_main or not (d.val_dir or d.val_dir_a):
            return
        held_out = PairedImages(aligned=d.val_dir, folder_a=d.val_dir_a, folder_b=d.val_dir_b,
                                load_size=d.crop_size, crop_size=d.crop_size, direction=d.direction,
                                resize=d.resize)
        self.val_pairs = []
        for index in range(min(len(held_out.sources), d.val_max_images)):
            a, b = held_out.pair(index)
            self.val_pairs.append((held_out.name(index), _tensor(a), _tensor(b)))

    def make_batch(self, samples: dict, micro: int) -> dict:
        """``a`` and ``b`` on the device in [-1, 1], and the random source of this micro-batch's choices."""
        device = self.engine.device
        batch = {k: samples[k].to(device, non_blocking=True) * 2 - 1 for k in ("a", "b")}
        engine = self.engine
        seed = np.random.SeedSequence([self.config.run.seed, engine.step, micro, engine.processes.rank])
        batch["rng"] = torch.Generator().manual_seed(int(seed.generate_state(1, np.uint64)[0] >> 1))
        return batch

    # --- validation ----------------------------------------------------------------------------------
    @property
    def validates(self) -> bool:
        return bool(self.val_pairs)

    def translate(self, network: nn.Module, image: torch.Tensor) -> torch.Tensor:
        """``image`` (1×3×H×W in [0, 1]) through a copy of ``network`` as the official test runs it."""
        device = self.engine.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(VALIDATION_SEED)
            copy_ = copy.deepcopy(network).train()
            out = copy_(image.to(device) * 2 - 1).float().cpu()
        return ((out + 1) / 2).clamp(0, 1)

    def scores_and_preview(self, directions: dict[str, nn.Module], preview: Path) -> dict:
        """PSNR (RGB) of each direction's output against its target, and of the input left as it is."""
        scores: dict[str, list[float]] = {}
        for index, (_, a, b) in enumerate(self.val_pairs):
            panels = [a]
            for key, network in directions.items():
                source, target = (a, b) if key == "AtoB" else (b, a)
                out = self.translate(network, source)
                scores.setdefault(f"psnr_{key}", []).append(psnr_rgb(out, target))
                panels += [out, b] if key == "AtoB" else [out]
            scores.setdefault("psnr_identity", []).append(psnr_rgb(a, b))
            if index == 0:
                write_strip(preview, panels)
        return {k: float(np.mean(v)) for k, v in scores.items()}


def upcast(x: torch.Tensor) -> torch.Tensor:
    """Autocast's fp16/bf16 outputs as float32 for the losses; float32 and float64 pass unchanged (a
    float64 run, as the parity test's, stays float64 throughout)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def require(condition: bool, message: str) -> None:
    if not condition:
        raise DatasetError(message)
