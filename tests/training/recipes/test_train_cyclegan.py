"""CycleGAN training on tiny networks and images (CPU): two G/D pairs with image pools, exact
resume, the official four files, validation in both directions, fine-tuning a given G_A."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from helpers.models import natural_image, shared_weight
from ganpost.training.config import load_config
from ganpost.training.config_schema import ConfigError
from ganpost.training import Trainer
from helpers.training import StopAt, two_process_ranks

TINY = ["generator.net=resnet_2blocks", "generator.num_feat=4", "discriminator.num_feat=4", "data.load_size=36",
        "data.crop_size=32", "losses.pool_size=3", "run.device=cpu", "run.precision=fp32", "run.log_every=1"]
FILES = ("net_G_A", "net_G_B", "net_D_A", "net_D_B")


@pytest.fixture
def domains(tmp_path):
    """Unpaired folders; B images are inverted photos, named apart from A's."""
    for i in range(3):
        for side, image in (("A", natural_image(40, 40, seed=i)), ("B", 255 - natural_image(40, 40, seed=10 + i))):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(image).save(tmp_path / side / f"{side}{i}.png")
    return tmp_path / "A", tmp_path / "B"


def _config(domains, output, steps, *extra):
    return load_config(recipe="cyclegan", sets=[*TINY, f"data.dir_a={domains[0]}", f"data.dir_b={domains[1]}",
                                                f"run.output_dir={output}", f"run.total_steps={steps}",
                                                "run.save_every=2", *extra])


def test_official_preset():
    cfg = load_config(recipe="cyclegan", sets=["data.dir_a=x", "data.dir_b=y"])
    g, d, w = cfg.generator, cfg.discriminator, cfg.losses
    assert (g.net, g.norm, g.dropout, d.net, d.norm) == ("resnet_9blocks", "instance", False, "basic", "instance")
    assert (w.gan_mode, w.cycle_weight, w.identity_weight, w.pool_size) == ("lsgan", 10.0, 0.5, 50)
    assert (cfg.optim.lr_g, cfg.optim.betas, cfg.optim.schedule) == (2e-4, (0.5, 0.999), "linear_decay")
    with pytest.raises(ConfigError, match="two unpaired folders"):
        load_config(recipe="cyclegan", sets=["data.dir=x"])


def test_two_pairs_train_save_official_files_and_resume_exactly(domains, tmp_path):
    straight = Trainer(_config(domains, tmp_path / "a", 4))
    start = {n: {k: v.clone() for k, v in straight.network(n).state_dict().items()} for n in ("G_A", "G_B", "D_A", "D_B")}
    result = straight.fit()
    models = tmp_path / "a/models"
    assert result.generator == models / "latest_net_G_A.pth"
    for name in FILES:
        saved = torch.load(models / f"latest_{name}.pth", weights_only=True)
        assert any(not torch.equal(saved[k], v) for k, v in start[name[4:]].items()), name  # every network trained
    records = [json.loads(line) for line in (tmp_path / "a/log.jsonl").read_text().splitlines()]
    assert {"l_G_A", "l_G_B", "l_cycle_A", "l_cycle_B", "l_idt_A", "l_idt_B", "l_D_A", "l_D_B"} <= set(records[-1])
    state = torch.load(tmp_path / "a/state/latest.state", weights_only=True)
    assert state["pool_A"]["filled"] == 3 and state["pool_B"]["images"].shape == (3, 3, 32, 32)

    assert Trainer(_config(domains, tmp_path / "b", 4), callbacks=StopAt(2)).fit().interrupted
    resumed = Trainer(_config(domains, tmp_path / "b", 4), resume=True)
    assert resumed.step == 2 and resumed.recipe.pool_a.filled == 2
    resumed.fit()
    for name in FILES:
        a = torch.load(models / f"latest_{name}.pth", weights_only=True)
        b = torch.load(tmp_path / f"b/models/latest_{name}.pth", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_the_saved_files_are_official_plain_state_dicts(domains, tmp_path):
    # As in test_train_pix2pix: plain state dicts that load strict into the official layout (our
    # classes, built with CycleGAN's flags: resnet, instance norm without affine, no dropout).
    from ganpost.gan_models.pix2pix import NLayerDiscriminator, ResnetGenerator

    Trainer(_config(domains, tmp_path / "run", 1)).fit()
    for side in "AB":
        state = torch.load(tmp_path / f"run/models/latest_net_G_{side}.pth", map_location="cpu")
        assert not any(k.startswith("module.") for k in state)
        ResnetGenerator(3, 3, num_feat=4, num_blocks=2, norm="instance").load_state_dict(state, strict=True)
        critic = torch.load(tmp_path / f"run/models/latest_net_D_{side}.pth", map_location="cpu")
        NLayerDiscriminator(3, num_feat=4, num_layers=3, norm="instance").load_state_dict(critic, strict=True)


def test_validation_scores_both_directions(domains, tmp_path):
    cfg = _config(domains, tmp_path / "run", 1, f"data.val_dir_a={domains[0]}", f"data.val_dir_b={domains[0]}")
    trainer = Trainer(cfg)
    metrics = trainer.fit().validation
    assert set(metrics) == {"psnr_AtoB", "psnr_BtoA", "psnr_identity"}
    assert metrics["psnr_identity"] == float("inf")  # the same folder on both sides
    assert Image.open(tmp_path / "run/previews/step_00000001.png").size == (4 * 32 + 3 * 4, 32)


def test_fine_tunes_the_real_vintage_generator_as_g_a(domains, tmp_path):
    path = shared_weight("cyclegan_modern2vintage_net_G.pth")
    cfg = _config(domains, tmp_path / "run", 1, f"generator.pretrained={path}", "data.load_size=32",
                  "losses.pool_size=0")
    trainer = Trainer(cfg)
    g_a, g_b = trainer.network("G_A"), trainer.network("G_B")
    original = torch.load(path, weights_only=True)
    assert all(torch.equal(g_a.state_dict()[k], v) for k, v in original.items())
    assert set(g_b.state_dict()) == set(original)  # G_B gets G_A's architecture (affine instance norm), fresh
    assert torch.equal(g_b.state_dict()["model.2.weight"], torch.ones(64))
    trainer.fit()
    saved = torch.load(tmp_path / "run/models/latest_net_G_A.pth", weights_only=True)
    assert set(saved) == set(original) and any(not torch.equal(saved[k], v) for k, v in original.items())


def test_an_already_loaded_generator_is_copied_as_g_a(domains, tmp_path):
    """What a ComfyUI node passes: the loaded module itself, left untouched by training."""
    from ganpost.gan_models.pix2pix import build_resnet

    loaded = build_resnet(num_feat=4, num_blocks=2).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    trainer = Trainer(_config(domains, tmp_path / "run", 1), initial_generator=loaded)
    assert trainer.network("G_A") is not loaded
    assert any(not torch.equal(trainer.network("G_B").state_dict()[k], v) for k, v in before.items())
    trainer.fit()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in before.items())


def test_two_processes_stay_in_lock_step(domains, tmp_path):
    """accelerate launch on CPU (gloo): one optimizer over two generators, pools, several forwards per step."""
    ranks = two_process_ranks("ddp_translate_worker.py", tmp_path, str(domains[0]), str(domains[1]), str(tmp_path))
    assert ranks[0]["world"] == 2
    for name in ("G_A", "G_B", "D_A", "D_B"):
        assert all(torch.equal(v, ranks[1][name][k]) for k, v in ranks[0][name].items()), name
    assert (tmp_path / "run/models/latest_net_G_B.pth").is_file()
