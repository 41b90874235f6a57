"""Video: seconds per frame, and the flicker of restored faces with landmarks smoothed over frames, per
frame, and through the official GFPGANer per frame. One run, one machine.

The clip is made here: three Kodak photos with faces (kodim04, kodim15, kodim18 from
../shared/datasets/kodak), one after the other, 256×256 frames, each frame moved by a known sub-pixel
sway (x = 2 sin(2πt/16), y = 1.2 sin(2πt/22 + 1) px: at most 0.8 px a frame, Lanczos resampling) with
Gaussian noise (σ 2/255), encoded as H.264 CRF 18 in .mp4 with an AAC tone, then decoded: every side
sees the same decoded frames. Each photo is one scene of --frames frames.

Figures:
  sweep    the real RetinaFace MobileNet-0.25 on every frame, landmarks smoothed with each sigma (cheap:
           detection only): landmark jitter = RMS of the frame-to-frame landmark change less the known
           sway (px), and landmark error = RMS distance from the known trajectory (px; the detections'
           own mean offset per scene removed). Smoothing lowers the jitter; too wide a window stops
           following the sway. The default sigma is where the error is lowest.
  flicker  for per-frame (sigma 0), smoothed (--sigma), both again with facexlib's paste mask
           (paste="official": which share of the gap to the official run is the mask's) and the official
           GFPGANer (facexlib's helper, tests/helpers/official_faces.py) per frame, on the first
           --restore-frames frames of each scene:
           landmark jitter as above, of the landmarks each pipeline aligned with, and the mean temporal
           difference inside the face mask (|frame t − frame t+1 moved back by the known sway|, in
           steps of 1/255, where the per-frame run's face mask is ≥ 0.5), with the input's own as a
           floor (noise and compression). The same GFPGANv1Clean with RANDOM weights (seed 0) on both
           sides: no real GFPGAN weights exist here, so the faces are not "restored", but how much an
           output moves when its aligned crop moves is what is measured.
  speed    the compute alone on --upscale-frames frames (the built-in model), and the whole video job
           (decode, compute, encode: bench/video_overlap.py) with the codecs taking turns with the
           compute (depth 0) and overlapping it (depth 2, the default): with the model; with a ×4
           that costs nothing (the codecs alone); and with a simulated device that waits as long
           as the codecs take, leaving the CPU free as a GPU does. Then restore-faces (GFPGAN, fp32).

    python bench/video.py --threads 2 --out video.json
    python bench/video.py --frames 8 --restore-frames 3     # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import av  # noqa: E402
from helpers.tone_clip import write_tone_clip  # noqa: E402
import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from ganpost import load_model, upscale  # noqa: E402
from ganpost.gan_models.catalogue import DEFAULT_MODEL  # noqa: E402
from ganpost.gan_models.gfpgan import GFPGANv1Clean  # noqa: E402
from ganpost.runtime.faces import shot_starts, smooth_landmarks  # noqa: E402
from video_overlap import overlap_rates, waiting_compute  # noqa: E402
from ganpost.tasks.detect_faces import detect_faces  # noqa: E402
from ganpost.tasks.face_video import SteadyFaceRestorer  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
DETECTOR = SHARED / "weights" / "retinaface_mobilenet0.25.pth"
KODAK = SHARED / "datasets" / "kodak"
# photo, scale, crop (left, top) of a 256×256 frame around its face at that scale
SCENES = (("kodim04.png", 0.5, (0, 60)), ("kodim15.png", 0.5, (128, 0)), ("kodim18.png", 1.0, (158, 81)))
SIZE = 256
SIGMAS = (0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


# ----------------------------------------------------------------------------------------- the clip
def sway(t: int) -> tuple[float, float]:
    return 2.0 * math.sin(2 * math.pi * t / 16), 1.2 * math.sin(2 * math.pi * t / 22 + 1)


def scene_frames(name: str, scale: float, corner, count: int, rng) -> list[np.ndarray]:
    photo = Image.open(KODAK / name).convert("RGB")
    photo = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS))
    frames = []
    for t in range(count):
        dx, dy = sway(t)
        # the frame's pixel (x, y) shows the photo's (x + left - dx, y + top - dy): the content moves by +sway
        matrix = np.float32([[1, 0, -corner[0] + dx], [0, 1, -corner[1] + dy]])
        moved = cv2.warpAffine(photo, matrix, (SIZE, SIZE), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        noisy = moved.astype(np.float32) + rng.normal(0, 2.0, moved.shape)
        frames.append(np.clip(noisy + 0.5, 0, 255).astype(np.uint8))
    return frames


def build_clip(path: Path, count: int) -> tuple[np.ndarray, list[int]]:
    """Write the clip; return its decoded frames and each frame's scene."""
    rng = np.random.default_rng(0)
    frames, scenes = [], []
    for index, (name, scale, corner) in enumerate(SCENES):
        frames += scene_frames(name, scale, corner, count, rng)
        scenes += [index] * count
    write_tone_clip(path, frames, fps=24)
    with av.open(str(path)) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return decoded, scenes


# -------------------------------------------------------------------------------------- measures
def truth(scenes: list[int]) -> np.ndarray:
    """The known sway of each frame (its time within its scene)."""
    out, start = [], 0
    for t, scene in enumerate(scenes):
        if t and scene != scenes[t - 1]:
            start = t
        out.append(sway(t - start))
    return np.array(out)


def landmark_figures(landmarks: list[np.ndarray | None], scenes: list[int]) -> dict:
    """Jitter (RMS of frame-to-frame change less the sway) and error (RMS from the sway's trajectory), px."""
    moved = truth(scenes)
    steps, errors = [], []
    for scene in sorted(set(scenes)):
        index = [t for t in range(len(scenes)) if scenes[t] == scene and landmarks[t] is not None]
        if len(index) < 2:
            continue
        points = np.stack([landmarks[t] for t in index])  # T×5×2
        relative = points - moved[index][:, None, :]
        errors.append((relative - relative.mean(0)).reshape(-1))
        follow = np.array([b - a for a, b in zip(index, index[1:])]) == 1
        steps.append(np.diff(relative, axis=0)[follow].reshape(-1))
    return {"jitter_px": round(float(np.sqrt(np.mean(np.square(np.concatenate(steps))))), 3),
            "error_px": round(float(np.sqrt(np.mean(np.square(np.concatenate(errors))))), 3)}


def temporal_difference(frames: np.ndarray, masks: list[np.ndarray | None], scenes: list[int]) -> float:
    """Mean |frame t − frame t+1 moved back by the sway| inside frame t's face mask, steps of 1/255."""
    moved = truth(scenes)
    total, count = 0.0, 0
    for t in range(len(frames) - 1):
        if scenes[t] != scenes[t + 1] or masks[t] is None:
            continue
        dx, dy = moved[t + 1] - moved[t]
        back = cv2.warpAffine(frames[t + 1], np.float32([[1, 0, -dx], [0, 1, -dy]]), (SIZE, SIZE),
                              flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        inside = masks[t] >= 0.5
        total += float(np.abs(back.astype(np.float64) - frames[t].astype(np.float64)).mean(-1)[inside].sum())
        count += int(inside.sum())
    return round(total / max(count, 1), 3)


def first_face(faces) -> np.ndarray | None:
    return np.array(faces[0].landmarks) if faces else None


# -------------------------------------------------------------------------------------- the runs
def sweep(frames: np.ndarray, scenes: list[int], detector) -> dict:
    found = detect_faces(list(frames), detector)
    cuts = shot_starts([torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames])
    tracks = {"cuts": cuts}
    for sigma in SIGMAS:
        smoothed = smooth_landmarks(found, sigma, cuts=cuts)
        tracks[str(sigma)] = landmark_figures([first_face(f) for f in smoothed], scenes)
    tracks["faces_per_frame"] = [len(f) for f in found]
    return tracks


def ours(frames: np.ndarray, model, detector, sigma: float, batch: int = 8, paste: str = "soft"):
    stream = SteadyFaceRestorer(model, detector=detector, smooth_landmarks=sigma, precision="fp32",
                                keep_faces=True, paste=paste)
    out, started = [], time.perf_counter()
    for start in range(0, len(frames), batch):
        ready = stream.push(frames[start:start + batch])
        if ready is not None:
            out.append(ready)
    rest = stream.finish()
    if rest is not None:
        out.append(rest)
    seconds = time.perf_counter() - started
    landmarks = [first_face(f) for f in stream.faces]
    masks = [f[0].mask[0].numpy() if f else None for f in stream.faces]
    return np.concatenate(out), landmarks, masks, seconds


def official(frames: np.ndarray, weights: Path):
    from helpers.official_faces import official_restorer

    restorer = official_restorer(str(weights), str(DETECTOR), upscale=1)
    out, landmarks, started = [], [], time.perf_counter()
    with torch.no_grad():
        for frame in frames:
            _, _, restored = restorer.enhance(frame[..., ::-1].copy(), paste_back=True)
            out.append(restored[..., ::-1])
            found = restorer.face_helper.all_landmarks_5
            landmarks.append(np.array(found[0]) if found else None)
    return np.stack(out), landmarks, time.perf_counter() - started


def upscale_speed(clip: Path, folder: Path, frames: int) -> dict:
    model = load_model(DEFAULT_MODEL)
    short = folder / "short.mp4"
    with av.open(str(clip)) as container:  # the first frames as their own clip (same encoder)
        images = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), container.decode(video=0))]
    started = time.perf_counter()
    upscale(np.stack(images[:2]), model)  # warm-up
    started = time.perf_counter()
    upscale(np.stack(images), model)
    compute = (time.perf_counter() - started) / frames
    from helpers.video import make_clip

    make_clip(short, frames=frames, width=SIZE, height=SIZE, images=images, audio="aac")
    job = overlap_rates(short, folder, lambda f: upscale(f, model))
    # the codecs' own cost per frame (a ×4 that costs nothing), then a compute that waits that long and
    # leaves the CPU free, as a GPU does: how much of the decoding and encoding the overlap hides
    codecs = overlap_rates(short, folder, waiting_compute(0))
    device_like = 1 / codecs["frames_per_s_in_turns"]
    simulated = overlap_rates(short, folder, waiting_compute(device_like))
    return {"model": DEFAULT_MODEL, "frames": frames, "size": f"{SIZE}×{SIZE} → {4 * SIZE}×{4 * SIZE}",
            "s_per_frame_compute": round(compute, 3), "model_job": job, "codecs_alone": codecs,
            "simulated_device_s_per_frame": round(device_like, 3), "simulated_device_job": simulated}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16, help="frames per scene for the sweep (3 scenes)")
    parser.add_argument("--restore-frames", type=int, default=10, help="frames per scene restored by each side")
    parser.add_argument("--upscale-frames", type=int, default=16)
    parser.add_argument("--sigma", type=float, default=None, help="smoothed run's sigma (default: the sweep's best)")
    parser.add_argument("--no-official", action="store_true")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    if not DETECTOR.exists() or not KODAK.exists():
        print(f"cannot run: needs {DETECTOR} and {KODAK}")
        return 2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    report = {"cpu": cpu_name(), "threads": args.threads, "torch": torch.__version__, "av": av.__version__}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        detector = load_model(str(DETECTOR))
        frames, scenes = build_clip(folder / "faces.mp4", args.frames)
        report["sweep"] = sweep(frames, scenes, detector)
        for sigma in SIGMAS:
            print(f"sigma {sigma:>4}: landmarks {report['sweep'][str(sigma)]}", flush=True)
        best = min(SIGMAS, key=lambda s: report["sweep"][str(s)]["error_px"])
        sigma = args.sigma if args.sigma is not None else best
        report["best_sigma"], report["sigma"] = best, sigma
        report["speed"] = upscale_speed(folder / "faces.mp4", folder, args.upscale_frames)
        print(f"upscale: {report['speed']}", flush=True)

        keep = [t for t in range(len(frames)) if t % args.frames < args.restore_frames]
        clip, clip_scenes = frames[keep], [scenes[t] for t in keep]
        torch.manual_seed(0)
        weights = folder / "gfpgan_random.pth"
        torch.save({"params_ema": GFPGANv1Clean().state_dict()}, weights)
        model = load_model(str(weights))
        rows = {"input": {"temporal_diff_255": None}}
        masks = None
        for label, value, paste in (("per_frame", 0, "soft"), ("smoothed", sigma, "soft"),
                                    ("per_frame_official_paste", 0, "official"),
                                    ("smoothed_official_paste", sigma, "official")):
            out, landmarks, run_masks, seconds = ours(clip, model, detector, value, paste=paste)
            masks = run_masks if masks is None else masks  # the per-frame run's masks for every side
            rows[label] = {"sigma": value, "paste": paste, **landmark_figures(landmarks, clip_scenes),
                           "temporal_diff_255": temporal_difference(out, masks, clip_scenes),
                           "s_per_frame": round(seconds / len(clip), 2)}
            print(f"{label}: {rows[label]}", flush=True)
        if not args.no_official:
            out, landmarks, seconds = official(clip, weights)
            rows["official"] = {**landmark_figures(landmarks, clip_scenes),
                                "temporal_diff_255": temporal_difference(out, masks, clip_scenes),
                                "s_per_frame": round(seconds / len(clip), 2)}
            print(f"official: {rows['official']}", flush=True)
        rows["input"]["temporal_diff_255"] = temporal_difference(clip, masks, clip_scenes)
        print(f"input: {rows['input']}", flush=True)
        report["flicker"] = rows
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
