"""The loader and upscale nodes (V3 schema)."""

from __future__ import annotations


import comfy.model_management as mm
import comfy.utils
from comfy_api.latest import io

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor
from ..gan_models.errors import InvalidOptionError
from ..runtime.memory import MIN_TILE, estimate_bytes
from ..runtime.precision import PRECISIONS, resolve_device, resolve_dtype
from ..tasks.upscale import ALPHA_MODES, takes_seed, upscale
from . import core_models, model_folders
from .image_convert import core_to_comfy, image_to_core
from .model_cache import load_for_node

GanpostModel = io.Custom("GANPOST_MODEL")
MAX_TILE = 4096
PLANNING_TILE = 512  # tile side to make room for when tile = 0 (auto picks from what is then free)
MAX_SEED = 0xFFFFFFFFFFFFFFFF  # what torch.Generator.manual_seed takes, as KSampler's seed


class GanpostLoadUpscaleModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadUpscaleModel",
            display_name="ganpost: Load Upscale Model",
            category="ganpost",
            description="Load a Real-ESRGAN checkpoint (RRDBNet or SRVGGNetCompact, .pth or .safetensors) "
                        "from the upscale_models folder. Loading never runs pickled code.",
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(),
                                   tooltip="a file in models/upscale_models (or a path from extra_model_paths.yaml)")],
            outputs=[GanpostModel.Output(display_name="model",
                                          tooltip="into 'ganpost: Upscale Image', Restore Faces' upscale_model or a "
                                                  "fine-tune node")],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name):
        return model_folders.modified_time(model_name)

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_for_node(model_name, model_folders.model_path(model_name), "an upscaler"))


class GanpostUpscaleImage(io.ComfyNode):
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
                io.Int.Input("tile", default=0, min=0, max=MAX_TILE, step=8,
                             tooltip=f"input tile side in pixels (at least {MIN_TILE}); 0 = choose from free "
                                     "memory. Smaller tiles use less memory; results are seam-free either way."),
                io.Float.Input("outscale", default=0.0, min=0.0, max=16.0, step=0.05,
                               tooltip="final scale relative to the input (e.g. 2 with a ×4 model); "
                                       "0 = the model's own scale"),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip="auto = fp16 on CUDA, bf16 on CPUs with bf16 matrix units, where the "
                                       "model is safe in it; else fp32. Tiles that overflow in half precision "
                                       "are redone in fp32"),
                io.Combo.Input("alpha_mode", options=list(ALPHA_MODES), default="network",
                               tooltip="network: run alpha through the model (sharp edges, one more pass); "
                                       "resize: bicubic resize of alpha (faster)"),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, optional=True, control_after_generate=True,
                             tooltip="noise seed for models that draw noise (AuraSR): same seed, same image. "
                                     "Other models ignore it (set 'control after generate' to fixed so "
                                     "they are not rerun for a new seed)"),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the upscaled batch; RGBA stays RGBA"),
                     io.Mask.Output(display_name="mask", tooltip="1 − upscaled alpha; all zeros without alpha")],
        )

    @classmethod
    def execute(cls, model, image, tile, outscale, precision, alpha_mode, mask=None, seed=0) -> io.NodeOutput:
        if 0 < tile < MIN_TILE:
            raise InvalidOptionError(f"ganpost: tile {tile} is too small; use 0 (auto) or at least {MIN_TILE} px.")
        device = mm.get_torch_device()
        try:
            model = as_ganpost_model(model)
            batch = image_to_core(image, mask)
            mm.free_memory(_memory_required(model, precision, device, batch.shape[-2:], tile), device)
            bar = comfy.utils.ProgressBar(1)
            result = upscale(
                model, batch, tile=tile or "auto", outscale=outscale or None, precision=precision, device=device,
                alpha_mode=alpha_mode, seed=seed if takes_seed(model) else None,
                progress=lambda done, total: bar.update_absolute(done, total),
                cancel=mm.throw_exception_if_processing_interrupted,  # raises ComfyUI's interrupt; not caught
            )
        except GanpostError as err:
            raise RuntimeError(f"ganpost ({getattr(model, 'name', None) or 'core UPSCALE_MODEL'}): {err}") from err
        finally:
            mm.soft_empty_cache()
        return io.NodeOutput(*core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4))


def is_ganpost_model(model) -> bool:
    return all(hasattr(model, a) for a in ("module", "contract", "architecture"))


def require_ganpost_model(model) -> None:
    """Refuse anything that is not our loader's descriptor (e.g. core's UPSCALE_MODEL wired by mistake)."""
    if not is_ganpost_model(model):
        raise TypeError(f"ganpost: the model input must come from 'ganpost: Load Upscale Model', "
                        f"not {type(model).__name__}.")


def as_ganpost_model(model) -> ModelDescriptor:
    """Our loader's model as is; core's UPSCALE_MODEL converted (once per loaded model)."""
    if is_ganpost_model(model):
        return model
    if core_models.is_core_upscale_model(model):
        return core_models.from_core(model)
    raise TypeError(f"ganpost: the model input must come from 'ganpost: Load Upscale Model' or core's "
                    f"'Load Upscale Model', not {type(model).__name__}.")


def _memory_required(model: ModelDescriptor, precision: str, device, size, tile: int) -> int:
    """Bytes to make room for on ``device``: the weights plus one tile's activations."""
    dtype = resolve_dtype(model, precision, resolve_device(device))  # also rejects bad precision choices early
    return estimate_bytes(model, dtype, min(tile or PLANNING_TILE, max(size)))
