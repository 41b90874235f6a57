"""Conversions between the image kinds users hand us and the core's tensors.

The core works on ``B×3×H×W`` float32 RGB in [0, 1] plus an optional ``B×1×H×W`` alpha.
:func:`to_core` records how the input looked (:class:`ImageSpec`) so :func:`from_core` can give
back the same kind, layout, mode and bit depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .errors import ImageInputError

MAX_PIXELS = 1 << 30  # one gigapixel of input: beyond this a typo in a size is more likely than a real image


@dataclass(frozen=True)
class ImageSpec:
    kind: str  # "pil", "numpy", "tensor"
    batched: bool  # a list / a leading batch axis, as opposed to one image
    channels: int  # 1 (grey), 2 (grey + alpha), 3 or 4
    dtype: object = None  # numpy or torch dtype of the input
    channels_last: bool = True  # numpy HWC vs tensor CHW
    pil_mode: str | None = None
    device: object = None
    ndim: int = 3  # numpy: a 2-D grey array comes back 2-D


def to_core(image) -> tuple[torch.Tensor, torch.Tensor | None, ImageSpec]:
    """(rgb, alpha or None, spec) for a PIL image (or list), numpy array or tensor."""
    if isinstance(image, Image.Image):
        return _from_pil([image], batched=False)
    if isinstance(image, (list, tuple)):
        if not image:
            raise ImageInputError("empty image list: nothing to process.")
        if all(isinstance(i, Image.Image) for i in image):
            return _from_pil(list(image), batched=True)
        if all(isinstance(i, np.ndarray) for i in image):
            return to_core(_stack([np.asarray(i) for i in image]))
        raise ImageInputError(f"a list of {type(image[0]).__name__}: pass PIL images, numpy arrays or one tensor.")
    if isinstance(image, np.ndarray):
        return _from_numpy(image)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image)
    raise ImageInputError(f"unsupported image type {type(image).__name__}: pass a PIL image, numpy array or tensor.")


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    if len({a.shape for a in arrays}) != 1:
        raise ImageInputError("images in one batch must share a size; process them one at a time.")
    return np.stack(arrays)


def _check_size(h: int, w: int) -> None:
    if h < 1 or w < 1:
        raise ImageInputError(f"image of size {w}×{h}: nothing to process.")
    if h * w > MAX_PIXELS:
        raise ImageInputError(f"image of size {w}×{h} exceeds {MAX_PIXELS:,} pixels; split it first.")


def _split(batch: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """B×C×H×W with C in 1..4 → RGB plus optional alpha."""
    if channels in (1, 2):
        rgb, alpha = batch[:, :1].expand(-1, 3, -1, -1), batch[:, 1:2] if channels == 2 else None
    elif channels in (3, 4):
        rgb, alpha = batch[:, :3], batch[:, 3:4] if channels == 4 else None
    else:
        raise ImageInputError(f"images with {channels} channels are not supported: use grey, RGB or RGBA.")
    return rgb.contiguous(), alpha


PIL_MODES = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "I;16": 1, "I": 1, "P": None, "PA": 4, "1": 1, "CMYK": 3,
             "YCbCr": 3, "RGBX": 3, "RGBa": 4, "La": 2, "I;16B": 1, "I;16L": 1, "F": 1}


def _from_pil(images: list[Image.Image], batched: bool):
    arrays, mode = [], images[0].mode
    for im in images:
        if im.mode not in PIL_MODES:
            raise ImageInputError(f"PIL mode {im.mode!r} is not supported: convert the image to RGB or RGBA first.")
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("CMYK", "YCbCr", "RGBX", "1", "PA", "RGBa", "La"):
            im = im.convert({"PA": "RGBA", "RGBa": "RGBA", "La": "LA"}.get(im.mode, "RGB"))
        _check_size(im.height, im.width)
        arr = np.asarray(im)
        scale = 65535.0 if im.mode.startswith("I") else (1.0 if im.mode == "F" else 255.0)
        arrays.append(arr.astype(np.float32) / scale)
    stacked = _stack([a if a.ndim == 3 else a[..., None] for a in arrays])
    batch = torch.from_numpy(stacked).permute(0, 3, 1, 2)
    channels = batch.shape[1]
    rgb, alpha = _split(batch, channels)
    out_mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    if mode.startswith("I"):
        out_mode = "I;16"
    return rgb, alpha, ImageSpec("pil", batched, channels, pil_mode=out_mode)


def _from_numpy(arr: np.ndarray):
    ndim = arr.ndim
    if arr.ndim == 2:
        arr, batched = arr[None, :, :, None], False
    elif arr.ndim == 3:
        arr, batched = arr[None], False
    elif arr.ndim == 4:
        batched = True
    else:
        raise ImageInputError(f"numpy image of shape {arr.shape}: expected H×W, H×W×C or B×H×W×C.")
    if arr.shape[-1] not in (1, 2, 3, 4):
        raise ImageInputError(f"numpy image of shape {arr.shape}: the last axis must be 1–4 channels (H×W×C).")
    _check_size(arr.shape[1], arr.shape[2])
    if arr.dtype == np.uint8:
        data = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float32) / 65535.0
    elif arr.dtype in (np.float16, np.float32, np.float64):
        data = arr.astype(np.float32)
        _check_finite(torch.from_numpy(data))
    else:
        raise ImageInputError(f"numpy image of dtype {arr.dtype}: use uint8, uint16 or float in [0, 1].")
    batch = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2)
    rgb, alpha = _split(batch, arr.shape[-1])
    return rgb, alpha, ImageSpec("numpy", batched, arr.shape[-1], dtype=arr.dtype, ndim=ndim)


def _from_tensor(t: torch.Tensor):
    batched = t.ndim == 4
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] not in (1, 2, 3, 4):
        raise ImageInputError(f"tensor of shape {tuple(t.shape)}: expected C×H×W or B×C×H×W with 1–4 channels.")
    _check_size(t.shape[2], t.shape[3])
    if t.dtype == torch.uint8:
        data = t.float() / 255.0
    elif t.is_floating_point():
        data = t.detach().float()
        _check_finite(data)
    else:
        raise ImageInputError(f"tensor of dtype {t.dtype}: use a float tensor in [0, 1] or uint8.")
    rgb, alpha = _split(data.cpu(), t.shape[1])
    return rgb, alpha, ImageSpec("tensor", batched, t.shape[1], dtype=t.dtype, channels_last=False, device=t.device)


def _check_finite(t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        raise ImageInputError("the image holds NaN or infinite values.")


def from_core(rgb: torch.Tensor, alpha: torch.Tensor | None, spec: ImageSpec):
    """The result in the same kind, layout and bit depth as the input described by ``spec``."""
    rgb = rgb.clamp_(0, 1)  # in place: the full-size output is the largest thing we hold
    if spec.channels in (1, 2):
        # Back to grey with Rec. 601 luma, as PIL's convert("L") does.
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        rgb = (rgb * weights).sum(1, keepdim=True)
    batch = rgb if alpha is None else torch.cat([rgb, alpha.clamp(0, 1).to(rgb)], 1)
    if spec.kind == "tensor":
        out = (batch * 255).round().to(torch.uint8) if spec.dtype == torch.uint8 else batch.to(spec.dtype)
        out = out.to(spec.device)
        return out if spec.batched else out[0]
    arr = batch.permute(0, 2, 3, 1).cpu().numpy()
    if spec.kind == "numpy":
        arr = _quantize(arr, spec.dtype)
        if not spec.batched:
            arr = arr[0, ..., 0] if spec.ndim == 2 else arr[0]
        return arr
    images = [_to_pil(a, spec.pil_mode) for a in arr]
    return images if spec.batched else images[0]


def _quantize(arr: np.ndarray, dtype, rows: int = 256) -> np.ndarray:
    """Float [0, 1] → ``dtype``, a band of rows at a time so no full-size float temporary is made."""
    peak = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype))
    if peak is None:
        return arr.astype(dtype)
    out = np.empty(arr.shape, dtype)
    for start in range(0, arr.shape[-3], rows):
        band = arr[..., start: start + rows, :, :]
        out[..., start: start + rows, :, :] = np.rint(band * peak)
    return out


def _to_pil(arr: np.ndarray, mode: str) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(_quantize(arr[..., :1], np.uint16)[..., 0])
    data = _quantize(arr, np.uint8)
    return Image.fromarray(data[..., 0] if data.shape[-1] == 1 else data, mode)
