"""AuraSR's generator: the GigaGAN-style ``UnetUpsampler`` released as fal/AuraSR and fal/AuraSR-v2.

Written from the architecture description (``architectures.md`` section 5); parameter names are
the release's, so ``model.safetensors`` loads with ``strict=True``. The module is built from the
release's ``config.json`` keys (``UnetUpsampler(**config)``).

What the network does with one ``B×3×h×w`` window in [0, 1] (h, w multiples of 8; the release
was trained on 64 px):

* adds ``0.001 × N(0, 1)`` input noise and clamps to [0, 1];
* maps a 128-d Gaussian style noise through a StyleGAN mapping network, and projects the style
  into per-block convolution modulations (StyleGAN2 modulate/demodulate, with a softmax mix of
  several kernels per conv);
* runs a U-Net: three stride-2 downsamplings, full attention in the middle and at the two
  coarsest upsampling levels, five ×2 upsamplings, so the output is 4× the input; unbounded.

Both noises come from a seed, a caller's ``torch.Generator`` or the caller's tensors, never from
torch's global generator: the same input and seed give the same output on every device. With the
same noise tensors the output equals the official forward's.

The forward uses only child modules, plain attributes and module-level functions (no methods), so the diffusers
wrapper, which adopts the children, can run it unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

INPUT_NOISE_SCALE = 0.001  # the release's input noise augmentation, kept at inference
DEFAULT_SEED = 0  # no seed given: still reproducible
DEFAULT_STYLE_LR_MUL = 0.1  # StyleGanNetwork's default; the config does not store it


class EqualLinear(nn.Module):
    """``F.linear`` with weight and bias scaled by ``lr_mul`` (no 1/√fan_in factor, as released)."""

    def __init__(self, dim_in: int, dim_out: int, lr_mul: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim_out, dim_in))
        self.bias = nn.Parameter(torch.zeros(dim_out))
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.lr_mul, self.bias * self.lr_mul)


class StyleNetwork(nn.Module):
    """Noise → style: L2-normalise, then ``depth`` × [EqualLinear, LeakyReLU 0.2] (keys ``net.{0,2,...}``)."""

    def __init__(self, dim_in: int = 128, dim_out: int = 512, depth: int = 8, lr_mul: float = DEFAULT_STYLE_LR_MUL):
        super().__init__()
        self.dim_in, self.dim_out = dim_in, dim_out
        layers = []
        for i in range(depth):
            layers += [EqualLinear(dim_in if i == 0 else dim_out, dim_out, lr_mul), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(F.normalize(noise, dim=1))


class Modulations:
    """The style's projection, handed out in the order the blocks were built (and run).

    ``shared``: ``flat`` is one row for the whole batch (the ONNX export's path, ``aurasr/export.py``): each
    modulated conv builds one kernel and convolves the batch with it instead of a kernel per sample.
    """

    def __init__(self, flat: torch.Tensor, shared: bool = False):
        self.flat, self.position, self.shared = flat, 0, shared

    def take(self, size: int) -> torch.Tensor:
        piece = self.flat[:, self.position: self.position + size]
        self.position += size
        return piece


class AdaptiveConv2DMod(nn.Module):
    """A 3×3 conv whose kernel is a softmax mix of ``num_conv_kernels`` kernels, modulated per sample.

    The per-sample kernel is modulated and demodulated in fp32 whatever the activations' dtype:
    the squared sums over ``in × 3 × 3`` overflow fp16, and its 1e-8 floor underflows.
    """

    EPS = 1e-8

    def __init__(self, dim: int, dim_out: int, num_conv_kernels: int):
        super().__init__()
        self.weights = nn.Parameter(torch.empty(num_conv_kernels, dim_out, dim, 3, 3))
        nn.init.kaiming_normal_(self.weights, a=0, mode="fan_in", nonlinearity="leaky_relu")

    def forward(self, x: torch.Tensor, mod: torch.Tensor, kernel_mod: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        bank = self.weights
        if bank.shape[0] > 1:
            mix = kernel_mod.float().softmax(dim=-1).to(bank.dtype)
            weight = torch.einsum("bn,noikl->boikl", mix, bank).float()
        else:
            weight = bank.float().expand(b, -1, -1, -1, -1)
        weight = weight * (mod.float() + 1)[:, None, :, None, None]
        weight = weight * weight.square().sum(dim=(2, 3, 4), keepdim=True).clamp(min=self.EPS).rsqrt()
        weight = weight.reshape(-1, *weight.shape[2:]).to(x.dtype)
        out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), weight, padding=1, groups=b)
        return out.view(b, -1, *out.shape[2:])

    def shared_forward(self, x: torch.Tensor, mod: torch.Tensor, kernel_mod: torch.Tensor) -> torch.Tensor:
        """``forward`` for a batch that shares one style (``mod`` 1×dim, ``kernel_mod`` 1×n): the same kernel as
        ``forward`` builds for each sample, built once, and a plain convolution. The ONNX export runs this (the
        batch stays free and no einsum is needed); ``tests/gan_models/test_aurasr_export.py`` checks they agree."""
        bank = self.weights
        if bank.shape[0] > 1:
            mix = kernel_mod.float().softmax(dim=-1).to(bank.dtype)
            weight = (mix @ bank.flatten(1)).float().view(bank.shape[1:])
        else:
            weight = bank[0].float()
        weight = weight * (mod.float() + 1).view(1, -1, 1, 1)
        weight = weight * weight.square().sum(dim=(1, 2, 3), keepdim=True).clamp(min=self.EPS).rsqrt()
        return F.conv2d(x, weight.to(x.dtype), padding=1)


class Block(nn.Module):
    """Modulated conv → SiLU; takes its input-channel modulation, then its kernel mix, from the style."""

    def __init__(self, dim: int, dim_out: int, num_conv_kernels: int):
        super().__init__()
        self.proj = AdaptiveConv2DMod(dim, dim_out, num_conv_kernels)

    def forward(self, x: torch.Tensor, mods: Modulations) -> torch.Tensor:
        n, _, dim = self.proj.weights.shape[:3]
        mod = mods.take(dim)
        if mods.shared:
            return F.silu(self.proj.shared_forward(x, mod, mods.take(n)))
        return F.silu(self.proj(x, mod, mods.take(n)))


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, num_conv_kernels: int):
        super().__init__()
        self.block1 = Block(dim, dim_out, num_conv_kernels)
        self.block2 = Block(dim_out, dim_out, num_conv_kernels)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, mods: Modulations) -> torch.Tensor:
        return self.block2(self.block1(x, mods), mods) + self.res_conv(x)


def modulation_sizes(block: ResnetBlock) -> list[int]:
    """The slices of the style projection one ResnetBlock consumes: [dim, n, dim_out, n]."""
    sizes = []
    for conv in (block.block1.proj, block.block2.proj):
        n, _, dim = conv.weights.shape[:3]
        sizes += [dim, n]
    return sizes


class RMSNorm(nn.Module):
    """``normalize(x, dim=1) · g · √C`` (the release's ``eps`` attribute is never used)."""

    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.g * (x.shape[1] ** 0.5)


class Attend(nn.Module):
    """Holds the release's ``scale`` parameter, which its forward never reads (kept for strict loading)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(1))


class Attention(nn.Module):
    """Full multi-head self-attention over all positions (default 1/√dim_head scaling)."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.norm = RMSNorm(dim)
        self.attend = Attend()
        self.to_qkv = nn.Conv2d(dim, 3 * heads * dim_head, 1, bias=False)
        self.to_out = nn.Conv2d(heads * dim_head, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        # Channels are [q | k | v], each heads × dim_head; positions become the sequence.
        qkv = self.to_qkv(self.norm(x)).view(b, 3, self.heads, -1, h * w).transpose(-1, -2)
        out = F.scaled_dot_product_attention(qkv[:, 0].contiguous(), qkv[:, 1].contiguous(), qkv[:, 2].contiguous())
        return self.to_out(out.transpose(-1, -2).reshape(b, -1, h, w))


class Transformer(nn.Module):
    """``depth`` × [x + attention(x), x + feed-forward(x)]; keys ``layers.l.{0,1}``."""

    def __init__(self, dim: int, heads: int, dim_head: int, depth: int, ff_mult: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([
                Attention(dim, heads, dim_head),
                nn.Sequential(RMSNorm(dim), nn.Conv2d(dim, dim * ff_mult, 1), nn.GELU(),
                              nn.Conv2d(dim * ff_mult, dim, 1)),
            ])
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attention, feed_forward in self.layers:
            x = attention(x) + x
            x = feed_forward(x) + x
        return x


class NearestNeighborhoodUpsample(nn.Module):
    """×2 nearest, then a 3×3 conv (key ``conv``)."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UnetUpsampler(nn.Module):
    """The generator, built from the release's ``config.json`` keys (see ``config.RELEASE_CONFIG``).

    ``forward(lowres, *, seed=None, generator=None, noise=None, style_noise=None, styles=None)``:
    ``lowres`` is ``B×3×h×w`` in [0, 1]; returns ``B×3×4h×4w``, unbounded (clamp for an image).
    """

    def __init__(
        self,
        dim: int = 64,
        *,
        image_size: int = 256,
        input_image_size: int = 64,
        init_dim: int | None = None,
        out_dim: int | None = None,
        style_network: dict | None = None,
        up_dim_mults: tuple = (1, 2, 4, 8, 16),
        down_dim_mults: tuple = (4, 8, 16),
        channels: int = 3,
        resnet_block_groups: int = 8,
        full_attn: tuple = (False, False, False, True, True),
        flash_attn: bool = True,
        self_attn_dim_head: int = 64,
        self_attn_heads: int = 8,
        attn_depths: tuple = (2, 2, 2, 2, 4),
        mid_attn_depth: int = 4,
        num_conv_kernels: int = 4,
        resize_mode: str = "bilinear",
        unconditional: bool = True,
        skip_connect_scale: float | None = None,
        block_count: int = 6,
    ):
        # resnet_block_groups, flash_attn, resize_mode, out_dim and unconditional are accepted
        # because released configs may carry them; none changes the network.
        super().__init__()
        style = dict(style_network or {"dim_in": 128, "dim_out": 512, "depth": 4})
        if style.pop("dim_text_latent", 0):
            raise ValueError("text-conditioned AuraSR (style_network.dim_text_latent > 0) is not supported")
        self.style_network = StyleNetwork(**style)
        self.image_size, self.input_image_size, self.channels = image_size, input_image_size, channels
        self.skip_connect_scale = 2**-0.5 if skip_connect_scale is None else float(skip_connect_scale)
        self.noise_scale = INPUT_NOISE_SCALE
        init_dim = dim if init_dim is None else init_dim
        up_dims = [init_dim, *(dim * m for m in up_dim_mults)]
        down_dims = [up_dims[len(up_dim_mults) - len(down_dim_mults)], *(dim * m for m in down_dim_mults)]
        n_down = len(down_dim_mults)

        def attention(width: int, depth: int) -> Transformer:
            return Transformer(width, self_attn_heads, self_attn_dim_head, depth)

        def blocks(width_in: int, width_out: int) -> nn.ModuleList:
            return nn.ModuleList(ResnetBlock(width_in, width_out, num_conv_kernels) for _ in range(block_count))

        self.init_conv = nn.Conv2d(channels, down_dims[0], 7, padding=3)
        # Stage i: [blocks, [attention or None, stride-2 conv]]; every block's output is a skip.
        self.downs = nn.ModuleList(
            nn.ModuleList([
                blocks(d_in, d_in),
                nn.ModuleList([attention(d_in, depth) if full else None,
                               nn.Conv2d(d_in, d_out, 3, stride=2, padding=1)]),
            ])
            for (d_in, d_out), full, depth in zip(zip(down_dims[:-1], down_dims[1:]), full_attn, attn_depths)
        )
        mid_dim = up_dims[-1]
        self.mid_block1 = ResnetBlock(mid_dim, mid_dim, num_conv_kernels)
        self.mid_attn = attention(mid_dim, mid_attn_depth)
        self.mid_block2 = ResnetBlock(mid_dim, mid_dim, num_conv_kernels)
        # Up stage j (coarsest first): [blocks, [×2 upsample, attention or None]]; the first
        # n_down stages concatenate the skips, so their blocks read twice the width.
        up_pairs = list(zip(up_dims[:-1], up_dims[1:]))[::-1]
        self.ups = nn.ModuleList(
            nn.ModuleList([
                blocks(u_in * 2 if j < n_down else u_in, u_in),
                nn.ModuleList([NearestNeighborhoodUpsample(mid_dim if j == 0 else u_out, u_in),
                               attention(u_in, depth) if full else None]),
            ])
            for j, ((u_in, u_out), full, depth) in enumerate(zip(up_pairs, full_attn[::-1], attn_depths[::-1]))
        )
        self.final_res_block = ResnetBlock(dim, dim, num_conv_kernels)
        self.final_to_rgb = nn.Conv2d(dim, channels, 1)
        ordered = [*(b for stage in self.downs for b in stage[0]), self.mid_block1, self.mid_block2,
                   *(b for stage in self.ups for b in stage[0]), self.final_res_block]
        total = sum(sum(modulation_sizes(b)) for b in ordered)
        self.style_to_conv_modulations = nn.Linear(self.style_network.dim_out, total)
        self.gradient_checkpointing = False
        """Training only: recompute each block and attention stage in the backward pass (same outputs, less memory)."""

    def forward(
        self,
        lowres: torch.Tensor,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        style_noise: torch.Tensor | None = None,
        styles: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``lowres`` ``B×3×h×w`` in [0, 1] → ``B×3×4h×4w``, unbounded.

        Noise, in order of precedence:

        * ``noise`` (input noise, unscaled, shaped like ``lowres``) and ``style_noise`` (``B×128``
          or ``128``) given: used as they are, which reproduces the official forward exactly;
          ``styles`` (``B×512``) skips the mapping network altogether;
        * ``generator``: both drawn from it in the official order (input noise ``B×3×h×w``, then
          style ``B×128``), so a CPU generator seeded like torch's global one matches an official
          call after ``torch.manual_seed``;
        * ``seed`` (default 0): every item of the batch gets the noise of a one-item draw from
          ``torch.Generator().manual_seed(seed)``, so a window's result does not depend on the
          batch it ran in, and all windows of an image share one style.

        Noise is drawn in fp32 on the generator's device (CPU unless a device generator is
        given), then moved: results do not depend on where the network runs.
        """
        b, _, h, w = lowres.shape
        step = 2 ** len(self.downs)
        if h % step or w % step:
            raise ValueError(f"AuraSR windows must be multiples of {step} px, not {w}×{h}")
        style_dim = self.style_network.dim_in
        if generator is None and (noise is None or (styles is None and style_noise is None)):
            generator = torch.Generator().manual_seed(DEFAULT_SEED if seed is None else int(seed))
            per_batch = 1  # one draw, shared by the whole batch
        else:
            per_batch = b
        draw_on = generator.device if generator is not None else torch.device("cpu")
        if noise is None:
            noise = torch.randn((per_batch, *lowres.shape[1:]), generator=generator, device=draw_on)
        if styles is None and style_noise is None:
            style_noise = torch.randn((per_batch, style_dim), generator=generator, device=draw_on)
        x = (lowres + noise.to(lowres.device, lowres.dtype) * self.noise_scale).clamp(0, 1)
        if styles is None:
            style_noise = style_noise.to(lowres.device, torch.float32).reshape(-1, style_dim).expand(b, -1)
            styles = self.style_network(style_noise.to(self.style_to_conv_modulations.weight.dtype))
        styles = styles.to(self.style_to_conv_modulations.weight.dtype).expand(b, -1)
        mods = Modulations(self.style_to_conv_modulations(styles))
        # Training may recompute blocks in the backward pass instead of keeping their activations.
        saving = getattr(self, "gradient_checkpointing", False) and self.training and torch.is_grad_enabled()
        return unet(self, x, mods, saving)


def unet(net: nn.Module, x: torch.Tensor, mods: Modulations, saving: bool = False) -> torch.Tensor:
    """The U-Net of ``net`` (an :class:`UnetUpsampler`) on the noised input ``x``, given the style's modulations."""
    x = net.init_conv(x)
    skips = []
    for blocks, (attn, downsample) in net.downs:
        for block in blocks:
            x = run_block(block, x, mods, saving)
            skips.append(x)
        if attn is not None:
            x = run_attention(attn, x, saving)
        x = downsample(x)
    x = run_block(net.mid_block1, x, mods, saving)
    x = run_block(net.mid_block2, run_attention(net.mid_attn, x, saving), mods, saving)
    for blocks, (upsample, attn) in net.ups:
        x = upsample(x)
        for block in blocks:
            if skips:
                x = torch.cat((x, skips.pop() * net.skip_connect_scale), dim=1)
            x = run_block(block, x, mods, saving)
        if attn is not None:
            x = run_attention(attn, x, saving)
    return net.final_to_rgb(run_block(net.final_res_block, x, mods, saving))


def run_block(block: ResnetBlock, x: torch.Tensor, mods: Modulations, checkpointed: bool) -> torch.Tensor:
    """``block(x, mods)``; checkpointed, its slice of the style is taken first so a recompute reads the same one."""
    if not checkpointed:
        return block(x, mods)
    piece = mods.take(sum(modulation_sizes(block)))
    return checkpoint(_block_with, block, x, piece, use_reentrant=False)


def _block_with(block: ResnetBlock, x: torch.Tensor, piece: torch.Tensor) -> torch.Tensor:
    return block(x, Modulations(piece))


def run_attention(attn: nn.Module, x: torch.Tensor, checkpointed: bool) -> torch.Tensor:
    return checkpoint(attn, x, use_reentrant=False) if checkpointed else attn(x)
