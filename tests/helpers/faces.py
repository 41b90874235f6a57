"""Face helpers shared by the task, detector, parser and node tests: a toy restorer (any face-restore family's
contract, adding a tint), photos with faces, the real detector's file name, random weights for parsers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from ganpost import restore_faces_detailed
from ganpost.tasks.detect_faces import Face
from ganpost.gan_models.contract import ModelContract, ModelDescriptor, SizeRule, Task, TilingPolicy

REAL_DETECTOR = "retinaface_mobilenet0.25.pth"


class Tint(nn.Module):
    """Adds a per-channel tint in the network's [-1, 1] range; returns a tuple as GFPGAN does."""

    def __init__(self, tint=(0.0, 0.0, 0.0)):
        super().__init__()
        self.tint = nn.Parameter(torch.tensor(tint).view(1, 3, 1, 1))

    def forward(self, x):
        assert x.min() >= -1.0 - 1e-4 and x.max() <= 1.0 + 1e-4  # the runner mapped [0, 1] to the contract's range
        return x + self.tint, None


def toy_restorer(size: int = 512, tint=(0.0, 0.0, 0.0)) -> ModelDescriptor:
    contract = ModelContract(task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
                             size=SizeRule(fixed=size), tiling=TilingPolicy(margin=0), activation_elements=16,
                             fp16_safe=False, bf16_safe=False)
    return ModelDescriptor("ToyFace", contract, 3, None, Tint(tint).eval())


def astronaut() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut()


def collage() -> np.ndarray:
    """Four astronaut faces at three sizes on grey, 640×896 (as in test_facedetect)."""
    photo = astronaut()
    canvas = np.full((640, 896, 3), 128, np.uint8)
    canvas[0:512, 0:384] = photo[:, 64:448]
    half, third = photo[::2, ::2], photo[::3, ::3]
    canvas[0:256, 400:656] = half
    canvas[300:556, 400:656] = half[:, ::-1]
    canvas[0:171, 680:851] = third
    return canvas


def six_face_collage() -> np.ndarray:
    """1024×1024: astronaut and cameraman at full and smaller sizes, one mirrored, and chelsea, on grey (the
    face benches' whole-image photo: bench/faces.py, the restorers' parity benches)."""
    from skimage import data

    photo, camera = data.astronaut(), np.repeat(data.camera()[..., None], 3, axis=-1)
    canvas = np.full((1024, 1024, 3), 128, np.uint8)
    canvas[:512, :512] = photo
    canvas[:512, 512:] = camera
    canvas[512:768, :256] = photo[::2, ::2]
    canvas[512:768, 256:512] = photo[::2, ::-2]
    canvas[768:1024, :256] = camera[::2, ::2]
    canvas[512:812, 512:963] = data.chelsea()
    canvas[830:1001, 300:471] = photo[::3, ::3]
    return canvas


def no_faces() -> np.ndarray:
    y, x = np.mgrid[0:96, 0:128]
    return np.stack([x * 255 // 128, y * 255 // 96, np.full_like(x, 90)], -1).astype(np.uint8)


def restore(image, model=None, detector=None, *, return_faces: bool = False, **options):
    """restore_faces in fp32 with the toy restorer by default; ``return_faces``: (images, faces) as well."""
    result = restore_faces_detailed(image, model or toy_restorer(), detector=detector, precision="fp32", **options)
    return (result.images, result.faces) if return_faces else result.images


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic drawn at random, at scales that keep activations finite."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            elif tensor.ndim == 1:  # BN / PReLU weights
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.5 + 0.75)
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) / fan_in ** 0.5)
    return module.eval()


# ------------------------------------------------------------------ faces over video frames
def shifted_sequence(frames=24, jitter=1.5, seed=0):
    """Two faces moving steadily, their detected landmarks jittered: (faces per frame, true landmarks); the
    detection order swaps every frame."""
    rng = random.Random(seed)
    base = [((40, 50), (60, 50), (50, 62), (42, 72), (58, 72)), ((240, 60), (262, 60), (251, 73), (243, 84),
                                                                   (259, 84))]
    seq, truth = [], []
    for t in range(frames):
        faces, true = [], []
        for k, points in enumerate(base[::(-1 if t % 2 else 1)]):  # detection order changes between frames
            dx = 1.3 * t
            exact = tuple((x + dx, y) for x, y in points)
            noisy = tuple((x + rng.gauss(0, jitter), y + rng.gauss(0, jitter)) for x, y in exact)
            box = (exact[0][0] - 15, exact[0][1] - 20, exact[1][0] + 15, exact[4][1] + 15)
            faces.append(Face(box, 0.99, noisy))
            true.append(exact)
        seq.append(faces)
        truth.append(true)
    return seq, truth


def jitter_of(seq, truth) -> float:
    errors = [abs(a - b) for faces, true in zip(seq, truth) for face, exact in zip(faces, true)
              for p, q in zip(face.landmarks, exact) for a, b in zip(p, q)]
    return float(np.sqrt(np.mean(np.square(errors))))
