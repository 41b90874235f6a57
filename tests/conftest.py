"""Shared fixtures. Helpers live in one place, tests/helpers/; the test folders mirror the source tree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers (and reference.py) from any folder of tests/

from helpers.models import natural_image  # noqa: E402


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


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (two CPUs) for every test that needs it, started once and shut down at the end;
    the tests that use it skip where Ray is missing or cannot start."""
    from helpers.ray_cluster import local_ray

    with local_ray() as ray:
        yield ray
