"""Whole-image GPEN against the official ``FaceEnhancement`` (yangxy/GPEN ``face_enhancement.py``), one CPU run.

The official side is GPEN's own ``FaceEnhancement.process`` with its parts put in by hand (its
constructor would load RetinaFace-R50, ParseNet and an SR model from ./weights):

- detector: GPEN's own ``RetinaFaceDetection`` code, switched to its ``cfg_mnet`` and the real
  MobileNet-0.25 RetinaFace (../shared/weights, loaded strict; GPEN ships R50 only and loads it
  strict=False, so the switch is done here rather than by a flag it does not have);
- restorer: GPEN's ``FullGenerator`` with the same random weights as ours (512 px, ×2, narrow 1, seed 0);
- parser: no ParseNet weights here, so ``faceparser.process`` returns a face-everywhere mask: the
  paste-back mask is then GPEN's own rectangle (26 px border, two 101×101 σ=4 blurs), i.e. its
  commented-out ``tmp_mask = self.mask``;
- ``use_sr=False`` (no background SR), ``alpha=1``.

Ours: ``restore_faces(image, model, detector=mobilenet, threshold=0.9, paste="official"|"soft", precision="fp32")``,
which aligns to GPEN's template (the contract's ``face_alignment``), and pastes with facexlib's mask.

Printed per photo: faces found; landmark max |Δ| (px); the aligned crops' and restored faces' mean
|Δ| (1/255 steps; official crops cut by GPEN's ``warp_and_crop_face``); the whole image's mean /
p99.9 / max |Δ| for each paste mode; the same where both sides paste the face fully (interior).
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import cv2
import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.faces import six_face_collage as collage  # noqa: E402
from helpers.gpen import tiny_gpen  # noqa: E402
from helpers.torchvision_stub import install_torchvision_stub  # noqa: E402

import ganpost  # noqa: E402


def photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {"astronaut": data.astronaut(), "collage": collage()}  # bench/faces.py's collage


def official_pipeline(root: Path, detector_path: Path, generator_state: dict, size: int = 512,
                      channel_multiplier: float = 2, narrow: float = 1):
    install_torchvision_stub()
    # GPEN's retinaface.py imports torchvision's detection backbone utilities (used for R50 only)
    for name in ("torchvision.models.detection", "torchvision.models.detection.backbone_utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    for sub in ("", "face_detect", "face_model", "face_parse"):
        if str(root / sub) not in sys.path:
            sys.path.insert(0, str(root / sub))
    import face_enhancement  # noqa: PLC0415
    import gpen_model  # noqa: PLC0415
    from data import cfg_mnet  # noqa: PLC0415 (GPEN's face_detect/data)
    from facemodels.retinaface import RetinaFace  # noqa: PLC0415
    from retinaface_detection import RetinaFaceDetection  # noqa: PLC0415

    detector = RetinaFaceDetection.__new__(RetinaFaceDetection)
    detector.device, detector.cfg = "cpu", cfg_mnet
    detector.net = RetinaFace(cfg=cfg_mnet, phase="test")
    detector.net.load_state_dict(torch.load(detector_path, map_location="cpu", weights_only=True), strict=True)
    detector.net.eval()
    detector.mean = torch.tensor([[[[104]], [[117]], [[123]]]])

    from face_gan import FaceGAN  # noqa: PLC0415

    gan = FaceGAN.__new__(FaceGAN)
    gan.device, gan.is_norm, gan.in_resolution, gan.out_resolution, gan.key = "cpu", True, size, size, None
    gan.model = gpen_model.FullGenerator(size, 512, 8, channel_multiplier, narrow=narrow).eval()
    gan.model.load_state_dict(generator_state, strict=True)

    parser = types.SimpleNamespace(process=lambda face: (np.full((512, 512), 255, np.float32), None))
    enhancer = face_enhancement.FaceEnhancement.__new__(face_enhancement.FaceEnhancement)
    # the constructor's attributes, minus the three models it would load from ./weights
    args = types.SimpleNamespace(alpha=1, channel_multiplier=2, narrow=1, key=None, sr_model=None, sr_scale=2,
                                 tile_size=0)
    original_init = face_enhancement.FaceEnhancement.__init__
    stubs = {"RetinaFaceDetection": lambda *a, **k: detector, "FaceGAN": lambda *a, **k: gan,
             "RealESRNet": lambda *a, **k: None, "FaceParse": lambda *a, **k: parser}
    saved = {name: getattr(face_enhancement, name) for name in stubs}
    try:
        for name, stub in stubs.items():
            setattr(face_enhancement, name, stub)
        original_init(enhancer, args, in_size=size, model="random", use_sr=False, device="cpu")
    finally:
        for name, value in saved.items():
            setattr(face_enhancement, name, value)
    return enhancer, face_enhancement


def steps(diff: np.ndarray) -> dict:
    if diff.size == 0:
        return {"mean": None, "p99.9": None, "max": None}
    return {"mean": round(float(diff.mean()), 3), "p99.9": round(float(np.percentile(diff, 99.9)), 2),
            "max": round(float(diff.max()), 2)}


def pipeline(root: Path, detector_path: Path) -> list[dict]:
    if not detector_path.is_file():
        print(f"pipeline: {detector_path} missing, skipped")
        return []
    torch.manual_seed(0)
    net = tiny_gpen(0, size=512, channel_multiplier=2, narrow=1)
    state = net.state_dict()
    enhancer, module = official_pipeline(root, detector_path, state)
    model = ganpost.gan_models.describe_state_dict(state)
    detector = ganpost.load_model(detector_path)
    from align_faces import warp_and_crop_face  # noqa: PLC0415 (GPEN's own, on the path now)

    rows = []
    for name, image in photos().items():
        bgr = np.ascontiguousarray(image[..., ::-1])
        with torch.no_grad():
            official_bgr, official_crops, official_faces = enhancer.process(bgr.copy())
        official = official_bgr[..., ::-1].astype(np.float64)
        boxes, landmarks = enhancer.facedetector.detect(bgr.copy())
        keep = [i for i, box in enumerate(boxes) if box[4] >= enhancer.threshold]
        official_points = [np.reshape(landmarks[i], (2, 5)).T for i in keep]
        row = {"photo": name, "faces_official": len(keep)}
        for paste in ("official", "soft"):
            result = ganpost.restore_faces_detailed(image, model, detector=detector, threshold=0.9, paste=paste,
                                                    precision="fp32", detection_size=None)
            ours = np.asarray(result.images, dtype=np.float64)
            diff = np.abs(ours - official)
            row[f"all(paste={paste})"] = steps(diff)
            faces = result.faces[0]
            row["faces_ours"] = len(faces)
            if paste == "official":
                row["landmarks_max_px"], row["crops"], row["restored"] = _faces(
                    faces, official_points, official_crops, official_faces, bgr, enhancer, warp_and_crop_face)
                # interior: where both put a face fully (ours: our mask ≥ 0.999; official: its own mask ≥ 0.999)
                ours_mask = sum(f.mask[0].numpy() for f in faces) if faces else np.zeros(image.shape[:2])
                row["interior"] = steps(diff[(ours_mask >= 0.999) & (_official_mask(enhancer, bgr, official_points)
                                                                      >= 0.999)])
        rows.append(row)
        print(f"pipeline {name}: {row}", flush=True)
    return rows


def _faces(faces, official_points, official_crops, official_faces, bgr, enhancer, warp_and_crop_face):
    """Landmark, crop and restored-face differences of matched faces (nearest left eye)."""
    landmark_max, crop_means, restored_means = 0.0, [], []
    for face in faces:
        ours_points = np.asarray(face.landmarks)
        dists = [np.abs(points - ours_points).max() for points in official_points]
        if not dists:
            continue
        k = int(np.argmin(dists))
        landmark_max = max(landmark_max, float(dists[k]))
        crop = official_crops[k][..., ::-1].astype(np.float64)
        ours_crop = face.crop.permute(1, 2, 0).numpy() * 255
        crop_means.append(float(np.abs(ours_crop - crop).mean()))
        restored = official_faces[k][..., ::-1].astype(np.float64)
        restored_means.append(float(np.abs(face.restored.permute(1, 2, 0).numpy() * 255 - restored).mean()))
    return (round(landmark_max, 3), {"mean": round(float(np.mean(crop_means)), 3) if crop_means else None},
            {"mean": round(float(np.mean(restored_means)), 3) if restored_means else None})


def _official_mask(enhancer, bgr, official_points) -> np.ndarray:
    """The official full mask: each face's blurred rectangle warped back with its inverse, the max over faces."""
    height, width = bgr.shape[:2]
    full = np.zeros((height, width), np.float32)
    from align_faces import warp_and_crop_face  # noqa: PLC0415

    for points in official_points:
        _, inverse = warp_and_crop_face(bgr, points.T, reference_pts=enhancer.reference_5pts,
                                        crop_size=(enhancer.in_size, enhancer.in_size))
        mask = enhancer.mask_postprocess(np.full((512, 512), 1.0, np.float32))
        mask = cv2.resize(mask, (enhancer.in_size, enhancer.in_size))
        full = np.maximum(full, cv2.warpAffine(mask, inverse, (width, height), flags=3))
    return full
