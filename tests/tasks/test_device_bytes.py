"""Each task says what a run needs on the device before it starts (``device_bytes``): what ComfyUI's nodes free
first. The sums are the runtime's estimate for each model the run places, at the window it runs."""

from __future__ import annotations

import importlib

import torch

from ganpost.gan_models.loader import describe_state_dict
from ganpost.runtime.memory import PLANNING_TILE, estimate_bytes
from helpers.faces import toy_restorer
from helpers.models import tiny_compact

# the modules (``ganpost.tasks`` exports the task functions under the same names)
upscale, translate, restore_faces, detect_faces = (importlib.import_module(f"ganpost.tasks.{name}") for name in
                                                  ("upscale", "translate", "restore_faces", "detect_faces"))


ON_CPU = {"device": "cpu", "precision": "fp32"}


def _upscaler():
    return describe_state_dict(tiny_compact(scale=2).state_dict())


def test_upscale_plans_one_tile_of_the_image():
    model = _upscaler()
    fp32 = torch.float32
    assert upscale.device_bytes(2000, model, **ON_CPU) == estimate_bytes(model, fp32, PLANNING_TILE)
    assert upscale.device_bytes(300, model, **ON_CPU) == estimate_bytes(model, fp32, 300)  # a small image
    assert upscale.device_bytes(2000, model, tile=128, **ON_CPU) == estimate_bytes(model, fp32, 128)
    assert upscale.device_bytes(2000, model, tile=0, **ON_CPU) == estimate_bytes(model, fp32, 2000)  # one pass


def test_translate_plans_the_generator_that_runs():
    a, b = _upscaler(), describe_state_dict(tiny_compact(scale=2, num_feat=16).state_dict())
    fp32 = torch.float32
    assert translate.device_bytes(4000, a, model_b=b, **ON_CPU) == estimate_bytes(a, fp32, translate.PLANNING_SIDE)
    assert (translate.device_bytes(500, a, model_b=b, direction="BtoA", **ON_CPU)
            == estimate_bytes(b, fp32, 500))


def test_restore_faces_counts_every_model_it_places():
    restorer, upscaler = toy_restorer(size=64), _upscaler()
    alone = restore_faces.device_bytes(1000, restorer, **ON_CPU)
    assert alone == estimate_bytes(restorer, torch.float32, 64)
    with_upscaler = restore_faces.device_bytes(1000, restorer, upscaler=upscaler, detector=upscaler,
                                                   **ON_CPU)
    assert with_upscaler == alone + estimate_bytes(upscaler, torch.float32, PLANNING_TILE) + upscaler.param_count * 4
    assert restore_faces.device_bytes(1000, restorer, detector="a name", **ON_CPU) == alone  # not loaded: nothing


def test_detection_plans_the_detector_weights_and_a_refused_precision_counts_as_fp32():
    detector = _upscaler()
    assert detect_faces.device_bytes(4000, detector, **ON_CPU) == detector.param_count * 4
    # fp16 is refused on the CPU (the task says so itself): planned as fp32
    assert detect_faces.device_bytes(4000, detector, precision="fp16", device="cpu") == detector.param_count * 4
