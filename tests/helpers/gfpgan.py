"""A tiny random GFPGANv1Clean in the official layout."""

import torch

from ganpost.gan_models.gfpgan import GFPGANv1Clean

TINY = dict(out_size=64, num_style_feat=32, channel_multiplier=1, num_mlp=2, input_is_latent=True,
            different_w=True, narrow=0.25, sft_half=True)


def tiny_gfpgan(**overrides) -> GFPGANv1Clean:
    net = GFPGANv1Clean(**{**TINY, **overrides})
    with torch.no_grad():  # default inits leave noise strengths and biases at zero: exercise them all
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()
