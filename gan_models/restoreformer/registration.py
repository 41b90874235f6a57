"""The RestoreFormer family's registry entries: RestoreFormer and RestoreFormer++.

Both are one network (``network.RestoreFormer``) with different attention layouts, and the layout
is visible in the keys: RestoreFormer's decoder cross-attends only at its deepest level, RestoreFormer++'s
at more than one (multi-scale). Every other hyper-parameter is read from tensor shapes; the head count
is not visible (the projections are C×C either way), so each architecture defaults to its release's
(8 heads for RestoreFormer, 4 for ++) and the ``head_size`` load option overrides it.

Files come in two layouts, both loaded strictly:
- a plain state dict under the official names (GFPGAN's ``RestoreFormer.pth``, ``{'params_ema': ...}``
  or ``{'params': ...}``, unwrapped by the loader);
- a Lightning checkpoint of the official training module (RestoreFormerPlusPlus's ``RestoreFormer.ckpt``
  and ``RestoreFormer++.ckpt``): ``state_dict`` holds the network under ``vqvae.`` beside the training
  losses (``loss.*``: discriminators, LPIPS, ArcFace), which are dropped with the quantizer's training
  counter (``quantize.utility_counter``) if there is one; any other key is refused.

Refused, with their names: the stage-1 dictionaries (``HQ_Dictionary`` / ``ROHQD``: the same keys, but
their decoder attends to itself, so its cross-attention norms were never trained), taming-transformers
VQGANs (single-head attention, ``attn.norm``), and variants the official code cannot run (no middle
blocks, ``double_z``, no resampling convolutions).
"""

from __future__ import annotations

import math
import re

import torch

from ..architecture import ArchitectureEntry, Built
from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from .network import RestoreFormer, RestoreFormerPlusPlus

Tensors = dict[str, torch.Tensor]

LIGHTNING_PREFIX = "vqvae."  # the network inside the official Lightning module (RestoreFormerModel.vqvae)
TRAINING_PREFIXES = ("loss.",)  # the module's only other child: its losses, not needed to restore faces
# A codebook-usage counter some of the authors' training runs kept in the quantizer (the ++ config's
# commented ``ignore_keys: ['vqvae.quantize.utility_counter']``); no forward reads it, the official loader
# (``strict=False``) skips it.
TRAINING_BUFFERS = ("quantize.utility_counter",)
CORE_KEYS = ("encoder.conv_in.weight", "encoder.mid.block_1.norm1.weight", "quant_conv.weight",
             "quantize.embedding.weight", "post_quant_conv.weight", "decoder.conv_in.weight",
             "decoder.conv_out.weight")
RELEASED_HEADS = {"RestoreFormer": 8, "RestoreFormerPlusPlus": 4}
LATENT_SIDE = 16  # the released networks quantize 512 px faces to a 16×16 grid; face size = 16 · 2^(levels − 1)


def official_tensors(sd: Tensors) -> Tensors | None:
    """The network's tensors under the official names: ``sd`` itself, or the ``vqvae.`` part of a Lightning
    checkpoint (its training losses dropped); None when neither layout is there."""
    if "encoder.conv_in.weight" in sd:
        return sd
    if LIGHTNING_PREFIX + "encoder.conv_in.weight" not in sd:
        return None
    others = {k.split(".")[0] + "." for k in sd if not k.startswith((LIGHTNING_PREFIX, *TRAINING_PREFIXES))}
    if others:
        raise UnsupportedModelError(
            f"a RestoreFormer training checkpoint with modules besides the network (vqvae.) and its losses (loss.): "
            f"{', '.join(sorted(others))}; ganpost does not know what they are. Save the vqvae part alone")
    network = {k[len(LIGHTNING_PREFIX):]: v for k, v in sd.items() if k.startswith(LIGHTNING_PREFIX)}
    return {k: v for k, v in network.items() if k not in TRAINING_BUFFERS}


def _levels(sd: Tensors, pattern: str) -> list[int]:
    return sorted({int(m[1]) for k in sd if (m := re.fullmatch(pattern, k))})


def restoreformer_hyperparameters(sd: Tensors, head_size: int | None = None) -> dict:
    """Constructor arguments for :class:`RestoreFormer` from official-name tensors (``official_tensors``).

    Raises :class:`UnsupportedModelError` for look-alikes and variants the official code cannot run.
    ``head_size`` None: the release's count for the layout found.
    """
    if "encoder.mid.attn_1.norm.weight" in sd or "encoder.mid.attn_1.norm2.weight" not in sd:
        if "encoder.mid.attn_1.norm.weight" in sd or "encoder.mid.attn_1.q.weight" in sd:
            raise UnsupportedModelError(
                "a taming-transformers VQGAN (single-head attention blocks, attn.norm): an image autoencoder, "
                "not a face restorer")
        raise UnsupportedModelError("a RestoreFormer-like VQ autoencoder without the middle attention blocks, "
                                    "which the official code cannot run")
    n_embed, embed_dim = sd["quantize.embedding.weight"].shape
    ch, in_channels = sd["encoder.conv_in.weight"].shape[:2]
    z_channels = sd["quant_conv.weight"].shape[1]
    if sd["encoder.conv_out.weight"].shape[0] != z_channels:
        raise UnsupportedModelError(
            f"a RestoreFormer whose encoder makes {sd['encoder.conv_out.weight'].shape[0]} latent channels for a "
            f"{z_channels}-channel quantizer input (double_z), which the official code cannot run")
    levels = _levels(sd, r"encoder\.down\.(\d+)\..*")
    if levels != list(range(len(levels))) or not levels:
        raise UnsupportedModelError(f"a RestoreFormer with encoder levels {levels}, not 0..N")
    if any(f"encoder.down.{i}.downsample.conv.weight" not in sd for i in levels[:-1]):
        raise UnsupportedModelError("a RestoreFormer that resamples without convolutions (resamp_with_conv=False), "
                                    "which no released file uses")
    widths = [sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] for i in levels]
    if any(w % ch for w in widths):
        raise UnsupportedModelError(f"a RestoreFormer whose level widths {widths} are not multiples of its "
                                    f"first width {ch}")
    deepest = levels[-1]
    encoder_attn = tuple(_levels(sd, r"encoder\.down\.(\d+)\.attn\.0\.q\.weight"))
    decoder_attn = tuple(_levels(sd, r"decoder\.up\.(\d+)\.attn\.0\.q\.weight"))
    if _dictionary_decoder(sd, decoder_attn):
        raise UnsupportedModelError(
            "a stage-1 high-quality dictionary (HQ_Dictionary / ROHQD, the official VQVAEGAN): its decoder attends "
            "to itself, so its cross-attention norms (norm2) were never trained. It reconstructs faces, it does "
            "not restore them; use the RestoreFormer or RestoreFormer++ file trained from it")
    architecture = "RestoreFormer" if set(decoder_attn) <= {deepest} else "RestoreFormerPlusPlus"
    heads = RELEASED_HEADS[architecture] if head_size is None else int(head_size)
    attention_widths = sorted({widths[-1], *(widths[i] for i in (*encoder_attn, *decoder_attn))})
    if heads < 1 or any(w % heads for w in attention_widths):
        raise UnsupportedModelError(
            f"given head_size={head_size}, which does not divide its attention widths "
            f"({', '.join(map(str, attention_widths))}); the released files use {RELEASED_HEADS[architecture]}")
    return {
        "n_embed": n_embed, "embed_dim": embed_dim, "ch": ch, "ch_mult": tuple(w // ch for w in widths),
        "num_res_blocks": len(_levels(sd, r"encoder\.down\.0\.block\.(\d+)\.conv1\.weight")),
        "z_channels": z_channels, "in_channels": in_channels, "out_ch": sd["decoder.conv_out.weight"].shape[0],
        "encoder_attn_levels": encoder_attn, "decoder_attn_levels": decoder_attn, "head_size": heads,
    }


def _dictionary_decoder(sd: Tensors, decoder_attn: tuple[int, ...]) -> bool:
    """True for a trained network whose decoder attention never used norm2 (exactly its initial 1 and 0)
    while norm1 trained: a decoder that attends to itself. A fresh network (every norm at 1 and 0) is not."""
    prefixes = ["decoder.mid.attn_1."] + [f"decoder.up.{i}.attn.0." for i in decoder_attn]
    if sd["decoder.mid.attn_1.norm2.weight"].is_meta:  # shapes only (no values to judge)
        return False

    def initial(name: str) -> bool:
        return all(torch.equal(sd[p + name + ".weight"], torch.ones_like(sd[p + name + ".weight"]))
                   and not sd[p + name + ".bias"].any() for p in prefixes)

    return initial("norm2") and not initial("norm1")


def _architecture_of(sd: Tensors) -> str | None:
    tensors = official_tensors(sd)
    if tensors is None or not all(k in tensors for k in CORE_KEYS):
        return None
    hp = restoreformer_hyperparameters(tensors)
    deepest = len(hp["ch_mult"]) - 1
    return "RestoreFormer" if set(hp["decoder_attn_levels"]) <= {deepest} else "RestoreFormerPlusPlus"


def looks_like_restoreformer(sd: Tensors) -> bool:
    return _architecture_of(sd) == "RestoreFormer"


def looks_like_restoreformer_plusplus(sd: Tensors) -> bool:
    return _architecture_of(sd) == "RestoreFormerPlusPlus"


def build_restoreformer(sd: Tensors, options: dict) -> Built:
    tensors = official_tensors(sd)
    hp = restoreformer_hyperparameters(tensors, options.get("head_size"))
    return Built(RestoreFormer(**hp), hp, dict(tensors))  # one class runs both layouts


def face_size(hp: dict) -> int:
    return LATENT_SIDE * 2 ** (len(hp["ch_mult"]) - 1)


def restoreformer_activation_elements(hp: dict) -> int:
    """Peak activation elements per input pixel of one forward, counted from the widths.

    The peak is in the decoder's first full-resolution block: the upsampled level-1 features, the block's
    normalised and activated copy, its two convolution outputs and its shortcut (about 3 × level 1's
    width + 3 × level 0's), plus the encoder features the attention still needs (a few per pixel) and a
    quarter for temporaries. Released width: 722 per pixel (++: 724; about 725 MiB in fp32 at 512²);
    the measured CPU peak above the loaded model is 485 MiB (RestoreFormer) and 538 MiB (++).
    """
    ch = hp["ch"]
    widths = [ch * m for m in hp["ch_mult"]]
    upper = widths[1] if len(widths) > 1 else widths[0]
    kept = sum(widths[i] / 4 ** i for i in hp["decoder_attn_levels"]) + 2 * widths[-1] / 4 ** (len(widths) - 1)
    return math.ceil(1.25 * (3 * upper + 3 * widths[0] + kept))


def restoreformer_contract(hp: dict) -> ModelContract:
    return ModelContract(
        task=Task.FACE_RESTORE, scale=1, in_channels=hp["in_channels"], out_channels=hp["out_ch"],
        value_range=(-1.0, 1.0),  # GFPGANer and RestoreFormer++'s helper feed (x − 0.5) / 0.5 and read [-1, 1]
        # Aligned crops of 16 · 2^(levels − 1) px (512 for the releases), as trained; the runner pads smaller
        # inputs up to it and windows larger ones, the face pipeline always feeds exact crops.
        size=SizeRule(fixed=face_size(hp)),
        tiling=TilingPolicy(margin=0),  # one window is one face: nothing to stitch
        activation_elements=restoreformer_activation_elements(hp),
        # Measured against fp32 at the released sizes, seeded random weights, the astronaut's face at 512
        # (`PYTHONPATH=tests python tests/gan_models/test_restoreformer.py`), |Δ| in steps of 1/255:
        #   RestoreFormer   bf16 mean 14.3, p99.9 114, max 170; fp16 mean 7.9, p99.9 87, max 149
        #   RestoreFormer++ bf16 mean 8.2,  p99.9 102, max 182; fp16 mean 2.7, p99.9 44, max 84
        # All finite, but a half-precision encoder moves the latent enough to flip 1-3 % of the codebook picks
        # (the quantizer itself measures in fp32), and each flip repaints a patch of the face. With the fp32
        # picks forced, bf16 is still mean 1.0/255, max 10/255 (++). Trained encoders sit closer to their
        # codes than random ones, but no released file was at hand to measure, so both stay refused and
        # "auto" runs fp32. (fp32 peak activation above the loaded model at 512², CPU: 485 MiB RestoreFormer,
        # 538 MiB ++; the official code: 702 and 734 MiB, as it keeps every encoder level's output.)
        fp16_safe=False,
        bf16_safe=False,
    )


RESTOREFORMER = ArchitectureEntry(
    architecture="RestoreFormer", family="restoreformer", detect=looks_like_restoreformer,
    build=build_restoreformer, contract=restoreformer_contract, create=RestoreFormer, options=("head_size",),
    task=Task.FACE_RESTORE,
    # no constraint: its keys (encoder.down.N.attn.N.norm2, quantize.embedding, decoder.up.N ...) are no other
    # family's, and it refuses taming-transformers VQGANs and the stage-1 dictionaries itself
)
RESTOREFORMER_PLUSPLUS = ArchitectureEntry(
    architecture="RestoreFormerPlusPlus", family="restoreformer", detect=looks_like_restoreformer_plusplus,
    build=build_restoreformer, contract=restoreformer_contract, create=RestoreFormerPlusPlus, options=("head_size",),
    task=Task.FACE_RESTORE,
    # no constraint: the same keys as RestoreFormer plus decoder attention above the deepest level; the two
    # tests exclude each other
)
ENTRIES = (RESTOREFORMER, RESTOREFORMER_PLUSPLUS)
