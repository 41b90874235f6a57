"""``ganpost restore-faces INPUT... -o OUTPUT``: detect, restore and paste back the faces of image files.

Same file handling as ``ganpost upscale`` (``batch``): models, options and every output folder
(``--save-faces`` too) are checked before the first image is read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..gan_models import load_model
from ..gan_models.contract import Task
from ..runtime.imaging.convert import to_output_type
from ..runtime.imaging.files import read_image, write_image
from ..tasks.face_video import DEFAULT_VIDEO_SMOOTHING, SteadyFaceRestorer
from ..tasks.restore_faces import DEFAULT_DETECTOR, DEFAULT_FACE_MODEL, OPTIONS, check_options, restore_faces_detailed
from .batch import check_fits
from .stages import FileStages
from .video import smoothing, with_video
from .image_command import add_image_command, model_source, warn_unused_seed
from .outputs import check_writable
from .task_flags import add_task_options, task_options

log = logging.getLogger("ganpost.cli")


def add_restore_faces_parser(sub) -> None:
    rf = add_image_command(sub, "restore-faces", restore_faces_stages,
                           help="restore the faces in image files or folders (GFPGAN)")
    rf.add_argument("-m", "--model", default=DEFAULT_FACE_MODEL,
                    help=f"a face restoration model file or known name (default: {DEFAULT_FACE_MODEL})")
    rf.add_argument("--detector", default=DEFAULT_DETECTOR,
                    help=f"a RetinaFace file or known name (default: {DEFAULT_DETECTOR})")
    rf.add_argument("--parser",
                    help="a face parser file or known name (parsing_parsenet, or parsing_bisenet.pth): paste only "
                         "face parts and hair, keeping collars, hats and backdrops (default: a square mask)")
    rf.add_argument("--background-model", dest="upscaler", metavar="MODEL",  # restore_faces()'s keyword: errors name it
                    help="an upscaling model (file or known name) for the background when --upscale > 1 "
                         "(default: a bicubic resize)")
    rf.add_argument("--save-faces", type=Path, metavar="DIR",
                    help="also write each restored face crop to DIR as NAME_faceK.png")
    add_task_options(rf, OPTIONS, Task.FACE_RESTORE)
    rf.add_argument("--smooth-landmarks", type=smoothing, default=DEFAULT_VIDEO_SMOOTHING, metavar="SIGMA",
                    help="videos: each face's landmarks averaged over neighbouring frames (Gaussian, SIGMA frames; "
                         f"0 = off) so restored faces do not flicker (default {DEFAULT_VIDEO_SMOOTHING:g}). Image "
                         "files are never smoothed: they are not frames of one clip")


def restore_faces_stages(args, device) -> FileStages:
    def load(name):
        return load_model(name, **model_source(args)) if name else None

    model = load(args.model)
    models = {"detector": load(args.detector), "upscaler": load(args.upscaler), "parser": load(args.parser)}
    log.info("%s", model.summary())
    options = task_options(args, OPTIONS, Task.FACE_RESTORE, device=device)
    check_options(model, **models, **options)
    warn_unused_seed(args, model)
    if args.upscale_large_faces and args.upscaler is None:
        log.warning("--upscale-large-faces needs --background-model; faces are pasted without it")
    if args.save_faces:
        check_writable([args.save_faces / "face.png"], option="--save-faces")

    def read(source: Path):
        check_fits(source, options["upscale"], "Ask for a smaller upscale=, or split the image into parts")
        return source, read_image(source)

    def compute(items, progress):
        result = restore_faces_detailed([image.pixels for _, image in items], model, **models, **options,
                                        progress=progress)
        return list(zip(result.images, result.faces))

    def write(target: Path, result, item) -> str:
        (source, image), (pixels, faces) = item, result
        write_image(target, pixels, image.info)
        if args.save_faces:
            for k, face in enumerate(faces):
                crop = to_output_type(face.restored[None], "pil")[0]  # 3×S×S in [0, 1] → 8-bit RGB
                write_image(args.save_faces / f"{source.stem}_face{k}.png", np.asarray(crop))
        height, width = pixels.shape[:2]
        return f"{width}×{height}, {len(faces)} face{'' if len(faces) == 1 else 's'}"

    def frames():  # one per clip: it keeps the clip's recent faces for the smoothing
        if args.save_faces:
            log.warning("--save-faces applies to images; the faces of videos are not saved")
        return SteadyFaceRestorer(model, **models, smooth_landmarks=args.smooth_landmarks, **options)

    return with_video(FileStages(read, compute, write, unit="steps" if args.upscaler else "faces"), args, frames)
