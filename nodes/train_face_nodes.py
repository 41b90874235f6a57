"""Fine-tuning a GFPGAN face restorer inside ComfyUI (V3 schema).

Like the other training nodes: the whole run happens in this node's execution, with ComfyUI's
progress bar, a preview at each validation (degraded | restored | target) and Cancel (saved
first, so running again with resume on continues). The restorer's newest weights (``params_ema``)
are copied into models/facerestore_models under the run's name; the discriminators stay in the
run folder in GFPGAN's v1 layouts.
"""

from __future__ import annotations

from pathlib import Path

import comfy.model_management as mm
import folder_paths
from comfy_api.latest import io

from ..gan_models import load_model
from ..gan_models.atomic import atomic_copy
from ..gan_models.contract import Task
from ..training.config import load_config
from . import model_folders
from .face_nodes import GanpostFaceDetector, GanpostFaceModel
from .train_nodes import SEED_TOOLTIP, SUMMARY_TOOLTIP, _input_folder, losses_text, train_in_node
from .train_run_names import published_path, run_folder

PARTS = {"encoder (decoder frozen, safe)": "encoder", "all": "all"}


class GanpostTrainFaceModel(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="GanpostTrainFaceModel",
            display_name="ganpost: Fine-tune Face Model",
            category="ganpost/training",
            description="Fine-tune GFPGAN v1.3/v1.4 (clean) on a folder of face photos: faces are detected, aligned "
                        "and cached, degraded like GFPGAN's training, and the official v1 losses and discriminators "
                        "train them. Cancel keeps the last checkpoint; run again with resume on to continue.",
            is_output_node=True,
            inputs=[
                GanpostFaceModel.Input("face_model", tooltip="the restorer to start from ('ganpost: Load Face Model')"),
                GanpostFaceDetector.Input("detector", tooltip="finds the faces ('ganpost: Load Face Detector')"),
                io.String.Input("image_folder", default="",
                                tooltip="photos with faces (absolute, or inside ComfyUI's input folder)"),
                io.Int.Input("steps", default=2000, min=1, max=10_000_000,
                             tooltip="training steps in all, warm-up included (a resumed run continues up to "
                                     "this count)"),
                io.Combo.Input("train", options=list(PARTS), default=next(iter(PARTS)),
                               tooltip="encoder: the U-Net encoder, its SFT conditions and style codes learn; the "
                                       "StyleGAN2 decoder (the face prior) stays frozen. all: the decoder learns too"),
                io.Int.Input("warmup_steps", default=500, min=0, max=1_000_000,
                             tooltip="steps that train only the fresh discriminators first (the restorer frozen)"),
                io.Float.Input("learning_rate", default=2e-4, min=1e-7, max=1e-2, step=1e-5,
                               tooltip="in the original model's equalised units: the same step for every layer"),
                io.Int.Input("batch_size", default=4, min=1, max=256,
                             tooltip="512 px face crops per step; lower it when memory runs out"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip=SEED_TOOLTIP),
                io.String.Input("run_name", default="ganpost_faces",
                                tooltip="run folder under output/ganpost_training and the saved model's name "
                                        "(letters, digits, - _ .)"),
                io.Boolean.Input("resume", default=True, tooltip="continue this run_name's last state if it exists"),
                io.Boolean.Input("aligned", default=False, optional=True,
                                 tooltip="the photos are aligned square face crops already (FFHQ-style)"),
                io.String.Input("validation_folder", default="", optional=True,
                                tooltip="held-out face photos: PSNR/SSIM and a preview every 1/10 of the run"),
            ],
            outputs=[GanpostFaceModel.Output(display_name="face_model",
                                              tooltip="the fine-tuned restorer, also saved as "
                                                      "models/facerestore_models/<run_name>.pth"),
                     io.String.Output(display_name="summary", tooltip=SUMMARY_TOOLTIP)],
        )

    @classmethod
    def execute(cls, face_model, detector, image_folder, steps, train, warmup_steps, learning_rate, batch_size,
                seed, run_name, resume, aligned=False, validation_folder="") -> io.NodeOutput:
        if getattr(getattr(face_model, "contract", None), "task", None) != Task.FACE_RESTORE:
            raise RuntimeError(f"ganpost training ({run_name}): face_model is not a face restorer; "
                               "connect 'ganpost: Load Face Model' with a GFPGAN v1.3/v1.4 file")
        run_dir = run_folder(run_name)
        # The connected models are what trains and detects (passed to the trainer); their files are
        # named here only so the run's config.json records where they came from.
        data = {"dir": str(_input_folder(image_folder)), "aligned": aligned, "batch_size": batch_size,
                "detector": str(detector.source or detector.name),
                **({"val_dir": str(_input_folder(validation_folder))} if validation_folder else {})}
        every = max(50, steps // 10)
        overrides = {"data": data, "generator": {"train": PARTS[train], "pretrained": str(face_model.source or face_model.name)},
                     "discriminator": {"warmup_steps": warmup_steps}, "optim": {"lr_g": learning_rate},
                     "run": {"output_dir": str(run_dir), "total_steps": steps, "seed": seed, "log_every": 10,
                             "device": str(mm.get_torch_device()), "save_every": every, "val_every": every}}
        result, progress = train_in_node(lambda: load_config(recipe="gfpgan", overrides=overrides), run_name, steps,
                                         resume, initial_generator=face_model.module, detector=detector)
        published = _publish(result.generator, run_dir.name)
        summary = f"{run_name}: step {result.step}/{steps}; {losses_text(progress)}; saved {published}"
        if result.validation:
            v = result.validation
            summary += (f"; PSNR {v['psnr']:.2f} dB, SSIM {v['ssim']:.4f} (degraded input {v['psnr_input']:.2f} dB, "
                        f"{v['ssim_input']:.4f})")
        return io.NodeOutput(load_model(published), summary)


def _publish(generator: Path, name: str) -> Path:
    """Copy the newest restorer into models/facerestore_models (atomically) under the run's name."""
    model_folders.ensure_registered(model_folders.FACE_MODELS)
    folder = Path(folder_paths.get_folder_paths(model_folders.FACE_MODELS)[0])
    target = published_path(folder, name, ".pth")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_copy(generator, target)
    return target


__all__ = ["GanpostTrainFaceModel"]
