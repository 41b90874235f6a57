"""The engine runs any recipe: a toy one with two generators and a conditional discriminator on
cat(A, B) (tiny convs, synthetic data) steps, saves its own files and resumes exactly."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganpost.training import Trainer
from ganpost.training.engine import OptimConfig, RunConfig
from ganpost.training.engine.networks import frozen
from ganpost.training.recipes import Optimizer, Phase, Recipe


@dataclass
class ToyConfig:
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    batch_size: int = 2

    def validate(self) -> "ToyConfig":
        return self


class Pairs(torch.utils.data.Dataset):
    """Sample i: a random image A and B = a fixed colour shift of A, both from seed i."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict:
        a = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(i))
        return {"a": a, "b": (a.flip(0) + 0.1).clamp(0, 1)}


class TwoWay(Recipe):
    """A → B and B → A generators; one discriminator judges (A, B) pairs, pix2pix-style."""

    name = "toy-two-way"
    config_type = ToyConfig
    main_output = "net_g"

    def __init__(self, config, engine):
        super().__init__(config, engine)
        self.batch_size = config.batch_size
        self.batches_seen = torch.zeros((), dtype=torch.int64)

    def build_networks(self, *, resuming):
        return {"a_to_b": nn.Conv2d(3, 3, 3, padding=1), "b_to_a": nn.Conv2d(3, 3, 3, padding=1),
                "pair_critic": nn.Sequential(nn.Conv2d(6, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 1))}

    def averaged(self):
        return {"ema_a_to_b": "a_to_b", "ema_b_to_a": "b_to_a"}

    def optimizers(self):
        o = self.config.optim
        return {"g": Optimizer(("a_to_b", "b_to_a"), o.lr_g), "d": Optimizer(("pair_critic",), o.lr_d)}

    def phases(self):
        return Phase("generators", "g"), Phase("critic", "d")

    def dataset(self):
        return Pairs()

    def make_batch(self, samples, micro):
        self.batches_seen += 1
        return {k: v.to(self.engine.device) for k, v in samples.items()}

    def losses(self, phase, batch):
        nets, a, b = self.engine.networks, batch["a"], batch["b"]
        if phase == "generators":
            fake_b, fake_a = nets["a_to_b"](a), nets["b_to_a"](b)
            batch["fake_b"] = fake_b
            with frozen(self.engine.network("pair_critic")) as critic:
                score = critic(torch.cat([a, fake_b], 1))
            return {"l_a": F.l1_loss(fake_a, a), "l_b": F.l1_loss(fake_b, b),
                    "l_gan": 0.1 * F.softplus(-score).mean()}
        real = nets["pair_critic"](torch.cat([a, b], 1))
        fake = nets["pair_critic"](torch.cat([a, batch["fake_b"].detach()], 1))
        return {"l_d": F.softplus(-real).mean() + F.softplus(fake).mean()}

    def outputs(self):
        net = self.engine.network
        return {"net_g": {"params_a_to_b": net("a_to_b").state_dict(), "params_b_to_a": net("b_to_a").state_dict()},
                "net_d": {"params": net("pair_critic").state_dict()}}

    def state_dict(self):
        return {"batches_seen": self.batches_seen.clone()}

    def load_state_dict(self, state):
        self.batches_seen = state["batches_seen"].clone()


def _config(output, steps):
    return ToyConfig(optim=OptimConfig(lr_g=1e-2, lr_d=1e-2, accumulation=2, grad_clip=1.0, milestones=(2,),
                                       ema_decay=0.5),
                     run=RunConfig(output_dir=str(output), total_steps=steps, device="cpu", precision="fp32",
                                   log_every=1, save_every=2))


def test_a_recipe_with_two_generators_and_a_discriminator_steps_saves_and_resumes_exactly(tmp_path):
    straight = Trainer(_config(tmp_path / "a", 4), recipe=TwoWay)
    start = {name: {k: v.clone() for k, v in straight.network(name).state_dict().items()}
             for name in ("a_to_b", "b_to_a", "pair_critic")}
    result = straight.fit()
    assert result.step == 4 and result.generator == tmp_path / "a/models/net_g_latest.pth"
    for name, weights in start.items():  # every network trained
        now = straight.network(name).state_dict()
        assert all(not torch.equal(value, now[key]) for key, value in weights.items()), name
    assert set(torch.load(result.generator, weights_only=True)) == {"params_a_to_b", "params_b_to_a"}
    assert (tmp_path / "a/models/net_d_00000004.pth").is_file()

    Trainer(_config(tmp_path / "b", 2), recipe=TwoWay).fit()
    resumed = Trainer(_config(tmp_path / "b", 4), recipe=TwoWay, resume=True)
    assert resumed.step == 2 and int(resumed.recipe.batches_seen) == 4
    resumed.fit()

    a = torch.load(tmp_path / "a/state/latest.state", weights_only=True)
    b = torch.load(tmp_path / "b/state/latest.state", weights_only=True)
    assert a["recipe"] == "toy-two-way" and int(a["batches_seen"]) == int(b["batches_seen"]) == 8
    for part in ("a_to_b", "b_to_a", "pair_critic", "ema_a_to_b", "ema_b_to_a"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for key in ("opt_g", "opt_d"):
        for index, moments in a[key]["state"].items():
            assert torch.equal(moments["exp_avg"], b[key]["state"][index]["exp_avg"]), (key, index)
    assert len(a["opt_g"]["state"]) == 4  # one optimizer over both generators' weights and biases
    assert a["sched_g"]["last_epoch"] == b["sched_d"]["last_epoch"] == 4
    assert not torch.equal(a["ema_a_to_b"]["weight"], a["a_to_b"]["weight"])


def test_a_state_is_resumed_only_by_its_own_recipe(photos, tmp_path):
    from ganpost.training import load_config
    from ganpost.training.engine import ResumeError

    Trainer(_config(tmp_path / "run", 1), recipe=TwoWay).fit()
    sets = [f"data.train_dir={photos}", f"run.output_dir={tmp_path / 'run'}", "data.gt_size=32", "data.batch_size=2",
            "generator.num_feat=8", "generator.num_conv=2", "run.total_steps=2"]
    with pytest.raises(ResumeError, match="saved by the 'toy-two-way' recipe, not 'realesrgan'"):
        Trainer(load_config(preset="compact-x4-clean", sets=sets), resume=True)


def test_a_state_without_a_recipe_name_is_real_esrgans(photos, tmp_path):
    """States written before recipes existed have the same layout and no "recipe" entry."""
    from ganpost.training import load_config

    sets = [f"data.train_dir={photos}", f"run.output_dir={tmp_path / 'run'}", "data.gt_size=32", "data.batch_size=2",
            "generator.num_feat=8", "generator.num_conv=2", "run.total_steps=1"]
    Trainer(load_config(preset="compact-x4-clean", sets=sets)).fit()
    path = tmp_path / "run/state/latest.state"
    state = torch.load(path, weights_only=True)
    del state["recipe"]
    torch.save(state, path)
    resumed = Trainer(load_config(preset="compact-x4-clean", sets=[*sets, "run.total_steps=2"]), resume=True)
    assert resumed.step == 1 and resumed.fit().step == 2
