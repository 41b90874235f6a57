"""Run every template of ``example_workflows/`` in a real ComfyUI and make its ``.jpg`` thumbnail from the
image the workflow itself saves; the API forms are regenerated first from the UI files with the server's own
/object_info (``tools/comfy_workflow.py``).

    COMFYUI_DIR=lab/comfy/ComfyUI python tools/make_templates.py [--only upscale,translate] [--check]

The video templates load a clip made here (``make_clip``: two shots of Kodak faces with a slight sway and an
audio tone) and save a video; their thumbnail is a frame of it (PyAV, which ComfyUI's own video nodes need too).

Models: the real files in ``../shared/weights`` where they are (Real-ESRGAN animevideov3, RetinaFace
MobileNet-0.25, CycleGAN modern2vintage); no released GFPGAN, AuraSR or VGG19 file is available offline, so
tiny random ones are saved under the released names (``tests/helpers``), which is why the face and AuraSR
thumbnails show what a random network makes. Training folders are filled from ``../shared/datasets/kodak``.
Runs under any Python with torch and Pillow (ComfyUI's own venv works); ``--check`` runs without writing.
The training templates run 30-200 steps (4-15 minutes each on two busy CPU cores); ``--steps N`` runs their
training nodes for N steps instead, for a quicker thumbnail (the committed training thumbnails: ``--steps 2``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comfy_workflow  # noqa: E402
from comfy_server import PACK_NAME, ComfyServer, comfy_from_environment  # noqa: E402

REPO = comfy_workflow.REPO
SHARED = REPO.parent / "shared"
WEIGHTS, KODAK = SHARED / "weights", SHARED / "datasets" / "kodak"
PHOTO = REPO / "examples" / "astronaut_crop.png"
THUMBNAIL_SIDE, THUMBNAIL_QUALITY = 384, 82
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
# the clip the video templates load: photo, scale, the 256 px frame's corner around its face; a cut between shots
CLIP_SHOTS = (("kodim04.png", 0.5, (0, 60)), ("kodim15.png", 0.5, (128, 0)))
CLIP_NAME, CLIP_SIDE, CLIP_FPS, CLIP_FRAMES_PER_SHOT = "ganpost_clip.mp4", 256, 24, 12
# input folders the training templates read → Kodak images (a folder pair for pix2pix needs equal names)
TRAINING_FOLDERS = {
    "ganpost_train": ["kodim01.png", "kodim02.png", "kodim03.png"], "ganpost_val": ["kodim05.png"],
    "ganpost_faces": ["kodim04.png", "kodim15.png", "kodim18.png"],
    "ganpost_modern": ["kodim01.png", "kodim02.png", "kodim03.png"],
    "ganpost_vintage": ["kodim04.png", "kodim05.png", "kodim06.png"],
    "ganpost_modern_val": ["kodim07.png"], "ganpost_vintage_val": ["kodim07.png"],
}


def _import_ganpost():
    """ganpost and the tests' helpers importable from this checkout (its folder may not be named ganpost)."""
    try:
        import ganpost  # noqa: F401
    except ImportError:
        parent = Path(tempfile.mkdtemp(prefix="ganpost_import_"))
        (parent / "ganpost").symlink_to(REPO, target_is_directory=True)
        sys.path.insert(0, str(parent))
    sys.path.insert(0, str(REPO / "tests"))


def make_models(folder: Path) -> dict[str, list[Path]]:
    """``ComfyUI models folder → files`` for every model the templates name."""
    import torch

    _import_ganpost()
    from helpers.aurasr import save_tiny_aurasr
    from helpers.gfpgan import tiny_gfpgan

    from ganpost.training.components.vgg import VGG19Features

    folder.mkdir(parents=True, exist_ok=True)
    aurasr = save_tiny_aurasr(folder / "AuraSR-v2.safetensors")
    torch.manual_seed(0)
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, folder / "GFPGANv1.4.pth")
    torch.manual_seed(0)
    torch.save(VGG19Features().state_dict(), folder / "vgg19-dcbb9e9d.pth")
    missing = [name for name in ("realesr-animevideov3.pth", "retinaface_mobilenet0.25.pth",
                                 "cyclegan_modern2vintage_net_G.pth") if not (WEIGHTS / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{WEIGHTS}: missing {', '.join(missing)} (the shared weights)")
    return {"upscale_models": [WEIGHTS / "realesr-animevideov3.pth", aurasr, aurasr.with_suffix(".json")],
            "facerestore_models": [folder / "GFPGANv1.4.pth"],
            "facedetection": [WEIGHTS / "retinaface_mobilenet0.25.pth"],
            "translation_models": [WEIGHTS / "cyclegan_modern2vintage_net_G.pth"],
            "ganpost": [folder / "vgg19-dcbb9e9d.pth"]}


def fill_inputs(server: ComfyServer) -> str:
    """The photo every template loads, and the training folders; returns the photo's input name."""
    for name, files in TRAINING_FOLDERS.items():
        (server.base / "input" / name).mkdir(parents=True, exist_ok=True)
        for file in files:
            shutil.copyfile(KODAK / file, server.base / "input" / name / file)
    (server.base / "input" / "ganpost_faces_val").mkdir(exist_ok=True)
    shutil.copyfile(PHOTO, server.base / "input" / "ganpost_faces_val" / PHOTO.name)
    return server.add_input(PHOTO)


def make_clip(path: Path) -> Path:
    """A short H.264 clip with an AAC tone: each shot a Kodak face swaying by a pixel or two (sub-pixel steps,
    a little noise, as a hand-held camera), then a cut to the next; 24 frames at 24 fps, 256×256."""
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    from helpers.tone_clip import write_tone_clip
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = []
    for name, scale, (left, top) in CLIP_SHOTS:
        with Image.open(KODAK / name) as photo:
            photo = photo.convert("RGB")
            photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
        for t in range(CLIP_FRAMES_PER_SHOT):
            dx, dy = 1.5 * math.sin(2 * math.pi * t / 12), 1.0 * math.sin(2 * math.pi * t / 17 + 1)
            moved = photo.transform((CLIP_SIDE, CLIP_SIDE), Image.AFFINE, (1, 0, left - dx, 0, 1, top - dy),
                                    resample=Image.BICUBIC)
            noisy = np.asarray(moved, np.float32) + rng.normal(0, 2.0, (CLIP_SIDE, CLIP_SIDE, 3))
            frames.append(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
    return write_tone_clip(path, frames, fps=CLIP_FPS)


def fill_video(server: ComfyServer) -> str:
    """The clip the video templates load, made in the server's input folder; returns its input name."""
    return make_clip(server.base / "input" / CLIP_NAME).name


def prompt_for(template: Path, node_defs: dict, image: str, video: str | None = None) -> dict:
    """The template's API form with its LoadImage nodes reading ``image`` and its LoadVideo nodes ``video``."""
    prompt = comfy_workflow.ui_to_api(json.loads(template.read_text()), node_defs)
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = image
        if node["class_type"] == "LoadVideo" and video is not None:
            node["inputs"]["file"] = video
    return prompt


def video_frame(path: Path, at: float = 0.25):
    """The frame ``at`` of the way into a video (PIL image)."""
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return frames[int(at * (len(frames) - 1))]


def thumbnail(image_path: Path) -> bytes:
    from PIL import Image

    with (video_frame(image_path) if image_path.suffix in VIDEO_SUFFIXES else Image.open(image_path)) as image:
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
        return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated template names (default: all)")
    parser.add_argument("--check", action="store_true", help="run them, write nothing")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed)")
    parser.add_argument("--steps", type=int, help="run the training nodes for this many steps instead of the "
                                                  "template's (a quicker thumbnail; the templates are unchanged)")
    args = parser.parse_args(argv)
    comfy = comfy_from_environment()
    if comfy is None:
        parser.error("set COMFYUI_DIR to a ComfyUI checkout (and COMFYUI_PYTHON, or have ../venv/bin/python)")
    work = args.work or Path(tempfile.mkdtemp(prefix="ganpost_templates_"))
    wanted = [t for t in comfy_workflow.templates() if not args.only or t.stem in args.only.split(",")]
    failed = []
    with ComfyServer(*comfy, work / "comfy", REPO, models=make_models(work / "models")) as server:
        node_defs = server.get_json("/object_info")
        image, video = fill_inputs(server), fill_video(server)
        for template in wanted:
            start = time.monotonic()
            prompt = comfy_workflow.ui_to_api(json.loads(template.read_text()), node_defs)
            run = prompt_for(template, node_defs, image, video)
            for node in run.values():
                if args.steps and node["class_type"].startswith("GanpostTrain"):
                    node["inputs"]["steps"] = args.steps
                    if "warmup_steps" in node["inputs"]:
                        node["inputs"]["warmup_steps"] = min(node["inputs"]["warmup_steps"], args.steps // 2)
            try:
                saved = server.run(run)
            except Exception as error:  # report every template, then fail
                failed.append(template.stem)
                print(f"{template.stem}: FAILED {error}", flush=True)
                continue
            print(f"{template.stem}: {len(saved)} file(s) in {time.monotonic() - start:.0f} s", flush=True)
            if not args.check:
                comfy_workflow.write_json(comfy_workflow.api_path(template), prompt)
                data = thumbnail(saved[0])
                target = template.with_suffix(".jpg")
                temp = target.with_suffix(".jpg.tmp")
                temp.write_bytes(data)
                temp.replace(target)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    print("failed: " + ", ".join(failed) if failed else "all ran")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
