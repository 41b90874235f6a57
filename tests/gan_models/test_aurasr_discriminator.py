"""The AuraSR fine-tuning discriminator (GigaGAN's design, our code) and the generator's gradient checkpointing."""

from __future__ import annotations

import pytest
import torch

from ganpost.gan_models.aurasr import GigaGANDiscriminator
from ganpost.gan_models.aurasr.registration import discriminator_hyperparameters
from ganpost.gan_models.contract import Task
from ganpost.gan_models.loader import load_model
from ganpost.training.components.discriminators import load_discriminator, save_discriminator
from helpers.aurasr import tiny_aurasr

TINY_D = dict(image_size=64, dim_capacity=4, dim_max=32, multiscale_inputs=(32, 16), attn_resolutions=(8,),
              attn_heads=2, attn_dim_head=4, excite_skip=2, recon_resolution=8, recon_upsamples=2)


def test_scores_every_scale_stack_and_reconstructs():
    torch.manual_seed(0)
    d = GigaGANDiscriminator(**TINY_D)
    judged = d(torch.rand(3, 3, 64, 64), reconstruct=True)
    # Two resized inputs: the plain image, + the 32 px stack, + the 16 px stack for each → 4 stacks.
    assert judged.logits.shape == (4, 3)
    # Predictors one stage after each input (16 px and 8 px), over the stacks that reached them.
    assert [tuple(m.shape) for m in judged.multiscale] == [(6, 1, 16, 16), (12, 1, 8, 8)]
    assert judged.reconstruction.ndim == 0 and judged.reconstruction > 0
    assert d(torch.rand(3, 3, 64, 64)).reconstruction is None
    with pytest.raises(ValueError, match="64² images"):
        d(torch.rand(1, 3, 32, 32))


def test_release_defaults_follow_the_gigagan_readme():
    d = GigaGANDiscriminator()  # 256 px, capacity 16, max 512, input at 128, excitation 4
    assert [s.from_rgb is not None for s in d.stages] == [False, True, False, False, False, False, False]
    assert [s.predictor is not None for s in d.stages] == [False, False, True, False, False, False, False]
    assert d.head_conv.out_channels == 512


def test_a_saved_discriminator_loads_back_through_the_registry(tmp_path):
    torch.manual_seed(1)
    d = GigaGANDiscriminator(**TINY_D)
    assert discriminator_hyperparameters(d.state_dict()) == {**GigaGANDiscriminator.__init__.__kwdefaults__,
                                                             **TINY_D, "channels": 3}
    path = save_discriminator(tmp_path / "net_d.safetensors", d)
    model = load_model(path)
    assert model.architecture == "GigaGANDiscriminator" and model.contract.task == Task.DISCRIMINATOR
    again = load_discriminator(path)
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(again(x).logits, d(x).logits)


def test_gradient_penalty_differentiates_through_attention_twice():
    torch.manual_seed(2)
    d = GigaGANDiscriminator(**TINY_D)
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    judged = d(x)
    (grad,) = torch.autograd.grad(judged.logits.sum() + sum(m.sum() for m in judged.multiscale), x, create_graph=True)
    grad.square().sum().backward()
    assert d.stages[3].attention.to_qkv.weight.grad.abs().sum() > 0


def test_gradient_checkpointing_changes_neither_output_nor_gradients():
    g = tiny_aurasr().train().requires_grad_(True)
    x = torch.rand(2, 3, 64, 64)

    def run(checkpointing):
        g.zero_grad()
        g.gradient_checkpointing = checkpointing
        y = g(x, seed=3)
        y.square().mean().backward()
        return y.detach(), [p.grad for p in g.parameters()]

    plain, plain_grads = run(False)
    saved, saved_grads = run(True)
    assert torch.equal(plain, saved)
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(plain_grads, saved_grads))
