"""Training an image translator (pix2pix or CycleGAN) inside ComfyUI (V3 schema).

Like the upscale training node: the whole run happens in this node's execution, with ComfyUI's
progress bar, a preview at each validation and Cancel (saved first, so running again with resume on
continues). The files land in the run folder under their official names (``latest_net_G.pth``).
"""

from __future__ import annotations


import comfy.model_management as mm
from comfy_api.latest import io

from ..gan_models import GanpostError, load_model
from ..gan_models.contract import Task
from ..training.config import load_config
from .train_nodes import SEED_TOOLTIP, SUMMARY_TOOLTIP, _input_folder, losses_text, train_in_node
from .train_run_names import run_folder
from .translate_nodes import GanpostTranslator

RECIPES = {
    "pix2pix (two folders, pairs by file name)": "pix2pix",
    "pix2pix (one folder of aligned A|B images)": "pix2pix-aligned",
    "cyclegan (two unpaired folders)": "cyclegan",
}


class GanpostTrainTranslator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostTrainTranslator",
            display_name="ganpost: Train Image Translator",
            category="ganpost/training",
            description="Train a pix2pix (paired) or CycleGAN (unpaired) translator with the official recipe, "
                        "from scratch or from a given model. Cancel keeps the last checkpoint; run again with "
                        "resume on to continue.",
            is_output_node=True,
            inputs=[
                io.Combo.Input("recipe", options=list(RECIPES), default=next(iter(RECIPES)),
                               tooltip="pix2pix learns from pairs (same file name in folder_a and folder_b, or A|B "
                                       "side by side in one image); cyclegan from two unpaired folders"),
                io.String.Input("folder_a", default="",
                                tooltip="domain A images (the aligned A|B folder for the aligned recipe); absolute, "
                                        "or inside ComfyUI's input folder"),
                io.String.Input("folder_b", default="", tooltip="domain B images (unused for aligned A|B images)"),
                io.Int.Input("steps", default=1000, min=1, max=10_000_000,
                             tooltip="training steps in all (a resumed run continues up to this count)"),
                io.Combo.Input("direction", options=["AtoB", "BtoA"], default="AtoB",
                               tooltip="AtoB: folder_a's images are the inputs, folder_b's the targets; "
                                       "BtoA swaps them (the official --direction)"),
                io.Float.Input("learning_rate", default=2e-4, min=1e-7, max=1e-2, step=1e-5,
                               tooltip="Adam learning rate of the generators and discriminators"),
                io.Int.Input("batch_size", default=1, min=1, max=256,
                             tooltip="crops per step (the official recipes use 1)"),
                io.Int.Input("crop_size", default=256, min=32, max=1024, step=32,
                             tooltip="training crop side; images are first resized to 286/256 of it"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip=SEED_TOOLTIP),
                io.String.Input("run_name", default="ganpost_translator",
                                tooltip="run folder under output/ganpost_training (letters, digits, - _ .)"),
                io.Boolean.Input("resume", default=True, tooltip="continue this run_name's last state if it exists"),
                GanpostTranslator.Input("model", optional=True,
                                        tooltip="a translator to fine-tune ('ganpost: Load Translator'; CycleGAN: "
                                                "as G_A); empty = from scratch"),
                io.String.Input("validation_folder_a", default="", optional=True,
                                tooltip="held-out A images paired by name with validation_folder_b (aligned recipe: "
                                        "held-out A|B images); PSNR and a preview every 1/10 of the run"),
                io.String.Input("validation_folder_b", default="", optional=True,
                                tooltip="held-out B images paired by name with validation_folder_a (unused by the "
                                        "aligned recipe)"),
            ],
            outputs=[GanpostTranslator.Output(display_name="translator",
                                               tooltip="the trained generator (latest_net_G.pth, or G_A of a "
                                                       "CycleGAN, in output/ganpost_training/<run_name>)"),
                     io.String.Output(display_name="summary", tooltip=SUMMARY_TOOLTIP)],
        )

    @classmethod
    def execute(cls, recipe, folder_a, folder_b, steps, direction, learning_rate, batch_size, crop_size, seed,
                run_name, resume, model=None, validation_folder_a="", validation_folder_b="") -> io.NodeOutput:
        kind = RECIPES[recipe]
        if model is not None and getattr(getattr(model, "contract", None), "task", None) != Task.TRANSLATE:
            raise RuntimeError(f"ganpost training ({run_name}): the model input is a "
                               f"{getattr(model, 'architecture', type(model).__name__)}, not an image translator; "
                               "leave it empty to train from scratch")
        run_dir = run_folder(run_name)
        result, progress = train_in_node(
            lambda: _config(kind, folder_a, folder_b, validation_folder_a, validation_folder_b, steps, direction,
                            learning_rate, batch_size, crop_size, seed, run_dir, mm.get_torch_device()),
            run_name, steps, resume, initial_generator=None if model is None else model.module)
        try:
            trained = load_model(result.generator)
        except GanpostError as err:
            raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
        summary = f"{run_name}: step {result.step}/{steps}; {losses_text(progress)}; saved {result.generator}"
        if result.validation:
            v = result.validation
            summary += f"; PSNR {v['psnr_AtoB']:.2f} dB vs the input unchanged {v['psnr_identity']:.2f}"
        return io.NodeOutput(trained, summary)


def _config(kind, folder_a, folder_b, val_a, val_b, steps, direction, lr, batch_size, crop_size, seed, run_dir,
            device):
    aligned = kind == "pix2pix-aligned"
    data = {"direction": direction, "batch_size": batch_size, "crop_size": crop_size,
            "load_size": round(crop_size * 286 / 256)}
    if aligned:
        data["dir"] = str(_input_folder(folder_a))
        if val_a:
            data["val_dir"] = str(_input_folder(val_a))
    else:
        data.update(dir_a=str(_input_folder(folder_a)), dir_b=str(_input_folder(folder_b)))
        if val_a and val_b:
            data.update(val_dir_a=str(_input_folder(val_a)), val_dir_b=str(_input_folder(val_b)))
    every = max(50, steps // 10)
    sets = {"data": data, "optim": {"lr_g": lr, "lr_d": lr},
            "run": {"output_dir": str(run_dir), "total_steps": steps, "seed": seed, "log_every": 10,
                    "device": str(device), "save_every": every, "val_every": every}}
    recipe = "cyclegan" if kind == "cyclegan" else "pix2pix"
    if recipe == "pix2pix":
        sets["generator"] = {"net": f"unet_{_unet_side(crop_size)}"}  # the deepest U-Net the crop allows, ≤ 256
    return load_config(recipe=recipe, overrides=sets)


def _unet_side(crop_size: int) -> int:
    side = 256
    while crop_size % side:
        side //= 2
    return side


__all__ = ["GanpostTrainTranslator"]
