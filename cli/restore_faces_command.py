"""``ganpost restore-faces INPUT... -o OUTPUT``: detect, restore and paste back the faces of image files.

Same file handling as ``ganpost upscale`` (``batch``): models, options and every output folder
(``--save-faces`` too) are checked before the first image is read.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np

from ..gan_models import load_model
from ..gan_models.errors import InvalidOptionError
from ..runtime.imaging.files import read_image, write_image
from ..runtime.precision import resolve_dtype
from ..tasks.detect_faces import DEFAULT_DETECTION_SIZE, parse_face_index
from ..tasks.face_colour import COLOR_FIXES
from ..tasks.restore_faces import DEFAULT_DETECTOR, PASTE_MODES, check_options, restore_faces
from .batch import add_file_arguments, add_runtime_arguments, check_fits, progress_bar, run_files
from .outputs import check_writable

log = logging.getLogger("ganpost.cli")
DEFAULT_FACE_MODEL = "GFPGANv1.4"


def add_restore_faces_parser(sub) -> None:
    rf = sub.add_parser("restore-faces", help="restore the faces in image files or folders (GFPGAN)")
    add_file_arguments(rf)
    rf.add_argument("-m", "--model", default=DEFAULT_FACE_MODEL,
                    help=f"a face restoration model file or known name (default: {DEFAULT_FACE_MODEL})")
    rf.add_argument("--detector", default=DEFAULT_DETECTOR,
                    help=f"a RetinaFace file or known name (default: {DEFAULT_DETECTOR})")
    rf.add_argument("--parser",
                    help="a face parser file or known name (parsing_parsenet, or parsing_bisenet.pth): paste only "
                         "face parts and hair, keeping collars, hats and backdrops (default: a square mask)")
    rf.add_argument("--upscale", type=_number("upscale", 1, 16), default=1,
                    help="output size / input size, 1 to 16 (default 1)")
    rf.add_argument("--background-model", dest="upscaler", metavar="MODEL",  # restore_faces()'s keyword: errors name it
                    help="an upscaling model (file or known name) for the background when --upscale > 1 "
                         "(default: a bicubic resize)")
    rf.add_argument("--upscale-large-faces", action="store_true",
                    help="with --background-model: faces that end up larger than the restorer's crop (512 px) are "
                         "upscaled by that model before pasting, not stretched")
    rf.add_argument("--strength", type=_number("strength", 0, 1), default=1.0,
                    help="0 keeps the input, 1 (default) the restored faces; in between blends them")
    rf.add_argument("--color-fix", default="none", choices=COLOR_FIXES,
                    help="match the restored faces' colour to the originals (default: none)")
    rf.add_argument("--paste", default="soft", choices=PASTE_MODES,
                    help="soft (default): a mask scaled to the face, weaker seams; official: facexlib's mask, "
                         "to match the official tool's output")
    rf.add_argument("--threshold", type=_number("threshold", 0, 0.9999), default=0.97,
                    help="face score a detection must exceed (default 0.97)")
    rf.add_argument("--max-faces", type=_whole("max-faces"), help="restore at most this many, largest first")
    rf.add_argument("--only-center-face", action="store_true", help="restore only the face nearest the centre")
    rf.add_argument("--face-index", metavar="LIST", type=_face_index,
                    help="restore only these faces, by place in the largest-first order from 0 (e.g. 0,2)")
    rf.add_argument("--detection-size", type=_whole("detection-size", 32), default=DEFAULT_DETECTION_SIZE,
                    help=f"longest side the detector sees (default {DEFAULT_DETECTION_SIZE}; larger finds "
                         "smaller faces in big images, slower)")
    rf.add_argument("--seed", type=_whole("seed", 0), help="seed for models that draw random noise")
    rf.add_argument("--save-faces", type=Path, metavar="DIR",
                    help="also write each restored face crop to DIR as NAME_faceK.png")
    add_runtime_arguments(rf)
    rf.set_defaults(run=run_restore_faces)


def _number(name: str, low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{name} must be a number from {low:g} to {high:g}, not {text!r}")
        return value

    return parse


def _face_index(text: str) -> list[int] | None:
    try:
        return parse_face_index(text)
    except InvalidOptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _whole(name: str, low: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number ≥ {low}, not {text!r}")
        return value

    return parse


def run_restore_faces(args) -> int:
    def setup(device):
        def load(name):
            return load_model(name, models_dir=args.models_dir, download=not args.offline)

        model, detector = load(args.model), load(args.detector)
        background = load(args.upscaler) if args.upscaler else None
        parser = load(args.parser) if args.parser else None
        log.info("%s", model.summary())
        check_options(model, detector=detector, parser=parser, upscaler=background, upscale=args.upscale,
                      strength=args.strength, color_fix=args.color_fix, threshold=args.threshold,
                      max_faces=args.max_faces, detection_size=args.detection_size, paste=args.paste,
                      face_index=args.face_index)
        if args.upscale_large_faces and background is None:
            log.warning("--upscale-large-faces needs --background-model; faces are pasted without it")
        resolve_dtype(model, args.precision, device)  # e.g. fp16 on CPU is refused once, here
        if args.save_faces:
            check_writable([args.save_faces / "face.png"], option="--save-faces")

        def handle(source: Path, target: Path, label: str) -> str:
            check_fits(source, args.upscale, "Ask for a smaller upscale=, or split the image into parts")
            image = read_image(source)
            result, faces = restore_faces(
                image.pixels, model, detector=detector, parser=parser, upscaler=background, upscale=args.upscale,
                strength=args.strength, color_fix=args.color_fix, paste=args.paste, threshold=args.threshold,
                max_faces=args.max_faces, only_center_face=args.only_center_face, face_index=args.face_index,
                upscale_large_faces=args.upscale_large_faces, seed=args.seed,
                detection_size=args.detection_size, precision=args.precision, device=device, return_faces=True,
                progress=progress_bar(label, "steps" if background is not None else "faces"))
            write_image(target, result, image.info)
            if args.save_faces:
                for k, face in enumerate(faces[0]):
                    write_image(args.save_faces / f"{source.stem}_face{k}.png", _to_uint8(face.restored))
            count = len(faces[0])
            return f"{result.shape[1]}×{result.shape[0]}, {count} face{'' if count == 1 else 's'}"

        return handle

    return run_files(args, setup)


def _to_uint8(chw) -> np.ndarray:
    return (chw.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
