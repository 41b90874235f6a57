"""``ganpost translate`` end to end on real files: sizes kept, CycleGAN directions, options, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.paths import REPO
from helpers.models import natural_image, save_official, shared_weight, tiny_compact
from ganpost import load_model, translate
from ganpost.cli import main
from ganpost.gan_models import catalogue
from ganpost.gan_models.pix2pix import NLayerDiscriminator, ResnetGenerator, UnetGenerator
from helpers.pix2pix import save_cyclegan_pair, save_random
from helpers.download_server import server  # noqa: F401 - the loopback mirror fixture


@pytest.fixture
def pair(tmp_path):
    """A tiny CycleGAN pair as the official code saves it."""
    return save_cyclegan_pair(tmp_path)


def _image(path, h, w, mode="RGB"):
    Image.fromarray(natural_image(h, w)).convert(mode).save(path)
    return path


def test_a_folder_keeps_every_size_and_equals_the_api(tmp_path, pair):
    src = tmp_path / "src"
    src.mkdir()
    _image(src / "a.png", 37, 45)
    _image(src / "b.png", 20, 26, "L")
    assert main(["translate", str(src), "-o", str(tmp_path / "out"), "--model", str(pair[0])]) == 0
    a = Image.open(tmp_path / "out" / "a.png")
    b = Image.open(tmp_path / "out" / "b.png")
    assert a.size == (45, 37) and a.mode == "RGB"
    assert b.size == (26, 20) and b.mode == "L"
    expected = translate(Image.open(src / "a.png"), load_model(pair[0]))
    assert np.array_equal(np.asarray(a), np.asarray(expected))


def test_direction_picks_the_generator(tmp_path, pair):
    source = _image(tmp_path / "in.png", 24, 24)
    out = {}
    for direction in ("AtoB", "BtoA"):
        target = tmp_path / f"{direction}.png"
        assert main(["translate", str(source), "-o", str(target), "--model", str(pair[0]), "--model-b", str(pair[1]),
                     "--direction", direction, "--precision", "fp32"]) == 0
        out[direction] = np.asarray(Image.open(target))
    only_b = translate(Image.open(source), load_model(pair[1]), precision="fp32")
    assert np.array_equal(out["BtoA"], np.asarray(only_b))
    assert not np.array_equal(out["AtoB"], out["BtoA"])


def test_resize_mode_and_as_trained_unet_are_reproducible(tmp_path):
    torch.manual_seed(0)
    unet = save_random(UnetGenerator(num_downs=6, num_feat=2, dropout=True, norm="batch"), tmp_path / "unet.pth")
    source = _image(tmp_path / "in.png", 50, 70)
    runs = []
    for k, seed in enumerate(("3", "3", "4")):
        target = tmp_path / f"o{k}.png"
        assert main(["translate", str(source), "-o", str(target), "-m", str(unet), "--size-mode", "resize",
                     "--train-size", "64", "--seed", seed, "--precision", "fp32"]) == 0
        runs.append(np.asarray(Image.open(target)))
    assert runs[0].shape == (50, 70, 3)
    assert np.array_equal(runs[0], runs[1])  # the same seed, the same dropout
    assert not np.array_equal(runs[0], runs[2])
    target = tmp_path / "eval.png"
    assert main(["translate", str(source), "-o", str(target), "-m", str(unet), "--test-time", "eval",
                 "--no-dropout", "--precision", "fp32"]) == 0
    model = load_model(unet, dropout=False)
    expected = translate(Image.open(source), model, test_time="eval", precision="fp32")
    assert np.array_equal(np.asarray(Image.open(target)), np.asarray(expected))


def test_explicit_tiles_still_keep_the_size(tmp_path, pair):
    source = _image(tmp_path / "in.png", 80, 100)
    assert main(["translate", str(source), "-o", str(tmp_path / "o.png"), "-m", str(pair[0]), "--tile", "64"]) == 0
    assert Image.open(tmp_path / "o.png").size == (100, 80)


def test_existing_outputs_are_refused_then_skipped(tmp_path, pair, capsys):
    source = _image(tmp_path / "in.png", 16, 16)
    target = tmp_path / "o.png"
    target.write_bytes(b"keep me")
    assert main(["translate", str(source), "-o", str(target), "-m", str(pair[0])]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["translate", str(source), "-o", str(target), "-m", str(pair[0]), "--skip-existing"]) == 0
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("wrong, says", [
    ("upscaler", "is an upscaler, not an image-to-image translator; use `ganpost upscale` for it."),
    ("discriminator", "is a discriminator (it scores images in training), not an image-to-image translator; "
                      "pass the generator"),
])
def test_a_model_that_is_no_translator_is_refused_before_any_image(tmp_path, wrong, says, capsys):
    path = tmp_path / f"{wrong}.pth"
    if wrong == "upscaler":
        save_official(tiny_compact(), path)
    else:
        save_random(NLayerDiscriminator(in_channels=6, num_feat=4, num_layers=2), path)
    source = _image(tmp_path / "in.png", 16, 16)
    assert main(["translate", str(source), "-o", str(tmp_path / "out" / "o.png"), "-m", str(path)]) == 1
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "o.png").exists()


def test_bad_options_give_one_line(tmp_path, pair, capsys):
    source = _image(tmp_path / "in.png", 16, 16)
    out = str(tmp_path / "o.png")
    assert main(["translate", str(source), "-o", out, "-m", str(pair[0]), "--direction", "BtoA"]) == 1
    err = capsys.readouterr().err
    assert "--direction BtoA needs --model-b" in err and err.count("\n") == 1  # once, before any file
    assert main(["translate", str(source), "-o", out, "-m", str(pair[0]), "--train-size", "128"]) == 1
    assert "--train-size applies to --size-mode resize only" in capsys.readouterr().err
    assert main(["translate", str(source), "-o", out, "-m", str(pair[0]), "--no-dropout"]) == 1
    assert "takes no dropout option" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["translate", str(source), "-o", out, "-m", str(pair[0]), "--tile", "8"])
    assert "--tile must be 'auto', 0 (one pass) or a whole number of pixels ≥ 32, not 8" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_known_zoo_names_are_listed_and_named_in_an_offline_error(tmp_path, capsys):
    assert main(["models", "--models-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "cyclegan_horse2zebra" in listing and "pix2pix_edges2shoes" in listing
    source = _image(tmp_path / "in.png", 16, 16)
    code = main(["translate", str(source), "-o", str(tmp_path / "o.png"), "-m", "cyclegan_horse2zebra",
                 "--models-dir", str(tmp_path / "models"), "--offline"])
    assert code == 1
    assert "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth" in capsys.readouterr().err


def test_the_zoos_are_in_the_catalogue_with_their_official_urls():
    zoo = {n: m for n, m in catalogue.KNOWN_MODELS.items() if n.startswith(("pix2pix_", "cyclegan_"))}
    assert len([n for n in zoo if n.startswith("pix2pix_")]) == 5
    assert len([n for n in zoo if n.startswith("cyclegan_")]) == 18
    assert zoo["pix2pix_sat2map"].url().endswith("/pix2pix/models-pytorch/sat2map.pth")
    assert zoo["cyclegan_sat2map"].url().endswith("/cyclegan/pretrained_models/sat2map.pth")
    assert len({m.filename for m in zoo.values()}) == len(zoo)  # one models folder holds them all
    assert {m.comfy_folder for m in zoo.values()} == {"translation_models"}


def test_a_zoo_name_downloads_unpinned_with_a_warning_and_loads(tmp_path, server, caplog):  # noqa: F811
    generator = save_random(ResnetGenerator(num_feat=4, num_blocks=1), tmp_path / "src.pth")
    server.files["/cyclegan/pretrained_models/horse2zebra.pth"] = generator.read_bytes()
    model = load_model("cyclegan_horse2zebra", models_dir=tmp_path / "models")
    assert model.task == "translate" and (tmp_path / "models" / "cyclegan_horse2zebra.pth").is_file()
    assert "no published SHA-256" in caplog.text


def test_the_real_vintage_generator_through_the_cli(tmp_path):
    weights = shared_weight("cyclegan_modern2vintage_net_G.pth")
    source = tmp_path / "in.png"
    photo = Image.open(REPO / "examples" / "astronaut_crop.png").convert("RGB")
    photo.crop((0, 0, 60, 44)).save(source)
    assert main(["translate", str(source), "-o", str(tmp_path / "o.png"), "-m", str(weights)]) == 0
    out = np.asarray(Image.open(tmp_path / "o.png")).astype(float)
    assert out.shape == (44, 60, 3)
    assert 0 < np.abs(out - np.asarray(Image.open(source))).mean() < 40  # a change of tone, not a new picture
