"""The pictures in the docs, made from files the repository or ../shared has:

- ``docs/images/before_after.png``: the README's first command, ``examples/astronaut_crop.png`` (128 px) ×4
  with the model that ships in the package, beside a bicubic ×4;
- ``docs/images/face_pipeline.png``: detect → align → restore → paste on Kodak's kodim04 with the real
  RetinaFace MobileNet-0.25. No released face restorer is available offline, so the *restore* panel is a
  stand-in, said so on the figure: the aligned crop taken down to 128 px and brought back by the real
  RealESRGAN_x4plus (the step a GFPGAN / CodeFormer file does in a real run);
- ``docs/images/tiling_seams.png``: RealESRGAN_x4plus on a 256 px crop of kodim23, untiled, cut into plain
  64 px tiles (a seam along every tile edge), and with ganpost's 64 px tiles (context margin thrown away,
  cross-fade): a zoom on a tile corner and the differences from the untiled output (×8).

    PYTHONPATH=<folder holding ganpost> python bench/figures.py [--out docs/images]

Prints the measured differences (the tiling caption's numbers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import ganpost
from ganpost.runtime.faces.align import align_faces
from ganpost.runtime.faces.paste import paste_back
from ganpost.runtime.faces.similarity import invert_affine

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WEIGHTS, KODAK = SHARED / "weights", SHARED / "datasets" / "kodak"
PANEL = 256
LABEL_HEIGHT = 34


def _tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1).float() / 255


def _image(tensor: torch.Tensor) -> Image.Image:
    return Image.fromarray((tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def _labelled_row(panels: list[tuple[Image.Image, str]], side: int = PANEL) -> Image.Image:
    lines = max(label.count("\n") + 1 for _, label in panels)
    sheet = Image.new("RGB", (side * len(panels) + 8 * (len(panels) - 1), side + LABEL_HEIGHT * lines // 2 + 20),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, label) in enumerate(panels):
        x = i * (side + 8)
        fitted = image.copy()
        fitted.thumbnail((side, side), Image.LANCZOS)
        sheet.paste(fitted, (x + (side - fitted.width) // 2, (side - fitted.height) // 2))
        draw.multiline_text((x + 4, side + 4), label, fill="black", spacing=2)
    return sheet


def _save(image: Image.Image, path: Path) -> None:
    """A small palette PNG, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(handle)
    image.quantize(colors=256, method=Image.MEDIANCUT, dither=Image.FLOYDSTEINBERG).save(temp, optimize=True)
    os.replace(temp, path)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def face_pipeline(out: Path) -> None:
    photo = Image.open(KODAK / "kodim04.png").convert("RGB")
    rgb = _tensor(photo)
    faces = ganpost.detect_faces(photo, WEIGHTS / "retinaface_mobilenet0.25.pth", detection_size=None)[0][:1]
    marked = photo.copy()
    draw = ImageDraw.Draw(marked)
    for face in faces:
        draw.rectangle(face.box, outline=(0, 255, 0), width=4)
        for x, y in face.landmarks:
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=(255, 0, 0))
    crops, matrices = align_faces(rgb, faces, 512)
    small = _image(crops[0]).resize((128, 128), Image.BICUBIC)
    upscaler = ganpost.load_model(WEIGHTS / "RealESRGAN_x4plus.pth")
    restored = _tensor(ganpost.upscale(small, upscaler, tile=128, precision="fp32"))
    pasted = paste_back(rgb[None], restored[None], invert_affine(matrices), [0]).image[0]
    box = faces[0].box
    pad = 60
    region = (max(0, int(box[0]) - pad), max(0, int(box[1]) - pad),
              min(photo.width, int(box[2]) + pad), min(photo.height, int(box[3]) + pad))
    sheet = _labelled_row([
        (marked, f"1 detect: RetinaFace box and\nfive landmarks (score {faces[0].score:.3f})"),
        (_image(crops[0]), "2 align: 512 px crop on\nthe FFHQ landmark template"),
        (small.resize((512, 512), Image.NEAREST), "input of 3 here: the crop\nat 128 px (degraded)"),
        (_image(restored), "3 restore (stand-in: Real-ESRGAN\nx4plus; a face model in real runs)"),
        (_image(pasted).crop(region), "4 paste back through the\ninverse warp, soft mask"),
    ], side=220)
    _save(sheet, out / "face_pipeline.png")


def before_after(out: Path) -> None:
    photo = Image.open(REPO / "examples" / "astronaut_crop.png").convert("RGB")
    upscaled = ganpost.upscale(photo, ganpost.load_model("ganpost-compact-x4"), precision="fp32")
    sheet = _labelled_row([(photo.resize(upscaled.size, Image.BICUBIC), "bicubic x4"),
                           (upscaled, "ganpost upscale (built-in compact x4)")], side=320)
    _save(sheet, out / "before_after.png")


def _plain_tiles(image: torch.Tensor, model, tile: int) -> torch.Tensor:
    """Each tile upscaled on its own and placed side by side: what a tiler without context margins gives."""
    _, height, width = image.shape
    rows = []
    for y in range(0, height, tile):
        row = [_tensor(ganpost.upscale(_image(image[:, y:y + tile, x:x + tile]), model, tile=0,
                                       precision="fp32")) for x in range(0, width, tile)]
        rows.append(torch.cat(row, dim=2))
    return torch.cat(rows, dim=1)


def tiling_seams(out: Path) -> None:
    photo = Image.open(KODAK / "kodim23.png").convert("RGB").crop((256, 128, 512, 384))
    model = ganpost.load_model(WEIGHTS / "RealESRGAN_x4plus.pth")
    whole = _tensor(ganpost.upscale(photo, model, tile=0, precision="fp32"))
    plain = _plain_tiles(_tensor(photo), model, 64)
    ours = _tensor(ganpost.upscale(photo, model, tile=64, precision="fp32"))
    for name, result in (("plain 64 px tiles", plain), ("ganpost 64 px tiles", ours)):
        diff = (result - whole).abs() * 255
        print(f"{name}: mean |difference| from untiled {diff.mean():.3f}/255, max {diff.max():.1f}/255")
    zoom = (256 - 64, 256 - 64, 256 + 64, 256 + 64)  # output pixels around the corner of four input tiles

    def crop(t):
        return _image(t).crop(zoom).resize((256, 256), Image.NEAREST)

    def amplified(t):
        return crop(((t - whole).abs() * 8))

    plain_mean, ours_mean = ((t - whole).abs().mean() * 255 for t in (plain, ours))
    sheet = _labelled_row([
        (crop(whole), "untiled (reference)"),
        (crop(plain), "plain 64 px tiles"),
        (crop(ours), "ganpost, 64 px tiles"),
        (amplified(plain), f"|plain - untiled| x8\nmean {plain_mean:.2f}/255"),
        (amplified(ours), f"|ganpost - untiled| x8\nmean {ours_mean:.2f}/255"),
    ], side=200)
    _save(sheet, out / "tiling_seams.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--only", choices=("before_after", "faces", "tiling"))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.only in (None, "before_after"):
        before_after(args.out)
    if args.only in (None, "faces"):
        face_pipeline(args.out)
    if args.only in (None, "tiling"):
        tiling_seams(args.out)


if __name__ == "__main__":
    main()
