"""Fine-tuning AuraSR inside ComfyUI (V3 schema).

Like the other training nodes: the whole run happens in this node's execution, with ComfyUI's
progress bar, a preview at each validation and Cancel (saved first, so running again with resume on
continues). The result is published into models/upscale_models as ``<run>.safetensors`` with its
config as ``<run>.json`` beside it: the pair our loader reads (the config holds what the tensors
cannot tell, such as the attention heads).
"""

from __future__ import annotations

from pathlib import Path

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..gan_models import GanpostError, load_model
from ..gan_models.atomic import atomic_copy
from ..training.config import load_config
from ..training.recipes.aurasr.networks import require_aurasr
from .train_nodes import DEGRADATIONS, SEED_TOOLTIP, SUMMARY_TOOLTIP, _input_folder, losses_text, train_in_node
from .train_run_names import published_path, run_folder
from .upscale_nodes import GanpostModel

# The preset's losses, or fewer of them: the perceptual anchor needs VGG19's weights (a download).
LOSSES = {
    "gan + L1 + perceptual (GigaGAN discriminator, anchored)": {},
    "gan + L1 (no VGG19 download)": {"perceptual_weight": 0},
    "L1 only (fast, no discriminator)": {"perceptual_weight": 0, "gan_weight": 0},
}
CROP_SIZES = ("256", "128", "64")  # output side; AuraSR's own tile is 256 from a 64 px input


class GanpostTrainAuraSR(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostTrainAuraSR",
            display_name="ganpost: Fine-tune AuraSR",
            category="ganpost/training",
            description="Fine-tune AuraSR (v1 or v2) on a folder of high-resolution images: a fresh GigaGAN-style "
                        "discriminator is warmed up with AuraSR frozen, then both train, with L1 and perceptual "
                        "anchors to the target. Cancel keeps the last checkpoint; run again with resume on to "
                        "continue. The result lands in models/upscale_models as <run_name>.safetensors + .json.",
            is_output_node=True,
            inputs=[
                GanpostModel.Input("model", tooltip="the AuraSR to start from ('ganpost: Load Upscale Model')"),
                io.String.Input("image_folder", default="",
                                tooltip="folder of high-resolution training images (absolute, or inside ComfyUI's "
                                        "input folder)"),
                io.Int.Input("steps", default=2000, min=1, max=10_000_000,
                             tooltip="training steps in all, warm-up included (a resumed run continues up to "
                                     "this count)"),
                io.Int.Input("warmup_steps", default=500, min=0, max=1_000_000,
                             tooltip="steps that train only the fresh discriminator first (AuraSR frozen)"),
                io.Combo.Input("losses", options=list(LOSSES), default=next(iter(LOSSES)),
                               tooltip="which losses train AuraSR; perceptual needs VGG19's weights (models/ganpost, "
                                       "downloaded there when absent); L1 only has no discriminator"),
                io.Combo.Input("degradation", options=list(DEGRADATIONS), default="realesrgan",
                               tooltip="realesrgan: blur, resize, noise and JPEG like real-world photos; "
                                       "bicubic: clean downscales (for clean sources such as renders)"),
                io.Float.Input("learning_rate", default=2e-5, min=1e-7, max=1e-2, step=1e-6,
                               tooltip="AuraSR's rate; the fresh discriminator learns at 2e-4"),
                io.Int.Input("batch_size", default=4, min=1, max=256,
                             tooltip="crops per step; lower it when memory runs out"),
                io.Combo.Input("crop_size", options=list(CROP_SIZES), default=CROP_SIZES[0],
                               tooltip="training crop side at the output resolution (256 = AuraSR's tile)"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip=SEED_TOOLTIP),
                io.String.Input("run_name", default="ganpost_aurasr",
                                tooltip="run folder under output/ganpost_training and the saved model's name "
                                        "(letters, digits, - _ .)"),
                io.Boolean.Input("resume", default=True, tooltip="continue this run_name's last state if it exists"),
                io.String.Input("validation_folder", default="", optional=True,
                                tooltip="held-out images; PSNR against bicubic and a preview every 1/10 of the run"),
            ],
            outputs=[GanpostModel.Output(display_name="model",
                                          tooltip="the fine-tuned AuraSR, also saved as models/upscale_models/"
                                                  "<run_name>.safetensors + .json"),
                     io.String.Output(display_name="summary", tooltip=SUMMARY_TOOLTIP)],
        )

    @classmethod
    def execute(cls, model, image_folder, steps, warmup_steps, losses, degradation, learning_rate, batch_size,
                crop_size, seed, run_name, resume, validation_folder="") -> io.NodeOutput:
        try:  # before anything is unloaded: the recipe knows what it can train
            require_aurasr(model, "the model input")
        except GanpostError as err:
            raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
        run_dir = run_folder(run_name)
        result, progress = train_in_node(
            lambda: load_config(recipe="aurasr", overrides=_overrides(
                model, image_folder, validation_folder, steps, warmup_steps, losses, degradation, learning_rate,
                batch_size, int(crop_size), seed, run_dir)),
            run_name, steps, resume, initial_generator=model)
        published = _publish(result.generator, run_dir.name)
        summary = f"{run_name}: step {result.step}/{steps}; {losses_text(progress)}; saved {published}"
        if result.validation:
            v = result.validation
            summary += f"; PSNR {v['psnr']:.2f} dB vs bicubic {v['psnr_bicubic']:.2f}"
        return io.NodeOutput(load_model(published), summary)


def _overrides(model, image_folder, validation_folder, steps, warmup_steps, losses, degradation, lr, batch_size,
               crop_size, seed, run_dir) -> dict:
    data = {"train_dir": str(_input_folder(image_folder)), "degradation": degradation, "gt_size": crop_size,
            "batch_size": batch_size,
            **({"val_dir": str(_input_folder(validation_folder))} if validation_folder else {})}
    every = max(50, steps // 10)
    # The connected model is what trains (passed to the trainer); its name only records where it came from.
    return {"data": data, "generator": {"pretrained": str(model.source or model.name)},
            "discriminator": {"warmup_steps": warmup_steps, "multiscale_inputs": [crop_size // 2]},
            "losses": dict(LOSSES[losses]), "optim": {"lr_g": lr},
            "run": {"output_dir": str(run_dir), "total_steps": steps, "seed": seed, "log_every": 10,
                    "device": str(mm.get_torch_device()), "save_every": every, "val_every": every}}


def _publish(generator: Path, name: str) -> Path:
    """Copy the newest weights and their config.json into models/upscale_models as ``<name>.safetensors`` +
    ``<name>.json`` (atomically; the config first, so the weights are never found without it)."""
    folder = Path(folder_paths.get_folder_paths("upscale_models")[0])
    folder.mkdir(parents=True, exist_ok=True)
    target = published_path(folder, name, ".safetensors")
    atomic_copy(generator.with_name("config.json"), target.with_suffix(".json"))
    atomic_copy(generator, target)
    return target


__all__ = ["GanpostTrainAuraSR"]
