"""The upscale loader and Upscale Image (V3 schema): thin adapters over ``tasks.upscale``."""

from __future__ import annotations

from comfy_api.latest import io

from ..gan_models.contract import Task
from ..tasks.upscale import OPTIONS, upscale
from .constants import MAX_SEED, PLANNING_TILE
from .core_models import as_ganpost_model, is_ganpost_model, require_ganpost_model  # noqa: F401 - train nodes
from .image_convert import core_to_comfy
from .inputs import AUTO_TILE, TaskWidgets, encoding
from .loaders import ModelLoader
from .run import longest_side, run_task
from .types import GanpostModel


class GanpostLoadUpscaleModel(ModelLoader):
    task = Task.UPSCALE
    description = ("Load a Real-ESRGAN checkpoint (RRDBNet or SRVGGNetCompact, .pth or .safetensors) or AuraSR "
                   "from the upscale_models folder. Loading never runs pickled code.")
    output, output_name = GanpostModel, "model"
    output_tooltip = "into 'ganpost: Upscale Image', Restore Faces' upscale_model or a fine-tune node"


class GanpostUpscaleImage(io.ComfyNode):
    WIDGETS = TaskWidgets(
        Task.UPSCALE, OPTIONS,
        {"tile": dict(step=8), "outscale": dict(step=0.05), "precision": {}, "alpha_mode": {},
         "seed": dict(optional=True, control_after_generate=True)},
        encodings={
            "tile": AUTO_TILE,
            "outscale": encoding("0 = the model's own scale (None): a widget holds a number", lambda x: x or None,
                                 default=0.0, min=0.0, max=16.0, tooltip="final scale relative to the input (e.g. 2 "
                                 "with a ×4 model); 0 = the model's own scale"),
            "seed": encoding("a widget holds a number, so 0 is a seed like any other (no None); optional so "
                             "workflows saved before it still run", default=0, max=MAX_SEED,
                             tooltip="noise seed for models that draw noise (AuraSR): same seed, same image. Other "
                                     "models ignore it (set 'control after generate' to fixed so they are not rerun "
                                     "for a new seed)"),
        },
        left_out={"size": "outscale sets the size; an exact size is core's Image Scale after this node"})

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostUpscaleImage",
            display_name="ganpost: Upscale Image",
            category="ganpost",
            description="Seam-free tiled upscaling of an image batch; keeps transparency (from an RGBA image "
                        "or the mask) and returns it as a mask.",
            inputs=[
                io.MultiType.Input("model", types=[GanpostModel, io.UpscaleModel],
                                   tooltip="from 'ganpost: Load Upscale Model', or core's 'Load Upscale Model' "
                                           "(architectures ganpost knows run its own code with the same weights; "
                                           "others run spandrel's network with ganpost's tiling)"),
                io.Image.Input("image", tooltip="the images to upscale (a batch; RGB, or RGBA from Join Image with Alpha)"),
                io.Mask.Input("mask", optional=True,
                              tooltip="transparency, 1 = transparent (LoadImage's mask). All zeros = opaque. "
                                      "Ignored when the image already has an alpha channel."),
                *cls.WIDGETS.inputs(),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the upscaled batch; RGBA stays RGBA"),
                     io.Mask.Output(display_name="mask", tooltip="1 − upscaled alpha; all zeros without alpha")],
        )

    @classmethod
    def execute(cls, model, image, mask=None, **widgets) -> io.NodeOutput:
        model = as_ganpost_model(model)
        options = cls.WIDGETS.to_task(widgets)
        side = min(widgets.get("tile") or PLANNING_TILE, longest_side(image))
        result = run_task(upscale, image, mask, model, room=[(model, side)], **options)
        return io.NodeOutput(*core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4))
