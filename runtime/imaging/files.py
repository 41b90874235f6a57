"""Reading and writing image files with their bit depth, alpha, colour profile and metadata intact.

Pillow reads 16-bit colour PNG/TIFF as 8-bit without a word, so those pixels go through OpenCV
(the optional ``image16`` extra); everything else through Pillow. Metadata (ICC profile, PNG text
such as A1111's ``parameters`` or ComfyUI's ``prompt``/``workflow``, EXIF) is always read by
Pillow from the file's header and written back where the output format can hold it.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from ...gan_models.atomic import atomic_write
from ...gan_models.errors import ImageInputError, OutputError

log = logging.getLogger(__name__)
READABLE = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF"}
SIXTEEN_BIT_FORMATS = {".png", ".tif", ".tiff"}
EXIF_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}
ICC_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}
ORIENTATION = 0x0112
# A TIFF's first IFD is its EXIF to Pillow, but these tags describe the input's own pixel layout (size,
# strips, tiles, samples, compression); written into an output of another size they break the encoder.
# The ICC profile (34675) travels as ``icc_profile``.
TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284, 288, 289, 290, 291, 292, 293,
    317, 320, 322, 323, 324, 325, 330, 332, 338, 339, 340, 341, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521,
    530, 531, 532, 32995, 32996, 32997, 32998, 34675,
})
PIXEL_LIMIT_HINT = ("if the image is genuine, allow it with --max-pixels {pixels} on the command line "
                    "(or GANPOST_MAX_PIXELS={pixels}; from Python, set PIL.Image.MAX_IMAGE_PIXELS)")


@dataclass
class LoadedImage:
    pixels: np.ndarray  # H×W or H×W×C, uint8 or uint16, RGB(A) order
    info: dict = field(default_factory=dict)  # icc_profile, text, exif: carried to the output


def read_image(path: str | Path) -> LoadedImage:
    """Pixels in display orientation (EXIF applied), RGB(A) or grey, plus the metadata worth keeping.

    Images over Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, a guard against
    decompression bombs) are refused with their size; CMYK is converted to sRGB through its profile.
    """
    path = Path(path)
    _refuse_empty(path)
    try:
        with _open(path) as im:
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                log.warning("%s has %d frames; only the first is upscaled", path.name, frames)
            if _is_16bit_colour(path, im):
                orientation = im.getexif().get(ORIENTATION, 1)
                info = _metadata(im, "RGB")
                return LoadedImage(_orient(_read_with_opencv(path), orientation), info)
            upright = ImageOps.exif_transpose(im)
            if upright.mode in ("I;16", "I;16B", "I;16L", "I"):
                return LoadedImage(np.asarray(upright).astype(np.uint16), _metadata(im, "L"))
            pixels_image = _to_rgb_or_grey(upright, path)
            info = _metadata(im, pixels_image.mode)  # a CMYK profile is dropped: the pixels are sRGB now
            return LoadedImage(np.asarray(pixels_image).copy(), info)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"{path}: not a readable image ({err}).") from err


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    width: int  # upright: EXIF orientation applied
    height: int
    channels: int  # as read_image returns them: 1 (grey), 2, 3 or 4
    sample_bytes: int  # 1, or 2 for 16-bit

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(path: str | Path) -> ImageHeader:
    """Size, channels and depth of ``path`` from its header: Pillow's open is lazy, nothing is decoded.

    Refuses what :func:`read_image` would (not a file, empty, over the pixel limit, not an image), so a
    job that cannot fit in memory is refused before the seconds and gigabytes of decoding it.
    """
    path = Path(path)
    _refuse_empty(path)
    try:
        with _open(path) as im:
            width, height = im.size
            if _orientation(im) in (5, 6, 7, 8):  # a quarter turn: read_image swaps the sides
                width, height = height, width
            if _is_16bit_colour(path, im):
                return ImageHeader(width, height, len(im.getbands()), 2)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                return ImageHeader(width, height, 1, 2)
            return ImageHeader(width, height, _channels_read(im), 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"{path}: not a readable image ({err}).") from err


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation from the header. A PNG's ``getexif`` decodes the whole image to look for an
    eXIf chunk after the pixels, so for PNG only one before them (where writers put it) is read."""
    if im.format != "PNG":
        return im.getexif().get(ORIENTATION, 1)
    exif = Image.Exif()
    if im.info.get("exif"):
        exif.load(im.info["exif"])
    return exif.get(ORIENTATION, 1)


def _channels_read(im: Image.Image) -> int:
    """How many channels :func:`_to_rgb_or_grey` leaves ``im`` with."""
    if im.mode in ("L", "1"):
        return 1
    if im.mode == "LA":
        return 2
    return 4 if im.mode == "RGBA" or (im.mode in ("P", "PA", "RGBa", "La") and _has_alpha(im)) else 3


def _refuse_empty(path: Path) -> None:
    refuse_unreadable_file(path)
    if path.stat().st_size == 0:
        raise ImageInputError(f"{path}: empty file (0 bytes), not an image; an interrupted copy or download?")


def refuse_unreadable_file(path: Path) -> None:
    """Missing, or not a regular file: ``/dev/zero`` would be read forever, a FIFO would block."""
    if path.is_file():
        return
    if path.is_dir():
        raise ImageInputError(f"{path}: is a folder, not an image file.")
    if path.exists():
        raise ImageInputError(f"{path}: not a regular file (a device, pipe or socket); give an image file.")
    raise ImageInputError(f"{path}: no such file.")


def _open(path: Path) -> Image.Image:
    """``Image.open`` with Pillow's decompression-bomb guard turned into one clear error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with the size
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as err:
            found = re.search(r"\((\d+) pixels\)", str(err))
            raise _too_large(path, _png_size(path), int(found.group(1)) if found else None) from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit and im.width * im.height > limit:
        im.close()
        raise _too_large(path, im.size, im.width * im.height)
    return im


def _too_large(path: Path, size: tuple[int, int] | None, pixels: int | None) -> ImageInputError:
    if size:
        pixels = size[0] * size[1]
    dims = f"{size[0]}×{size[1]} = " if size else ""
    count = f"{dims}{pixels:,} pixels" if pixels else "an image"
    hint = PIXEL_LIMIT_HINT.format(pixels=pixels or "N")
    return ImageInputError(f"{path}: {count}, over the limit of {Image.MAX_IMAGE_PIXELS:,} that guards against "
                           f"decompression bombs (small files that expand to huge images); {hint}.")


def _png_size(path: Path) -> tuple[int, int] | None:
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _to_rgb_or_grey(im: Image.Image, path: Path) -> Image.Image:
    if im.mode in ("RGB", "RGBA", "L", "LA"):
        return im
    if im.mode == "CMYK":
        return _cmyk_to_srgb(im, path)
    if im.mode == "1":
        return im.convert("L")
    return im.convert("RGBA" if im.mode in ("P", "PA", "RGBa", "La") and _has_alpha(im) else "RGB")


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("PA", "RGBa", "La") or "transparency" in im.info


def _cmyk_to_srgb(im: Image.Image, path: Path) -> Image.Image:
    """Through the embedded CMYK profile when there is one (Pillow's plain convert ignores it)."""
    icc = im.info.get("icc_profile")
    if icc and _profile_space(icc) == b"CMYK":
        try:
            from PIL import ImageCms  # needs Pillow built with LittleCMS (the wheels are)
        except ImportError as err:
            log.warning("%s: its CMYK colour profile needs PIL.ImageCms (%s); converting without it", path.name, err)
            return im.convert("RGB")
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (OSError, ValueError, ImageCms.PyCMSError) as err:
            log.warning("%s: its CMYK colour profile could not be applied (%s); converting without it", path.name, err)
    return im.convert("RGB")


def _profile_space(icc: bytes) -> bytes:
    return icc[16:20].strip()  # the ICC header's data colour space: RGB, GRAY, CMYK, ...


def _metadata(im: Image.Image, mode: str) -> dict:
    """The ICC profile (only if it describes ``mode``'s colours), PNG text and EXIF (orientation reset)."""
    info = {}
    icc = im.info.get("icc_profile")
    if icc and _profile_space(icc) == (b"GRAY" if mode in ("L", "LA", "I;16") else b"RGB"):
        info["icc_profile"] = icc
    text = {k: v for k, v in getattr(im, "text", {}).items() if isinstance(v, str)}
    if text:
        info["text"] = text
    exif = im.getexif()
    if exif:
        exif.pop(ORIENTATION, None)  # the pixels are upright now; a stale tag would rotate them again
        for tag in TIFF_LAYOUT_TAGS.intersection(exif):
            del exif[tag]
        if len(exif):
            info["exif"] = exif.tobytes()
    return info


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation applied to an H×W(×C) array, as ``ImageOps.exif_transpose`` does for PIL images."""
    turns = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1],
             8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns.get(orientation, turns[1])(pixels))


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    if im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        return len(head) == 26 and head[24] == 16 and head[25] in (2, 6)  # 16-bit RGB / RGBA
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16 and len(im.getbands()) >= 3
    return False


def _opencv(path: Path):
    try:
        import cv2
    except ImportError as err:
        raise ImageInputError(
            f"{path}: 16-bit colour images need OpenCV: pip install 'ganpost[image16]' (opencv-python-headless)."
        ) from err
    return cv2


def _read_with_opencv(path: Path) -> np.ndarray:
    cv2 = _opencv(path)
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
        return _written(path, fmt, lambda tmp: _write_with_opencv(tmp, path, pixels, info))

    def save(tmp: str) -> None:
        im = Image.fromarray(pixels)
        options = {"format": fmt}
        if "icc_profile" in info and fmt in ICC_FORMATS:
            options["icc_profile"] = info["icc_profile"]
        if "exif" in info and fmt in EXIF_FORMATS:
            options["exif"] = info["exif"]
        if fmt in ("JPEG", "WEBP"):
            options["quality"] = quality
        if fmt == "PNG":
            options["compress_level"] = 4  # level 9 costs minutes on large upscales for ~5% smaller files
            if info.get("text"):
                options["pnginfo"] = _png_text(info["text"])
        im.save(tmp, **options)

    return _written(path, fmt, save)


def _written(path: Path, fmt: str, write) -> Path:
    """``atomic_write`` with an encoder's or the disk's failure named by the output file."""
    try:
        return atomic_write(path, write)
    except (OSError, ValueError) as err:
        reason = (getattr(err, "strerror", None) or str(err).strip().split("\n")[0]) or type(err).__name__
        raise OutputError(f"{path}: could not be written as {fmt} ({reason}).") from err


def _png_text(text: dict[str, str]) -> PngInfo:
    pnginfo = PngInfo()
    for key, value in text.items():
        pnginfo.add_text(key, value)
    return pnginfo


def _write_with_opencv(tmp: str, path: Path, pixels: np.ndarray, info: dict) -> None:
    cv2 = _opencv(path)
    suffix = path.suffix.lower()
    bgr = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]] if pixels.shape[2] in (3, 4) else pixels
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(bgr))
    if not ok:
        raise ImageInputError(f"{path}: OpenCV could not encode a 16-bit {suffix} image.")
    data = encoded.tobytes()
    if suffix == ".png":
        data = _insert_png_chunks(data, _metadata_chunks(info))
    elif info:
        log.warning("%s: 16-bit TIFF is written without its colour profile and metadata", path.name)
    Path(tmp).write_bytes(data)


# ----------------------------------------------------------------------- PNG chunks for 16-bit output
def _metadata_chunks(info: dict) -> list[bytes]:
    """iCCP, eXIf and text chunks for what OpenCV's encoder leaves out."""
    chunks = []
    if info.get("icc_profile"):
        chunks.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(info["icc_profile"])))
    if info.get("exif"):
        exif = info["exif"]
        chunks.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    for key, value in info.get("text", {}).items():
        try:
            chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
        except UnicodeEncodeError:  # iTXt: uncompressed UTF-8, no language tag
            chunks.append(_chunk(b"iTXt", key.encode("utf-8") + b"\0\0\0\0\0" + value.encode("utf-8")))
    return chunks


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _insert_png_chunks(png: bytes, chunks: list[bytes]) -> bytes:
    """Put ``chunks`` right after IHDR (before any PLTE/IDAT, where iCCP must be)."""
    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4
    return png[:ihdr_end] + b"".join(chunks) + png[ihdr_end:]
