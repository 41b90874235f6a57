"""Translation nodes (V3 schema): Load Translator and Translate Image (pix2pix / CycleGAN).

Thin adapters over ``tasks.translate``: a translator file from models/translation_models (or a
path from extra_model_paths.yaml), ComfyUI's IMAGE batch in and out with its size kept,
progress and interrupts passed through.
"""

from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
from comfy_api.latest import io

from ..gan_models import GanpostError, registry
from ..gan_models.contract import AtInference, ModelDescriptor, Task
from ..gan_models.loader import describe_state_dict
from ..runtime.memory import MIN_TILE
from ..runtime.precision import PRECISIONS
from ..tasks.translate import DEFAULT_TRAIN_SIZE, DIRECTIONS, SIZE_MODES, translate
from . import model_folders
from .image_convert import core_to_comfy, image_to_core
from .model_cache import load_for_node
from .upscale_nodes import MAX_TILE, _memory_required

GanpostTranslator = io.Custom("GANPOST_TRANSLATOR")
MODEL_DEFAULT = "model default"
TEST_TIMES = (MODEL_DEFAULT, *(m.value for m in AtInference))
PLANNING_SIDE = 1024  # room to make for a one-pass translation when tile = 0 (auto decides from what is free)
MAX_SEED = 2**63 - 1
ELSEWHERE = {Task.UPSCALE: "an upscaler goes in models/upscale_models and into 'ganpost: Load Upscale Model'",
             Task.FACE_RESTORE: "a face restorer goes in models/facerestore_models and into 'ganpost: Load Face Model'",
             Task.DISCRIMINATOR: "a discriminator only scores images in training; load the generator "
                                 "(latest_net_G.pth, or *_net_G_A.pth / *_net_G_B.pth of a CycleGAN)"}


def load_translator(model_name: str, unet_dropout: bool = True) -> ModelDescriptor:
    """The cached translator for a file in the translation folder; RuntimeError naming the file and the fix."""
    path = model_folders.model_path(model_name, model_folders.TRANSLATION_MODELS)
    model = load_for_node(model_name, path, "a pix2pix/CycleGAN generator")
    if model.contract.task != Task.TRANSLATE:
        hint = ELSEWHERE.get(model.contract.task, "this file is not an image-to-image translator")
        raise RuntimeError(f"ganpost: {model_name} ({path}) is {model.kind} ({model.architecture}), not a "
                           f"pix2pix/CycleGAN generator; {hint}.")
    if not unet_dropout and "dropout" in registry.entry_for(model.architecture).options:
        # U-Net dropout leaves no trace in the file: one trained with --no_dropout is rebuilt without it
        model = describe_state_dict(model.module.state_dict(), source=model.source, dropout=False)
    return model


class GanpostLoadTranslator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostLoadTranslator",
            display_name="ganpost: Load Translator",
            category="ganpost/translate",
            description="Load a pix2pix or CycleGAN generator (latest_net_G.pth, *_net_G_A.pth, a model-zoo file) "
                        "from models/translation_models. Every option (U-Net or ResNet, depth, width, norm) is "
                        "read from the file; loading never runs pickled code.",
            inputs=[
                io.Combo.Input("model_name", options=model_folders.list_models(model_folders.TRANSLATION_MODELS),
                               tooltip="a file in models/translation_models (or a path from extra_model_paths.yaml)"),
                io.Boolean.Input("unet_dropout", default=True,
                                 tooltip="U-Nets only (a ResNet's file says it): off for a model trained with "
                                         "--no_dropout. The file cannot tell; pix2pix's default is on"),
            ],
            outputs=[GanpostTranslator.Output(display_name="translator",
                                               tooltip="into 'ganpost: Translate Image' or, to fine-tune it, "
                                                       "'ganpost: Train Image Translator'")],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name, unet_dropout=True):
        return model_folders.modified_time(model_name, model_folders.TRANSLATION_MODELS)

    @classmethod
    def execute(cls, model_name, unet_dropout=True) -> io.NodeOutput:
        return io.NodeOutput(load_translator(model_name, unet_dropout))


class GanpostTranslateImage(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostTranslateImage",
            display_name="ganpost: Translate Image",
            category="ganpost/translate",
            description="pix2pix / CycleGAN image-to-image translation of an image batch at any size: the output "
                        "has the input's size (no 256 px crop). Keeps transparency and returns it as a mask.",
            inputs=[
                GanpostTranslator.Input("translator", tooltip="from 'ganpost: Load Translator' (for a CycleGAN "
                                                              "pair: G_A, which translates A→B)"),
                io.Image.Input("image", tooltip="the images to translate (a batch, any size)"),
                GanpostTranslator.Input("translator_b", optional=True,
                                        tooltip="a CycleGAN's other generator (G_B, *_net_G_B.pth), used when "
                                                "direction is BtoA"),
                io.Mask.Input("mask", optional=True,
                              tooltip="transparency, 1 = transparent (LoadImage's mask); all zeros = opaque. "
                                      "Ignored when the image already has an alpha channel."),
                io.Combo.Input("direction", options=list(DIRECTIONS), default="AtoB",
                               tooltip="AtoB runs translator; BtoA runs translator_b"),
                io.Combo.Input("size_mode", options=list(SIZE_MODES), default="pad",
                               tooltip="pad: every pixel kept (padded to the network's multiple, cropped back); "
                                       "resize: run at train_size × train_size like the official test script, "
                                       "then resize back"),
                io.Int.Input("train_size", default=DEFAULT_TRAIN_SIZE, min=16, max=4096, step=16,
                             tooltip="the side the network runs at with size_mode resize (ignored with pad)"),
                io.Combo.Input("test_time", options=list(TEST_TIMES), default=MODEL_DEFAULT,
                               tooltip="as_trained: batch statistics and dropout on, as the official test script; "
                                       "eval: running statistics, no dropout. model default = as_trained where "
                                       "it makes a difference (batch norm or dropout)"),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED,
                             tooltip="dropout's seed in as_trained mode: the same seed gives the same image"),
                io.Int.Input("tile", default=0, min=0, max=MAX_TILE, step=8,
                             tooltip=f"tile side in pixels (at least {MIN_TILE}); 0 = one pass when it fits in "
                                     "memory (best: norm statistics then cover the whole image), tiles otherwise"),
                io.Combo.Input("precision", options=list(PRECISIONS), default="auto",
                               tooltip="auto = fp16 on CUDA, bf16 on CPUs with bf16 matrix units, where the model "
                                       "is safe in it; else fp32"),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the translated batch, at the input's size"),
                     io.Mask.Output(display_name="mask", tooltip="1 − alpha; all zeros without alpha")],
        )

    @classmethod
    def execute(cls, translator, image, direction, size_mode, train_size, test_time, seed, tile, precision,
                translator_b=None, mask=None) -> io.NodeOutput:
        if 0 < tile < MIN_TILE:
            raise RuntimeError(f"ganpost: tile {tile} is too small; use 0 (auto) or at least {MIN_TILE} px.")
        if direction == "BtoA" and translator_b is None:
            raise RuntimeError("ganpost: direction BtoA runs the B→A generator: connect it (a CycleGAN's "
                               "*_net_G_B.pth) to translator_b.")
        device = mm.get_torch_device()
        chosen = translator_b if direction == "BtoA" else translator
        try:
            batch = image_to_core(image, mask)
            planning = tile or min(PLANNING_SIDE, max(batch.shape[-2:]))
            mm.free_memory(_memory_required(chosen, precision, device, batch.shape[-2:], planning), device)
            bar = comfy.utils.ProgressBar(1)
            result = translate(
                batch, translator, model_b=translator_b, direction=direction, size_mode=size_mode,
                train_size=train_size if size_mode == "resize" else None, tile=tile or "auto",
                test_time=None if test_time == MODEL_DEFAULT else test_time, seed=seed, precision=precision,
                device=device, progress=lambda done, total: bar.update_absolute(done, total),
                cancel=mm.throw_exception_if_processing_interrupted,  # raises ComfyUI's interrupt; not caught
            )
        except GanpostError as err:
            raise RuntimeError(f"ganpost ({getattr(chosen, 'name', None) or 'translator'}): {err}") from err
        finally:
            mm.soft_empty_cache()
        return io.NodeOutput(*core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4))
