"""The one place images change form: PIL / numpy / tensors / pipeline outputs ↔ the core's tensors.

The core works on ``1×3×H×W`` float32 RGB in [0, 1] plus an optional ``1×1×H×W`` alpha, one
image at a time, so a list may mix sizes and modes. :func:`to_core` records how each input looked
(:class:`ImageSpec`) so :func:`from_core` gives back the same kind, layout, mode and bit depth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ...gan_models.errors import ImageInputError, InvalidOptionError

log = logging.getLogger(__name__)
MAX_PIXELS = 1 << 30  # one gigapixel of input: beyond this a typo in a size is more likely than a real image
OUTPUT_TYPES = ("pil", "np", "pt")


@dataclass(frozen=True)
class ImageSpec:
    """How one input image looked."""

    channels: int  # 1 (grey), 2 (grey + alpha), 3 or 4
    dtype: object = None  # numpy or torch dtype of the input
    pil_mode: str | None = None
    pil_float_peak: float = 1.0  # PIL mode F holds 0–255 floats
    device: object = None
    ndim: int = 3  # numpy: a 2-D grey array comes back 2-D


@dataclass
class CoreImage:
    rgb: torch.Tensor  # 1×3×H×W float32
    alpha: torch.Tensor | None  # 1×1×H×W float32, or None
    spec: ImageSpec


@dataclass
class CoreBatch:
    items: list[CoreImage]
    kind: str  # "pil", "numpy", "tensor"
    container: str  # "single", "list" or "stacked" (a leading batch axis)


def to_core(image) -> CoreBatch:
    """Split a PIL image (or list), numpy array (or list), or tensor into core images."""
    if isinstance(image, Image.Image):
        return CoreBatch([_from_pil(image)], "pil", "single")
    if isinstance(image, (list, tuple)):
        if not image:
            raise ImageInputError("empty image list: nothing to process.")
        if all(isinstance(i, Image.Image) for i in image):
            return CoreBatch([_from_pil(i) for i in image], "pil", "list")
        if all(isinstance(i, np.ndarray) for i in image):
            return CoreBatch([_from_numpy_image(np.asarray(i)) for i in image], "numpy", "list")
        if all(isinstance(i, torch.Tensor) for i in image):
            return CoreBatch([_from_tensor_image(i) for i in image], "tensor", "list")
        raise ImageInputError(f"a list of {type(image[0]).__name__}: pass PIL images, numpy arrays or tensors.")
    if isinstance(image, np.ndarray):
        if image.ndim == 4:
            return CoreBatch([_from_numpy_image(a, ndim=3) for a in image], "numpy", "stacked")
        return CoreBatch([_from_numpy_image(image)], "numpy", "single")
    if isinstance(image, torch.Tensor):
        if image.ndim == 4:
            return CoreBatch([_from_tensor_image(t) for t in image], "tensor", "stacked")
        return CoreBatch([_from_tensor_image(image)], "tensor", "single")
    raise ImageInputError(f"unsupported image type {type(image).__name__}: pass a PIL image, numpy array or tensor.")


def from_core(outputs: list[tuple[torch.Tensor, torch.Tensor | None]], batch: CoreBatch):
    """Results (``C×H×W`` rgb, ``1×H×W`` alpha or None) in the same kind, mode and depth as the inputs."""
    converted = [_give_back(rgb, alpha, item.spec, batch.kind) for (rgb, alpha), item in zip(outputs, batch.items)]
    if batch.container == "single":
        return converted[0]
    if batch.container == "list":
        return converted
    if batch.kind == "numpy":
        return converted[0][None] if len(converted) == 1 else np.stack(converted)
    return converted[0][None] if len(converted) == 1 else torch.stack(converted)


# --------------------------------------------------------------------------------- reading
def _check_size(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise ImageInputError(f"image of size {w}×{h}: nothing to process.")
    if h * w > MAX_PIXELS:
        raise ImageInputError(f"image of size {w}×{h} exceeds {MAX_PIXELS:,} pixels; split it first.")


def _split(chw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """C×H×W with C in 1..4 → 1×3×H×W RGB plus optional 1×1×H×W alpha."""
    channels = chw.shape[0]
    batch = chw[None]
    if channels in (1, 2):
        rgb, alpha = batch[:, :1].expand(-1, 3, -1, -1), batch[:, 1:2] if channels == 2 else None
    elif channels in (3, 4):
        rgb, alpha = batch[:, :3], batch[:, 3:4] if channels == 4 else None
    else:
        raise ImageInputError(f"images with {channels} channels are not supported: use grey, RGB or RGBA.")
    return rgb.contiguous(), None if alpha is None else alpha.contiguous()


PIL_CONVERSIONS = {"P": None, "PA": "RGBA", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "RGBX": "RGB", "RGBa": "RGBA",
                   "La": "LA", "HSV": "RGB", "LAB": "RGB"}
PIL_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")


def _from_pil(im: Image.Image) -> CoreImage:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in PIL_CONVERSIONS:
        im = im.convert(PIL_CONVERSIONS[mode])
    elif mode not in ("RGB", "RGBA", "L", "LA", "F", *PIL_SIXTEEN_BIT):
        raise ImageInputError(f"PIL mode {mode!r} is not supported: convert the image to RGB or RGBA first.")
    _check_size(im.height, im.width)
    arr = np.asarray(im)
    peak = 1.0
    if mode in PIL_SIXTEEN_BIT:
        scale = 65535.0
    elif mode == "F":
        # PIL's float images hold 0–255 like L; anything above 1 says so (a 0–1 float image stays as it is).
        peak = 255.0 if float(np.nanmax(arr)) > 1.0 else 1.0
        scale = peak
        _check_finite(torch.from_numpy(np.array(arr)))  # PIL's buffer is read-only; torch warns on it
    else:
        scale = 255.0
    data = torch.from_numpy((arr.astype(np.float32) / scale).reshape(arr.shape[0], arr.shape[1], -1))
    rgb, alpha = _split(data.permute(2, 0, 1))
    channels = data.shape[-1]
    out_mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    if mode in PIL_SIXTEEN_BIT:
        out_mode = "I;16"
    elif mode == "F":
        out_mode = "F"
    return CoreImage(rgb, alpha, ImageSpec(channels, pil_mode=out_mode, pil_float_peak=peak))


def _from_numpy_image(arr: np.ndarray, ndim: int | None = None) -> CoreImage:
    ndim = arr.ndim if ndim is None else ndim
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ImageInputError(f"numpy image of shape {arr.shape}: expected H×W, H×W×C or B×H×W×C.")
    if arr.shape[-1] not in (1, 2, 3, 4):
        raise ImageInputError(f"numpy image of shape {arr.shape}: the last axis must be 1–4 channels (H×W×C).")
    _check_size(arr.shape[0], arr.shape[1])
    if arr.dtype == np.uint8:
        data = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float32) / 65535.0
    elif arr.dtype in (np.float16, np.float32, np.float64):
        data = arr.astype(np.float32)
        _check_finite(torch.from_numpy(data))
    else:
        raise ImageInputError(f"numpy image of dtype {arr.dtype}: use uint8, uint16 or float in [0, 1].")
    rgb, alpha = _split(torch.from_numpy(np.ascontiguousarray(data)).permute(2, 0, 1))
    return CoreImage(rgb, alpha, ImageSpec(arr.shape[-1], dtype=arr.dtype, ndim=ndim))


def _from_tensor_image(t: torch.Tensor) -> CoreImage:
    if t.ndim != 3 or t.shape[0] not in (1, 2, 3, 4):
        raise ImageInputError(f"tensor of shape {tuple(t.shape)}: expected C×H×W or B×C×H×W with 1–4 channels.")
    _check_size(t.shape[1], t.shape[2])
    if t.dtype == torch.uint8:
        data = t.float() / 255.0
    elif t.is_floating_point():
        data = t.detach().float()
        _check_finite(data)
    else:
        raise ImageInputError(f"tensor of dtype {t.dtype}: use a float tensor in [0, 1] or uint8.")
    rgb, alpha = _split(data.cpu())
    return CoreImage(rgb, alpha, ImageSpec(t.shape[0], dtype=t.dtype, device=t.device))


def _check_finite(t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise ImageInputError("the image holds NaN or infinite values.")


# --------------------------------------------------------------------------------- giving back
def _give_back(rgb: torch.Tensor, alpha: torch.Tensor | None, spec: ImageSpec, kind: str):
    rgb = rgb.clamp_(0, 1)  # in place: the full-size output is the largest thing we hold
    if spec.channels in (1, 2):
        rgb = to_grey(rgb)
    chw = rgb if alpha is None else torch.cat([rgb, alpha.clamp(0, 1).to(rgb)], 0)
    if kind == "tensor":
        out = (chw * 255).round().to(torch.uint8) if spec.dtype == torch.uint8 else chw.to(spec.dtype)
        return out.to(spec.device)
    hwc = chw.permute(1, 2, 0).numpy()
    if kind == "numpy":
        arr = quantize(hwc, spec.dtype)
        return arr[..., 0] if spec.ndim == 2 else arr
    return _to_pil(hwc, spec)


def to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of ``…×3×H×W``, as PIL's convert("L") computes it."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb * weights).sum(-3, keepdim=True)


def quantize(arr: np.ndarray, dtype, rows: int = 256) -> np.ndarray:
    """Float [0, 1] → ``dtype``, a band of rows at a time so no full-size float temporary is made."""
    peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))
    if peak is None:
        return arr.astype(dtype)
    out = np.empty(arr.shape, dtype)
    for start in range(0, arr.shape[-3], rows):
        band = arr[..., start: start + rows, :, :]
        out[..., start: start + rows, :, :] = np.rint(band * peak)
    return out


def _to_pil(arr: np.ndarray, spec: ImageSpec) -> Image.Image:
    if spec.pil_mode == "I;16":
        return Image.fromarray(quantize(arr[..., :1], np.uint16)[..., 0])
    if spec.pil_mode == "F":
        return Image.fromarray((arr[..., 0] * spec.pil_float_peak).astype(np.float32), "F")
    data = quantize(arr, np.uint8)
    return Image.fromarray(data[..., 0] if data.shape[-1] == 1 else data, spec.pil_mode)


# --------------------------------------------------------------------------------- pipeline outputs
def to_output_type(images, output_type: str):
    """PIL list / numpy ``B×H×W×C`` / tensor ``B×C×H×W`` → another of those, keeping alpha and 16-bit
    precision (``np`` and ``pt`` are float32 in [0, 1], as diffusers returns them)."""
    if output_type not in OUTPUT_TYPES:
        raise InvalidOptionError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, not {output_type!r}")
    batch = to_core(images)
    floats = []
    for item in batch.items:
        rgb = to_grey(item.rgb[0]) if item.spec.channels in (1, 2) else item.rgb[0]
        floats.append(rgb if item.alpha is None else torch.cat([rgb, item.alpha[0]], 0))
    if output_type == "pil":
        specs = [ImageSpec(f.shape[0], pil_mode={1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[f.shape[0]]) for f in floats]
        return [_to_pil(f.clamp(0, 1).permute(1, 2, 0).numpy(), s) for f, s in zip(floats, specs)]
    if len({tuple(f.shape) for f in floats}) != 1:
        raise ImageInputError(f"output_type {output_type!r} stacks the images, but they differ in size or channels; "
                              "use output_type='pil' for a list.")
    stacked = torch.stack(floats)
    return stacked.permute(0, 2, 3, 1).numpy() if output_type == "np" else stacked.contiguous()
