"""GFPGAN training data: eye/mouth boxes from five landmarks, flips that move them, the crop cache, the
face degradation."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import shared_weight
from PIL import Image

from ganpost.runtime.faces.template import face_template
from ganpost.training.components.images import DatasetError
from ganpost.training.degradation.face import FaceDegradation, FaceDegradationSettings, color_jitter
from ganpost.training.recipes.gfpgan.data import FaceCrops, component_boxes, crop_boxes, flip_boxes, prepare_faces


def test_boxes_on_the_template_follow_the_documented_rule():
    boxes = component_boxes(face_template(512, dtype=torch.float64), 512)
    iod = 318.90277 - 192.98138
    assert boxes[0, :2].tolist() == pytest.approx([192.98138, 239.94708], abs=1e-3)
    assert boxes[2, :2].tolist() == pytest.approx([257.17511, 371.2808], abs=1e-3)
    assert boxes[0, 2].item() == pytest.approx(0.22 * iod * 1.4, rel=1e-5)  # ~39.6: an 80 px eye box
    assert boxes[2, 2].item() == pytest.approx(0.36 * iod, rel=1e-5)
    small = component_boxes(face_template(64, dtype=torch.float64) * 0.2, 64)  # a tiny IOD: the floor holds
    assert small[0, 2].item() == pytest.approx(2.0 * 1.4) and small[2, 2].item() == pytest.approx(2.0)


def test_a_flipped_crop_at_the_flipped_box_is_the_mirrored_crop():
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[20.3, 28.0, 6.0], [41.0, 27.5, 6.5], [31.0, 44.0, 9.0]])
    flipped = flip_boxes(boxes, 64)
    assert torch.equal(boxes, torch.tensor([[20.3, 28.0, 6.0], [41.0, 27.5, 6.5], [31.0, 44.0, 9.0]]))  # a copy
    for row, swapped in ((0, 1), (1, 0), (2, 2)):
        original = crop_boxes(image, boxes[row][None], 12)
        mirrored = crop_boxes(image.flip(-1), flipped[swapped][None], 12)
        assert torch.allclose(mirrored, original.flip(-1), atol=1e-5)
    assert torch.equal(flip_boxes(flipped, 64), boxes)


def test_dataset_flips_never_touch_the_stored_boxes():
    crops = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    boxes = torch.rand(2, 3, 3) * 30
    stored = boxes.clone()
    data = FaceCrops(crops, boxes, seed=0)
    samples = [data[i] for i in range(40)]
    assert torch.equal(data.boxes, stored)
    flipped = [s for s in samples if not any(torch.equal(s["boxes"], b) for b in stored)]
    assert 5 < len(flipped) < 35
    assert all(torch.equal(s["gt"], data[i]["gt"]) for i, s in enumerate(samples[:5]))  # seeded by sample id


def test_the_cache_is_reused_and_renewed_when_a_photo_changes(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    pixels = np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "a.png")
    crops, boxes = prepare_faces(folder, 32, tmp_path / "cache", aligned=True)
    assert crops.shape == (1, 32, 32, 3) and boxes.shape == (1, 3, 3)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    again, _ = prepare_faces(folder, 32, tmp_path / "cache", aligned=True)
    assert np.array_equal(again, crops) and len(list((tmp_path / "cache").glob("*.npz"))) == 1
    Image.fromarray(255 - pixels).save(folder / "a.png")
    stat = os.stat(folder / "a.png")
    os.utime(folder / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed, _ = prepare_faces(folder, 32, tmp_path / "cache", aligned=True)
    assert not np.array_equal(changed, crops) and len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_a_folder_without_faces_is_named(tmp_path):
    from ganpost.gan_models import load_model

    detector_path = shared_weight("retinaface_mobilenet0.25.pth")
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(folder / "grey.png")
    with pytest.raises(DatasetError, match="no face found"):
        prepare_faces(folder, 64, tmp_path / "cache", load_detector=lambda: load_model(detector_path))


def test_a_face_dropped_for_its_size_is_reported_as_too_small_not_as_missing(tmp_path, caplog):
    """The detector finds the astronaut (a 95 px face); data.min_face_size above that drops her: the log and the
    error say it was the size, give the face's size and the value that keeps her, not "lower the threshold"."""
    from ganpost.gan_models import load_model
    from ganpost.training.components.sample_photos import skimage_data_dir

    detector_path = shared_weight("retinaface_mobilenet0.25.pth")
    folder = tmp_path / "faces"
    folder.mkdir()
    (folder / "astronaut.png").write_bytes((skimage_data_dir() / "astronaut.png").read_bytes())
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(folder / "grey.png")
    for attempt in ("detected", "cached"):
        caplog.clear()
        with pytest.raises(DatasetError, match="no face large enough") as err:
            prepare_faces(folder, 64, tmp_path / "cache", load_detector=lambda: load_model(detector_path),
                          min_face_size=128)
        side = int(re.search(r"it is (\d+) px", str(err.value)).group(1))
        assert 80 < side < 128, attempt
        assert "smaller than data.min_face_size = 128 px" in str(err.value)
        assert f"--set data.min_face_size={side}" in str(err.value) and "threshold" not in str(err.value)
        messages = {Path(r.getMessage().split(":")[0]).name: r.getMessage() for r in caplog.records}
        assert "a face was found but smaller than data.min_face_size = 128 px" in messages["astronaut.png"]
        assert "no face found (detector threshold 0.97)" in messages["grey.png"]
    # the value the message gives keeps her
    crops, _ = prepare_faces(folder, 64, tmp_path / "cache", load_detector=lambda: load_model(detector_path),
                             min_face_size=side)
    assert len(crops) == 1


def test_degradation_is_seeded_and_keeps_its_ranges():
    gt = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    degrade = FaceDegradation()
    lq, out_gt = degrade(gt, torch.Generator().manual_seed(5))
    lq2, _ = degrade(gt, torch.Generator().manual_seed(5))
    assert torch.equal(lq, lq2) and lq.shape == gt.shape
    assert lq.min() >= 0 and lq.max() <= 1 and torch.equal((lq * 255).round() / 255, lq)  # 8-bit
    grey = FaceDegradation(FaceDegradationSettings(gray_prob=1.0))(gt, torch.Generator().manual_seed(1))
    assert torch.allclose(grey[1][:, 0], grey[1][:, 1]) and torch.allclose(grey[1][:, 1], grey[1][:, 2])


def test_colour_jitter_identity_and_hue_turn():
    x = torch.rand(2, 3, 8, 8)
    one, zero = torch.ones(2, 1, 1, 1), torch.zeros(2, 1, 1, 1)
    assert torch.allclose(color_jitter(x, one, one, one, zero), x, atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    green = color_jitter(red, one[:1], one[:1], one[:1], torch.full((1, 1, 1, 1), 1 / 3))
    assert torch.allclose(green[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)


def test_the_astronaut_is_found_aligned_and_boxed(tmp_path):
    """The real detector on scikit-image's astronaut: one face, its eye and mouth boxes where the template puts
    eyes and mouth (the alignment maps her landmarks within a few pixels of it)."""
    from ganpost.gan_models import load_model
    from ganpost.training.components.sample_photos import skimage_data_dir

    detector_path = shared_weight("retinaface_mobilenet0.25.pth")
    folder = tmp_path / "faces"
    folder.mkdir()
    (folder / "astronaut.png").write_bytes((skimage_data_dir() / "astronaut.png").read_bytes())
    crops, boxes = prepare_faces(folder, 512, tmp_path / "cache", load_detector=lambda: load_model(detector_path))
    assert crops.shape == (1, 512, 512, 3)
    expected = component_boxes(face_template(512, dtype=torch.float64), 512)
    assert (boxes[0, :, :2] - expected[:, :2]).abs().max() < 15
    assert 30 < boxes[0, 0, 2] < 50 and 35 < boxes[0, 2, 2] < 60
