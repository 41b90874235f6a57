"""A tiny random GFPGANv1Clean in the official layout."""

import torch

from ganpost.gan_models.gfpgan import GFPGANv1Clean

TINY = dict(out_size=64, num_style_feat=32, channel_multiplier=1, num_mlp=2, input_is_latent=True,
            different_w=True, narrow=0.25, sft_half=True)


# The GFPGAN recipe's settings cut down for tests: a tiny random generator, narrow discriminators,
# pre-aligned faces, a random VGG and no ArcFace.
TRAIN_TINY = ["generator.out_size=32", "generator.num_style_feat=16", "generator.channel_multiplier=1",
              "generator.narrow=0.0625", "generator.num_mlp=2", "discriminator.narrow=0.0625",
              "discriminator.component_num_feat=4", "losses.vgg_weights=random", "data.aligned=true",
              "data.batch_size=2", "run.device=cpu", "run.precision=fp32", "run.log_every=1",
              "losses.r1_every=2", "losses.identity_weight=0"]


def tiny_gfpgan(**overrides) -> GFPGANv1Clean:
    net = GFPGANv1Clean(**{**TINY, **overrides})
    with torch.no_grad():  # default inits leave noise strengths and biases at zero: exercise them all
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def official_gfpgan_v1_archs():
    """GFPGAN's ``gfpganv1_arch`` module (with BasicSR's ``stylegan2_arch`` behind it) loaded under stub
    parents; BasicSR's compiled fused activation is replaced by what it computes (bias, leaky ReLU
    0.2, ×√2), and ``upfirdn2d`` runs its own CPU path. ``sys.modules`` is restored afterwards."""
    import importlib.util
    import math
    import sys

    import pytest
    import torch.nn.functional as F
    from torch import nn

    from .isolated_import import isolated_modules, load_file, stub_basicsr_archs, stub_package
    from .torchvision_stub import install_torchvision_stub

    basicsr, gfpgan = importlib.util.find_spec("basicsr"), importlib.util.find_spec("gfpgan")
    if basicsr is None or gfpgan is None:
        pytest.skip("gfpgan/basicsr are not installed (pip install --no-deps gfpgan==1.3.8 basicsr==1.4.2)")
    bs, gf = basicsr.submodule_search_locations[0], gfpgan.submodule_search_locations[0]

    def fused_leaky_relu(x, bias, negative_slope=0.2, scale=math.sqrt(2)):
        return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)), negative_slope) * scale

    class FusedLeakyReLU(nn.Module):
        def __init__(self, channel, negative_slope=0.2, scale=math.sqrt(2)):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(channel))
            self.negative_slope, self.scale = negative_slope, scale

        def forward(self, x):
            return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)

    with isolated_modules("basicsr", "gfpgan", "torchvision"):
        install_torchvision_stub()
        stub_basicsr_archs(bs)
        stub_package("basicsr.ops.fused_act", None, FusedLeakyReLU=FusedLeakyReLU, fused_leaky_relu=fused_leaky_relu)
        stub_package("basicsr.ops.upfirdn2d", f"{bs}/ops/upfirdn2d")
        upfirdn = load_file("basicsr.ops.upfirdn2d.upfirdn2d", f"{bs}/ops/upfirdn2d/upfirdn2d.py")
        sys.modules["basicsr.ops.upfirdn2d"].upfirdn2d = upfirdn.upfirdn2d
        load_file("basicsr.archs.stylegan2_arch", f"{bs}/archs/stylegan2_arch.py")
        stub_package("gfpgan", gf)
        stub_package("gfpgan.archs", f"{gf}/archs")
        load_file("gfpgan.archs.stylegan2_clean_arch", f"{gf}/archs/stylegan2_clean_arch.py")
        load_file("gfpgan.archs.gfpganv1_clean_arch", f"{gf}/archs/gfpganv1_clean_arch.py")
        return {"v1": load_file("gfpgan.archs.gfpganv1_arch", f"{gf}/archs/gfpganv1_arch.py"),
                "arcface": load_file("gfpgan.archs.arcface_arch", f"{gf}/archs/arcface_arch.py"),
                "stylegan2": sys.modules["basicsr.archs.stylegan2_arch"],
                "clean": sys.modules["gfpgan.archs.gfpganv1_clean_arch"]}
