"""Training data from folders: crops, pairing, every bad file named, resumable sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.training.components.images import DatasetError, list_images
from ganpost.training.components.sr_data import HighResolutionCrops, PairedCrops, validation_images
from ganpost.training.engine.sampling import SampleIds


def _write(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)
    return folder / name


def test_crops_are_deterministic_per_sample_id(tmp_path):
    for i in range(3):
        _write(tmp_path / "hr", f"{i}.png", natural_image(80, 96, seed=i))
    data = HighResolutionCrops(tmp_path / "hr", 32, seed=5, hflip=True, rot=True)
    a, b = data[17]["gt"], HighResolutionCrops(tmp_path / "hr", 32, seed=5, hflip=True, rot=True)[17]["gt"]
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(data[17]["gt"], data[18]["gt"])
    # Each epoch visits every image once.
    visited = {data.image_index(k) for k in range(3)}
    assert visited == {0, 1, 2}


def test_small_images_are_padded_said_once_and_grey_becomes_rgb(tmp_path, caplog):
    _write(tmp_path / "hr", "grey.png", natural_image(20, 24)[..., 0])
    _write(tmp_path / "hr", "wide.png", natural_image(24, 64))
    _write(tmp_path / "hr", "large.png", natural_image(40, 40))
    data = HighResolutionCrops(tmp_path / "hr", 32)
    grey = data.files.index(tmp_path / "hr" / "grey.png")
    crop = data[next(k for k in range(3) if data.image_index(k) == grey)]["gt"]
    assert crop.shape == (3, 32, 32) and torch.equal(crop[0], crop[1])
    for k in range(6):
        data[k]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # when the run starts, not at every sample
    assert "2 of 3 images are smaller than the 32 px training crop (data.gt_size)" in warnings[0]
    assert "grey.png (24×20)" in warnings[0] and "wide.png (64×24)" in warnings[0] and "large" not in warnings[0]
    caplog.clear()
    HighResolutionCrops(tmp_path / "hr", 20)
    assert not caplog.records


def test_sampler_is_the_same_whether_resumed_or_not():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    straight = take(SampleIds(4, 0), 20)
    assert straight[12:] == take(SampleIds(4, 3), 8)
    ranks = [set(take(SampleIds(4, 0, rank=r, world=2), 8)) for r in range(2)]
    assert not ranks[0] & ranks[1]


def test_unreadable_files_are_all_listed(tmp_path):
    _write(tmp_path / "hr", "good.png", natural_image(32, 32))
    (tmp_path / "hr" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "hr" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DatasetError) as err:
        list_images(tmp_path / "hr")
    assert "2 file(s) cannot be read" in str(err.value)
    assert "broken.png" in str(err.value) and "empty.jpg" in str(err.value)
    with pytest.raises(DatasetError, match="no such folder"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        list_images(tmp_path / "empty")


def test_paired_crops_stay_aligned(tmp_path):
    gt = natural_image(64, 64)
    lq = np.asarray(Image.fromarray(gt).resize((16, 16), Image.BICUBIC))
    _write(tmp_path / "gt", "a.png", gt)
    _write(tmp_path / "lq", "a.jpg", lq)  # names match without the extension
    data = PairedCrops(tmp_path / "gt", tmp_path / "lq", 4, 32, seed=1, hflip=True, rot=True)
    for k in range(4):
        item = data[k]
        assert item["gt"].shape == (3, 32, 32) and item["lq"].shape == (3, 8, 8)
        down = torch.nn.functional.interpolate(item["gt"][None], size=(8, 8), mode="area")[0]
        assert (down - item["lq"]).abs().mean() < 0.08  # the same region, not a random one


def test_paired_mismatches_are_all_listed(tmp_path):
    _write(tmp_path / "gt", "a.png", natural_image(64, 64))
    _write(tmp_path / "gt", "b.png", natural_image(64, 64))
    _write(tmp_path / "lq", "a.png", natural_image(15, 16))
    _write(tmp_path / "lq", "c.png", natural_image(16, 16))
    with pytest.raises(DatasetError) as err:
        PairedCrops(tmp_path / "gt", tmp_path / "lq", 4, 32)
    text = str(err.value)
    assert "3 problem(s)" in text and "b.png: no low-resolution image named b" in text
    assert "c.png: no high-resolution image named c" in text and "not ×4" in text


def test_validation_images_are_trimmed_to_the_scale(tmp_path):
    _write(tmp_path / "val", "v.png", natural_image(50, 63))
    (name, gt, lq), = validation_images(tmp_path / "val", 4)
    assert name == "v" and gt.shape == (1, 3, 48, 60) and lq is None
