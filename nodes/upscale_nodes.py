"""The loader and upscale nodes (V3 schema)."""

from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
import folder_paths
from comfy_api.latest import io

from ..gan_models import GanpostError, upscale
from ..gan_models.precision import PRECISIONS
from .image_convert import core_to_comfy, image_to_core
from .model_cache import cached_model

GanpostModel = io.Custom("GANPOST_MODEL")


class GanpostLoadUpscaleModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadUpscaleModel",
            display_name="ganpost: Load Upscale Model",
            category="ganpost",
            description="Load a Real-ESRGAN (RRDBNet or compact) checkpoint from the upscale_models folder.",
            inputs=[io.Combo.Input("model_name", options=folder_paths.get_filename_list("upscale_models"))],
            outputs=[GanpostModel.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        path = folder_paths.get_full_path_or_raise("upscale_models", model_name)
        try:
            return io.NodeOutput(cached_model(path))
        except GanpostError as err:
            raise RuntimeError(f"ganpost: {err}") from err


class GanpostUpscaleImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostUpscaleImage",
            display_name="ganpost: Upscale Image",
            category="ganpost",
            description="Seam-free tiled upscaling; keeps alpha (from an RGBA image or the mask).",
            inputs=[
                GanpostModel.Input("model"),
                io.Image.Input("image"),
                io.Mask.Input("mask", optional=True, tooltip="transparency as ComfyUI masks it (1 = transparent)"),
                io.Int.Input("tile", default=0, min=0, max=4096, step=8,
                             tooltip="input tile side in pixels; 0 = choose from free memory"),
                io.Float.Input("outscale", default=0.0, min=0.0, max=16.0, step=0.05,
                               tooltip="final scale; 0 = the model's own scale"),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto"),
                io.Combo.Input("alpha_mode", options=["network", "resize"], default="network"),
            ],
            outputs=[io.Image.Output(display_name="image"), io.Mask.Output(display_name="mask")],
        )

    @classmethod
    def execute(cls, model, image, tile, outscale, precision, alpha_mode, mask=None) -> io.NodeOutput:
        batch = image_to_core(image, mask)
        device = mm.get_torch_device()
        mm.free_memory(mm.module_size(model.module) * 2, device)
        bar = comfy.utils.ProgressBar(1)
        try:
            result = upscale(
                model, batch, tile=tile or "auto", outscale=outscale or None, precision=precision, device=device,
                alpha_mode=alpha_mode, progress=lambda done, total: bar.update_absolute(done, total),
                cancel=mm.throw_exception_if_processing_interrupted,
            )
        except GanpostError as err:
            raise RuntimeError(f"ganpost: {err}") from err
        finally:
            mm.soft_empty_cache()
        return io.NodeOutput(*core_to_comfy(result, had_alpha_channel=image.shape[-1] == 4))
