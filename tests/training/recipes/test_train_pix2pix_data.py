"""The pieces under the translation recipes: paired / aligned / unpaired data, the image pool,
the constant-then-linear schedule and the official output file names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models import natural_image
from ganpost.training.components.image_pool import ImagePool
from ganpost.training.components.losses import GANLoss, gradient_penalty
from ganpost.training.components.images import DatasetError
from ganpost.training.engine.config import OptimConfig
from ganpost.training.engine.run_files import OfficialPix2PixNames, RunFiles
from ganpost.training.engine.schedule import lr_factor
from ganpost.training.recipes.translation.data import PairedImages, UnpairedImages


def _save(folder, name, array):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)


def _pairs(root, n=3, size=40):
    """A and B folders where B is A with its channels reversed (so a pair is easy to recognise)."""
    for i in range(n):
        a = natural_image(size, size + 8, seed=i)
        _save(root / "A", f"{i}.png", a)
        _save(root / "B", f"{i}.png", a[..., ::-1])
    return root / "A", root / "B"


def test_aligned_and_named_pairs_give_the_same_aligned_crops(tmp_path):
    folder_a, folder_b = _pairs(tmp_path)
    for i in range(3):  # the official layout: A | B side by side
        a, b = np.array(Image.open(folder_a / f"{i}.png")), np.array(Image.open(folder_b / f"{i}.png"))
        _save(tmp_path / "AB", f"{i}.png", np.concatenate([a, b], axis=1))
    named = PairedImages(folder_a=folder_a, folder_b=folder_b, load_size=36, crop_size=32, seed=3)
    aligned = PairedImages(aligned=tmp_path / "AB", load_size=36, crop_size=32, seed=3)
    for sample in (0, 5, 11):
        x, y = named[sample], aligned[sample]
        assert x["a"].shape == (3, 32, 32) and torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"])
        assert torch.allclose(x["b"], x["a"].flip(0), atol=1e-6)  # same crop and flip for both halves
    assert not torch.equal(named[0]["a"], named[1]["a"])


def test_direction_swaps_input_and_target(tmp_path):
    folder_a, folder_b = _pairs(tmp_path)
    forward = PairedImages(folder_a=folder_a, folder_b=folder_b, load_size=36, crop_size=32)[4]
    backward = PairedImages(folder_a=folder_a, folder_b=folder_b, load_size=36, crop_size=32, direction="BtoA")[4]
    assert torch.equal(forward["a"], backward["b"]) and torch.equal(forward["b"], backward["a"])


def test_crop_without_resize_keeps_the_pixels(tmp_path):
    folder_a, folder_b = _pairs(tmp_path, n=1)
    sample = PairedImages(folder_a=folder_a, folder_b=folder_b, crop_size=40, preprocess="crop", flip=False)[0]
    full = torch.from_numpy(np.array(Image.open(folder_a / "0.png"))).permute(2, 0, 1).float() / 255
    left = [x for x in range(9) if torch.equal(full[:, :, x: x + 40], sample["a"])]
    assert len(left) == 1


def test_mismatched_pairs_are_all_named(tmp_path):
    folder_a, folder_b = _pairs(tmp_path)
    _save(folder_a, "only_in_a.png", natural_image(40, 48))
    _save(folder_b, "1.png", natural_image(30, 30))
    with pytest.raises(DatasetError) as err:
        PairedImages(folder_a=folder_a, folder_b=folder_b, load_size=36, crop_size=32)
    assert "only_in_a.png: no image named only_in_a.*" in str(err.value)
    assert "30×30, but" in str(err.value) and "2 problem(s)" in str(err.value)
    _save(tmp_path / "AB", "odd.png", natural_image(20, 41))
    with pytest.raises(DatasetError, match="odd width"):
        PairedImages(aligned=tmp_path / "AB")


def test_too_small_images_say_which_setting_to_change(tmp_path):
    folder_a, folder_b = _pairs(tmp_path, n=1, size=20)
    with pytest.raises(DatasetError, match="smaller than the 32 px crop; lower data.crop_size"):
        PairedImages(folder_a=folder_a, folder_b=folder_b, crop_size=32, preprocess="crop")[0]


def test_unpaired_draws_each_domain_on_its_own(tmp_path):
    folder_a, folder_b = _pairs(tmp_path, n=4)
    data = UnpairedImages(folder_a, folder_b, load_size=36, crop_size=32, seed=1)
    again = UnpairedImages(folder_a, folder_b, load_size=36, crop_size=32, seed=1)
    assert all(torch.equal(data[i]["b"], again[i]["b"]) for i in range(6))
    # B is not A's partner: some samples pair A with another image's B
    assert any(not torch.allclose(data[i]["b"], data[i]["a"].flip(0), atol=1e-6) for i in range(8))


def test_image_pool_passes_while_filling_then_mixes_old_fakes():
    pool = ImagePool(3)
    rng = torch.Generator().manual_seed(0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first, rng), first)
    outs = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + k), rng) for k in range(20)]).flatten()
    assert {0.0, 1.0, 2.0} & set(outs.tolist())  # old fakes come back
    assert any(v >= 10 for v in outs.tolist())  # new ones pass too
    restored = ImagePool(3)
    restored.load_state_dict(pool.state_dict())
    x = torch.full((4, 1, 1, 1), 99.0)
    assert torch.equal(pool.query(x, torch.Generator().manual_seed(5)), restored.query(x, torch.Generator().manual_seed(5)))
    fakes = torch.ones(2, 1, 1, 1, requires_grad=True) * 2
    assert not ImagePool(0).query(fakes, rng).requires_grad  # off: passes through, detached


def test_gan_modes_and_gradient_penalty():
    score = torch.tensor([[0.5, -1.0]])
    assert GANLoss("wgangp")(score, True, is_disc=True).item() == pytest.approx(0.25)
    assert GANLoss("lsgan")(score, False, is_disc=True).item() == pytest.approx((0.25 + 1.0) / 2)
    critic = torch.nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        critic.weight.fill_(1.0)  # ‖∇‖ = √3 per pixel over 4 pixels: norm √12
    real, fake = torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(10 * (12 ** 0.5 - 1) ** 2, rel=1e-5)


def test_constant_then_linear_decay_to_zero():
    cfg = OptimConfig(schedule="linear_decay")
    factors = [lr_factor(s, cfg, 10) for s in range(11)]
    assert factors[:5] == [1.0] * 5 and factors[5:] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0])
    cfg = OptimConfig(schedule="linear_decay", decay_start=8)
    assert [lr_factor(s, cfg, 10) for s in (7, 8, 9)] == pytest.approx([1.0, 1.0, 0.5])


def test_official_file_names_and_pruning(tmp_path):
    files = RunFiles(tmp_path, OfficialPix2PixNames())
    weights = {"model.0.weight": torch.ones(2)}
    for step in (5, 10, 100):
        files.save_output("net_G", step, weights)
    files.save_output("net_G_A", 100, weights)
    files.prune(["net_G", "net_G_A"], keep=2)
    names = sorted(p.name for p in files.models.iterdir())
    assert names == ["iter_100_net_G.pth", "iter_100_net_G_A.pth", "iter_10_net_G.pth",
                     "latest_net_G.pth", "latest_net_G_A.pth"]
    loaded = torch.load(files.models / "latest_net_G.pth", weights_only=True)
    assert list(loaded) == ["model.0.weight"] and torch.equal(loaded["model.0.weight"], torch.ones(2))
