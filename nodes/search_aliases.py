"""Other words a user types in the node search to find each node, passed to ComfyUI where it reads them.

Newer ComfyUI versions take ``search_aliases`` in a node's ``io.Schema`` and the frontend's node
search matches them beside the name; ComfyUI 0.3.64 (frontend 1.27) has neither, so :func:`schema`
passes the aliases only when this ComfyUI's Schema declares the field: older ones load the nodes as
before. A node missing from the table (a new recipe's node) gets none. The families a node runs are
added from the registry (the families with known files in the node's models folder), so a new family
is found by its name with no edit here (and no architecture is named outside its folder).
"""

from __future__ import annotations

import inspect

from comfy_api.latest import io

from ..gan_models import registry
from ..gan_models.contract import Task
from ..tasks.wrong_model import PLACES

_TRAIN = ["train", "fine-tune", "finetune", "training"]
ALIASES: dict[str, list[str]] = {
    "GanpostLoadUpscaleModel": ["upscale model loader", "Real-ESRGAN", "ESRGAN", "AuraSR", "super resolution model"],
    "GanpostUpscaleImage": ["upscale", "upscaler", "hires fix upscale", "super resolution", "Real-ESRGAN", "ESRGAN",
                            "AuraSR", "enlarge", "x4", "tiled upscale"],
    "GanpostLoadFaceModel": ["face restore model", "GFPGAN"],
    "GanpostLoadFaceDetector": ["face detection model", "facedetection"],
    "GanpostLoadFaceParser": ["face parsing", "face segmentation"],
    "GanpostRestoreFaces": ["face restore", "face restoration", "fix faces", "face fix", "GFPGAN", "face enhance"],
    "GanpostDetectFaces": ["face detect", "face detection", "face mask", "face crop", "align faces"],
    "GanpostLoadTranslator": ["pix2pix model", "CycleGAN model", "image translation model", "style model"],
    "GanpostTranslateImage": ["pix2pix", "CycleGAN", "image to image", "img2img GAN", "style transfer",
                              "image translation"],
    "GanpostTrainUpscaleModel": [*_TRAIN, "Real-ESRGAN training", "upscaler training"],
    "GanpostTrainAuraSR": [*_TRAIN, "AuraSR training", "GigaGAN"],
    "GanpostTrainFaceModel": [*_TRAIN, "GFPGAN training", "face restore training"],
    "GanpostTrainTranslator": [*_TRAIN, "pix2pix training", "CycleGAN training"],
}


# the models folder whose families a node runs (their names are added to its aliases)
FOLDER_OF = {"GanpostLoadUpscaleModel": Task.UPSCALE, "GanpostUpscaleImage": Task.UPSCALE,
             "GanpostLoadFaceModel": Task.FACE_RESTORE, "GanpostRestoreFaces": Task.FACE_RESTORE,
             "GanpostLoadFaceDetector": Task.FACE_DETECT, "GanpostDetectFaces": Task.FACE_DETECT,
             "GanpostLoadFaceParser": Task.FACE_PARSE,
             "GanpostLoadTranslator": Task.TRANSLATE, "GanpostTranslateImage": Task.TRANSLATE}


def aliases(node_id: str) -> list[str]:
    """The node's words, then the registered families with known files in its models folder."""
    words = list(ALIASES.get(node_id, []))
    task = FOLDER_OF.get(node_id)
    if task is not None:
        folder = PLACES[task].folder
        families = sorted({registry.entry_for(known.architecture).family for known in registry.known_files()
                           if known.comfy_folder == folder})
        words += [f for f in families if f.lower() not in {w.lower() for w in words}]
    return words


def takes_search_aliases() -> bool:
    """Whether this ComfyUI's ``io.Schema`` has a ``search_aliases`` field (0.3.64's has not)."""
    return "search_aliases" in inspect.signature(io.Schema).parameters


def schema(**fields) -> io.Schema:
    """``io.Schema(**fields)``, with the node's aliases where this ComfyUI takes them."""
    if takes_search_aliases():
        fields.setdefault("search_aliases", aliases(fields["node_id"]))
    return io.Schema(**fields)
