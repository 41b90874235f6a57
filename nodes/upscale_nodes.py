"""The upscale loader and Upscale Image (V3 schema): thin adapters over ``tasks.upscale``."""

from __future__ import annotations

from comfy_api.latest import io

from ..gan_models.contract import Task
from ..tasks.upscale import OPTIONS, device_bytes, upscale
from .core_models import as_ganpost_model
from .image_convert import core_to_comfy
from .inputs import AUTO_TILE, MASK_TOOLTIP, Encoding, TaskWidgets
from .loaders import ModelLoader
from .run import run_task
from .search_aliases import schema
from .types import GanpostModel


class GanpostLoadUpscaleModel(ModelLoader):
    task, output, output_name = Task.UPSCALE, GanpostModel, "model"
    note = "Real-ESRGAN (RRDBNet, SRVGGNetCompact) or AuraSR, .pth or .safetensors. "
    output_tooltip = "into 'ganpost: Upscale Image', Restore Faces' upscale_model or a fine-tune node"


class GanpostUpscaleImage(io.ComfyNode):
    WIDGETS = TaskWidgets(
        Task.UPSCALE, OPTIONS,
        {"tile": dict(step=8), "outscale": dict(step=0.05), "precision": {}, "alpha_mode": {},
         "seed": dict(optional=True, control_after_generate=True)},
        encodings={
            "tile": AUTO_TILE,
            "outscale": Encoding("a widget holds a number: 0 stands for None", lambda scale: scale or None,
                                 means="0 = the model's own scale", default=0.0, min=0.0, max=16.0),
            "seed": Encoding("a widget holds a number, so 0 is a seed like any other (no None)", default=0,
                             means="models without noise ignore it (set 'control after generate' to fixed so they "
                                   "are not rerun for a new seed)"),
        },
        left_out={"size": "outscale sets the size; an exact size is core's Image Scale after this node"})

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="GanpostUpscaleImage", display_name="ganpost: Upscale Image", category="ganpost",
            description="Seam-free tiled upscaling of an image batch; keeps transparency (from an RGBA image "
                        "or the mask) and returns it as a mask.",
            inputs=[
                io.MultiType.Input("model", types=[GanpostModel, io.UpscaleModel],
                                   tooltip="from 'ganpost: Load Upscale Model', or core's 'Load Upscale Model' "
                                           "(architectures ganpost knows run its own code with the same weights; "
                                           "others run spandrel's network with ganpost's tiling)"),
                io.Image.Input("image", tooltip="the images to upscale (a batch; RGB, or RGBA from Join Image with Alpha)"),
                io.Mask.Input("mask", optional=True, tooltip=MASK_TOOLTIP),
                *cls.WIDGETS.inputs(),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the upscaled batch; RGBA stays RGBA"),
                     io.Mask.Output(display_name="mask", tooltip="1 − upscaled alpha; all zeros without alpha")],
        )

    @classmethod
    def execute(cls, model, image, mask=None, **widgets) -> io.NodeOutput:
        model = as_ganpost_model(model)
        options = cls.WIDGETS.to_task(widgets)
        result = run_task(upscale, image, mask, model, needs=device_bytes, **options)
        return io.NodeOutput(*core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4))
