"""Fine-tuning an upscale model inside ComfyUI (V3 schema).

The whole run happens in this node's execution, step by step, with ComfyUI's progress bar,
previews and Cancel wired in. A cancelled run saves its state first, so running the same node
again (resume on) continues where it stopped. The trained model also lands in
``models/upscale_models`` so both our loader and ComfyUI core's can pick it up.
"""

from __future__ import annotations

from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..gan_models import GanpostError, load_model
from ..gan_models.atomic import atomic_copy
from ..training import Callbacks, Trainer
from ..training.config import load_config
from ..training.engine.run_folder import RunFolderError
from .train_run_names import published_path, run_folder
from .upscale_nodes import GanpostModel, require_ganpost_model

RECIPES = {"l1 (fast, RealESRNet-style)": "realesrnet-x4plus", "gan (official Real-ESRGAN recipe)": "realesrgan-x4plus"}
DEGRADATIONS = ("realesrgan", "bicubic")
# Inputs and outputs every training node has, described once.
SEED_TOOLTIP = "seeds the crops, degradations and initialisation: the same seed and settings repeat a run"
SUMMARY_TOOLTIP = "steps done, last losses, where the model was saved and the validation scores"
RUN_FOLDER_FIXES = {
    "saved": "Turn resume on to continue it, or give the new run another run_name.",
    "busy": "Wait for that run to finish, or give this one another run_name.",
    "overlap": "Give the training images a folder outside output/ganpost_training.",
    "foreign": "Give the run another run_name.",
}


class _ComfyProgress(Callbacks):
    """Progress bar, preview after each validation, and Cancel checked every step."""

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(total)
        self.interrupt: BaseException | None = None
        self.preview_path: Path | None = None
        self.last_losses: dict = {}

    def on_step(self, report) -> None:
        self.last_losses = report.losses
        self.bar.update_absolute(report.step, report.total)

    def on_validation(self, step, metrics, preview) -> None:
        self.preview_path = preview
        from PIL import Image

        with Image.open(preview) as im:
            self.bar.update_absolute(step, None, ("JPEG", im.convert("RGB"), 1024))

    def should_stop(self) -> bool:
        # ComfyUI signals Cancel by raising from this check; keep the exception, save, then re-raise it.
        try:
            mm.throw_exception_if_processing_interrupted()
        except BaseException as err:  # noqa: BLE001 - ComfyUI's interrupt type is not importable everywhere
            self.interrupt = err
            return True
        return False


def train_in_node(make_config, run_name: str, steps: int, resume: bool, **trainer_options):
    """One training run inside a node's execution → (result, progress).

    ComfyUI's models are unloaded first and autograd is switched back on (nodes run under
    inference_mode); our errors become the node's error, naming the run; a Cancel is raised once
    the state is saved, so the same node with resume on continues. ``make_config()`` is called
    inside, so a bad setting is reported the same way.
    """
    try:
        config = make_config()
        run_dir = Path(config.run.output_dir)
        mm.unload_all_models()
        mm.soft_empty_cache()
        progress = _ComfyProgress(steps)
        has_state = (run_dir / "state" / "latest.state").is_file()
        with torch.inference_mode(False), torch.enable_grad():
            trainer = Trainer(config, resume=resume and has_state, callbacks=progress,
                              models_dir=_support_models_dir(), **trainer_options)
            result = trainer.fit()
    except RunFolderError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}. {RUN_FOLDER_FIXES.get(err.kind, '')}") from err
    except GanpostError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
    finally:
        mm.soft_empty_cache()
    if progress.interrupt is not None:
        raise progress.interrupt  # saved already; ComfyUI shows the run as cancelled
    return result, progress


def losses_text(progress: _ComfyProgress) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in progress.last_losses.items())


class GanpostTrainUpscaleModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostTrainUpscaleModel",
            display_name="ganpost: Fine-tune Upscale Model",
            category="ganpost/training",
            description="Fine-tune an upscale model on a folder of high-resolution images. Low-resolution inputs "
                        "are made on the fly (Real-ESRGAN's degradations or a clean bicubic downscale). "
                        "Cancel keeps the last checkpoint; run again with resume on to continue.",
            is_output_node=True,
            inputs=[
                GanpostModel.Input("model", tooltip="the model to start from ('ganpost: Load Upscale Model')"),
                io.String.Input("image_folder", default="",
                                tooltip="folder of high-resolution training images (absolute, or inside ComfyUI's "
                                        "input folder)"),
                io.Int.Input("steps", default=1000, min=1, max=10_000_000,
                             tooltip="training steps in all (a resumed run continues up to this count)"),
                io.Combo.Input("recipe", options=list(RECIPES), default=next(iter(RECIPES)),
                               tooltip="l1: pixel loss only, fast and stable; gan: L1 + perceptual + GAN losses with "
                                       "a fresh U-Net discriminator, sharper (VGG19 weights from models/ganpost, "
                                       "downloaded there when absent)"),
                io.Combo.Input("degradation", options=list(DEGRADATIONS), default="realesrgan",
                               tooltip="realesrgan: blur, resize, noise and JPEG like real-world photos; "
                                       "bicubic: clean downscales (for clean sources such as renders)"),
                io.Float.Input("learning_rate", default=1e-4, min=1e-7, max=1e-2, step=1e-5,
                               tooltip="the generator's (and the discriminator's) Adam learning rate"),
                io.Int.Input("batch_size", default=4, min=1, max=256,
                             tooltip="crops per step; lower it when memory runs out"),
                io.Int.Input("crop_size", default=128, min=32, max=1024, step=16,
                             tooltip="training crop side at the output resolution"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip=SEED_TOOLTIP),
                io.String.Input("run_name", default="ganpost_finetune",
                                tooltip="run folder under output/ganpost_training and the saved model's name "
                                        "(letters, digits, - _ .)"),
                io.Boolean.Input("resume", default=True, tooltip="continue this run_name's last state if it exists"),
                io.String.Input("validation_folder", default="", optional=True,
                                tooltip="held-out images; PSNR against bicubic and a preview every 1/10 of the run"),
            ],
            outputs=[GanpostModel.Output(display_name="model",
                                          tooltip="the fine-tuned model, also saved as models/upscale_models/"
                                                  "<run_name>.pth"),
                     io.String.Output(display_name="summary", tooltip=SUMMARY_TOOLTIP)],
        )

    @classmethod
    def execute(cls, model, image_folder, steps, recipe, degradation, learning_rate, batch_size, crop_size, seed,
                run_name, resume, validation_folder="") -> io.NodeOutput:
        require_ganpost_model(model)
        run_dir = run_folder(run_name)
        result, progress = train_in_node(
            lambda: _config(model, _input_folder(image_folder),
                            _input_folder(validation_folder) if validation_folder else None, steps, recipe,
                            degradation, learning_rate, batch_size, crop_size, seed, run_dir, mm.get_torch_device()),
            run_name, steps, resume, initial_generator=model.module)
        published = _publish(result.generator, run_name)
        trained = load_model(published)
        summary = f"{run_name}: step {result.step}/{steps}; {losses_text(progress)}; saved {published}"
        if result.validation:
            v = result.validation
            summary += f"; PSNR {v['psnr']:.2f} dB vs bicubic {v['psnr_bicubic']:.2f}"
        return io.NodeOutput(trained, summary)


def _config(model, folder, val_folder, steps, recipe, degradation, lr, batch_size, crop_size, seed, run_dir, device):
    scale = model.scale
    crop = max(scale * 4, crop_size // (scale * 4) * (scale * 4))
    sets = {
        "data": {"train_dir": str(folder), "degradation": degradation, "gt_size": crop, "batch_size": batch_size,
                 "pool_size": 0 if batch_size < 4 else batch_size * 4,
                 **({"val_dir": str(val_folder), "val_crop": 512} if val_folder else {})},
        "generator": {"arch": model.architecture, "scale": scale, "pretrained": None},
        "optim": {"lr_g": lr, "lr_d": lr},
        "run": {"output_dir": str(run_dir), "total_steps": steps, "seed": seed, "log_every": 10, "device": str(device),
                "save_every": max(50, steps // 10), "val_every": max(50, steps // 10)},
    }
    return load_config(preset=RECIPES[recipe], overrides=sets)


def _input_folder(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_absolute():
        path = Path(folder_paths.get_input_directory()) / path
    return path


def _support_models_dir() -> Path:
    """Where the GAN recipe's VGG19 weights are looked for (and downloaded to): models/ganpost."""
    return Path(folder_paths.models_dir) / "ganpost"


def _publish(generator: Path, run_name: str) -> Path:
    """Copy the newest generator into models/upscale_models (atomically) under the run's name."""
    folder = Path(folder_paths.get_folder_paths("upscale_models")[0])
    target = published_path(folder, run_name, ".pth")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_copy(generator, target)
    return target
