"""RestoreFormer test helpers: small configurations, seeded weights made without the official code, and the
official implementations loaded from where they are (no pytest here: bench/restoreformer_parity.py uses it).

- GFPGAN's ``gfpgan/archs/restoreformer_arch.py`` (installed, gfpgan 1.3.8): the RestoreFormer that
  ``GFPGANer(arch='RestoreFormer')`` runs.
- wzhouxiff/RestoreFormerPlusPlus's ``RestoreFormer/modules/vqvae/vqvae_arch.py``
  (``VQVAEGANMultiHeadTransformer``, both networks) and its inference helper ``RestoreFormer/RestoreFormer.py``,
  from a checkout named by ``$RESTOREFORMER_PLUSPLUS_REPO`` (never committed here).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from pathlib import Path

import torch

from ganpost.gan_models.restoreformer import RestoreFormer

REPO_ENV = "RESTOREFORMER_PLUSPLUS_REPO"

# 64 px faces, three levels (64 → 32 → 16), attention at 16 px (level 2), ++ also at 32 px (level 1).
TINY = dict(n_embed=64, embed_dim=16, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=32, in_channels=3,
            out_ch=3, encoder_attn_levels=(2,), decoder_attn_levels=(2,), head_size=8)
TINY_PLUS = dict(TINY, decoder_attn_levels=(1, 2), head_size=4)
# the released configurations (RestoreFormer: GFPGAN's defaults; ++: its repo's)
RELEASED = dict(n_embed=1024, embed_dim=256, ch=64, ch_mult=(1, 2, 2, 4, 4, 8), num_res_blocks=2, z_channels=256,
                in_channels=3, out_ch=3, encoder_attn_levels=(5,), decoder_attn_levels=(5,), head_size=8)
RELEASED_PLUS = dict(RELEASED, decoder_attn_levels=(4, 5), head_size=4)


def official_arguments(config: dict) -> dict:
    """The official constructors' arguments for one of our configurations (attention at 16 px, as released)."""
    levels = len(config["ch_mult"])
    extra = sorted(set(config["decoder_attn_levels"]) - set(config["encoder_attn_levels"]))
    assert config["encoder_attn_levels"] == (levels - 1,) and extra in ([], [levels - 2])
    return dict(n_embed=config["n_embed"], embed_dim=config["embed_dim"], ch=config["ch"], out_ch=config["out_ch"],
                ch_mult=tuple(config["ch_mult"]), num_res_blocks=config["num_res_blocks"], attn_resolutions=(16,),
                dropout=0.0, in_channels=config["in_channels"], resolution=16 * 2 ** (levels - 1),
                z_channels=config["z_channels"], double_z=False, enable_mid=True, head_size=config["head_size"])


def seeded_weights(config: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict for ``config`` drawn from one seeded generator in key order (no module init involved), so
    the same numbers come back on any machine: convs ~ N(0, 1/fan_in), biases ~ N(0, 0.1²), norms ~ 1 ± 0.2,
    the codebook ~ N(0, 0.5²). Every norm is away from its initial value (both attention norms work)."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in RestoreFormer(**config).state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=gen, dtype=torch.float64)
        if name == "quantize.embedding.weight":
            value = noise * 0.5
        elif len(shape) == 4:
            value = noise / (shape[1] * shape[2] * shape[3]) ** 0.5
        elif "norm" in name and name.endswith(".weight"):
            value = 1 + 0.2 * noise
        else:
            value = 0.1 * noise
        weights[name] = value.float()
    return weights


def seeded_network(config: dict, seed: int = 0) -> RestoreFormer:
    net = RestoreFormer(**config)
    net.load_state_dict(seeded_weights(config, seed), strict=True)
    return net.eval()


def face_input(size: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A smooth random image in [-1, 1] (what the networks read)."""
    gen = torch.Generator().manual_seed(seed)
    small = torch.rand(batch, 3, max(size // 8, 2), max(size // 8, 2), generator=gen, dtype=torch.float64)
    image = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return (image * 2 - 1).float()


# ------------------------------------------------------------------------------ the official code
def official_gfpgan_module():
    """GFPGAN's ``restoreformer_arch`` module (it imports only numpy and torch), under a stub ``gfpgan``
    package; ``sys.modules`` is restored afterwards. None when gfpgan is not installed."""
    from .isolated_import import isolated_modules, load_file, stub_package

    spec = importlib.util.find_spec("gfpgan")
    if spec is None:
        return None
    root = spec.submodule_search_locations[0]
    with isolated_modules("gfpgan"):
        stub_package("gfpgan", root)
        stub_package("gfpgan.archs", f"{root}/archs")
        return load_file("gfpgan.archs.restoreformer_arch", f"{root}/archs/restoreformer_arch.py")


def plusplus_repo() -> Path | None:
    """The RestoreFormerPlusPlus checkout named by ``$RESTOREFORMER_PLUSPLUS_REPO``, if it is there."""
    root = os.environ.get(REPO_ENV)
    return Path(root) if root and (Path(root) / "RestoreFormer" / "modules" / "vqvae" / "vqvae_arch.py").is_file() \
        else None


def official_plusplus_module(root: Path):
    """RestoreFormerPlusPlus's ``vqvae_arch`` module (numpy and torch only), loaded from ``root``."""
    from .isolated_import import isolated_modules, load_file, stub_package

    with isolated_modules("RestoreFormer"):
        stub_package("RestoreFormer", str(root / "RestoreFormer"))
        stub_package("RestoreFormer.modules", str(root / "RestoreFormer" / "modules"))
        stub_package("RestoreFormer.modules.vqvae", str(root / "RestoreFormer" / "modules" / "vqvae"))
        return load_file("RestoreFormer.modules.vqvae.vqvae_arch",
                         str(root / "RestoreFormer" / "modules" / "vqvae" / "vqvae_arch.py"))


def quietly(build, *args, **kwargs):
    """Call ``build`` with its prints swallowed (the official decoders print the latent shape)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return build(*args, **kwargs)


def official_network(config: dict, plusplus: bool, root: Path | None = None):
    """The official network for ``config``: GFPGAN's RestoreFormer (``plusplus`` False, ``root`` None), or
    RestoreFormerPlusPlus's VQVAEGANMultiHeadTransformer (``ex_multi_scale_num`` 1 for ++, 0 otherwise)."""
    arguments = official_arguments(config)
    if root is None:
        assert not plusplus, "RestoreFormer++ is only in its own repository"
        module = official_gfpgan_module()
        return quietly(module.RestoreFormer, **arguments).eval()
    module = official_plusplus_module(root)
    return quietly(module.VQVAEGANMultiHeadTransformer, **arguments, ex_multi_scale_num=int(plusplus)).eval()
