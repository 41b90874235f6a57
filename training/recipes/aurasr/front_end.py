"""What ``ganpost train aurasr`` and the 'Fine-tune AuraSR' node show of the AuraSR recipe."""

from __future__ import annotations

from pathlib import Path

from ...components.sr_data import MADE_INPUTS, MADE_INPUTS_TOOLTIP
from ..front_end import (RESUME, SEED, CommandLine, Flag, NodeForm, NodeInput, NodeOutput, NodeRun, Publish,
                         run_name_input, steps_input)
from .networks import require_aurasr

COMMAND_LINE = CommandLine(
    summary="AuraSR ×4: fine-tune fal's UnetUpsampler (e.g. AuraSR-v2) on a folder of images",
    flags=(
        Flag("--data", ("data", "train_dir"), "folder of high-resolution training images", Path,
             required="the training images"),
        Flag("--val", ("data", "val_dir"), "folder of held-out high-resolution images for validation", Path),
        Flag("--pretrained", ("generator", "pretrained"),
             "generator to start from: AuraSR-v2, AuraSR, or a file our loader reads"),
        Flag("--model-config", ("generator", "config"),
             "config.json of the generator (a fresh one, or a file without one)", Path),
        Flag("--discriminator", ("discriminator", "pretrained"),
             "discriminator of an earlier run to continue from (net_d_latest.safetensors)"),
        Flag("--degradation", ("data", "degradation"), "how inputs are made: Real-ESRGAN's degradation (default) or "
                                                       "a clean bicubic downscale", choices=MADE_INPUTS),
        Flag("--warmup-steps", ("discriminator", "warmup_steps"),
             "steps that train only the discriminator (default 1000)", int),
        Flag("--gt-size", ("data", "gt_size"), "training crop side at the output resolution (default 256)", int),
    ),
    presets={"aurasr-finetune": ""},
    set_example="losses.gan_weight=0.05",
    shared_help={"--precision": "auto: bf16 autocast on CUDA"},
    model_note=" (with config.json beside it)",
)

# The preset's losses, or fewer of them: the perceptual anchor needs VGG19's weights (a download).
NODE_LOSSES = {
    "gan + L1 + perceptual (GigaGAN discriminator, anchored)": {},
    "gan + L1 (no VGG19 download)": {"perceptual_weight": 0},
    "L1 only (fast, no discriminator)": {"perceptual_weight": 0, "gan_weight": 0},
}
CROP_SIZES = ("256", "128", "64")  # output side; AuraSR's own tile is 256 from a 64 px input


def _run(v: dict) -> NodeRun:
    model, crop_size = v["model"], int(v["crop_size"])
    data = {"train_dir": str(v["image_folder"]), "degradation": v["degradation"], "gt_size": crop_size,
            "batch_size": v["batch_size"]}
    if v["validation_folder"]:
        data["val_dir"] = str(v["validation_folder"])
    # The connected model is what trains (a recipe option); its name only records where it came from.
    overrides = {"data": data, "generator": {"pretrained": str(model.source or model.name)},
                 "discriminator": {"warmup_steps": v["warmup_steps"], "multiscale_inputs": [crop_size // 2]},
                 "losses": dict(NODE_LOSSES[v["losses"]]), "optim": {"lr_g": v["learning_rate"]}}
    return NodeRun("aurasr", overrides, options={"initial_generator": model})


NODE = NodeForm(
    node_id="GanpostTrainAuraSR",
    display_name="ganpost: Fine-tune AuraSR",
    description="Fine-tune AuraSR (v1 or v2) on a folder of high-resolution images: a fresh GigaGAN-style "
                "discriminator is warmed up with AuraSR frozen, then both train, with L1 and perceptual anchors to "
                "the target. Cancel keeps the last checkpoint; run again with resume on to continue. The result "
                "lands in models/upscale_models as <run_name>.safetensors + .json.",
    inputs=(
        NodeInput("model", "upscaler", "the AuraSR to start from ('ganpost: Load Upscale Model')"),
        NodeInput("image_folder", "string", "folder of high-resolution training images (absolute, or inside "
                                            "ComfyUI's input folder)", default="", folder=True),
        steps_input(2000, "training steps in all, warm-up included (a resumed run continues up to this count)"),
        NodeInput("warmup_steps", "int", "steps that train only the fresh discriminator first (AuraSR frozen)",
                  default=500, min=0, max=1_000_000),
        NodeInput("losses", "combo", "which losses train AuraSR; perceptual needs VGG19's weights (models/ganpost, "
                                     "downloaded there when absent); L1 only has no discriminator",
                  options=tuple(NODE_LOSSES), default=next(iter(NODE_LOSSES))),
        NodeInput("degradation", "combo", MADE_INPUTS_TOOLTIP, options=MADE_INPUTS, default="realesrgan"),
        NodeInput("learning_rate", "float", "AuraSR's rate; the fresh discriminator learns at 2e-4",
                  default=2e-5, min=1e-7, max=1e-2, step=1e-6),
        NodeInput("batch_size", "int", "crops per step; lower it when memory runs out", default=4, min=1, max=256),
        NodeInput("crop_size", "combo", "training crop side at the output resolution (256 = AuraSR's tile)",
                  options=CROP_SIZES, default=CROP_SIZES[0]),
        SEED,
        run_name_input("ganpost_aurasr"),
        RESUME,
        NodeInput("validation_folder", "string", "held-out images; PSNR against bicubic and a preview every 1/10 of "
                                                 "the run", default="", optional=True, folder=True),
    ),
    output=NodeOutput("upscaler", "model", "the fine-tuned AuraSR, also saved as models/upscale_models/"
                                           "<run_name>.safetensors + .json"),
    run=_run,
    # The config first: the weights are never found without it (it holds what the tensors cannot tell).
    publish=Publish("upscale_models", ".safetensors", companions={"config.json": ".json"}),
    check=lambda values: require_aurasr(values["model"], "the model input"),
)
