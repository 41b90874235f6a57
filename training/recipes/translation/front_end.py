"""What ``ganpost train pix2pix|cyclegan`` and the 'Train Image Translator' node show of the translation recipes."""

from __future__ import annotations

from pathlib import Path

from ....gan_models.contract import Task
from ...config_schema import ConfigError
from ..front_end import (RESUME, SEED, CommandLine, Flag, NodeForm, NodeInput, NodeOutput, NodeRun, run_name_input,
                         steps_input)


def command_line(name: str) -> CommandLine:
    """pix2pix's or CycleGAN's flags: the same apart from pix2pix's aligned folder and CycleGAN's G_B."""
    cycle = name == "cyclegan"
    summary = ("CycleGAN: two unpaired folders in, A→B and B→A generators out" if cycle else
               "pix2pix: paired images (A|B files, or two folders matched by name) in, an A→B generator out")
    flags = [] if cycle else [
        Flag("--data", ("data", "dir"), "folder of aligned training images, A and B side by side (official)", Path)]
    flags += [
        Flag("--data-a", ("data", "dir_a"), "folder of domain A images" + ("" if cycle else
                                                                       " (paired with --data-b by file name)"), Path),
        Flag("--data-b", ("data", "dir_b"), "folder of domain B images", Path),
        Flag("--val", ("data", "val_dir"), "held-out aligned A|B images: PSNR and a preview at each validation", Path),
        Flag("--val-a", ("data", "val_dir_a"), "held-out A images, paired with --val-b by file name", Path),
        Flag("--val-b", ("data", "val_dir_b"), "held-out B images", Path),
        Flag("--direction", ("data", "direction"), "which side is the input (default AtoB)", choices=("AtoB", "BtoA")),
        Flag("--pretrained", ("generator", "pretrained"), "generator to fine-tune" + (" as G_A" if cycle else "") +
             ", e.g. a latest_net_G.pth; its architecture comes from the file"),
    ]
    if cycle:
        flags.append(Flag("--pretrained-b", ("generator", "pretrained_b"),
                          "G_B to fine-tune (default: fresh, with G_A's architecture)"))
    flags += [
        Flag("--discriminator", ("discriminator", "pretrained"),
             "discriminator to continue from" + (" as D_A" if cycle else "")),
        Flag("--load-size", ("data", "load_size"), "images are resized to this square first (official 286)", int),
        Flag("--crop-size", ("data", "crop_size"), "random training crop side (official 256)", int),
        Flag("--no-flip", ("data", "flip"), "no random horizontal flips", switch=False),
    ]
    presets = {name: "the official one"}
    if not cycle:
        presets["pix2pix-finetune"] = "a --pretrained ResNet translator to a new look"
    return CommandLine(summary=summary, flags=tuple(flags), presets=presets, set_example="losses.l1_weight=50",
                       shared_help={"--steps": "total optimizer steps (official: 200 epochs = 200 × images / batch)"})


def describe(config) -> str:
    g = config.generator
    net = f"fine-tuning {g.pretrained}" if g.pretrained else f"{g.net} ({g.norm} norm)"
    return f"{config.data.direction}, {net}"


def validation_text(metrics: dict) -> str:
    """``PSNR 21.30 dB (B→A 20.10) vs the input unchanged 18.00``: each direction against its target."""
    text = f"PSNR {metrics['psnr_AtoB']:.2f} dB"
    if "psnr_BtoA" in metrics:
        text += f" (B→A {metrics['psnr_BtoA']:.2f})"
    return text + f" vs the input unchanged {metrics['psnr_identity']:.2f}"


# The node's recipe choice: its label → (recipe, the A|B images side by side in one folder).
NODE_RECIPES = {
    "pix2pix (two folders, pairs by file name)": ("pix2pix", False),
    "pix2pix (one folder of aligned A|B images)": ("pix2pix", True),
    "cyclegan (two unpaired folders)": ("cyclegan", False),
}


def _check(values: dict) -> None:
    model = values["model"]
    if model is not None and getattr(getattr(model, "contract", None), "task", None) != Task.TRANSLATE:
        raise ConfigError(f"the model input is a {getattr(model, 'architecture', type(model).__name__)}, not an "
                          "image translator; leave it empty to train from scratch")


def _run(v: dict) -> NodeRun:
    recipe, aligned = NODE_RECIPES[v["recipe"]]
    crop_size = v["crop_size"]
    data = {"direction": v["direction"], "batch_size": v["batch_size"], "crop_size": crop_size,
            "load_size": round(crop_size * 286 / 256)}
    val_a, val_b = v["validation_folder_a"], v["validation_folder_b"]
    if aligned:
        data["dir"] = str(v["folder_a"])
        if val_a:
            data["val_dir"] = str(val_a)
    else:
        data.update(dir_a=str(v["folder_a"]), dir_b=str(v["folder_b"]))
        if val_a and val_b:
            data.update(val_dir_a=str(val_a), val_dir_b=str(val_b))
    overrides = {"data": data, "optim": {"lr_g": v["learning_rate"], "lr_d": v["learning_rate"]}}
    if recipe == "pix2pix":
        overrides["generator"] = {"net": f"unet_{_unet_side(crop_size)}"}  # the deepest U-Net the crop allows, ≤ 256
    model = v["model"]
    return NodeRun(recipe, overrides, options={"initial_generator": None if model is None else model.module})


def _unet_side(crop_size: int) -> int:
    side = 256
    while crop_size % side:
        side //= 2
    return side


NODE = NodeForm(
    node_id="GanpostTrainTranslator",
    display_name="ganpost: Train Image Translator",
    description="Train a pix2pix (paired) or CycleGAN (unpaired) translator with the official recipe, from scratch "
                "or from a given model. Cancel keeps the last checkpoint; run again with resume on to continue.",
    inputs=(
        NodeInput("recipe", "combo", "pix2pix learns from pairs (same file name in folder_a and folder_b, or A|B side "
                                     "by side in one image); cyclegan from two unpaired folders",
                  options=tuple(NODE_RECIPES), default=next(iter(NODE_RECIPES))),
        NodeInput("folder_a", "string", "domain A images (the aligned A|B folder for the aligned recipe); absolute, "
                                        "or inside ComfyUI's input folder", default="", folder=True),
        NodeInput("folder_b", "string", "domain B images (unused for aligned A|B images)", default="", folder=True),
        steps_input(1000),
        NodeInput("direction", "combo", "AtoB: folder_a's images are the inputs, folder_b's the targets; BtoA swaps "
                                        "them (the official --direction)", options=("AtoB", "BtoA"), default="AtoB"),
        NodeInput("learning_rate", "float", "Adam learning rate of the generators and discriminators",
                  default=2e-4, min=1e-7, max=1e-2, step=1e-5),
        NodeInput("batch_size", "int", "crops per step (the official recipes use 1)", default=1, min=1, max=256),
        NodeInput("crop_size", "int", "training crop side; images are first resized to 286/256 of it",
                  default=256, min=32, max=1024, step=32),
        SEED,
        run_name_input("ganpost_translator", publishes=False),
        RESUME,
        NodeInput("model", "translator", "a translator to fine-tune ('ganpost: Load Translator'; CycleGAN: as G_A); "
                                         "empty = from scratch", optional=True),
        NodeInput("validation_folder_a", "string", "held-out A images paired by name with validation_folder_b "
                                                   "(aligned recipe: held-out A|B images); PSNR and a preview every "
                                                   "1/10 of the run", default="", optional=True, folder=True),
        NodeInput("validation_folder_b", "string", "held-out B images paired by name with validation_folder_a "
                                                   "(unused by the aligned recipe)", default="", optional=True,
                  folder=True),
    ),
    output=NodeOutput("translator", "translator", "the trained generator (latest_net_G.pth, or G_A of a CycleGAN, in "
                                                  "output/ganpost_training/<run_name>)"),
    run=_run,
    check=_check,
)
