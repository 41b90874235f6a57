"""restore_faces against facexlib's FaceRestoreHelper (the official GFPGANer's detect/align/paste), offline.

Both sides use the real RetinaFace MobileNet-0.25 and an identity restorer (the crop comes back as it
went in), so what is compared is the pipeline around the network: the same faces, the same aligned
crops and, where both masks paste the face fully, the same pixels. The full-size GFPGAN comparison
(and the speed and seam figures) is bench/faces.py: too slow for the test run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import shared_weight
from helpers.official_faces import official_available, official_face_helper, official_square_mask
from torch import nn

from ganpost import load_model, restore_faces, restore_faces_detailed
from ganpost.gan_models.contract import ModelContract, ModelDescriptor, SizeRule, Task, TilingPolicy

REAL_DETECTOR = "retinaface_mobilenet0.25.pth"


class Identity(nn.Module):
    def forward(self, x):
        return x, None


def identity_restorer() -> ModelDescriptor:
    contract = ModelContract(task=Task.FACE_RESTORE, scale=1, in_channels=3, out_channels=3, value_range=(-1.0, 1.0),
                             size=SizeRule(fixed=512), tiling=TilingPolicy(margin=0), activation_elements=16,
                             fp16_safe=False, bf16_safe=False)
    return ModelDescriptor("IdentityFace", contract, 3, None, Identity().eval())


@pytest.fixture(scope="module")
def detector_file():
    reason = official_available()
    if reason:
        pytest.skip(reason)
    return shared_weight(REAL_DETECTOR)


def astronaut() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut()


def two_faces() -> np.ndarray:
    """The astronaut and a mirrored half-size copy side by side, 512×768."""
    photo = astronaut()
    canvas = np.full((512, 768, 3), 128, np.uint8)
    canvas[:, :512] = photo
    canvas[128:384, 512:] = photo[::2, ::-2]
    return canvas


def official(image: np.ndarray, detector_file: str):
    """facexlib's helper as GFPGANer drives it, with the crops pasted back unchanged; RGB out."""
    helper = official_face_helper(detector_file)
    helper.read_image(image[..., ::-1].copy())
    with torch.no_grad():
        helper.get_face_landmarks_5(eye_dist_threshold=5)
    helper.align_warp_face()
    for crop in helper.cropped_faces:
        helper.add_restored_face(crop)
    helper.get_inverse_affine(None)
    return helper, helper.paste_faces_to_input_image()[..., ::-1]


@pytest.mark.parametrize("make_image, count", [(astronaut, 1), (two_faces, 2)])
def test_same_faces_crops_and_face_pixels_as_facexlib(detector_file, make_image, count):
    image = make_image()
    helper, expected = official(image, detector_file)
    result = restore_faces_detailed(image, identity_restorer(), detector=load_model(detector_file), strength=1,
                                    color_fix="none", precision="fp32")
    got, faces = result.images, result.faces[0]
    assert len(faces) == len(helper.det_faces) == count
    for face in faces:  # orders differ (ours: largest first; facexlib: by score): pair by box
        k = int(np.argmin([np.abs(np.array(face.box) - d[:4]).max() for d in helper.det_faces]))
        assert np.abs(np.array(face.box) - helper.det_faces[k][:4]).max() <= 0.5
        assert np.abs(np.array(face.landmarks) - helper.all_landmarks_5[k]).max() <= 0.5
        crop = face.crop.permute(1, 2, 0).numpy() * 255
        # facexlib's crop is the same warp rounded to uint8: measured max 0.5 (astronaut)
        assert np.abs(crop - helper.cropped_faces[k][..., ::-1]).max() <= 1.0

    # where both masks paste the face fully, only the crop's uint8 rounding and the two resamplings differ
    ours_cover = 1 - np.prod([1 - f.mask[0].numpy() for f in faces], axis=0)
    official_cover = 1 - np.prod([1 - official_square_mask(m, 512, image.shape[:2])
                                  for m in helper.inverse_affine_matrices], axis=0)
    interior = (ours_cover >= 0.99) & (official_cover >= 0.99)
    diff = np.abs(got.astype(float) - expected).max(-1)[interior]
    assert interior.sum() > 10000
    # measured: mean 0.37 and 0.36 steps of 1/255, max 2 (astronaut, two faces)
    assert diff.mean() <= 0.5 and diff.max() <= 3


@pytest.mark.parametrize("make_image", [astronaut, two_faces])
def test_official_paste_matches_the_official_output(detector_file, make_image):
    """paste="official" reproduces facexlib's mask and order: the whole image matches, not only the faces."""
    image = make_image()
    _, expected = official(image, detector_file)
    got = restore_faces(image, identity_restorer(), detector=load_model(detector_file), strength=1,
                        color_fix="none", paste="official", precision="fp32")
    diff = np.abs(got.astype(float) - expected)
    assert diff.mean() <= 0.1 and diff.max() <= 3  # measured: mean 0.020 and 0.016 steps of 1/255, max 2


@pytest.mark.parametrize("make_image", [astronaut, two_faces])
def test_parsing_mask_matches_the_official_use_parse(detector_file, make_image, tmp_path):
    """parser= with paste="official" reproduces facexlib's ``use_parse`` paste: the same (tiny, random) ParseNet
    file on both sides, the "restored" faces (crops tinted +20 red, −20 blue) pasted through its blurred
    face-part mask; without the parser the same paste differs clearly."""
    from helpers.official_faces import official_parsers
    from helpers.faces import randomise
    from helpers.faces import toy_restorer

    shift = 20 / 255  # in [0, 1]; the toy adds its tint in [-1, 1]
    tinted = toy_restorer(512, (2 * shift, 0.0, -2 * shift))

    reference = randomise(official_parsers()["ParseNet"](in_size=512, out_size=512, min_feat_size=64, base_ch=8,
                                                         res_depth=1, ch_range=[8, 16]), seed=3)
    torch.save(reference.state_dict(), tmp_path / "parsenet.pth")
    image = make_image()
    helper = official_face_helper(detector_file)
    helper.face_parse, helper.use_parse = reference, True
    helper.read_image(image[..., ::-1].copy())
    with torch.no_grad():
        helper.get_face_landmarks_5(eye_dist_threshold=5)
        helper.align_warp_face()
        for crop in helper.cropped_faces:  # BGR uint8
            helper.add_restored_face(np.clip(crop.astype(int) + [-20, 0, 20], 0, 255).astype(np.uint8))
        helper.get_inverse_affine(None)
        expected = helper.paste_faces_to_input_image()[..., ::-1]
    detector = load_model(detector_file)
    result = restore_faces_detailed(image, tinted, detector=detector, parser=tmp_path / "parsenet.pth", strength=1,
                                    color_fix="none", paste="official", precision="fp32")
    got, records = result.images, result.faces
    assert all(float((r.mask > 0.5).float().mean()) > 0 for r in records[0])
    diff = np.abs(got.astype(float) - expected)
    square = restore_faces(image, tinted, detector=detector, strength=1, color_fix="none", paste="official",
                           precision="fp32")
    # measured: mean 0.043 / 0.035 steps of 1/255, max 2 (astronaut, two faces); without the parser the
    # square mask is off by mean 0.20 / 0.16, max 29
    assert diff.mean() <= 0.1 and diff.max() <= 4
    off = np.abs(square.astype(float) - expected)
    assert off.mean() > 3 * diff.mean() and off.max() > 10
