"""The training loop on tiny networks and images, on CPU: it learns, resumes exactly, saves files
that load everywhere, and fails loudly on NaN."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.tolerance import assert_close_to_scale
from PIL import Image

from ganpost.training.config import load_config
from ganpost.training import Callbacks, Trainer, TrainingDivergedError



def tiny_config(photos, output, *sets, preset="compact-x4-clean"):
    base = [f"data.train_dir={photos}", f"run.output_dir={output}", "data.gt_size=32", "data.batch_size=2",
            "generator.num_feat=8", "generator.num_conv=2", "run.log_every=1", "run.save_every=1000",
            "run.val_every=1000", "run.channels_last=false"]
    return load_config(preset=preset, sets=[*base, *sets])


def test_loss_falls_on_a_tiny_dataset(photos, tmp_path):
    cfg = tiny_config(photos, tmp_path / "run", "run.total_steps=80", "optim.lr_g=2e-3", "optim.warmup_steps=0",
                      "data.batch_size=4")
    trainer = Trainer(cfg)
    losses = [trainer.train_step().losses["l_pix"] for _ in range(80)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)


def _gan_config(photos, output, steps, vgg_file):
    return load_config(preset="realesrgan-x4plus", sets=[
            f"data.train_dir={photos}", f"run.output_dir={output}", "data.gt_size=32", "data.batch_size=2",
            "data.pool_size=4", "generator.arch=SRVGGNetCompact", "generator.num_feat=8", "generator.num_conv=2",
            "discriminator.num_feat=4", f"losses.vgg_weights={vgg_file}", "losses.perceptual_layers={conv1_2=0.1, conv2_2=1.0}",
            f"run.total_steps={steps}", "run.save_every=3", "run.log_every=1", "run.val_every=1000",
            "optim.lr_g=1e-3", "optim.lr_d=1e-3", "optim.milestones=[2, 5]", "optim.grad_clip=1.0",
            "optim.accumulation=2", "run.channels_last=true"])


@pytest.fixture
def vgg_file(tmp_path):
    from ganpost.training.components.vgg import VGG19Features

    path = tmp_path / "vgg19-random.pth"
    torch.save(VGG19Features().state_dict(), path)
    return path


def test_resume_continues_the_same_run_exactly(photos, tmp_path, vgg_file):
    straight = Trainer(_gan_config(photos, tmp_path / "a", 6, vgg_file)).fit()
    assert straight.step == 6 and not straight.interrupted

    first = Trainer(_gan_config(photos, tmp_path / "b", 3, vgg_file)).fit()
    assert first.step == 3
    resumed = Trainer(_gan_config(photos, tmp_path / "b", 6, vgg_file), resume=True)
    assert resumed.step == 3
    resumed.fit()

    a = torch.load(tmp_path / "a/state/latest.state", weights_only=True)
    b = torch.load(tmp_path / "b/state/latest.state", weights_only=True)
    for part in ("generator", "ema", "discriminator"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert a["opt_g"]["state"][0]["exp_avg"].equal(b["opt_g"]["state"][0]["exp_avg"])
    assert a["sched_g"]["last_epoch"] == b["sched_g"]["last_epoch"] == 6


def test_a_random_vgg_trains_the_gan_recipe_offline_and_says_so(photos, tmp_path, caplog):
    """losses.vgg_weights = random: the official GAN recipe runs without torchvision's file (tests, offline
    machines) and says that its perceptual loss then measures nothing a person sees."""
    losses = Trainer(_gan_config(photos, tmp_path / "run", 1, "random")).train_step().losses
    assert losses["l_percep"] > 0
    warned = [r.getMessage() for r in caplog.records if "RANDOM VGG19" in r.getMessage()]
    assert len(warned) == 1 and "losses.perceptual_weight to 0" in warned[0]


def test_saved_generator_loads_strict_in_ours_and_spandrel(photos, tmp_path, vgg_file):
    from reference import spandrel

    import ganpost

    Trainer(_gan_config(photos, tmp_path / "run", 3, vgg_file)).fit()
    path = tmp_path / "run/models/net_g_latest.pth"
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"params", "params_ema"}
    ours = ganpost.load_model(path)
    assert ours.architecture == "SRVGGNetCompact" and ours.scale == 4
    for key, value in ours.module.state_dict().items():
        assert torch.equal(value, saved["params_ema"][key])
    theirs = spandrel().ModelLoader().load_from_file(str(path))
    assert theirs.scale == 4
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert_close_to_scale(ours.module(x), theirs.model(x))
    from ganpost.training.components.discriminators import load_discriminator

    load_discriminator(tmp_path / "run/models/net_d_latest.pth")


def test_nan_loss_skips_the_step_then_stops_the_run(photos, tmp_path, monkeypatch):
    cfg = tiny_config(photos, tmp_path / "run", "run.total_steps=20", "run.max_bad_steps=3")
    trainer = Trainer(cfg)
    generator = trainer.network("generator")
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    monkeypatch.setattr(trainer.recipe, "pixel_loss", lambda out, target: (out * float("nan")).mean())
    report = trainer.train_step()
    assert report.skipped and trainer.bad_steps == 1
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    with pytest.raises(TrainingDivergedError, match="3 steps in a row had a NaN"):
        trainer.fit()


def test_interrupt_saves_and_resume_picks_up(photos, tmp_path):
    class StopAtTwo(Callbacks):
        def on_step(self, report):
            if report.step == 2:
                raise KeyboardInterrupt

    cfg = tiny_config(photos, tmp_path / "run", "run.total_steps=5")
    result = Trainer(cfg, callbacks=StopAtTwo()).fit()
    assert result.interrupted and result.step == 2 and result.generator.is_file()
    again = Trainer(cfg, resume=True)
    assert again.step == 2
    assert again.fit().step == 5


def test_a_failed_state_write_keeps_the_last_good_one(photos, tmp_path, monkeypatch):
    cfg = tiny_config(photos, tmp_path / "run", "run.total_steps=2", "run.save_every=1")
    trainer = Trainer(cfg)
    trainer.train_step()
    trainer.save()
    good = (tmp_path / "run/state/latest.state").read_bytes()
    trainer.train_step()

    def broken_save(obj, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        trainer.save()
    assert (tmp_path / "run/state/latest.state").read_bytes() == good
    assert not list((tmp_path / "run").rglob("*.partial"))


def test_validation_logs_metrics_and_writes_a_preview(photos, tmp_path):
    cfg = tiny_config(photos, tmp_path / "run", "run.total_steps=2", "run.val_every=2", f"data.val_dir={photos}")
    result = Trainer(cfg).fit()
    records = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    val = [r for r in records if r["kind"] == "validation"]
    assert len(val) == 1 and {"psnr", "ssim", "psnr_bicubic", "psnr_gain"} <= set(val[0])
    preview = tmp_path / "run/previews/step_00000002.png"
    with Image.open(preview) as im:
        assert im.height == 64 and im.width == 4 * 64 + 3 * 4
    assert result.validation["psnr"] > 0
    # TensorBoard (a test dependency) gets the same scalars.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(tmp_path / "run/tensorboard"))
    board.Reload()
    assert {"train/l_pix", "validation/psnr"} <= set(board.Tags()["scalars"])


def test_cli_trains_and_resumes(photos, tmp_path, capsys):
    from ganpost.cli import main

    out = tmp_path / "run"
    args = ["train", "realesrgan", "--data", str(photos), "--preset", "compact-x4-clean", "--output", str(out),
            "--steps", "2", "--batch-size", "2", "--gt-size", "32", "--set", "generator.num_feat=8",
            "--set", "generator.num_conv=2"]
    assert main(args) == 0
    assert (out / "models/net_g_latest.pth").is_file()
    assert main(["train", "realesrgan", "--output", str(out), "--resume", "--steps", "3"]) == 0
    assert torch.load(out / "state/latest.state", weights_only=True)["step"] == 3
    assert main(["train", "realesrgan", "--data", str(photos), "--set", "data.bacth=1"]) == 1
    assert "unknown setting 'data.bacth'" in capsys.readouterr().err


def test_ema_warmup_follows_the_live_weights_early():
    from ganpost.training.engine import EMA

    start, live = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    plain, warm = EMA(start, 0.999), EMA(start, 0.999, warmup=True)
    plain.update(live, step=0)
    warm.update(live, step=0)
    gap = lambda ema: (ema.network.weight - live.weight).abs().max().item()  # noqa: E731
    assert gap(warm) < 0.2 * gap(plain)  # decay 0.1 at step 0 instead of 0.999
    assert warm.decay_at(100000) == 0.999


def test_trained_rrdbnet_loads_strict_in_basicsrs_own_class(photos, tmp_path):
    """The official tools do ``RRDBNet(...).load_state_dict(ckpt['params_ema'], strict=True)``."""
    from reference import basicsr_rrdbnet

    cfg = load_config(preset="realesrnet-x4plus", sets=[
        f"data.train_dir={photos}", f"run.output_dir={tmp_path / 'run'}", "data.gt_size=32", "data.batch_size=2",
        "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4", "run.total_steps=1",
        "data.degradation=bicubic"])
    Trainer(cfg).fit()
    saved = torch.load(tmp_path / "run/models/net_g_latest.pth", weights_only=True)
    official = basicsr_rrdbnet()(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    official.load_state_dict(saved["params_ema"], strict=True)
    official.load_state_dict(saved["params"], strict=True)
