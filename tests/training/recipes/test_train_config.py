"""The training config: presets, files, overrides, and errors that name the field."""

from __future__ import annotations

import pytest

from ganpost.training.config import PRESETS, load_config
from ganpost.training.config_schema import ConfigError


def test_default_preset_is_the_official_x4plus_finetune():
    cfg = load_config()
    assert (cfg.generator.arch, cfg.generator.num_block, cfg.generator.scale) == ("RRDBNet", 23, 4)
    assert cfg.discriminator.kind == "unet"
    assert cfg.optim.lr_g == cfg.optim.lr_d == 1e-4 and cfg.optim.betas == (0.9, 0.99)
    assert cfg.losses.gan_kind == "vanilla" and cfg.losses.gan_weight == 0.1
    assert cfg.losses.perceptual_layers["conv5_4"] == 1.0 and cfg.losses.perceptual_layers["conv1_2"] == 0.1
    assert cfg.data.gt_size == 256 and cfg.data.batch_size == 12 and cfg.optim.ema_decay == 0.999
    assert cfg.degradation.stage1.resize_range == (0.15, 1.5) and cfg.degradation.final_sinc_prob == 0.8


def test_realesrnet_preset_is_l1_only():
    cfg = load_config(preset="realesrnet-x4plus")
    assert cfg.discriminator.kind == "none" and cfg.losses.perceptual_weight == 0 and cfg.losses.gan_weight == 0
    assert cfg.optim.lr_g == 2e-4


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates(name):
    load_config(preset=name)


def test_toml_file_then_overrides_then_sets(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('preset = "realesrnet-x4plus"\n[data]\nbatch_size = 4\n[optim]\nlr_g = 3e-4\n')
    cfg = load_config(path, overrides={"optim": {"lr_g": 5e-5}}, sets=["run.total_steps=10", "data.use_rot=true"])
    assert cfg.data.batch_size == 4 and cfg.optim.lr_g == 5e-5 and cfg.run.total_steps == 10 and cfg.data.use_rot
    assert cfg.discriminator.kind == "none"


def test_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  betas: [0.5, 0.999]\n")
    assert load_config(path).optim.betas == (0.5, 0.999)


@pytest.mark.parametrize("sets, message", [
    (["data.bacth_size=4"], "unknown setting 'data.bacth_size'"),
    (["losses.gan_kind=wgan"], "losses.gan_kind: 'wgan' is not allowed. Allowed values: 'vanilla', 'lsgan'"),
    (["data.batch_size=2.5"], "data.batch_size: expected a whole number"),
    (["optim.betas=[0.9]"], "optim.betas: expected a list of 2 values"),
    (["data.batch_size=0"], "data.batch_size: must be above 0"),
    (["data.gt_size=250"], "data.gt_size: 250 must be a multiple of 4 × the scale"),
    (["generator.scale=3"], "generator.scale: 3 is not allowed for RRDBNet"),
    (["run.precision=fp8"], "run.precision: 'fp8' is not allowed"),
    (["nonsense"], "write it as section.key=value"),
])
def test_bad_values_name_the_field_and_the_choices(sets, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(sets=sets)
    assert message in str(err.value)


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="preset: 'nope' is not known"):
        load_config(preset="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    odd = tmp_path / "run.ini"
    odd.write_text("")
    with pytest.raises(ConfigError, match=".toml, .yaml or .yml"):
        load_config(odd)
