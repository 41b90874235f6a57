"""What ``ganpost train realesrgan`` and the 'Fine-tune Upscale Model' node show of the Real-ESRGAN recipe."""

from __future__ import annotations

from pathlib import Path

from ...components.sr_data import MADE_INPUTS, MADE_INPUTS_TOOLTIP
from ..front_end import (RESUME, SEED, CommandLine, Flag, NodeForm, NodeInput, NodeOutput, NodeRun, Publish,
                         run_name_input, steps_input)

COMMAND_LINE = CommandLine(
    summary="Real-ESRGAN (RRDBNet or compact): a folder of images in, a model out",
    flags=(
        Flag("--data", ("data", "train_dir"), "folder of high-resolution training images", Path,
             required="the training images"),
        Flag("--lq", ("data", "lq_dir"), "folder of matching low-resolution images (paired training)", Path,
             also={("data", "degradation"): "paired"}),
        Flag("--val", ("data", "val_dir"), "folder of held-out high-resolution images for validation", Path),
        Flag("--pretrained", ("generator", "pretrained"), "generator to start from: a file or an official name"),
        Flag("--discriminator", ("discriminator", "pretrained"),
             "discriminator to start from, e.g. RealESRGAN_x4plus_netD.pth"),
        Flag("--gt-size", ("data", "gt_size"), "training crop side at the output resolution", int),
    ),
    presets={"realesrgan-x4plus": "the official fine-tune", "realesrnet-x4plus": "L1 only",
             "compact-x4-clean": "our default model's"},
    set_example="losses.gan_weight=0.05",
)

# The node's recipe choice: its label → the preset it runs.
NODE_PRESETS = {"l1 (fast, RealESRNet-style)": "realesrnet-x4plus", "gan (official Real-ESRGAN recipe)": "realesrgan-x4plus"}


def _check(values: dict) -> None:
    model = values["model"]
    if not all(hasattr(model, a) for a in ("module", "contract", "architecture")):
        raise TypeError(f"ganpost: the model input must come from 'ganpost: Load Upscale Model', "
                        f"not {type(model).__name__}.")


def _run(v: dict) -> NodeRun:
    model, batch_size = v["model"], v["batch_size"]
    scale = model.scale
    crop = max(scale * 4, v["crop_size"] // (scale * 4) * (scale * 4))
    data = {"train_dir": str(v["image_folder"]), "degradation": v["degradation"], "gt_size": crop,
            "batch_size": batch_size, "pool_size": 0 if batch_size < 4 else batch_size * 4}
    if v["validation_folder"]:
        data.update(val_dir=str(v["validation_folder"]), val_crop=512)
    overrides = {"data": data, "generator": {"arch": model.architecture, "scale": scale, "pretrained": None},
                 "optim": {"lr_g": v["learning_rate"], "lr_d": v["learning_rate"]}}
    return NodeRun("realesrgan", overrides, preset=NODE_PRESETS[v["recipe"]],
                   options={"initial_generator": model.module})


NODE = NodeForm(
    node_id="GanpostTrainUpscaleModel",
    display_name="ganpost: Fine-tune Upscale Model",
    description="Fine-tune an upscale model on a folder of high-resolution images. Low-resolution inputs are made "
                "on the fly (Real-ESRGAN's degradations or a clean bicubic downscale). Cancel keeps the last "
                "checkpoint; run again with resume on to continue.",
    inputs=(
        NodeInput("model", "upscaler", "the model to start from ('ganpost: Load Upscale Model')"),
        NodeInput("image_folder", "string", "folder of high-resolution training images (absolute, or inside "
                                            "ComfyUI's input folder)", default="", folder=True),
        steps_input(1000),
        NodeInput("recipe", "combo", "l1: pixel loss only, fast and stable; gan: L1 + perceptual + GAN losses with a "
                                     "fresh U-Net discriminator, sharper (VGG19 weights from models/ganpost, "
                                     "downloaded there when absent)",
                  options=tuple(NODE_PRESETS), default=next(iter(NODE_PRESETS))),
        NodeInput("degradation", "combo", MADE_INPUTS_TOOLTIP, options=MADE_INPUTS, default="realesrgan"),
        NodeInput("learning_rate", "float", "the generator's (and the discriminator's) Adam learning rate",
                  default=1e-4, min=1e-7, max=1e-2, step=1e-5),
        NodeInput("batch_size", "int", "crops per step; lower it when memory runs out", default=4, min=1, max=256),
        NodeInput("crop_size", "int", "training crop side at the output resolution", default=128, min=32, max=1024,
                  step=16),
        SEED,
        run_name_input("ganpost_finetune"),
        RESUME,
        NodeInput("validation_folder", "string", "held-out images; PSNR against bicubic and a preview every 1/10 of "
                                                 "the run", default="", optional=True, folder=True),
    ),
    output=NodeOutput("upscaler", "model", "the fine-tuned model, also saved as models/upscale_models/<run_name>.pth"),
    run=_run,
    publish=Publish("upscale_models", ".pth"),
    check=_check,
)

__all__ = ["COMMAND_LINE", "NODE", "NODE_PRESETS"]
