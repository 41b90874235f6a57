"""Face nodes (V3 schema): model, detector and parser loaders, Restore Faces and Detect Faces.

Thin adapters: the work is ``tasks.restore_faces`` and ``tasks.detect_faces``; this module turns
ComfyUI tensors, folders, progress and interrupts into their arguments and their results back.
"""

from __future__ import annotations


import comfy.model_management as mm
import comfy.utils
import torch
from comfy_api.latest import io

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor, Task
from ..runtime.faces import crop_faces, face_template, similarity_transform
from ..runtime.memory import estimate_bytes
from ..runtime.precision import PRECISIONS, resolve_device, resolve_dtype
from ..tasks.detect_faces import check_detect_options, detect_in_core, detector_network
from ..tasks.face_colour import COLOR_FIXES
from ..tasks.restore_faces import PASTE_MODES, check_options, restore_faces
from . import model_folders
from .image_convert import core_to_comfy, image_to_core
from .model_cache import load_for_node
from .upscale_nodes import PLANNING_TILE, GanpostModel, as_ganpost_model

GanpostFaceModel = io.Custom("GANPOST_FACE_MODEL")
GanpostFaceDetector = io.Custom("GANPOST_FACE_DETECTOR")
GanpostFaceParser = io.Custom("GANPOST_FACE_PARSER")
NO_FACE_SIDE = 64  # the placeholder crop when nothing was found: IMAGE outputs cannot be empty
MASK_SHAPES = ("box", "ellipse")
ELLIPSE_FEATHER = 0.15  # share of the ellipse radius that fades out
MAX_SEED = 2**63 - 1

# What each loader accepts, how to name it, and where a file of that kind belongs (told when it is loaded
# by another kind's loader). Parsers share models/facedetection with detectors, as the community packs do.
LOADERS = {
    Task.FACE_RESTORE: (model_folders.FACE_MODELS, "face restoration model (GFPGAN)",
                        "a face restorer goes in models/facerestore_models and into 'ganpost: Load Face Model'"),
    Task.FACE_DETECT: (model_folders.FACE_DETECTORS, "face detector (RetinaFace)",
                       "a face detector goes in models/facedetection and into 'ganpost: Load Face Detector'"),
    Task.FACE_PARSE: (model_folders.FACE_DETECTORS, "face parser (ParseNet, BiSeNet)",
                      "a face parser goes in models/facedetection and into 'ganpost: Load Face Parser'"),
}


def load_task_model(model_name: str, task: Task) -> ModelDescriptor:
    """The cached model for a file in ``task``'s folder; RuntimeError naming the file and the fix otherwise."""
    key, wanted, _ = LOADERS[task]
    path = model_folders.model_path(model_name, key)
    model = load_for_node(model_name, path, f"a {wanted}")
    if model.contract.task != task:
        found = LOADERS.get(model.contract.task)
        hint = found[2] if found else "this file is not a face model at all"
        raise RuntimeError(f"ganpost: {model_name} ({path}) is {model.kind} ({model.architecture}), not a "
                           f"{wanted}; {hint}.")
    return model


class GanpostLoadFaceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadFaceModel",
            display_name="ganpost: Load Face Model",
            category="ganpost/faces",
            description="Load a face restoration checkpoint (GFPGAN v1.3/v1.4 clean, .pth or .safetensors) from "
                        "models/facerestore_models. Loading never runs pickled code.",
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(model_folders.FACE_MODELS),
                                   tooltip="a file in models/facerestore_models (or a path from "
                                           "extra_model_paths.yaml), e.g. GFPGANv1.4.pth")],
            outputs=[GanpostFaceModel.Output(display_name="face_model",
                                              tooltip="into 'ganpost: Restore Faces' or 'ganpost: Fine-tune Face Model'")],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name):
        return model_folders.modified_time(model_name, model_folders.FACE_MODELS)

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_task_model(model_name, Task.FACE_RESTORE))


class GanpostLoadFaceDetector(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadFaceDetector",
            display_name="ganpost: Load Face Detector",
            category="ganpost/faces",
            description="Load a RetinaFace detector (detection_Resnet50_Final.pth or "
                        "detection_mobilenet0.25_Final.pth) from models/facedetection.",
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(model_folders.FACE_DETECTORS),
                                   tooltip="a file in models/facedetection (or a path from extra_model_paths.yaml)")],
            outputs=[GanpostFaceDetector.Output(display_name="detector",
                                                 tooltip="into Restore Faces, Detect Faces or Fine-tune Face Model")],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name):
        return model_folders.modified_time(model_name, model_folders.FACE_DETECTORS)

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_task_model(model_name, Task.FACE_DETECT))


class GanpostLoadFaceParser(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadFaceParser",
            display_name="ganpost: Load Face Parser",
            category="ganpost/faces",
            description="Load a face parser (parsing_parsenet.pth or parsing_bisenet.pth) from models/facedetection. "
                        "Into Restore Faces, it limits each pasted face to face parts and hair.",
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(model_folders.FACE_DETECTORS),
                                   tooltip="a file in models/facedetection (or a path from extra_model_paths.yaml)")],
            outputs=[GanpostFaceParser.Output(display_name="parser", tooltip="into Restore Faces' parser input")],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name):
        return model_folders.modified_time(model_name, model_folders.FACE_DETECTORS)

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_task_model(model_name, Task.FACE_PARSE))


def _detection_inputs():
    return [
        io.Float.Input("threshold", default=0.97, min=0.0, max=0.999, step=0.01,
                       tooltip="face score a detection must exceed; lower finds small or side faces "
                               "(and more false ones)"),
        io.Int.Input("max_faces", default=0, min=0, max=256,
                     tooltip="keep at most this many faces per image, largest first; 0 = all"),
        io.Boolean.Input("only_center_face", default=False,
                         tooltip="keep only the face nearest the image centre"),
        io.String.Input("face_index", default="", optional=True,
                        tooltip="only these faces, by place in the largest-first order from 0, e.g. 0,2; "
                                "empty = all"),
    ]


class GanpostRestoreFaces(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostRestoreFaces",
            display_name="ganpost: Restore Faces",
            category="ganpost/faces",
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
                io.Mask.Input("mask", optional=True,
                              tooltip="transparency, 1 = transparent (LoadImage's mask); all zeros = opaque. "
                                      "Ignored when the image already has an alpha channel."),
                io.Float.Input("upscale", default=1.0, min=1.0, max=16.0, step=0.05,
                               tooltip="output size / input size; 1 = same size. Faces are pasted at that size"),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="0 keeps the input faces, 1 pastes the restored ones; in between blends"),
                *_detection_inputs(),
                io.Combo.Input("color_fix", options=list(COLOR_FIXES), default="none",
                               tooltip="adain: each face keeps the original's colour mean and spread; wavelet: "
                                       "the original's low frequencies under the restored detail"),
                io.Combo.Input("paste", options=list(PASTE_MODES), default="soft",
                               tooltip="soft: a mask scaled to the face (weaker seams); official: facexlib's mask, "
                                       "to match the official tool's output"),
                io.Boolean.Input("upscale_large_faces", default=False, optional=True,
                                 tooltip="with an upscale model: a face that lands larger than the model's crop "
                                         "(512 px) is upscaled by it first, not stretched"),
                io.Float.Input("smooth_landmarks", default=0.0, min=0.0, max=10.0, step=0.1, optional=True,
                               tooltip="the batch is consecutive video frames: average each face's landmarks "
                                       "over this many neighbouring frames (0 = off) so faces do not flicker"),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED,
                             tooltip="0 = the model's own noise (GFPGAN: the noise stored in the file); any other "
                                     "value draws fresh noise from that seed (same seed, same faces)"),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip="auto = fp16 on CUDA where the model is safe in it, else fp32"),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="the batch with the restored faces pasted back, at upscale × "
                                                             "the input size"),
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
    def execute(cls, image, face_model, detector, upscale, strength, threshold, max_faces, only_center_face,
                color_fix, paste, seed, precision, upscale_model=None, mask=None, parser=None, face_index="",
                upscale_large_faces=False, smooth_landmarks=0.0) -> io.NodeOutput:
        device = mm.get_torch_device()
        try:
            upscaler = None if upscale_model is None else as_ganpost_model(upscale_model)
            check_options(face_model, detector=detector, parser=parser, upscaler=upscaler, upscale=upscale,
                          strength=strength, color_fix=color_fix, threshold=threshold, max_faces=max_faces or None,
                          paste=paste, face_index=face_index, smooth_landmarks=smooth_landmarks)
            batch = image_to_core(image, mask)
            mm.free_memory(_memory_required(face_model, detector, upscaler, precision, device, parser), device)
            bar = comfy.utils.ProgressBar(1)
            result, records = restore_faces(
                batch, face_model, detector=detector, parser=parser, upscaler=upscaler, upscale=upscale,
                strength=strength, color_fix=color_fix, paste=paste, threshold=threshold,
                max_faces=max_faces or None, only_center_face=only_center_face, face_index=face_index,
                upscale_large_faces=upscale_large_faces, smooth_landmarks=smooth_landmarks,
                seed=seed or None, precision=precision, device=device,
                return_faces=True, progress=lambda done, total: bar.update_absolute(done, total),
                cancel=mm.throw_exception_if_processing_interrupted,  # raises ComfyUI's interrupt; not caught
            )
        except GanpostError as err:
            raise RuntimeError(f"ganpost ({getattr(face_model, 'name', None) or 'face model'}): {err}") from err
        finally:
            mm.soft_empty_cache()
        out_image, alpha_mask = core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4)
        faces = [face for per_image in records for face in per_image]
        return io.NodeOutput(out_image, _face_batch([f.restored for f in faces]),
                             _coverage(records, strength, out_image.shape[:3]), alpha_mask)


class GanpostDetectFaces(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostDetectFaces",
            display_name="ganpost: Detect Faces",
            category="ganpost/faces",
            description="Find faces (RetinaFace) in an image batch: a mask of where they are, their aligned "
                        "crops and how many there are, for use elsewhere in the graph.",
            inputs=[
                io.Image.Input("image", tooltip="the images to search for faces (a batch)"),
                GanpostFaceDetector.Input("detector", tooltip="from 'ganpost: Load Face Detector'"),
                *_detection_inputs(),
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
    def execute(cls, image, detector, threshold, max_faces, only_center_face, mask_shape,
                crop_size, face_index="") -> io.NodeOutput:
        device = resolve_device(mm.get_torch_device())
        try:
            check_detect_options(threshold=threshold, max_faces=max_faces or None, face_index=face_index)
            network = detector_network(detector, device)
            rgb = [item[None, :3] for item in image_to_core(image, None)]
            found = detect_in_core(network, rgb, threshold=threshold, max_faces=max_faces or None,
                                   only_center_face=only_center_face, face_index=face_index)
        except GanpostError as err:
            raise RuntimeError(f"ganpost ({getattr(detector, 'name', None) or 'detector'}): {err}") from err
        height, width = image.shape[1:3]
        masks = torch.stack([_face_mask(faces, height, width, mask_shape) for faces in found])
        crops = [_aligned(rgb[i], faces, crop_size, device) for i, faces in enumerate(found) if faces]
        return io.NodeOutput(masks, _face_batch(list(torch.cat(crops)) if crops else []),
                             sum(len(faces) for faces in found))


# ------------------------------------------------------------------------------ helpers
def _memory_required(face_model: ModelDescriptor, detector: ModelDescriptor, upscaler: ModelDescriptor | None,
                     precision: str, device, parser: ModelDescriptor | None = None) -> int:
    """Bytes to make room for: the restorer with one face, the detector's weights, one upscaler tile, the parser."""
    device = resolve_device(device)
    total = estimate_bytes(face_model, resolve_dtype(face_model, precision, device), face_model.contract.size.fixed)
    total += detector.param_count * 4
    if upscaler is not None:
        total += estimate_bytes(upscaler, resolve_dtype(upscaler, precision, device), PLANNING_TILE)
    if parser is not None:
        total += estimate_bytes(parser, resolve_dtype(parser, precision, device), parser.contract.size.fixed or 512)
    return total


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


def _face_mask(faces, height: int, width: int, shape: str) -> torch.Tensor:
    mask = torch.zeros(height, width)
    ys = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    for face in faces:
        x1, y1, x2, y2 = face.box
        if shape == "box":
            inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
            mask = torch.maximum(mask, inside.float())
        else:
            rx, ry = max((x2 - x1) / 2, 1e-3), max((y2 - y1) / 2, 1e-3)
            radius = (((xs - (x1 + x2) / 2) / rx) ** 2 + ((ys - (y1 + y2) / 2) / ry) ** 2).sqrt()
            mask = torch.maximum(mask, ((1 - radius) / ELLIPSE_FEATHER).clamp(0, 1))
    return mask


def _aligned(rgb: torch.Tensor, faces, size: int, device: torch.device) -> torch.Tensor:
    landmarks = torch.tensor([face.landmarks for face in faces], dtype=torch.float32, device=device)
    to_crop = similarity_transform(landmarks, face_template(size, device=device))
    return crop_faces(rgb.to(device), to_crop, [0] * len(faces), size).cpu()
