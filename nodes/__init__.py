"""ComfyUI adapters: the only package that imports comfy, folder_paths or comfy_api."""

from comfy_api.latest import ComfyExtension, io

from .face_nodes import (
    GanpostDetectFaces, GanpostLoadFaceDetector, GanpostLoadFaceModel, GanpostLoadFaceParser, GanpostRestoreFaces,
)
from .train_nodes import TRAIN_NODES  # one per recipe node form (training.recipes.RECIPES)
from .translate_nodes import GanpostLoadTranslator, GanpostTranslateImage
from .upscale_nodes import GanpostLoadUpscaleModel, GanpostUpscaleImage


class GanpostExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [GanpostLoadUpscaleModel, GanpostUpscaleImage,
                GanpostLoadFaceModel, GanpostLoadFaceDetector, GanpostRestoreFaces, GanpostDetectFaces,
                GanpostLoadFaceParser, GanpostLoadTranslator, GanpostTranslateImage, *TRAIN_NODES]
