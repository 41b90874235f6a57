"""What ``ganpost train gfpgan`` and the 'Fine-tune Face Model' node show of the GFPGAN recipe."""

from __future__ import annotations

from pathlib import Path

from ....gan_models.contract import Task
from ...config_schema import ConfigError
from ..front_end import (RESUME, SEED, CommandLine, Flag, NodeForm, NodeInput, NodeOutput, NodeRun, Publish,
                         run_name_input, steps_input)

COMPONENT_PARTS = ("left_eye", "right_eye", "mouth")

COMMAND_LINE = CommandLine(
    summary="GFPGAN v1.4 / v1.3 (clean): a folder of face photos in (any size: faces are found, aligned and cached), "
            "a restorer plus its v1-layout discriminators out",
    flags=(
        Flag("--data", ("data", "dir"), "folder of photos with faces", Path),
        Flag("--aligned", ("data", "aligned"), "the photos are aligned face crops already (FFHQ-style)", switch=True),
        Flag("--val", ("data", "val_dir"), "held-out face photos: PSNR/SSIM on fixed degradations and a preview",
             Path),
        Flag("--pretrained", ("generator", "pretrained"),
             "generator to fine-tune: GFPGANv1.4, GFPGANv1.3 or a GFPGANv1Clean file"),
        Flag("--train", ("generator", "train"),
             "encoder (default): the StyleGAN2 decoder stays frozen; all: everything learns",
             choices=("encoder", "all")),
        Flag("--discriminator", ("discriminator", "pretrained"),
             "global discriminator to continue from (GFPGANv1_net_d.pth)"),
        Flag("--components", lambda folder: {("discriminator", part): str(Path(folder) / f"GFPGANv1_net_d_{part}.pth")
                                             for part in COMPONENT_PARTS},
             "folder with GFPGANv1_net_d_left_eye/right_eye/mouth.pth", Path),
        Flag("--warmup", ("discriminator", "warmup_steps"),
             "steps that train only the discriminators first (default 5000)", int),
        Flag("--detector", ("data", "detector"), "RetinaFace file or name (default retinaface_resnet50)"),
    ),
    presets={"gfpgan-v1.4-finetune": ""},
    set_example="losses.style_weight=0",
    shared_help={"--output": "run folder for checkpoints, logs, previews and the face cache"},
)

NODE_PARTS = {"encoder (decoder frozen, safe)": "encoder", "all": "all"}


def _check(values: dict) -> None:
    if getattr(getattr(values["face_model"], "contract", None), "task", None) != Task.FACE_RESTORE:
        raise ConfigError("face_model is not a face restorer; connect 'ganpost: Load Face Model' with a "
                          "GFPGAN v1.3/v1.4 file")


def _run(v: dict) -> NodeRun:
    face_model, detector = v["face_model"], v["detector"]
    # The connected models are what trains and detects (recipe options); their files are named
    # here only so the run's config.json records where they came from.
    data = {"dir": str(v["image_folder"]), "aligned": v["aligned"], "batch_size": v["batch_size"],
            "detector": str(detector.source or detector.name)}
    if v["validation_folder"]:
        data["val_dir"] = str(v["validation_folder"])
    overrides = {"data": data,
                 "generator": {"train": NODE_PARTS[v["train"]], "pretrained": str(face_model.source or face_model.name)},
                 "discriminator": {"warmup_steps": v["warmup_steps"]}, "optim": {"lr_g": v["learning_rate"]}}
    return NodeRun("gfpgan", overrides, options={"initial_generator": face_model.module, "detector": detector})


NODE = NodeForm(
    node_id="GanpostTrainFaceModel",
    display_name="ganpost: Fine-tune Face Model",
    description="Fine-tune GFPGAN v1.3/v1.4 (clean) on a folder of face photos: faces are detected, aligned and "
                "cached, degraded like GFPGAN's training, and the official v1 losses and discriminators train them. "
                "Cancel keeps the last checkpoint; run again with resume on to continue.",
    inputs=(
        NodeInput("face_model", "face_restorer", "the restorer to start from ('ganpost: Load Face Model')"),
        NodeInput("detector", "face_detector", "finds the faces ('ganpost: Load Face Detector')"),
        NodeInput("image_folder", "string", "photos with faces (absolute, or inside ComfyUI's input folder)",
                  default="", folder=True),
        steps_input(2000, "training steps in all, warm-up included (a resumed run continues up to this count)"),
        NodeInput("train", "combo", "encoder: the U-Net encoder, its SFT conditions and style codes learn; the "
                                    "StyleGAN2 decoder (the face prior) stays frozen. all: the decoder learns too",
                  options=tuple(NODE_PARTS), default=next(iter(NODE_PARTS))),
        NodeInput("warmup_steps", "int", "steps that train only the fresh discriminators first (the restorer frozen)",
                  default=500, min=0, max=1_000_000),
        NodeInput("learning_rate", "float", "in the original model's equalised units: the same step for every layer",
                  default=2e-4, min=1e-7, max=1e-2, step=1e-5),
        NodeInput("batch_size", "int", "512 px face crops per step; lower it when memory runs out", default=4, min=1,
                  max=256),
        SEED,
        run_name_input("ganpost_faces"),
        RESUME,
        NodeInput("aligned", "boolean", "the photos are aligned square face crops already (FFHQ-style)", default=False,
                  optional=True),
        NodeInput("validation_folder", "string", "held-out face photos: PSNR/SSIM and a preview every 1/10 of the run",
                  default="", optional=True, folder=True),
    ),
    output=NodeOutput("face_restorer", "face_model",
                      "the fine-tuned restorer, also saved as models/facerestore_models/<run_name>.pth"),
    run=_run,
    publish=Publish("facerestore_models", ".pth"),
    check=_check,
)
