"""RestoreFormer and RestoreFormer++: a VQ-GAN whose decoder cross-attends to the degraded face.

Written for ganpost from the papers' description and the layouts of the official files (GFPGAN's
``restoreformer_arch.py`` for RestoreFormer, wzhouxiff/RestoreFormerPlusPlus's ``vqvae_arch.py`` for
both); parameter names are the official ones, so released state dicts load with ``strict=True``.

The encoder (residual blocks with GroupNorm-32 and SiLU, multi-head self-attention at the levels that
have it, a middle block) maps the face to a grid of features that the vector quantizer replaces by their
nearest codebook entries (the high-quality dictionary). The decoder climbs back up; at each attention
level every block is followed by multi-head cross-attention (MHCA) whose *queries* come from the
degraded face's encoder features and whose keys and values come from the decoder's own (prior) features.

- RestoreFormer: cross-attention only at the lowest level (16 px at 512), queried by the encoder's
  middle features before and after its attention (``block_<last>_atten`` / ``mid_atten`` officially).
- RestoreFormer++: multi-scale: also at the next level up (32 px), queried by the encoder's output of
  that level (``block_<level>``). Everything else is the same code; the released files differ in the
  head count (8 for RestoreFormer, 4 for ++), which the weights do not show.

Inference differences from the official code, none of which changes an output beyond rounding:
the encoder keeps only the features the decoder reads; attention runs through
``scaled_dot_product_attention`` with the official ``int(head_dim) ** -0.5`` scale; the quantizer
measures distances in fp32 whatever the working precision (as the official fp32 code does), so a
half-precision run picks the same codebook entries whenever fp32 would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


def _silu(x: torch.Tensor) -> torch.Tensor:
    # x is always a fresh normalisation output here; in place when no graph needs it
    return F.silu(x, inplace=not torch.is_grad_enabled())


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_silu(self.norm1(x)))
        h = self.conv2(_silu(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class MultiHeadAttnBlock(nn.Module):
    """Multi-head attention on a feature map, with a residual. Without ``y`` it is self-attention
    (queries, keys and values from ``x``); with ``y`` the queries come from ``norm2(y)`` and the keys and
    values from ``norm1(x)`` (the official MHCA). ``norm2`` exists, unused, in self-attention blocks too."""

    def __init__(self, channels: int, head_size: int):
        super().__init__()
        if channels % head_size:
            raise ValueError(f"{channels} channels cannot be split into {head_size} heads")
        self.head_size = head_size
        self.norm1 = _norm(channels)
        self.norm2 = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        query = self.q(h if y is None else self.norm2(y))
        b, c, height, width = query.shape
        heads, dim = self.head_size, c // self.head_size

        def split(t: torch.Tensor) -> torch.Tensor:  # B×C×H×W → B×heads×HW×dim, channel = head·dim + i
            return t.reshape(b, heads, dim, height * width).transpose(2, 3)

        out = F.scaled_dot_product_attention(split(query), split(self.k(h)), split(self.v(h)),
                                             scale=int(dim) ** -0.5)
        out = out.transpose(2, 3).reshape(b, c, height, width)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # the official asymmetric padding


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Middle(nn.Module):
    def __init__(self, channels: int, head_size: int):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = MultiHeadAttnBlock(channels, head_size)
        self.block_2 = ResnetBlock(channels, channels)


class _Level(nn.Module):
    """One resolution: its residual blocks, the attention after each (if any), the resampler (if any)."""

    def __init__(self, blocks: list[ResnetBlock], attention: bool, head_size: int, resample: nn.Module | None,
                 resample_name: str):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(MultiHeadAttnBlock(b.out_channels, head_size) for b in blocks) if attention \
            else nn.ModuleList()
        if resample is not None:
            self.add_module(resample_name, resample)


class MultiHeadEncoder(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_levels: tuple[int, ...],
                 in_channels: int, z_channels: int, head_size: int):
        super().__init__()
        self.num_levels = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        self.down = nn.ModuleList()
        width = ch
        for level, mult in enumerate(ch_mult):
            blocks = []
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(width, ch * mult))
                width = ch * mult
            last = level == self.num_levels - 1
            self.down.append(_Level(blocks, level in attn_levels, head_size,
                                    None if last else Downsample(width), "downsample"))
        self.mid = _Middle(width, head_size)
        self.norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, keep: frozenset[int]) -> tuple[torch.Tensor, dict]:
        """The latent, and the features the decoder's attention reads: ``levels[i]`` (level i's output
        before downsampling, for i in ``keep``), ``deepest`` (the middle's first block) and ``mid``."""
        h = self.conv_in(x)
        levels = {}
        for index, level in enumerate(self.down):
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[i](h)
            if index != self.num_levels - 1:
                if index in keep:
                    levels[index] = h
                h = level.downsample(h)
        h = self.mid.block_1(h)
        deepest = h
        h = self.mid.block_2(self.mid.attn_1(h))
        features = {"levels": levels, "deepest": deepest, "mid": h}
        return self.conv_out(_silu(self.norm_out(h))), features


class MultiHeadDecoderTransformer(nn.Module):
    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_levels: tuple[int, ...],
                 out_ch: int, z_channels: int, head_size: int):
        super().__init__()
        self.num_levels = len(ch_mult)
        width = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, width, 3, 1, 1)
        self.mid = _Middle(width, head_size)
        up = []
        for level in reversed(range(self.num_levels)):
            blocks = []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(width, ch * ch_mult[level]))
                width = ch * ch_mult[level]
            up.insert(0, _Level(blocks, level in attn_levels, head_size,
                                None if level == 0 else Upsample(width), "upsample"))
        self.up = nn.ModuleList(up)
        self.norm_out = _norm(width)
        self.conv_out = nn.Conv2d(width, out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor, features: dict) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_1(h)
        h = self.mid.attn_1(h, features["mid"])
        h = self.mid.block_2(h)
        for index in reversed(range(self.num_levels)):
            level = self.up[index]
            if len(level.attn):  # the deepest level is queried by the middle's first block, the others by their output
                query = features["deepest"] if index == self.num_levels - 1 else features["levels"][index]
            for i, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[i](h, query)
            if index != 0:
                h = level.upsample(h)
        return self.conv_out(_silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest codebook entry per position (squared L2, first index on ties), measured in fp32."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codes = self.embedding.weight.float()
        distance = flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * (flat @ codes.t())
        return distance.argmin(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, height, width = z.shape
        chosen = self.embedding.weight.float()[self.indices(z)].view(b, height, width, c)
        flat = z.float().permute(0, 2, 3, 1)
        quantized = flat + (chosen - flat)  # the official straight-through sum, rounding included
        return quantized.permute(0, 3, 1, 2).to(z.dtype).contiguous()


class RestoreFormer(nn.Module):
    """RestoreFormer / RestoreFormer++ (``decoder_attn_levels`` with more than the deepest level).

    Levels are counted from the input's resolution (0) down to the latent's (``len(ch_mult) - 1``); the
    released networks (ch 64, ch_mult 1,2,2,4,4,8) attend at level 5 (16 px at 512), and ++'s decoder
    also at level 4 (32 px). The input side must be a multiple of ``2 ** (len(ch_mult) - 1)``.
    """

    def __init__(self, n_embed: int = 1024, embed_dim: int = 256, ch: int = 64, ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8),
                 num_res_blocks: int = 2, z_channels: int = 256, in_channels: int = 3, out_ch: int = 3,
                 encoder_attn_levels: tuple[int, ...] = (5,), decoder_attn_levels: tuple[int, ...] = (5,),
                 head_size: int = 8):
        super().__init__()
        ch_mult, encoder_attn_levels = tuple(ch_mult), tuple(encoder_attn_levels)
        decoder_attn_levels = tuple(decoder_attn_levels)
        self.decoder_attn_levels = decoder_attn_levels
        self.encoder = MultiHeadEncoder(ch, ch_mult, num_res_blocks, encoder_attn_levels, in_channels, z_channels,
                                        head_size)
        self.decoder = MultiHeadDecoderTransformer(ch, ch_mult, num_res_blocks, decoder_attn_levels, out_ch,
                                                   z_channels, head_size)
        self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self._keep = frozenset(level for level in decoder_attn_levels if level != len(ch_mult) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A B×3×H×W face in [-1, 1] → the restored face, B×3×H×W, about [-1, 1] (not clamped)."""
        z, features = self.encoder(x, self._keep)
        quantized = self.quantize(self.quant_conv(z))
        return self.decoder(self.post_quant_conv(quantized), features)


class RestoreFormerPlusPlus(RestoreFormer):
    """RestoreFormer++: :class:`RestoreFormer` with the release's multi-scale decoder attention (16 and 32 px at
    512, levels 5 and 4) and 4 heads as defaults (the repository's ``ex_multi_scale_num=1, head_size=4``)."""

    def __init__(self, n_embed: int = 1024, embed_dim: int = 256, ch: int = 64,
                 ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8), num_res_blocks: int = 2, z_channels: int = 256,
                 in_channels: int = 3, out_ch: int = 3, encoder_attn_levels: tuple[int, ...] = (5,),
                 decoder_attn_levels: tuple[int, ...] = (4, 5), head_size: int = 4):
        super().__init__(n_embed, embed_dim, ch, ch_mult, num_res_blocks, z_channels, in_channels, out_ch,
                         encoder_attn_levels, decoder_attn_levels, head_size)
