"""Face nodes (V3 schema): model, detector and parser loaders, Restore Faces and Detect Faces.

Thin adapters: the work is ``tasks.restore_faces`` and ``tasks.detect_faces``; this module turns
ComfyUI tensors into their arguments and their results back.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..gan_models.contract import Task
from ..tasks.detect_faces import (
    MASK_SHAPES, OPTIONS as DETECT_OPTIONS, aligned_crops, check_detect_options, detect_in_core, face_masks,
)
from ..tasks.detect_faces import device_bytes as detection_bytes
from ..tasks.restore_faces import OPTIONS as RESTORE_OPTIONS, device_bytes as restoration_bytes, restore_faces_detailed
from .constants import NO_FACE_SIDE, SIGNED_MAX_SEED
from .core_models import as_ganpost_model
from .image_convert import core_to_comfy
from .inputs import MASK_TOOLTIP, Encoding, TaskWidgets
from .loaders import ModelLoader
from .run import run_task
from .search_aliases import schema
from .types import GanpostFaceDetector, GanpostFaceModel, GanpostFaceParser, GanpostModel

TERMS = {"model": "face_model", "upscaler": "upscale_model"}  # the task's keywords → Restore Faces' inputs


class GanpostLoadFaceModel(ModelLoader):
    task, category, output, output_name = Task.FACE_RESTORE, "ganpost/faces", GanpostFaceModel, "face_model"
    note = "GFPGAN v1.3/v1.4 clean, .pth or .safetensors. "
    output_tooltip = "into 'ganpost: Restore Faces' or 'ganpost: Fine-tune Face Model'"


class GanpostLoadFaceDetector(ModelLoader):
    task, category, output, output_name = Task.FACE_DETECT, "ganpost/faces", GanpostFaceDetector, "detector"
    note = "RetinaFace (ResNet-50 or MobileNet-0.25). "
    output_tooltip = "into Restore Faces, Detect Faces or Fine-tune Face Model"


class GanpostLoadFaceParser(ModelLoader):
    task, category, output, output_name = Task.FACE_PARSE, "ganpost/faces", GanpostFaceParser, "parser"
    note = "Into Restore Faces, it limits each pasted face to face parts and hair. "
    output_tooltip = "into Restore Faces' parser input"


# The detection widgets both face nodes show, and how they differ from the task's options.
DETECTION = {"threshold": dict(step=0.01), "max_faces": {}, "only_center_face": {},
             "face_index": dict(optional=True)}
DETECTION_ENCODINGS = {
    "threshold": Encoding("the score must stay below 1, and a widget's maximum is allowed: 0.999", max=0.999),
    "max_faces": Encoding("a widget holds a number: 0 stands for None", lambda count: count or None, means="0 = all",
                          default=0, min=0, max=256),
    "face_index": Encoding("a text widget holds text: empty stands for None", lambda picks: picks or None,
                           means="empty = all", default=""),
}
NOT_ON_THE_NODES = {"detection_size": "not offered yet: the nodes detect at the task's default "
                                      "(full size up to a 2048 px long side)"}


class GanpostRestoreFaces(io.ComfyNode):
    WIDGETS = TaskWidgets(
        Task.FACE_RESTORE, RESTORE_OPTIONS,
        {"upscale": dict(step=0.05), "strength": dict(step=0.01), **DETECTION, "color_fix": {}, "paste": {},
         "upscale_large_faces": dict(optional=True), "smooth_landmarks": dict(step=0.1, max=10.0, optional=True),
         "seed": {}, "precision": {}},
        encodings=DETECTION_ENCODINGS | {
            "seed": Encoding("a widget holds a number: 0 stands for None; the signed cap saved workflows have",
                             lambda seed: seed or None, default=0, max=SIGNED_MAX_SEED,
                             means="0 = the model's own noise (GFPGAN: the noise stored in the file)")},
        left_out=NOT_ON_THE_NODES)

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="GanpostRestoreFaces", display_name="ganpost: Restore Faces", category="ganpost/faces",
            description="Detect, align and restore every face of an image batch, then paste them back with a "
                        "soft mask; the background is resized or upscaled by an optional model. An image "
                        "without faces comes back unchanged (resized when upscale > 1).",
            inputs=[
                io.Image.Input("image", tooltip="the images whose faces are restored (a batch; video frames too)"),
                GanpostFaceModel.Input("face_model", tooltip="from 'ganpost: Load Face Model'"),
                GanpostFaceDetector.Input("detector", tooltip="from 'ganpost: Load Face Detector'"),
                GanpostFaceParser.Input("parser", optional=True,
                                        tooltip="from 'ganpost: Load Face Parser': paste only face parts and hair "
                                                "(collars, hats, backdrops keep the original). Without it: a "
                                                "square soft mask"),
                io.MultiType.Input("upscale_model", types=[GanpostModel, io.UpscaleModel], optional=True,
                                   tooltip="background upscaler: 'ganpost: Load Upscale Model' or core's 'Load "
                                           "Upscale Model'. Without it the background is resized (bicubic)"),
                io.Mask.Input("mask", optional=True, tooltip=MASK_TOOLTIP),
                *cls.WIDGETS.inputs(),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="the batch with the restored faces pasted back, at "
                                                             "upscale × the input size"),
                io.Image.Output(display_name="faces",
                                tooltip="the restored, aligned face crops of the whole batch (after colour fix), "
                                        "largest first per image; one 64×64 black image when no face was found"),
                io.Mask.Output(display_name="face_mask",
                               tooltip="how much of each output pixel came from a restored face (the paste-back "
                                       "mask, strength included); zeros where no face was found"),
                io.Mask.Output(display_name="alpha_mask",
                               tooltip="1 − the output's alpha (resized with the image); zeros without alpha"),
            ],
        )

    @classmethod
    def execute(cls, image, face_model, detector, parser=None, upscale_model=None, mask=None,
                **widgets) -> io.NodeOutput:
        upscaler = None if upscale_model is None else as_ganpost_model(upscale_model)
        options = cls.WIDGETS.to_task(widgets)
        result = run_task(restore_faces_detailed, image, mask, face_model, detector=detector, parser=parser,
                          upscaler=upscaler, needs=restoration_bytes, terms=TERMS, **options)
        out_image, alpha_mask = core_to_comfy(result.images, keep_alpha_channel=image.shape[-1] == 4)
        faces = [face.restored for per_image in result.faces for face in per_image]
        return io.NodeOutput(out_image, _face_batch(faces), _coverage(result.faces, options["strength"],
                                                                      out_image.shape[:3]), alpha_mask)


class GanpostDetectFaces(io.ComfyNode):
    WIDGETS = TaskWidgets(Task.FACE_DETECT, DETECT_OPTIONS, DETECTION, encodings=DETECTION_ENCODINGS,
                          left_out=NOT_ON_THE_NODES | {
                              "nms_threshold": "the task's default (facexlib's 0.4) is what the restorer sees",
                              "min_face_size": "max_faces and face_index pick faces on the node",
                              "order": "largest first, as Restore Faces numbers them for face_index"},
                          forward=False)  # a detector's forward takes no options

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="GanpostDetectFaces", display_name="ganpost: Detect Faces", category="ganpost/faces",
            description="Find faces (RetinaFace) in an image batch: a mask of where they are, their aligned "
                        "crops and how many there are, for use elsewhere in the graph.",
            inputs=[
                io.Image.Input("image", tooltip="the images to search for faces (a batch)"),
                GanpostFaceDetector.Input("detector", tooltip="from 'ganpost: Load Face Detector'"),
                *cls.WIDGETS.inputs(),
                io.Combo.Input("mask_shape", options=list(MASK_SHAPES), default="box",
                               tooltip="box: each detection box filled with 1; ellipse: a soft ellipse "
                                       "inscribed in the box"),
                io.Int.Input("crop_size", default=512, min=16, max=2048, step=8,
                             tooltip="side of the aligned face crops (the FFHQ alignment GFPGAN uses)"),
            ],
            outputs=[
                io.Mask.Output(display_name="mask", tooltip="1 inside the faces found, per image"),
                io.Image.Output(display_name="faces",
                                tooltip="aligned face crops of the whole batch, largest first per image; "
                                        "one 64×64 black image when no face was found"),
                io.Int.Output(display_name="count", tooltip="faces found in the whole batch"),
            ],
        )

    @classmethod
    def execute(cls, image, detector, mask_shape, crop_size, **widgets) -> io.NodeOutput:
        found, crops = run_task(find_faces, image, None, detector, needs=detection_bytes, crop_size=crop_size,
                                **cls.WIDGETS.to_task(widgets))
        height, width = image.shape[1:3]
        masks = torch.stack([face_masks(faces, height, width, mask_shape) for faces in found])
        return io.NodeOutput(masks, _face_batch(crops), sum(len(faces) for faces in found))


def find_faces(batch: torch.Tensor, detector, *, device, progress, cancel, crop_size: int, **options):
    """Detect Faces' task: per image the faces found, and all their aligned crops (3×S×S), on ComfyUI's device."""
    check_detect_options(**options)
    rgb = [item[None, :3] for item in batch]
    found = detect_in_core(detector, rgb, device=device, progress=progress, cancel=cancel, **options)
    crops = [crop for i, faces in enumerate(found) if faces for crop in aligned_crops(rgb[i], faces, crop_size, device)]
    return found, crops


# ------------------------------------------------------------------------------ helpers
def _face_batch(faces: list[torch.Tensor]) -> torch.Tensor:
    """N×S×S×3 IMAGE of 3×S×S crops; one black 64×64 image when there are none."""
    if not faces:
        return torch.zeros(1, NO_FACE_SIDE, NO_FACE_SIDE, 3)
    return torch.stack([f.detach().float().cpu().clamp(0, 1) for f in faces]).movedim(1, -1).contiguous()


def _coverage(records, strength: float, shape) -> torch.Tensor:
    """B×H×W paste-back mask: per image ``strength · (1 − Π(1 − mᵢ))``, as paste_back combines faces."""
    out = torch.zeros(shape)
    if strength <= 0:
        return out
    for index, faces in enumerate(records):
        untouched = torch.ones(shape[1:])
        for face in faces:
            untouched *= 1 - (face.mask[0].float().cpu() / strength).clamp(0, 1)
        out[index] = strength * (1 - untouched)
    return out
