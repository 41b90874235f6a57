"""The model that ships in the package: present, small, offline by default, better than bicubic."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import ganpost
from ganpost.gan_models.catalogue import BUILTIN_MODELS, DEFAULT_MODEL


def test_builtin_model_ships_small_and_loads_offline(monkeypatch):
    monkeypatch.setenv("GANPOST_DOWNLOAD_BASE", "http://127.0.0.1:9/nowhere")  # any download would fail
    path = BUILTIN_MODELS[DEFAULT_MODEL]
    assert path.is_file() and path.stat().st_size <= 5 * 1024 * 1024
    model = ganpost.load_model(DEFAULT_MODEL, download=False)
    assert model.architecture == "SRVGGNetCompact" and model.scale == 4


def test_cli_uses_it_when_no_model_is_named(tmp_path):
    from ganpost.cli import main

    source = tmp_path / "in.png"
    Image.fromarray(np.full((20, 24, 3), 120, np.uint8)).save(source)
    assert main(["upscale", str(source), "-o", str(tmp_path / "out.png"), "--offline"]) == 0
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (96, 80)


def test_it_beats_bicubic_on_held_out_photos():
    pytest.importorskip("skimage")
    import torch

    from ganpost.training.components.sample_photos import HELD_OUT, skimage_data_dir
    from ganpost.training.components.sr_validation import validate

    images = []
    for name in HELD_OUT:
        with Image.open(skimage_data_dir() / name) as im:
            rgb = np.asarray(im.convert("RGB"))
        h, w = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
        images.append((name, torch.from_numpy(rgb[:h, :w].copy()).permute(2, 0, 1).float()[None] / 255, None))
    model = ganpost.load_model(DEFAULT_MODEL)
    metrics = validate(model.module, images, 4, torch.device("cpu"))
    assert metrics["psnr_gain"] >= 0.3, metrics
