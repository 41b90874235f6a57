"""CodeFormer (Zhou et al., NeurIPS 2022): a VQGAN whose code indices a transformer predicts from the
degraded face, and a controllable feature transformation that mixes the degraded face's encoder
features back into the decoder with the fidelity weight ``w``.

Written from the paper and the official ``basicsr/archs/codeformer_arch.py`` (sczhou/CodeFormer),
whose key names it keeps, so the released files (``params_ema``) load strictly:

- ``encoder.*``, ``quantize.embedding.weight``, ``generator.*``: the VQGAN (``vqgan.py``);
- ``position_emb`` (latent tokens × dim_embd), ``feat_emb`` (emb_dim → dim_embd), ``ft_layers.N``
  (pre-norm self-attention layers: ``self_attn``, ``linear1``/``linear2``, ``norm1``/``norm2``),
  ``idx_pred_layer`` (LayerNorm, then a bias-free Linear to the codebook's logits);
- ``fuse_convs_dict.<side>``: one fusion block per connected resolution (``encode_enc`` residual block
  on the concatenated encoder and decoder features, ``scale`` and ``shift`` conv pairs).

Forward (as the official network's, inference path): encode; the transformer predicts each latent
token's code (top-1 of the softmax over the codebook); the codes' vectors, optionally given the
degraded latent's channel mean and spread (``adain``: what ``inference_codeformer.py`` uses), go
through the generator; after each connected level the decoder features ``d`` become
``d + w·(d·scale + shift)``. ``w = 0`` skips the fusion (pure codebook restoration), ``w = 1`` keeps
most of the input face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImageInputError
from .vqgan import Encoder, Generator, ResBlock, VectorQuantizer


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample and channel: the mean and the (unbiased) standard deviation, eps added to the variance."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    return flat.mean(dim=2).reshape(b, c, 1, 1), (flat.var(dim=2) + eps).sqrt().reshape(b, c, 1, 1)


def adaptive_instance_norm(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """``content`` with ``style``'s per-channel mean and spread."""
    style_mean, style_std = mean_std(style)
    content_mean, content_std = mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


class TransformerSALayer(nn.Module):
    """Pre-norm self-attention (the position embedding added to queries and keys) and a GELU MLP."""

    def __init__(self, embed_dim: int, nhead: int, dim_mlp: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, nhead, dropout=0.0)
        self.linear1 = nn.Linear(embed_dim, dim_mlp)
        self.linear2 = nn.Linear(dim_mlp, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``tokens``: N×B×C (sequence first, as nn.MultiheadAttention's default); ``pos``: N×1×C."""
        normed = self.norm1(tokens)
        query = normed + pos
        tokens = tokens + self.self_attn(query, query, value=normed)[0]
        return tokens + self.linear2(F.gelu(self.linear1(self.norm2(tokens))))


class FuseSFTBlock(nn.Module):
    """The controllable feature transformation at one resolution (official class ``Fuse_sft_block``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.encode_enc = ResBlock(2 * channels, channels)
        self.scale = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(channels, channels, 3, padding=1))
        self.shift = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, enc_feat: torch.Tensor, dec_feat: torch.Tensor, w: float | torch.Tensor) -> torch.Tensor:
        cond = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * (dec_feat * self.scale(cond) + self.shift(cond))


class CodeFormer(nn.Module):
    """CodeFormer with the official key names; the defaults are the released ``codeformer.pth``.

    ``adain`` is the default of the forward's ``adain`` (True: as ``inference_codeformer.py`` and
    ``inference_colorization.py`` run it; the inpainting script runs False).
    """

    def __init__(self, dim_embd: int = 512, n_head: int = 8, n_layers: int = 9, codebook_size: int = 1024,
                 latent_size: int = 256, connect_list: tuple[str, ...] = ("32", "64", "128", "256"),
                 nf: int = 64, ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8), res_blocks: int = 2,
                 emb_dim: int = 256, dim_mlp: int | None = None, adain: bool = True):
        super().__init__()
        side = round(latent_size ** 0.5)
        if side * side != latent_size:
            raise ValueError(f"latent_size must be a square number of tokens, not {latent_size}")
        self.latent_side = side
        self.img_size = side * 2 ** (len(ch_mult) - 1)
        self.connect_list = tuple(str(s) for s in connect_list)
        self.adain = adain
        attn = (side,)
        self.encoder = Encoder(nf, emb_dim, tuple(ch_mult), res_blocks, self.img_size, attn)
        self.quantize = VectorQuantizer(codebook_size, emb_dim)
        self.generator = Generator(nf, emb_dim, tuple(ch_mult), res_blocks, self.img_size, attn)

        self.position_emb = nn.Parameter(torch.zeros(latent_size, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(*[TransformerSALayer(dim_embd, n_head, dim_mlp or 2 * dim_embd)
                                         for _ in range(n_layers)])
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))

        widths = {self.img_size // 2**level: nf * mult for level, mult in enumerate(ch_mult)}
        unknown = [s for s in self.connect_list if int(s) not in widths]
        if unknown:
            raise ValueError(f"connect_list sizes {unknown} are not levels of a {self.img_size} px network")
        self.fuse_convs_dict = nn.ModuleDict({s: FuseSFTBlock(widths[int(s)]) for s in self.connect_list})
        self._encoder_taps = {self.encoder.taps[int(s)]: s for s in self.connect_list}
        self._generator_taps = {self.generator.taps[int(s)]: s for s in self.connect_list}

    def predict_codes(self, lq_feat: torch.Tensor) -> torch.Tensor:
        """The transformer's logits over the codebook, ``B×N×codebook_size``, for a B×emb_dim×s×s latent."""
        tokens = self.feat_emb(lq_feat.flatten(2).permute(2, 0, 1))  # N×B×dim_embd
        pos = self.position_emb.unsqueeze(1)
        for layer in self.ft_layers:
            tokens = layer(tokens, pos)
        return self.idx_pred_layer(tokens).permute(1, 0, 2)

    def forward(self, x: torch.Tensor, w: float = 0.5, adain: bool | None = None, code_only: bool = False):
        """``x``: B×3×S×S faces in [-1, 1]; returns ``(image, logits, lq_feat)`` as the official forward.

        w:         fidelity weight, 0 (the most restoration) … 1 (the most faithful to the input).
        adain:     give the looked-up codes the degraded latent's channel statistics; None: the
                   network's default (``self.adain``).
        code_only: return ``(logits, lq_feat)`` only (the official training stage II's output).
        """
        if x.ndim != 4 or tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ImageInputError(f"CodeFormer takes B×3×{self.img_size}×{self.img_size} aligned face crops, "
                                  f"not {tuple(x.shape)}. Align and resize the face to {self.img_size} px first.")
        w = float(w)
        adain = self.adain if adain is None else adain
        lq_feat, taps = self.encode(x)
        logits = self.predict_codes(lq_feat)
        if code_only:
            return logits, lq_feat
        return self.decode(logits, lq_feat, taps, w if w > 0 else None, adain), logits, lq_feat

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The degraded face's latent and the encoder features the fusion reads (resolution → feature)."""
        taps = {}
        for index, block in enumerate(self.encoder.blocks):
            x = block(x)
            if index in self._encoder_taps:
                taps[self._encoder_taps[index]] = x
        return x, taps

    def decode(self, logits: torch.Tensor, lq_feat: torch.Tensor, taps: dict[str, torch.Tensor],
               w: float | torch.Tensor | None, adain: bool) -> torch.Tensor:
        """The codes' image, with the encoder features fused in at weight ``w`` (None: w = 0, no fusion).

        ``w`` may be a tensor (the ONNX export, where the fidelity is a graph input, fuses at every weight:
        at 0 that adds 0 × the fusion, the same image).
        """
        # top-1 of the softmax (not of the logits: two logits a rounding apart can tie after it)
        codes = torch.topk(torch.softmax(logits, dim=2), 1, dim=2)[1][..., 0]
        x = self.quantize.lookup(codes, self.latent_side)
        if adain:
            x = adaptive_instance_norm(x, lq_feat)
        for index, block in enumerate(self.generator.blocks):
            x = block(x)
            if w is not None and index in self._generator_taps:
                size = self._generator_taps[index]
                x = self.fuse_convs_dict[size](taps[size], x, w)
        return x
