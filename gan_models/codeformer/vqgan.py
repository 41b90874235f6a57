"""CodeFormer's VQGAN parts (encoder, codebook, generator) with the official key names.

The layout follows ``basicsr/archs/vqgan_arch.py`` of sczhou/CodeFormer: ``encoder.blocks.N`` and
``generator.blocks.N`` are flat lists of convolutions, residual blocks, self-attention blocks,
resamplers and a final GroupNorm; ``quantize.embedding`` is the codebook. Every GroupNorm has 32
groups (eps 1e-6) and every activation is swish, as there.

The block lists are built from (nf, ch_mult, res_blocks, resolution of the latent): the released
network is nf 64, ch_mult (1, 2, 2, 4, 4, 8), two residual blocks per level, attention at the 16 px
latent, 512 px faces. While building, each list records where CodeFormer's fusion taps its
features (``taps``: resolution → block index), so the fusion points follow the layout instead of a
table of indices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    """norm → swish → 3×3 conv, twice, plus the input (through a 1×1 ``conv_out`` when widths differ)."""

    def __init__(self, in_channels: int, out_channels: int | None = None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_out = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        return h + (x if self.conv_out is None else self.conv_out(x))


class AttnBlock(nn.Module):
    """Single-head self-attention over the pixels of a feature map, 1×1 projections, residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        b, c, height, width = x.shape
        q = self.q(h).reshape(b, c, height * width).transpose(1, 2)  # B×N×C
        k = self.k(h).reshape(b, c, height * width)  # B×C×N
        v = self.v(h).reshape(b, c, height * width)  # B×C×N
        weights = torch.softmax(torch.bmm(q, k) * (int(c) ** -0.5), dim=2)  # B×N(query)×N(key)
        h = torch.bmm(v, weights.transpose(1, 2)).reshape(b, c, height, width)
        return x + self.proj_out(h)


class Downsample(nn.Module):
    """A stride-2 3×3 conv after one pixel of zeros on the right and bottom."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest ×2, then a 3×3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """Image → ``emb_dim``-channel latent at ``img_size / 2**(len(ch_mult) - 1)``.

    ``taps[side]``: the index of the last residual block of the level at that side (before the
    attention block at the latent level): where the fusion reads the encoder's features.
    """

    def __init__(self, nf: int, emb_dim: int, ch_mult: tuple[int, ...], res_blocks: int, img_size: int,
                 attn_resolutions: tuple[int, ...], in_channels: int = 3):
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, padding=1)]
        self.taps: dict[int, int] = {}
        side, width = img_size, nf
        for level, mult in enumerate(ch_mult):
            for _ in range(res_blocks):
                blocks.append(ResBlock(width, nf * mult))
                width = nf * mult
                self.taps[side] = len(blocks) - 1
                if side in attn_resolutions:
                    blocks.append(AttnBlock(width))
            if level != len(ch_mult) - 1:
                blocks.append(Downsample(width))
                side //= 2
        blocks += [ResBlock(width, width), AttnBlock(width), ResBlock(width, width), group_norm(width),
                   nn.Conv2d(width, emb_dim, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)


class Generator(nn.Module):
    """Latent → image, the encoder mirrored.

    ``taps[side]``: where the fusion modulates the decoder: after the first residual block of each
    level, except at the latent level, after its last one (before its attention block).
    """

    def __init__(self, nf: int, emb_dim: int, ch_mult: tuple[int, ...], res_blocks: int, img_size: int,
                 attn_resolutions: tuple[int, ...], out_channels: int = 3):
        super().__init__()
        width = nf * ch_mult[-1]
        side = img_size // 2 ** (len(ch_mult) - 1)
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, width, 3, padding=1),
                                   ResBlock(width, width), AttnBlock(width), ResBlock(width, width)]
        self.taps: dict[int, int] = {}
        for level in reversed(range(len(ch_mult))):
            for index in range(res_blocks):
                blocks.append(ResBlock(width, nf * ch_mult[level]))
                width = nf * ch_mult[level]
                if index == 0 or level == len(ch_mult) - 1:
                    self.taps[side] = len(blocks) - 1
                if side in attn_resolutions:
                    blocks.append(AttnBlock(width))
            if level != 0:
                blocks.append(Upsample(width))
                side *= 2
        blocks += [group_norm(width), nn.Conv2d(width, out_channels, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)


class VectorQuantizer(nn.Module):
    """The codebook: ``codebook_size`` vectors of ``emb_dim`` (``quantize.embedding.weight``)."""

    def __init__(self, codebook_size: int, emb_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, emb_dim)

    def lookup(self, indices: torch.Tensor, side: int) -> torch.Tensor:
        """``B×N`` code indices (N = side²) → ``B×emb_dim×side×side`` features."""
        b = indices.shape[0]
        return F.embedding(indices, self.embedding.weight).reshape(b, side, side, -1).permute(0, 3, 1, 2).contiguous()
