"""Other words a user types in the node search to find each node, passed to ComfyUI where it reads them.

Newer ComfyUI versions take ``search_aliases`` in a node's ``io.Schema`` and the frontend's node
search matches them beside the name; ComfyUI 0.3.64 (frontend 1.27) has neither, so :func:`schema`
passes the aliases only when this ComfyUI's Schema declares the field: older ones load the nodes as
before. A node missing from the table (a new recipe's node) gets none.
"""

from __future__ import annotations

import inspect

from comfy_api.latest import io

_TRAIN = ["train", "fine-tune", "finetune", "training"]
ALIASES: dict[str, list[str]] = {
    "GanpostLoadUpscaleModel": ["upscale model loader", "Real-ESRGAN", "ESRGAN", "AuraSR", "super resolution model"],
    "GanpostUpscaleImage": ["upscale", "upscaler", "hires fix upscale", "super resolution", "Real-ESRGAN", "ESRGAN",
                            "AuraSR", "enlarge", "x4", "tiled upscale"],
    "GanpostLoadFaceModel": ["face restore model", "GFPGAN", "CodeFormer", "GPEN", "RestoreFormer"],
    "GanpostLoadFaceDetector": ["face detection model", "RetinaFace", "facedetection"],
    "GanpostLoadFaceParser": ["face parsing", "ParseNet", "BiSeNet", "face segmentation"],
    "GanpostRestoreFaces": ["face restore", "face restoration", "fix faces", "face fix", "GFPGAN", "CodeFormer",
                            "GPEN", "RestoreFormer", "face enhance"],
    "GanpostDetectFaces": ["face detect", "face detection", "face mask", "face crop", "RetinaFace", "align faces"],
    "GanpostLoadTranslator": ["pix2pix model", "CycleGAN model", "image translation model", "style model"],
    "GanpostTranslateImage": ["pix2pix", "CycleGAN", "image to image", "img2img GAN", "style transfer",
                              "image translation"],
    "GanpostTrainUpscaleModel": [*_TRAIN, "Real-ESRGAN training", "upscaler training"],
    "GanpostTrainAuraSR": [*_TRAIN, "AuraSR training", "GigaGAN"],
    "GanpostTrainFaceModel": [*_TRAIN, "GFPGAN training", "face restore training"],
    "GanpostTrainTranslator": [*_TRAIN, "pix2pix training", "CycleGAN training"],
}


def takes_search_aliases() -> bool:
    """Whether this ComfyUI's ``io.Schema`` has a ``search_aliases`` field (0.3.64's has not)."""
    return "search_aliases" in inspect.signature(io.Schema).parameters


def schema(**fields) -> io.Schema:
    """``io.Schema(**fields)``, with the node's aliases where this ComfyUI takes them."""
    if takes_search_aliases():
        fields.setdefault("search_aliases", list(ALIASES.get(fields["node_id"], [])))
    return io.Schema(**fields)
