"""Reading and writing image files with their bit depth, alpha and colour profile intact.

Pillow reads 16-bit colour PNG/TIFF as 8-bit without a word, so those go through OpenCV
(the optional ``image16`` extra); everything else through Pillow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ...gan_models.atomic import atomic_write
from ...gan_models.errors import ImageInputError

log = logging.getLogger(__name__)
READABLE = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF"}
SIXTEEN_BIT_FORMATS = {".png", ".tif", ".tiff"}


@dataclass
class LoadedImage:
    pixels: np.ndarray  # H×W or H×W×C, uint8 or uint16, RGB(A) order
    info: dict = field(default_factory=dict)  # icc_profile, carried to the output


def read_image(path: str | Path) -> LoadedImage:
    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"{path}: no such file.")
    if _is_16bit_colour(path):
        return LoadedImage(_read_with_opencv(path))
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            info = {k: im.info[k] for k in ("icc_profile",) if k in im.info}
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return LoadedImage(np.asarray(im).astype(np.uint16), info)
            if im.mode not in ("RGB", "RGBA", "L", "LA"):
                im = im.convert("RGBA" if im.mode in ("P", "PA") and _has_alpha(im) else "RGB")
            return LoadedImage(np.asarray(im).copy(), info)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"{path}: not a readable image ({err}).") from err


def _has_alpha(im: Image.Image) -> bool:
    return im.mode == "PA" or "transparency" in im.info


def _is_16bit_colour(path: Path) -> bool:
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(32)
    if suffix == ".png" and head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 26:
        bit_depth, colour_type = head[24], head[25]
        return bit_depth == 16 and colour_type in (2, 6)  # RGB / RGBA
    if suffix in (".tif", ".tiff"):
        try:
            with Image.open(path) as im:
                bits = im.tag_v2.get(258, (8,))
                return max(bits if isinstance(bits, tuple) else (bits,)) == 16 and len(im.getbands()) >= 3
        except (UnidentifiedImageError, OSError):
            return False
    return False


def _opencv():
    try:
        import cv2
    except ImportError as err:
        raise ImageInputError(
            "16-bit colour images need OpenCV: pip install 'ganpost[image16]' (opencv-python-headless)."
        ) from err
    return cv2


def _read_with_opencv(path: Path) -> np.ndarray:
    cv2 = _opencv()
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ImageInputError(f"{path}: not a readable image.")
    if data.ndim == 3:
        data = data[..., [2, 1, 0, 3][: data.shape[2]]]  # BGR(A) → RGB(A)
    return np.ascontiguousarray(data)


def write_image(path: str | Path, pixels: np.ndarray, info: dict | None = None, quality: int = 95) -> Path:
    """Write atomically; the format follows the extension. 16-bit data stays 16-bit where the format allows."""
    path = Path(path)
    fmt = WRITABLE.get(path.suffix.lower())
    if fmt is None:
        raise ImageInputError(f"{path}: unsupported output extension; use one of {', '.join(sorted(WRITABLE))}.")
    info = info or {}
    if pixels.dtype == np.uint16 and path.suffix.lower() not in SIXTEEN_BIT_FORMATS:
        log.warning("%s cannot hold 16-bit data; writing 8-bit", path.name)
        pixels = (pixels.astype(np.float32) / 257.0).round().astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4) and fmt in ("JPEG", "BMP"):
        log.warning("%s cannot hold alpha; dropping it", path.name)
        pixels = pixels[..., :-1]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.dtype == np.uint16 and pixels.ndim == 3:
        return atomic_write(path, lambda tmp: _write_with_opencv(tmp, path.suffix, pixels))

    def save(tmp: str) -> None:
        im = Image.fromarray(pixels)
        options = {"format": fmt}
        if "icc_profile" in info and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
            options["icc_profile"] = info["icc_profile"]
        if fmt in ("JPEG", "WEBP"):
            options["quality"] = quality
        if fmt == "PNG":
            options["compress_level"] = 4  # level 9 costs minutes on large upscales for ~5% smaller files
        im.save(tmp, **options)

    return atomic_write(path, save)


def _write_with_opencv(tmp: str, suffix: str, pixels: np.ndarray) -> None:
    cv2 = _opencv()
    bgr = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]] if pixels.shape[2] in (3, 4) else pixels
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise ImageInputError(f"OpenCV could not encode a {suffix} image.")
    Path(tmp).write_bytes(encoded.tobytes())
