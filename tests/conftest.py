"""Shared fixtures; the helpers themselves live in tests/helpers/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # for tests/reference.py and tests/helpers

from helpers.models import (  # noqa: E402,F401 - re-exported: tests import them from conftest
    SHARED_WEIGHTS, natural_image, save_official, shared_weight, tiny_compact, tiny_rrdbnet,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of three small photo crops for training tests."""
    from PIL import Image

    folder = tmp_path / "hr"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(natural_image(64, 64, seed=i)).save(folder / f"{i}.png")
    return folder
