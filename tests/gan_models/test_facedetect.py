"""RetinaFace face detection: parity with facexlib's network and detector, batching and options.

facexlib's files are loaded one by one under stub parent packages (its package ``__init__``
imports torchvision-heavy modules) and sys.modules is restored afterwards. The real-weight checks
use ../shared/weights/retinaface_mobilenet0.25.pth and skip when it is absent.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from helpers.models import SHARED_WEIGHTS, shared_weight
from helpers.torchvision_stub import greedy_nms, install_torchvision_stub
from helpers.tolerance import assert_close_to_scale

from ganpost import load_model
from ganpost.gan_models import InvalidOptionError
from ganpost.gan_models.catalogue import lookup
from ganpost.gan_models.facedetect import RetinaFace
from ganpost.gan_models.errors import CancelledError
from ganpost.runtime.faces import nms
from ganpost.tasks.detect_faces import (
    DEFAULT_DETECTION_SIZE, ELLIPSE_FEATHER, Face, aligned_crops, detect_faces, detect_in_core, detector_network,
    face_masks,
)

REAL_DETECTOR = "retinaface_mobilenet0.25.pth"
KODAK = SHARED_WEIGHTS.parent / "datasets" / "kodak"
BACKBONES = {"mobile0.25": "mobilenet0.25", "resnet50": "resnet50"}


# ----------------------------------------------------------------------------------- references
def facexlib_retinaface():
    """facexlib's own ``RetinaFace`` class, or a skip when facexlib is not installed."""
    spec = importlib.util.find_spec("facexlib")
    if spec is None:
        pytest.skip("facexlib is not installed (pip install --no-deps facexlib==0.3.0)")
    root = spec.submodule_search_locations[0]
    install_torchvision_stub()  # facexlib builds its ResNet-50 from it; removed after this module's tests
    ours = ("facexlib",)
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ours}
    try:
        for name, path in (("facexlib", root), ("facexlib.detection", f"{root}/detection")):
            package = types.ModuleType(name)
            package.__path__ = [path]  # its submodules import from the real folder, its __init__ never runs
            sys.modules[name] = package
        return importlib.import_module("facexlib.detection.retinaface").RetinaFace
    finally:
        for name in [k for k in sys.modules if k.split(".")[0] in ours]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module", autouse=True)
def _restore_torchvision():
    """A torchvision stub left in sys.modules breaks diffusers' later find_spec("torchvision")."""
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "torchvision"}
    yield
    for name in [k for k in sys.modules if k.split(".")[0] == "torchvision"]:
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture(scope="module")
def detector():
    """Our detector with the real MobileNet-0.25 weights."""
    return load_model(shared_weight(REAL_DETECTOR))


@pytest.fixture(scope="module")
def official_detector():
    """facexlib's detector with the same weights."""
    official = facexlib_retinaface()("mobile0.25", device="cpu")
    official.load_state_dict(torch.load(shared_weight(REAL_DETECTOR), weights_only=True), strict=True)
    return official.eval()


def randomise_norms(module: torch.nn.Module) -> torch.nn.Module:
    """Batch-norm statistics and affine terms away from identity, so the parity is not trivial."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return module.eval()


# --------------------------------------------------------------------------------- test images
def astronaut() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut()


def cameraman() -> np.ndarray:
    return np.repeat(pytest.importorskip("skimage.data").camera()[..., None], 3, axis=-1)


def collage() -> np.ndarray:
    """Five astronaut faces at four sizes on grey, 640×896. The smallest (about 23 px) scores 0.94
    with the real detector, under the default threshold: four faces are found."""
    photo = astronaut()
    canvas = np.full((640, 896, 3), 128, np.uint8)
    canvas[0:512, 0:384] = photo[:, 64:448]  # face about 95 px wide
    half, third, quarter = photo[::2, ::2], photo[::3, ::3], photo[::4, ::4]
    canvas[0:256, 400:656] = half
    canvas[300:556, 400:656] = half[:, ::-1]  # mirrored
    canvas[0:171, 680:851] = third
    canvas[400:528, 700:828] = quarter
    return canvas


def no_faces() -> np.ndarray:
    y, x = np.mgrid[0:256, 0:320]
    return np.stack([x * 255 // 320, y * 255 // 256, np.full_like(x, 90)], -1).astype(np.uint8)


def as_rows(faces) -> np.ndarray:
    return np.array([[*f.box, f.score, *np.ravel(f.landmarks)] for f in faces]).reshape(-1, 15)


# ------------------------------------------------------------------------ networks (random weights)
@pytest.mark.parametrize("network_name", list(BACKBONES))
def test_raw_outputs_equal_facexlib_on_random_weights(network_name):
    official = randomise_norms(facexlib_retinaface()(network_name, device="cpu"))
    ours = RetinaFace(BACKBONES[network_name]).eval()
    ours.load_state_dict(official.state_dict(), strict=True)
    x = torch.randn(2, 3, 37, 52) * 60  # odd sizes: the priors' ceil and the FPN's upsampling sizes
    with torch.no_grad():
        expected = official(x)
        got = ours.raw_forward(x)
    for e, g in zip(expected, got):
        assert_close_to_scale(g, e)
    rgb = torch.rand(1, 3, 40, 48)
    with torch.no_grad():  # forward takes RGB in [0, 1] and applies the BGR mean itself
        via_rgb = ours(rgb)
        via_bgr = ours.raw_forward(rgb.flip(1) * 255 - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1))
    for a, b in zip(via_rgb, via_bgr, strict=True):
        assert_close_to_scale(a, b)


def test_network_sizes_are_facexlibs():
    """Parameter and tensor counts of facexlib's networks with the real torchvision ResNet-50
    (architecture.md, 'verified instantiation'): our own ResNet-50 has its layout."""
    for backbone, params, tensors in (("mobilenet0.25", 426_608, 300), ("resnet50", 27_293_600, 456)):
        net = RetinaFace(backbone)
        assert sum(p.numel() for p in net.parameters()) == params
        assert len(net.state_dict()) == tensors
    keys = RetinaFace("resnet50").state_dict()
    assert "body.layer1.0.downsample.0.weight" in keys and "body.layer4.2.bn3.running_var" in keys
    assert not any(k.startswith(("body.fc", "body.avgpool")) for k in keys)


def test_checkpoints_are_detected_with_their_backbone(tmp_path):
    for backbone in ("mobilenet0.25", "resnet50"):
        sd = {f"module.{k}": v for k, v in RetinaFace(backbone).state_dict().items()}  # saved from DataParallel
        torch.save(sd, tmp_path / "detector.pth")
        model = load_model(tmp_path / "detector.pth")
        assert (model.architecture, model.hyperparameters, model.task) == ("RetinaFace", {"backbone": backbone},
                                                                          "face_detect")
        assert model.contract.value_range == (0.0, 1.0) and model.scale == 1
    known = lookup("retinaface_resnet50")
    assert known.filename == "detection_Resnet50_Final.pth" and known.comfy_folder == "facedetection"
    assert known.url().endswith("/v0.1.0/detection_Resnet50_Final.pth")


def test_nms_keeps_what_torchvisions_rule_keeps():
    g = torch.Generator().manual_seed(3)
    corners = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([corners, corners + 5 + torch.rand(300, 2, generator=g) * 40], dim=1)
    scores = torch.rand(300, generator=g)
    for threshold in (0.0, 0.3, 0.7):
        assert nms(boxes, scores, threshold).tolist() == greedy_nms(boxes, scores, threshold).tolist()
    assert nms(boxes[:0], scores[:0], 0.4).numel() == 0


# ------------------------------------------------------------------------------- real weights
@pytest.mark.parametrize("make_image, count", [(astronaut, 1), (cameraman, 1), (collage, 4)])
def test_same_faces_as_facexlib_on_photos(official_detector, detector, make_image, count):
    official, ours = official_detector, detector
    image = make_image()
    with torch.no_grad():
        expected = official.detect_faces(image[..., ::-1].copy(), conf_threshold=0.97)  # BGR, as cv2 reads
    got = as_rows(detect_faces(image, ours, order="score", detection_size=None)[0])
    assert len(got) == len(expected) == count
    assert np.abs(got[:, :4] - expected[:, :4]).max() <= 0.5
    assert np.abs(got[:, 5:] - expected[:, 5:]).max() <= 0.5
    assert np.abs(got[:, 4] - expected[:, 4]).max() <= 1e-4


def test_a_batch_gives_what_single_images_give(detector):
    ours = detector
    left, right = collage(), np.ascontiguousarray(collage()[:, ::-1])
    together = detect_faces([left, right, astronaut()], ours)  # two share a size, one does not
    alone = [detect_faces(image, ours)[0] for image in (left, right, astronaut())]
    for batched, single in zip(together, alone):
        assert len(batched) == len(single)
        assert np.abs(as_rows(batched) - as_rows(single)).max() <= 1e-3
    stacked = torch.from_numpy(np.stack([left, right])).permute(0, 3, 1, 2)  # a uint8 B×C×H×W tensor
    assert [len(f) for f in detect_faces(stacked, ours)] == [4, 4]


def test_selection_options(detector):
    ours = detector
    image = collage()
    faces = detect_faces(image, ours)[0]
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas == sorted(areas, reverse=True)  # largest first by default
    centres = [(f.box[0] + f.box[2]) / 2 for f in detect_faces(image, ours, order="left_to_right")[0]]
    assert centres == sorted(centres)
    assert detect_faces(image, ours, max_faces=2)[0] == faces[:2]
    centre = detect_faces(image, ours, only_center_face=True)[0]
    nearest = min(faces, key=lambda f: np.hypot((f.box[0] + f.box[2]) / 2 - 448, (f.box[1] + f.box[3]) / 2 - 320))
    assert centre == [nearest]
    assert len(detect_faces(image, ours, min_face_size=60)[0]) == sum(
        min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= 60 for f in faces)
    strict = detect_faces(image, ours, threshold=0.999)[0]
    assert 0 < len(strict) < len(faces) and all(f.score > 0.999 for f in strict)
    lenient = detect_faces(image, ours, threshold=0.9)[0]
    assert len(lenient) == 5 and lenient[:4] == faces  # the 23 px face, last as the smallest
    assert detect_faces([no_faces(), image], ours)[0] == []


def test_a_large_image_is_detected_on_a_smaller_copy(detector):
    ours = detector
    image = collage()
    big = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)  # 1280×1792
    full = detect_faces(image, ours, order="left_to_right")[0]
    shrunk = detect_faces(big, ours, detection_size=896, order="left_to_right")[0]  # back to the collage's size
    assert len(shrunk) == len(full)
    for a, b in zip(full, shrunk):  # boxes come back in the big image's pixels
        assert np.abs(np.array(b.box) / 2 - np.array(a.box)).max() < 2.0


def test_bad_options_and_models_are_refused(detector, tmp_path):
    ours = detector
    image = astronaut()
    for options in ({"threshold": 1.5}, {"nms_threshold": -0.1}, {"detection_size": 8}, {"max_faces": 0},
                    {"order": "biggest"}, {"min_face_size": -1}):
        with pytest.raises(InvalidOptionError):
            detect_faces(image, ours, **options)
    from helpers.models import save_official, tiny_compact

    upscaler = load_model(save_official(tiny_compact(), tmp_path / "compact.pth"))
    with pytest.raises(InvalidOptionError, match="is an upscaler, not a face detector"):
        detect_faces(image, upscaler)


def test_detection_runs_through_the_runner_in_fp32_with_cancel(detector):
    image = collage()
    assert detector.contract.decode is not None  # the family decodes; the task never names it
    seen = []
    found = detect_faces([image, image[:320], image], detector, progress=lambda d, t: seen.append((d, t)))
    assert [len(f) for f in found] == [4, len(found[1]), 4] and seen[-1] == (3, 3)
    with pytest.raises(CancelledError):
        detect_faces(image, detector, cancel=lambda: True)
    # The two-step form the node and training use still works, and gives the same faces.
    bound = detector_network(detector, "cpu")
    assert detect_in_core(bound, [torch.from_numpy(image).permute(2, 0, 1)[None] / 255.0])[0] == found[0]


# ------------------------------------------------------------------------------ masks and aligned crops
def test_box_and_ellipse_masks():
    faces = [Face((2.0, 3.0, 8.0, 11.0), 0.99, ((0.0, 0.0),) * 5), Face((10.0, 0.0, 16.0, 4.0), 0.98, ((0.0, 0.0),) * 5)]
    box = face_masks(faces, 12, 16, "box")
    assert box.shape == (12, 16) and set(box.unique().tolist()) == {0.0, 1.0}
    assert box[3:11, 2:8].eq(1).all() and box.sum() == 8 * 6 + 4 * 6  # pixel centres inside each box
    ellipse = face_masks(faces[:1], 12, 16, "ellipse")
    assert ellipse[7, 5] == 1 and ellipse[0, 0] == 0 and ellipse[3:11, 2:8].sum() == ellipse.sum()
    assert 0 < ellipse[3, 4] < 1  # the edge fades over the outer ELLIPSE_FEATHER of the radius
    radius = (((4.5 - 5) / 3) ** 2 + ((3.5 - 7) / 4) ** 2) ** 0.5
    assert float(ellipse[3, 4]) == pytest.approx((1 - radius) / ELLIPSE_FEATHER, abs=1e-5)
    assert face_masks([], 5, 6).eq(0).all()
    with pytest.raises(InvalidOptionError, match="box, ellipse"):
        face_masks(faces, 12, 16, "circle")


def test_aligned_crops_are_the_restorers_crops(detector):
    from helpers.faces import toy_restorer

    from ganpost import restore_faces_detailed

    image = collage()
    faces = detect_faces(image, detector)[0]
    crops = aligned_crops(image, faces, 512)
    assert crops.shape == (4, 3, 512, 512) and crops.device.type == "cpu"
    core = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    torch.testing.assert_close(aligned_crops(core, faces, 512), crops)
    records = restore_faces_detailed(image, toy_restorer(), detector=detector, precision="fp32").faces[0]
    torch.testing.assert_close(torch.stack([r.crop for r in records]), crops)
    eyes = aligned_crops(image, faces[:1], 128)[0]
    assert eyes.shape == (3, 128, 128) and aligned_crops(image, [], 64).shape == (0, 3, 64, 64)


# ------------------------------------------------------------------------------ accuracy at the default size
def kodak(name: str) -> np.ndarray:
    path = KODAK / f"{name}.png"
    if not path.is_file():
        pytest.skip(f"{path} not present (the Kodak photos are in ../shared/datasets)")
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def group_1280x720() -> np.ndarray:
    """kodim04 | kodim17 | kodim18 side by side (three faces, 48 to 281 px), on grey to 16:9, at 1280×720."""
    trio = np.concatenate([kodak("kodim04"), kodak("kodim17"), kodak("kodim18")], axis=1)  # 1536×768
    canvas = np.full((864, 1536, 3), 128, np.uint8)
    canvas[48:816] = trio
    return resized(canvas, 1280, 720)


@pytest.mark.parametrize("make_image", [
    group_1280x720,
    lambda: resized(kodak("kodim12"), 1536, 1024),  # two small faces (about 42 px)
    lambda: resized(kodak("kodim18"), 1024, 1536),  # one face, about 100 px
], ids=["group_1280x720", "kodim12_1536x1024", "kodim18_1024x1536"])
def test_default_detection_equals_the_official_at_full_size(official_detector, detector, make_image):
    """SD outputs are 1216-1536 px wide: the default detects them as they are, as the official pipeline does
    (the old 1024 px copy moved boxes by 4-10 px on these, bench/face_detection_size.py)."""
    image = make_image()
    assert max(image.shape[:2]) <= DEFAULT_DETECTION_SIZE
    with torch.no_grad():
        expected = official_detector.detect_faces(image[..., ::-1].copy(), conf_threshold=0.97)
    got = as_rows(detect_faces(image, detector, order="score")[0])
    assert len(got) == len(expected) >= 1
    assert np.abs(got[:, :4] - expected[:, :4]).max() <= 0.5
    assert np.abs(got[:, 5:] - expected[:, 5:]).max() <= 0.5


def test_the_old_detector_first_order_still_works_with_a_deprecation_warning(detector):
    image = astronaut()
    with pytest.warns(DeprecationWarning, match=r"detect_faces\(image, model\)"):
        old = detect_faces(detector, image)
    assert old == detect_faces(image, detector)
