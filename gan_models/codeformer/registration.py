"""The CodeFormer family's registry entry: recognise CodeFormer checkpoints, read their shape, fill in
the contract, declare the fidelity weight.

Hyper-parameters come from the tensors: the codebook (``quantize.embedding``: codebook_size ×
emb_dim), the transformer (``position_emb``: latent tokens × dim_embd, the ``ft_layers`` count, the
MLP width), the fused resolutions (``fuse_convs_dict`` keys: connect_list) and the VQGAN's levels
(nf, ch_mult, residual blocks per level, walked from ``encoder.blocks``). The head count is not
visible in the weights (``nn.MultiheadAttention`` packs the heads): every release uses 8, the
``n_head`` load option says otherwise. So the three released files load, each with its own shape:
``codeformer.pth`` (connect 32-256, 1024 codes), ``codeformer_colorization.pth`` (connect 32-128,
1024 codes) and ``codeformer_inpainting.pth`` (connect 32-128, 512 codes).

Refused with a reason: the stage-1 VQGAN alone (``vqgan_code1024.pth``: no transformer, it
reconstructs faces rather than restoring them) and Gumbel-quantizer VQGANs.
"""

from __future__ import annotations

import logging
import math
import re

import torch

from ..architecture import ArchitectureEntry, Built
from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..options import Option
from .codeformer import CodeFormer
from .export import exported_codeformer

Tensors = dict[str, torch.Tensor]
log = logging.getLogger(__name__)
LICENCE_NOTE = ("CodeFormer (sczhou/CodeFormer) and its released weights are under the S-Lab License 1.0: "
                "non-commercial use only; commercial use needs the authors' permission")
_NOTED: list[bool] = []

VQGAN_KEYS = ("encoder.blocks.0.weight", "generator.blocks.0.weight")
TRANSFORMER_KEYS = ("position_emb", "feat_emb.weight", "idx_pred_layer.1.weight", "quantize.embedding.weight")

FIDELITY = Option("fidelity", float, 0.5, "0 = the most restoration, 1 = the most faithful to the input face",
                  minimum=0.0, maximum=1.0, forward="w")
"""CodeFormer's ``w`` (``inference_codeformer.py -w``, default 0.5)."""


def looks_like_codeformer(sd: Tensors) -> bool:
    """CodeFormer's keys; its VQGAN alone (stage 1) is refused here with its name."""
    if not all(k in sd for k in VQGAN_KEYS):
        return False
    if all(k in sd for k in TRANSFORMER_KEYS):
        return True
    if "quantize.embedding.weight" in sd or "quantize.embed.weight" in sd:
        kind = "a Gumbel-quantizer VQGAN" if "quantize.proj.weight" in sd else "CodeFormer's VQGAN alone (stage 1, " \
            "e.g. vqgan_code1024.pth)"
        raise UnsupportedModelError(
            f"{kind}: an autoencoder that rebuilds faces from its codebook, without the transformer that "
            "restores them; load codeformer.pth (or codeformer_colorization.pth / codeformer_inpainting.pth)")
    return False


def _encoder_layout(sd: Tensors) -> tuple[int, tuple[int, ...], int]:
    """(nf, ch_mult, residual blocks per level), walked from the encoder's flat block list."""
    kinds: list[tuple[str, int]] = []
    index = 0
    while f"encoder.blocks.{index}.weight" in sd or any(k.startswith(f"encoder.blocks.{index}.") for k in sd):
        p = f"encoder.blocks.{index}."
        if p + "conv1.weight" in sd:
            kinds.append(("res", sd[p + "conv1.weight"].shape[0]))
        elif p + "q.weight" in sd:
            kinds.append(("attn", 0))
        elif p + "conv.weight" in sd:
            kinds.append(("down", 0))
        else:
            kinds.append(("other", 0))
        index += 1
    nf = sd["encoder.blocks.0.weight"].shape[0]
    levels: list[list[int]] = [[]]
    for kind, width in kinds[1:]:
        if kind == "down":
            levels.append([])
        elif kind == "res":
            levels[-1].append(width)
    res_blocks = len(levels[0])
    # the last level holds its own residual blocks, then the middle's two
    if res_blocks == 0 or len(levels[-1]) != res_blocks + 2 or any(len(lv) != res_blocks for lv in levels[:-1]):
        raise UnsupportedModelError("a CodeFormer-like VQGAN whose encoder levels do not have the same number of "
                                    f"residual blocks ({[len(lv) for lv in levels]})")
    ch_mult = tuple(level[0] // nf for level in levels)
    return nf, ch_mult, res_blocks


def codeformer_hyperparameters(sd: Tensors, n_head: int = 8, adain: bool = True) -> dict:
    """Constructor arguments for :class:`CodeFormer`, read from official-layout tensor shapes."""
    nf, ch_mult, res_blocks = _encoder_layout(sd)
    codebook_size, emb_dim = sd["quantize.embedding.weight"].shape
    latent_size, dim_embd = sd["position_emb"].shape
    layers = {int(m[1]) for k in sd if (m := re.fullmatch(r"ft_layers\.(\d+)\.linear1\.weight", k))}
    connect = sorted({m[1] for k in sd if (m := re.fullmatch(r"fuse_convs_dict\.(\d+)\..*", k))}, key=int)
    if dim_embd % n_head:
        raise UnsupportedModelError(f"a CodeFormer whose transformer width {dim_embd} is not a multiple of "
                                    f"n_head={n_head}")
    return {
        "dim_embd": int(dim_embd),
        "n_head": int(n_head),
        "n_layers": len(layers),
        "codebook_size": int(codebook_size),
        "latent_size": int(latent_size),
        "connect_list": tuple(connect),
        "nf": int(nf),
        "ch_mult": ch_mult,
        "res_blocks": res_blocks,
        "emb_dim": int(emb_dim),
        "dim_mlp": int(sd["ft_layers.0.linear1.weight"].shape[0]) if layers else 2 * int(dim_embd),
        "adain": bool(adain),
    }


def build_codeformer(sd: Tensors, options: dict) -> Built:
    hp = codeformer_hyperparameters(sd, options.get("n_head", 8), options.get("adain", True))
    try:
        with torch.device("meta"):
            shapes = {k: v.shape for k, v in CodeFormer(**hp).state_dict().items()}
    except ValueError as err:
        raise UnsupportedModelError(f"a CodeFormer-like layout ganpost cannot build: {err}") from err
    theirs = {k: v.shape for k, v in sd.items()}
    if shapes != theirs:
        odd = sorted(set(theirs) ^ set(shapes)) or sorted(k for k in shapes if shapes[k] != theirs[k])
        raise UnsupportedModelError("a CodeFormer-like layout that differs from the official one at "
                                    f"{', '.join(odd[:4])}"
                                    + (f" and {len(odd) - 4} more" if len(odd) > 4 else ""))
    if not _NOTED:  # once per process: where a file is picked from a folder (ComfyUI), not by a known name
        _NOTED.append(True)
        log.warning(LICENCE_NOTE)
    return Built(CodeFormer(**hp), hp, dict(sd))


def codeformer_activation_elements(hp: dict) -> int:
    """Peak activation elements per input pixel of one forward.

    At the peak (the generator's last, full-size level) are alive: the encoder features kept for the
    fusion (each connected level: its width × its share of the pixels), and about six full-size
    maps of the first level's width (a residual block's input, norm/swish temporaries, two conv
    outputs); plus a quarter for the rest. Released: 552 per pixel (552 MiB in fp32 at 512²); the
    measured CPU peak above the loaded model is about 530 MiB (resident memory sampled during a forward).
    """
    size = hp["latent_size"] ** 0.5 * 2 ** (len(hp["ch_mult"]) - 1)
    widths = {size / 2**level: hp["nf"] * mult for level, mult in enumerate(hp["ch_mult"])}
    taps = sum(widths[int(s)] * (int(s) / size) ** 2 for s in hp["connect_list"])
    return math.ceil(1.25 * (taps + 6 * hp["nf"] * hp["ch_mult"][0] + 12))


def codeformer_contract(hp: dict) -> ModelContract:
    size = round(hp["latent_size"] ** 0.5) * 2 ** (len(hp["ch_mult"]) - 1)
    return ModelContract(
        task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
        size=SizeRule(fixed=size),  # aligned face crops of exactly this side (512 for the releases)
        tiling=TilingPolicy(margin=0),  # one window is one face
        activation_elements=codeformer_activation_elements(hp),
        # Measured against fp32 (bench/codeformer_parity.py --only precision): released width, seeded random
        # weights, one 512 px face, w = 0.5, CPU. The code choice is a top-1 over 1024 logits, and half
        # precision moves logits enough to change it: bf16 picked another code for 9 of the 256 tokens
        # (image mean |Δ| 20.9/255, max 255/255), fp16 for 1 (mean 2.6/255, max 188/255). With the code
        # choice held fixed the continuous part alone is bf16 mean 2.4/255, max 75/255; fp16 mean 0.27/255,
        # max 8/255. A changed code replaces a 32×32 px patch of the face, and no released file was at hand
        # to show trained margins are wide enough: both stay refused (auto runs fp32), as the official
        # script runs it (fp32 everywhere).
        fp16_safe=False,
        bf16_safe=False,
        parse_within_square=True,  # CodeFormer's helper pastes through min(parse mask, square mask)
    )


CODEFORMER = ArchitectureEntry(
    architecture="CodeFormer", family="codeformer", detect=looks_like_codeformer, build=build_codeformer,
    contract=codeformer_contract, create=CodeFormer, options=("n_head", "adain"), task=Task.FACE_RESTORE,
    forward_options=(FIDELITY,), export_module=exported_codeformer,
    # encoder.blocks / generator.blocks / quantize.embedding / position_emb: no other family's keys; its
    # detector refuses the stage-1 VQGAN with a reason. After the upscalers people load most.
    after=("RRDBNet", "SRVGGNetCompact"),
)
ENTRIES = (CODEFORMER,)
