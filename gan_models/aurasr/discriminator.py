"""A discriminator for AuraSR fine-tuning, after GigaGAN's (Kang et al. 2023) upsampler design.

fal released AuraSR without its discriminator, so training starts one fresh. This is our own
network built from the design that GigaGAN and lucidrains/gigagan-pytorch describe:

* a ResNet-style stack that halves the resolution per stage (``image_size`` → 4 px) and ends in
  one logit per image;
* **multi-scale inputs**: at chosen resolutions the image, resized there, enters through its own
  ``from_rgb`` conv; those features are added to the stem's *and* judged on their own (stacked
  along the batch), which makes the judgement hold at every scale;
* **multi-scale outputs**: small predictors give patch logits at intermediate resolutions;
* skip-layer excitation (channel gates from a stage to one ``excite_skip`` stages deeper),
  self-attention at the coarse stages, and an auxiliary decoder that reconstructs the real image
  from coarse features (from lightweight-gan: it keeps the features informative).

AuraSR emits only the final image, so the inputs at other scales are resized from it, and from the
real image the same way. Attention is written out (no fused kernel) so that the gradient penalty
can differentiate through it twice. Parameter names are ours; a saved file loads back through the
registry (``AURASR_DISCRIMINATOR`` in ``registration.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn



def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


class ChannelRMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * self.g * (x.shape[1] ** 0.5)


class SelfAttention(nn.Module):
    """Pre-norm multi-head attention over all positions, then a pre-norm feed-forward; both residual."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int = 4):
        super().__init__()
        self.heads = heads
        # Saved with the weights: the head split is not visible in the tensor shapes.
        self.register_buffer("num_heads", torch.tensor(heads))
        self.norm = ChannelRMSNorm(dim)
        self.to_qkv = nn.Conv2d(dim, 3 * heads * dim_head, 1, bias=False)
        self.to_out = nn.Conv2d(heads * dim_head, dim, 1)
        self.ff = nn.Sequential(ChannelRMSNorm(dim), nn.Conv2d(dim, dim * ff_mult, 1), nn.GELU(),
                                nn.Conv2d(dim * ff_mult, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = self.to_qkv(self.norm(x)).view(b, 3, self.heads, -1, h * w).unbind(1)
        scores = torch.einsum("bhdi,bhdj->bhij", q, k) * q.shape[2] ** -0.5
        out = torch.einsum("bhij,bhdj->bhdi", scores.softmax(dim=-1), v)
        x = x + self.to_out(out.reshape(b, -1, h, w))
        return x + self.ff(x)


class SqueezeExcite(nn.Module):
    """Channel gates in (0, 1) for a deeper stage, from this stage's input pooled to 4×4."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        hidden = max(dim // 4, 32)
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(dim, hidden, 4), _leaky(),
                                 nn.Conv2d(hidden, dim_out, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Predictor(nn.Module):
    """Patch logits from a stage's features: residual conv pairs, then a 1×1 to one channel."""

    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.shortcut = nn.Conv2d(dim, dim, 1)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), _leaky(), nn.Conv2d(dim, dim, 3, padding=1), _leaky())
            for _ in range(depth))
        self.to_logits = nn.Conv2d(dim, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        for layer in self.layers:
            x = (x + layer(x)) * 2 ** -0.5
        return self.to_logits(x + shortcut)


class ReconstructionDecoder(nn.Module):
    """Coarse features → the real image at ``2 ** len(widths)`` × their side (nearest ×2, 3×3 conv)."""

    def __init__(self, dim: int, widths: list[int], channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(dim, width, 3, padding=1), _leaky()]
            dim = width
        layers.append(nn.Conv2d(dim, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        recon = self.net(features)
        target = F.interpolate(target, size=recon.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        return F.mse_loss(recon.float(), target.float())


class Stage(nn.Module):
    """One resolution: [gate] [+ image at this scale] → conv pair (+ strided 1×1 shortcut) [→ attention]
    [→ patch logits] → ×½ (pixel-unshuffle + 1×1) [→ reconstruction]."""

    def __init__(self, dim_in: int, dim_out: int, *, channels: int, downsample: bool, rgb_input: bool,
                 attention: tuple[int, int] | None, predictor_depth: int, excite_out: int | None,
                 recon_widths: list[int] | None):
        super().__init__()
        self.excite = SqueezeExcite(dim_in, excite_out) if excite_out else None
        self.from_rgb = nn.Conv2d(channels, dim_in, 7, padding=3) if rgb_input else None
        self.block = nn.Sequential(nn.Conv2d(dim_in, dim_out, 3, padding=1), _leaky(),
                                   nn.Conv2d(dim_out, dim_out, 3, padding=1), _leaky())
        self.shortcut = nn.Conv2d(dim_in, dim_out, 1, stride=2 if downsample else 1)
        self.attention = SelfAttention(dim_out, *attention) if attention else None
        self.predictor = Predictor(dim_out, predictor_depth) if predictor_depth else None
        self.downsample = nn.Conv2d(dim_out * 4, dim_out, 1) if downsample else None
        self.recon = ReconstructionDecoder(dim_out, recon_widths, channels) if recon_widths else None


@dataclass
class Judgement:
    logits: torch.Tensor
    """``S×B``: one logit per image and per scale stack (the plain image first)."""
    multiscale: list[torch.Tensor]
    """``(s·B)×1×h×w`` patch logits per predictor, over the stacks that reached its stage."""
    reconstruction: torch.Tensor | None
    """MSE of the auxiliary decoder against the input (asked for on real images only)."""


class GigaGANDiscriminator(nn.Module):
    """Scores ``B×C×image_size²`` images in [0, 1] (higher = more real); see the module's notes.

    Widths: stage ``i`` (at ``image_size / 2**i``) writes ``min(dim_capacity · 2**(i+1), dim_max)``.
    ``multiscale_inputs``: resolutions (below ``image_size``) where a resized copy enters;
    ``multiscale_output_skip``: predictors sit that many stages after each such input;
    ``excite_skip``: 0 turns the gates off; ``recon_resolution``: 0 turns the decoder off.
    """

    def __init__(self, image_size: int = 256, *, channels: int = 3, dim_capacity: int = 16, dim_max: int = 512,
                 multiscale_inputs: tuple[int, ...] = (128,), multiscale_output_skip: int = 1,
                 attn_resolutions: tuple[int, ...] = (32, 16), attn_heads: int = 8, attn_dim_head: int = 64,
                 predictor_depth: int = 2, excite_skip: int = 4, recon_resolution: int = 8, recon_upsamples: int = 3):
        super().__init__()
        if image_size < 8 or image_size & (image_size - 1):
            raise ValueError(f"image_size must be a power of two of at least 8, not {image_size}")
        n = int(math.log2(image_size)) - 1
        resolutions = [image_size >> i for i in range(n)]
        bad = [r for r in multiscale_inputs if r not in resolutions[1:]]
        if bad:
            raise ValueError(f"multiscale_inputs {bad} are not stage resolutions below {image_size} "
                             f"({', '.join(map(str, resolutions[1:]))})")
        outputs = {r >> multiscale_output_skip for r in multiscale_inputs}
        if any(r < 4 for r in outputs):
            raise ValueError(f"multiscale_output_skip {multiscale_output_skip} puts a predictor below 4 px")
        self.image_size, self.channels, self.excite_skip = image_size, channels, excite_skip
        self.multiscale_inputs = tuple(sorted(multiscale_inputs, reverse=True))
        dims = [channels, *(min(dim_capacity * 2 ** (i + 1), dim_max) for i in range(n))]
        self.stages = nn.ModuleList()
        for i, r in enumerate(resolutions):
            deeper = i + excite_skip
            excite_out = dims[deeper] if excite_skip and 0 < i and deeper < n else None
            recon = [dims[j] for j in range(i, i - recon_upsamples, -1) if j >= 1] if r == recon_resolution else None
            self.stages.append(Stage(
                dims[i], dims[i + 1], channels=channels, downsample=i < n - 1, rgb_input=r in multiscale_inputs,
                attention=(attn_heads, attn_dim_head) if r in attn_resolutions else None,
                predictor_depth=predictor_depth if r in outputs else 0, excite_out=excite_out,
                recon_widths=recon or None))
        self.head_conv = nn.Conv2d(dims[-1], dims[-1], 3, padding=1)
        self.head_linear = nn.Linear(dims[-1] * 16, 1)
        init_discriminator(self)

    def forward(self, images: torch.Tensor, *, multiscale: bool = True, reconstruct: bool = False) -> Judgement:
        b, _, h, w = images.shape
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(f"this discriminator judges {self.image_size}² images, not {w}×{h}")
        scaled = {r: F.interpolate(images, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
                  for r in self.multiscale_inputs}
        gates: dict[int, torch.Tensor] = {}
        outputs, recon = [], None
        x = images
        for i, stage in enumerate(self.stages):
            if stage.excite is not None:
                gates[i + self.excite_skip] = stage.excite(x)
            if i in gates:
                gate = gates.pop(i)
                x = x * gate.repeat(x.shape[0] // gate.shape[0], 1, 1, 1)
            judged = x.shape[0]  # the predictor sees the stacks that reached this stage, not the new one
            if stage.from_rgb is not None:
                features = stage.from_rgb(scaled[x.shape[-1]])
                features = features.repeat(x.shape[0] // b, 1, 1, 1)
                x = torch.cat((x + features, features), dim=0)
            shortcut = stage.shortcut(x)
            x = stage.block(x)
            if stage.attention is not None:
                x = stage.attention(x)
            if stage.predictor is not None and multiscale:
                outputs.append(stage.predictor(x[:judged]))
            if stage.downsample is not None:
                x = stage.downsample(F.pixel_unshuffle(x, 2))
            x = (x + shortcut) * 2 ** -0.5
            if stage.recon is not None and reconstruct:
                recon = stage.recon(x[:b], images)
        logits = self.head_linear(self.head_conv(x).flatten(1)).view(-1, b)
        return Judgement(logits, outputs, recon)


def init_discriminator(module: nn.Module) -> None:
    """Kaiming-normal (fan-in, leaky ReLU) convolutions and linears, as GigaGAN initialises."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in", nonlinearity="leaky_relu")
