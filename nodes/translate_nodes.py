"""Translation nodes (V3 schema): Load Translator and Translate Image (pix2pix / CycleGAN).

Thin adapters over ``tasks.translate``: a translator file from models/translation_models (or a
path from extra_model_paths.yaml), ComfyUI's IMAGE batch in and out with its size kept.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..gan_models import registry
from ..gan_models.contract import AtInference, Task
from ..gan_models.loader import describe_state_dict
from ..runtime.memory import MIN_TILE
from ..tasks.translate import DEFAULT_TRAIN_SIZE, OPTIONS, device_bytes, translate
from .constants import SIGNED_MAX_SEED
from .image_convert import core_to_comfy
from .inputs import AUTO_TILE, MASK_TOOLTIP, Encoding, TaskWidgets
from .loaders import ModelLoader, load_task_model
from .run import run_task
from .search_aliases import schema
from .types import GanpostTranslator

MODEL_DEFAULT = "model default"
TERMS = {"model_b": "translator_b", "model": "translator"}  # the task's keywords → this node's inputs


class GanpostLoadTranslator(ModelLoader):
    task, category, output, output_name = Task.TRANSLATE, "ganpost/translate", GanpostTranslator, "translator"
    note = "pix2pix or CycleGAN: every option (U-Net or ResNet, depth, width, norm) is read from the file. "
    output_tooltip = "into 'ganpost: Translate Image' or, to fine-tune it, 'ganpost: Train Image Translator'"

    @classmethod
    def extra_inputs(cls):
        return [io.Boolean.Input("unet_dropout", default=True,
                                 tooltip="U-Nets only (a ResNet's file says it): off for a model trained with "
                                         "--no_dropout. The file cannot tell; pix2pix's default is on")]

    @classmethod
    def execute(cls, model_name, unet_dropout=True) -> io.NodeOutput:
        model = load_task_model(model_name, Task.TRANSLATE)
        if not unet_dropout and model.hyperparameters.get("dropout") and "dropout" in registry.entry_for(
                model.architecture).options:
            # U-Net dropout leaves no trace in the file: one trained with --no_dropout is rebuilt without it
            weights = model.module.state_dict()
            if not weights:  # an exported graph (ONNX): the choice was made when it was written
                raise RuntimeError(f"ganpost: {model_name} was exported with its dropout on; export it again "
                                   "from its .pth with dropout off, or load the .pth here")
            model = describe_state_dict(weights, source=model.source, dropout=False)
        return io.NodeOutput(model)


class GanpostTranslateImage(io.ComfyNode):
    WIDGETS = TaskWidgets(
        Task.TRANSLATE, OPTIONS,
        {"direction": dict(tooltip="AtoB runs translator; BtoA runs translator_b"), "size_mode": {},
         "train_size": dict(step=16), "test_time": {}, "seed": {},
         "tile": dict(step=8, tooltip=f"tile side in pixels (at least {MIN_TILE}); 0 = one pass when it fits in "
                                      "memory (best: norm statistics then cover the whole image), tiles otherwise"),
         "precision": {}},
        encodings={
            "train_size": Encoding("a widget holds a number: passed with size_mode resize only (execute)",
                                   means="ignored with pad", default=DEFAULT_TRAIN_SIZE, min=16, max=4096),
            "test_time": Encoding("a combo cannot hold None: 'model default' stands for it",
                                  lambda mode: None if mode == MODEL_DEFAULT else mode, default=MODEL_DEFAULT,
                                  options=[MODEL_DEFAULT, *(m.value for m in AtInference)],
                                  means="model default = as_trained where it makes a difference (batch norm or dropout)"),
            "seed": Encoding("a widget holds a number (None means seed 0 too); the signed cap saved workflows have",
                             default=0, max=SIGNED_MAX_SEED),
            "tile": AUTO_TILE,
        })

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="GanpostTranslateImage", display_name="ganpost: Translate Image", category="ganpost/translate",
            description="pix2pix / CycleGAN image-to-image translation of an image batch at any size: the output "
                        "has the input's size (no 256 px crop). Keeps transparency and returns it as a mask.",
            inputs=[
                GanpostTranslator.Input("translator", tooltip="from 'ganpost: Load Translator' (for a CycleGAN "
                                                              "pair: G_A, which translates A→B)"),
                io.Image.Input("image", tooltip="the images to translate (a batch, any size)"),
                GanpostTranslator.Input("translator_b", optional=True,
                                        tooltip="a CycleGAN's other generator (G_B, *_net_G_B.pth), used when "
                                                "direction is BtoA"),
                io.Mask.Input("mask", optional=True, tooltip=MASK_TOOLTIP),
                *cls.WIDGETS.inputs(),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the translated batch, at the input's size"),
                     io.Mask.Output(display_name="mask", tooltip="1 − alpha; all zeros without alpha")],
        )

    @classmethod
    def execute(cls, translator, image, translator_b=None, mask=None, **widgets) -> io.NodeOutput:
        options = cls.WIDGETS.to_task(widgets)
        if options["size_mode"] != "resize":
            options["train_size"] = None  # the widget always holds a side; the task takes one with resize only
        runs = translator_b if options["direction"] == "BtoA" else translator  # the model errors name
        result = run_task(translate, image, mask, translator, model_b=translator_b, needs=device_bytes,
                          name=getattr(runs, "name", None), terms=TERMS, **options)
        return io.NodeOutput(*core_to_comfy(result, keep_alpha_channel=image.shape[-1] == 4))
