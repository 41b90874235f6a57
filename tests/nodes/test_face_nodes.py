"""The face nodes called the way ComfyUI calls them (fake ComfyUI), with a tiny GFPGAN file and the real
RetinaFace MobileNet-0.25.

The real-ComfyUI run is `example_workflows/api/restore_faces_workflow_api.json` through ../shared/tools/comfy_e2e.py.
"""

import importlib
import os

import pytest
import torch

from helpers.models import save_official, shared_weight, tiny_compact
from ganpost import load_model, restore_faces_detailed
from helpers import fake_comfy
from helpers.fake_comfy import Interrupted
from helpers.gfpgan import tiny_gfpgan

DETECTOR = "retinaface_mobilenet0.25.pth"


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    """The fake ComfyUI with a tiny GFPGAN in facerestore_models and the real detector in facedetection."""
    detector = shared_weight(DETECTOR)
    state = fake_comfy.install(monkeypatch, tmp_path)
    fake_comfy.forget_modules()
    state.faces_dir = tmp_path / "models" / "facerestore_models"
    state.detectors_dir = tmp_path / "models" / "facedetection"
    state.faces_dir.mkdir(parents=True)
    state.detectors_dir.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save({"params_ema": tiny_gfpgan().state_dict()}, state.faces_dir / "GFPGANtiny.pth")
    os.symlink(detector, state.detectors_dir / DETECTOR)
    state.nodes = importlib.import_module("ganpost.nodes.face_nodes")
    importlib.import_module("ganpost.nodes.model_cache").clear()
    yield state
    fake_comfy.forget_modules()


def _models(comfy):
    (face,) = comfy.nodes.GanpostLoadFaceModel.execute(model_name="GFPGANtiny.pth")
    (detector,) = comfy.nodes.GanpostLoadFaceDetector.execute(model_name=DETECTOR)
    return face, detector


def _photo() -> torch.Tensor:
    """The astronaut's face, 256×256, as a 1×H×W×3 IMAGE."""
    photo = pytest.importorskip("skimage.data").astronaut()[:256, 128:384]
    return torch.from_numpy(photo.copy()).float()[None] / 255


def _restore(comfy, image, face, detector, **overrides):
    args = dict(upscale=1.0, strength=1.0, threshold=0.97, max_faces=0, only_center_face=False, color_fix="none",
                paste="soft", seed=0, precision="fp32") | overrides
    return comfy.nodes.GanpostRestoreFaces.execute(image=image, face_model=face, detector=detector, **args)


def _detect(comfy, image, detector, **overrides):
    args = dict(threshold=0.97, max_faces=0, only_center_face=False, mask_shape="box", crop_size=64) | overrides
    return comfy.nodes.GanpostDetectFaces.execute(image=image, detector=detector, **args)


# ------------------------------------------------------------------------------ loaders and folders
def test_loaders_list_their_folders_and_load_the_right_task(comfy):
    assert comfy.nodes.GanpostLoadFaceModel.define_schema().inputs[0].options == ["GFPGANtiny.pth"]
    assert comfy.nodes.GanpostLoadFaceDetector.define_schema().inputs[0].options == [DETECTOR]
    face, detector = _models(comfy)
    assert face.task == "face_restore" and detector.task == "face_detect"
    assert comfy.nodes.GanpostLoadFaceModel.execute(model_name="GFPGANtiny.pth")[0] is face  # cached


def test_a_file_in_the_wrong_loader_is_refused_with_the_fix(comfy):
    os.symlink(comfy.detectors_dir / DETECTOR, comfy.faces_dir / DETECTOR)
    os.symlink(comfy.faces_dir / "GFPGANtiny.pth", comfy.detectors_dir / "GFPGANtiny.pth")
    with pytest.raises(RuntimeError, match=r"retinaface_mobilenet0.25.pth .*is a face detector, not a face restorer.*"
                                           r"models/facedetection.*Load Face Detector"):
        comfy.nodes.GanpostLoadFaceModel.execute(model_name=DETECTOR)
    with pytest.raises(RuntimeError, match=r"GFPGANtiny.pth .*not a face detector.*models/facerestore_models"):
        comfy.nodes.GanpostLoadFaceDetector.execute(model_name="GFPGANtiny.pth")
    os.symlink(comfy.faces_dir / "GFPGANtiny.pth", comfy.folder / "GFPGANtiny.pth")  # models/upscale_models
    upscale_nodes = importlib.import_module("ganpost.nodes.upscale_nodes")
    with pytest.raises(RuntimeError, match=r"GFPGANtiny.pth .*is a face restorer, not an upscaler; a face restorer goes "
                                           r"in models/facerestore_models and into 'ganpost: Load Face Model'"):
        upscale_nodes.GanpostLoadUpscaleModel.execute(model_name="GFPGANtiny.pth")
    (comfy.faces_dir / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="broken.pth"):
        comfy.nodes.GanpostLoadFaceModel.execute(model_name="broken.pth")


def test_face_folders_are_extended_never_replaced(comfy):
    folders = importlib.import_module("ganpost.nodes.model_folders")
    registry = comfy.folder_paths.folder_names_and_paths
    default = os.path.join(comfy.folder_paths.models_dir, "facerestore_models")
    # as extra_model_paths.yaml leaves it: the key exists with the user's folder and no extension filter
    registry["facerestore_models"] = (["/somewhere/faces"], set())
    entry = registry["facerestore_models"]
    folders.ensure_registered(folders.FACE_MODELS)
    folders.ensure_registered(folders.FACE_MODELS)
    assert registry["facerestore_models"] is entry and entry[0] == ["/somewhere/faces", default]
    registry.pop("facedetection", None)
    folders.ensure_registered(folders.FACE_DETECTORS)
    paths, exts = registry["facedetection"]
    assert paths == [os.path.join(comfy.folder_paths.models_dir, "facedetection")] and ".pth" in exts


# ------------------------------------------------------------------------------ Restore Faces
def test_restore_faces_is_the_core_plus_conversions(comfy):
    face, detector = _models(comfy)
    image = _photo()
    out, faces, face_mask, alpha_mask = _restore(comfy, image, face, detector)
    result = restore_faces_detailed(image.movedim(-1, 1), face, detector=detector, precision="fp32", seed=None)
    expected, records = result.images, result.faces
    assert out.shape == image.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, expected.movedim(1, -1).clamp(0, 1))
    assert faces.shape == (1, 64, 64, 3)  # one face, the tiny model's crop size
    torch.testing.assert_close(faces[0], records[0][0].restored.movedim(0, -1))
    assert face_mask.shape == (1, 256, 256) and face_mask.max() == 1
    torch.testing.assert_close(face_mask[0], records[0][0].mask[0])
    changed = (out - image).abs().amax(-1)[0] > 0
    assert changed.any() and not (changed & (face_mask[0] == 0)).any()  # changes only under the mask
    assert not alpha_mask.any()
    assert comfy.progress[-1] == (1, 1) and comfy.freed[0][0] > 0 and comfy.emptied == 1


def test_strength_scales_the_mask_and_no_faces_gives_placeholders(comfy):
    face, detector = _models(comfy)
    image = _photo()
    _, _, full_mask, _ = _restore(comfy, image, face, detector)
    _, _, half_mask, _ = _restore(comfy, image, face, detector, strength=0.5)
    torch.testing.assert_close(half_mask, full_mask * 0.5)
    flat = torch.full((2, 48, 64, 3), 0.4)
    out, faces, face_mask, _ = _restore(comfy, flat, face, detector)
    assert torch.equal(out, flat) and not face_mask.any() and face_mask.shape == (2, 48, 64)
    assert faces.shape == (1, 64, 64, 3) and not faces.any()


def test_background_upscaler_and_alpha_from_the_mask(comfy, tmp_path):
    face, detector = _models(comfy)
    upscaler = load_model(save_official(tiny_compact(scale=2), tmp_path / "compact.pth"))
    image = _photo()[:, :128, 64:192]  # the face, smaller
    mask = torch.zeros(1, 128, 128)
    mask[:, :, :16] = 1  # a transparent left strip
    out, _, face_mask, alpha_mask = _restore(comfy, image, face, detector, upscale_model=upscaler, upscale=2.0,
                                             mask=mask)
    assert out.shape == (1, 256, 256, 3) and face_mask.shape == alpha_mask.shape == (1, 256, 256)
    assert face_mask.max() > 0.9 and (alpha_mask[0, :, :28] > 0.99).all() and (alpha_mask[0, :, 40:] < 0.01).all()


def test_options_reach_the_core_and_interrupt_stops_it(comfy):
    face, detector = _models(comfy)
    image = _photo()
    with pytest.raises(RuntimeError, match="color_fix"):
        _restore(comfy, image, face, detector, color_fix="sepia")
    with pytest.raises(RuntimeError, match="not a face restorer"):
        _restore(comfy, image, detector, detector)
    comfy.interrupt_after = 0
    with pytest.raises(Interrupted):
        _restore(comfy, image, face, detector)


# ------------------------------------------------------------------------------ Detect Faces
def test_detect_faces_masks_crops_and_count(comfy):
    _, detector = _models(comfy)
    image = torch.cat([_photo(), torch.full((1, 256, 256, 3), 0.5)])  # a face, and none
    box_mask, crops, count = _detect(comfy, image, detector)
    assert count == 1 and crops.shape == (1, 64, 64, 3) and box_mask.shape == (2, 256, 256)
    assert not box_mask[1].any() and set(box_mask[0].unique().tolist()) == {0.0, 1.0}
    ellipse, _, _ = _detect(comfy, image, detector, mask_shape="ellipse")
    assert (ellipse <= box_mask).all() and 0 < ellipse[0].sum() < box_mask[0].sum()
    assert ((ellipse[0] > 0) & (ellipse[0] < 1)).any()  # a soft edge
    # the crop is the FFHQ-aligned face the restorer sees
    face, _ = _models(comfy)
    records = restore_faces_detailed(image[:1].movedim(-1, 1), face, detector=detector).faces
    torch.testing.assert_close(crops[0], records[0][0].crop.movedim(0, -1), atol=1e-4, rtol=0)
    none_mask, none_crops, none_count = _detect(comfy, image[1:], detector)
    assert none_count == 0 and none_crops.shape == (1, 64, 64, 3) and not none_mask.any()


def test_max_faces_zero_means_all(comfy):
    _, detector = _models(comfy)
    pair = torch.cat([_photo(), _photo().flip(2)], dim=2)  # two faces side by side, 256×512
    assert _detect(comfy, pair, detector)[2] == 2
    assert _detect(comfy, pair, detector, max_faces=1)[2] == 1
    assert _detect(comfy, pair, detector, only_center_face=True)[2] == 1


# ------------------------------------------------------------------- parser, picks, smoothing
def test_parser_loader_and_restore_with_parser_index_and_smoothing(comfy):
    from ganpost.gan_models.faceparse import ParseNet

    torch.manual_seed(0)
    torch.save(ParseNet(stem=8, down=((8, 16),), body=((16, 16),), up=((16, 8),)).state_dict(),
               comfy.detectors_dir / "parsing_tiny.pth")
    (parser,) = comfy.nodes.GanpostLoadFaceParser.execute(model_name="parsing_tiny.pth")
    assert parser.task == "face_parse"
    with pytest.raises(RuntimeError, match=r"not a face parser.*Load Face Detector"):
        comfy.nodes.GanpostLoadFaceParser.execute(model_name=DETECTOR)
    with pytest.raises(RuntimeError, match=r"not a face detector.*Load Face Parser"):
        comfy.nodes.GanpostLoadFaceDetector.execute(model_name="parsing_tiny.pth")
    face, detector = _models(comfy)
    pair = torch.cat([_photo(), _photo().flip(2)], dim=2)
    _, faces, square_mask, _ = _restore(comfy, pair, face, detector)
    _, _, parsed_mask, _ = _restore(comfy, pair, face, detector, parser=parser)
    assert faces.shape[0] == 2 and (parsed_mask <= square_mask + 1e-6).all() and parsed_mask.sum() < square_mask.sum()
    _, picked, _, _ = _restore(comfy, pair, face, detector, face_index="1")
    assert picked.shape[0] == 1
    frames = torch.cat([_photo()] * 3)
    out, _, _, _ = _restore(comfy, frames, face, detector, smooth_landmarks=1.0)
    assert out.shape == frames.shape
    with pytest.raises(RuntimeError, match="face_index"):
        _restore(comfy, pair, face, detector, face_index="first")
    assert _detect(comfy, pair, detector, face_index="0")[2] == 1
