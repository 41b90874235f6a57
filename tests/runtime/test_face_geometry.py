"""Face geometry: similarity fit, crops and paste-back against OpenCV and the official helper's recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganpost.runtime.faces import (
    FFHQ_512_TEMPLATE, MaskShape, crop_faces, crop_mask, face_template, invert_affine, paste_back, seam_strength,
    similarity_transform, upscale_affine, warp_affine,
)

cv2 = pytest.importorskip("cv2")
TEMPLATE = FFHQ_512_TEMPLATE.numpy()


def _similarity(scale: float, angle: float, shift) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _landmark_sets(count: int, seed: int = 0) -> np.ndarray:
    """Realistic detections: the template placed at random scale/angle/position, jittered by 0.4–3 % of the
    eye distance (the spread of RetinaFace landmarks)."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(count):
        scale = rng.uniform(0.1, 3)
        placed = (TEMPLATE - 256) @ _similarity(scale, rng.uniform(-0.6, 0.6), (0, 0))[:, :2].T
        sets.append(placed + rng.uniform(0, 1000, 2) + rng.normal(0, rng.uniform(0.5, 4) * scale, (5, 2)))
    return np.array(sets)


def _corner_gap(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """How far apart the two maps put the crop's corners, in crop pixels (per set)."""
    corners = np.array([[0, 0, 1], [511, 0, 1], [0, 511, 1], [511, 511, 1.0]])
    a = np.einsum("kj,nij->nki", corners, invert_affine(torch.tensor(ours)).numpy())
    b = np.einsum("kj,nij->nki", corners, invert_affine(torch.tensor(theirs)).numpy())
    return np.abs(a - b).max(axis=(1, 2)) * np.hypot(theirs[:, 0, 0], theirs[:, 1, 0])


def _photo(blur: float = 0.0) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.astronaut().astype(np.float32) / 255
    if blur:
        photo = cv2.GaussianBlur(photo, (0, 0), blur)
    return torch.from_numpy(photo).permute(2, 0, 1)[None].contiguous()


def _face_matrix(scale: float, angle: float, centre=(260.0, 190.0)) -> torch.Tensor:
    """image→crop map for a face of ``scale``×512 px at ``centre`` (crop centre 256,256)."""
    inverse = _similarity(scale, angle, (0, 0))
    inverse[:, 2] = np.array(centre) - inverse[:, :2] @ np.array([256.0, 256.0])
    return invert_affine(torch.tensor(inverse)[None]).float()


# --- the similarity fit -------------------------------------------------------------------------------------

@pytest.mark.parametrize("robust", [True, False])
def test_exact_similarity_is_recovered(robust):
    rng = np.random.default_rng(3)
    truth = np.stack([_similarity(rng.uniform(0.05, 4), rng.uniform(-3, 3), rng.uniform(-500, 1500, 2))
                      for _ in range(64)])
    src = rng.uniform(0, 2000, (64, 5, 2))
    dst = np.einsum("nkj,nij->nki", np.concatenate([src, np.ones((64, 5, 1))], -1), truth)
    fitted = similarity_transform(torch.tensor(src), torch.tensor(dst), robust=robust).numpy()
    assert np.abs(fitted - truth).max() <= 1e-9
    # float32 (what runs on a device): the linear part to 1e-5, the shift to 1e-5 of the coordinates' size
    fitted32 = similarity_transform(torch.tensor(src).float(), torch.tensor(dst).float(), robust=robust).double()
    assert np.abs(fitted32[:, :, :2].numpy() - truth[:, :, :2]).max() <= 1e-5
    assert np.abs(fitted32[:, :, 2].numpy() - truth[:, :, 2]).max() <= 1e-5 * 2000


def test_robust_fit_drops_a_wild_landmark():
    placed = (TEMPLATE - 256) * 0.5 + 300
    placed[3] += (25, -30)  # one mouth corner badly off
    crop_of = similarity_transform(torch.tensor(placed)[None], torch.tensor(TEMPLATE))[0].numpy()
    truth = np.linalg.inv(np.vstack([_similarity(0.5, 0, (300 - 128, 300 - 128)), [0, 0, 1]]))[:2]
    assert np.abs(crop_of - truth).max() < 1e-9
    plain = similarity_transform(torch.tensor(placed)[None], torch.tensor(TEMPLATE), robust=False)[0].numpy()
    assert np.abs(plain - truth).max() > 1e-2


def test_against_opencv_lmeds():
    """OpenCV's LMEDS tries random pairs; ours tries all ten, so it finds the least median every time. They
    agree (to OpenCV's float32) wherever OpenCV's draw included that pair: 98 % of these sets, measured."""
    sets = _landmark_sets(600)
    theirs = np.stack([cv2.estimateAffinePartial2D(s, TEMPLATE, method=cv2.LMEDS)[0] for s in sets])
    ours = similarity_transform(torch.tensor(sets), FFHQ_512_TEMPLATE).numpy()
    gap = _corner_gap(ours, theirs)
    agree = gap < 0.01
    assert agree.mean() >= 0.95
    assert gap[agree].max() < 5e-3  # crop pixels
    plain = similarity_transform(torch.tensor(sets), FFHQ_512_TEMPLATE, robust=False).numpy()
    assert (_corner_gap(plain, theirs) < 0.01).mean() < agree.mean()  # OpenCV does drop points, often


def test_batched_fit_matches_one_at_a_time():
    sets = torch.tensor(_landmark_sets(8, seed=5)).float()
    together = similarity_transform(sets, face_template(512))
    alone = torch.cat([similarity_transform(s[None], face_template(512)) for s in sets])
    assert torch.allclose(together, alone, rtol=0, atol=1e-4)


# --- crops ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale,angle", [(0.4, 0.2), (1.0, -0.3), (2.5, 0.1)])
def test_crop_matches_cv2_warp_affine(scale, angle):
    photo = _photo()
    matrix = _face_matrix(scale, angle)
    ours = crop_faces(photo, matrix, [0], 512)[0].permute(1, 2, 0).numpy()
    image = np.ascontiguousarray(photo[0].permute(1, 2, 0).numpy())
    border = (132 / 255, 133 / 255, 135 / 255)  # the official grey, BGR 135,133,132, in RGB
    theirs = cv2.warpAffine(image, matrix[0].double().numpy(), (512, 512), borderMode=cv2.BORDER_CONSTANT,
                            borderValue=border)
    diff = np.abs(ours - theirs) * 255
    assert diff.max() <= 0.05 and diff.mean() <= 1e-3  # border included: same constant-border blend
    uint8 = cv2.warpAffine((image * 255).round().astype(np.uint8), matrix[0].double().numpy(), (512, 512),
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(132, 133, 135))
    assert np.abs(ours * 255 - uint8).max() <= 1.0  # OpenCV's uint8 path rounds; that is all


def test_crops_of_a_batch_go_to_their_own_images():
    photos = torch.cat([_photo(), _photo().flip(-1)])
    matrices = torch.cat([_face_matrix(0.4, 0.1), _face_matrix(0.3, -0.2), _face_matrix(0.5, 0.0)])
    crops = crop_faces(photos, matrices, [1, 0, 1], 128)
    for k, image in enumerate([1, 0, 1]):
        alone = warp_affine(photos[image: image + 1], matrices[k: k + 1], 128, (132 / 255, 133 / 255, 135 / 255))
        assert torch.allclose(crops[k], alone[0], atol=1e-6)
    one_image = warp_affine(photos[:1], matrices, (128, 96))
    assert one_image.shape == (3, 3, 128, 96)
    assert torch.allclose(one_image[1], warp_affine(photos[:1], matrices[1:2], (128, 96))[0], atol=1e-6)


# --- paste-back -----------------------------------------------------------------------------------------------

def test_round_trip_is_exact_on_a_pixel_grid():
    photo = _photo()
    matrix = torch.tensor([[[1.0, 0, -150], [0, 1, -120]]])  # crop = a plain 256-px window at (150, 120)
    crop = crop_faces(photo, matrix, [0], 256)
    pasted = paste_back(photo, crop, invert_affine(matrix), [0])
    outside = (pasted.mask == 0).expand_as(photo)
    assert torch.equal(pasted.image[outside], photo[outside])
    assert (pasted.image - photo).abs().max() <= 1e-6


@pytest.mark.parametrize("upscale", [1, 2])
def test_round_trip_leaves_the_image_as_it_was(upscale):
    """An identity "restoration" pasted back: unchanged inside the face (smooth photo: bilinear twice is exact
    enough to show any geometric error), bit for bit outside."""
    photo = _photo(blur=2.5)
    matrix = _face_matrix(0.3, 0.35)
    crop = crop_faces(photo, matrix, [0], 512)
    background = photo if upscale == 1 else F.interpolate(photo, scale_factor=upscale, mode="bilinear")
    inverse = upscale_affine(invert_affine(matrix), upscale)
    pasted = paste_back(background, crop, inverse, [0])
    inside, outside = (pasted.mask > 0).expand_as(background), (pasted.mask == 0).expand_as(background)
    assert inside.float().mean() > 0.08
    assert (pasted.image - background)[inside].abs().max() * 255 <= 1.0
    assert torch.equal(pasted.image[outside], background[outside])
    nudged = inverse.clone()
    nudged[:, :, 2] += 0.5  # half a pixel off is plainly visible at this tolerance
    assert (paste_back(background, crop, nudged, [0]).image - background).abs().max() * 255 > 2.0
    if upscale > 1:  # the official helper's offset (factor/2 instead of (factor − 1)/2) is half a pixel off
        official = invert_affine(matrix) * upscale
        official[:, :, 2] += upscale / 2
        shifted = paste_back(background, crop, official, [0])
        assert (shifted.image - background).abs().max() > 2 * (pasted.image - background).abs().max()


def test_overlapping_faces_blend_without_seam_or_order():
    photo = _photo(blur=2.0)
    matrices = torch.cat([_face_matrix(0.4, 0.1, (230, 200)), _face_matrix(0.35, -0.2, (300, 230))])
    crops = crop_faces(photo, matrices, [0, 0], 256)
    brighter = (crops + 0.1).clamp(0, 1)  # both "restorations" lift the tone by the same amount
    pasted = paste_back(photo, brighter, invert_affine(matrices), [0, 0])
    swapped = paste_back(photo, brighter.flip(0), invert_affine(matrices).flip(0), [0, 0])
    assert torch.allclose(pasted.image, swapped.image, atol=1e-6)
    lift = (pasted.image - photo)[:, :, pasted.mask[0, 0] > 0]
    headroom = photo[:, :, pasted.mask[0, 0] > 0] < 0.89
    assert lift.min() >= -1e-6  # nowhere darker than the background: no dark seam where the faces meet
    assert lift[headroom].max() <= 0.1 + 2 / 255  # bilinear twice: within 2/255 of the photo
    both = [paste_back(photo, brighter[k: k + 1], invert_affine(matrices[k: k + 1]), [0]).mask for k in (0, 1)]
    assert torch.allclose(pasted.mask, 1 - (1 - both[0]) * (1 - both[1]), atol=1e-6)


def test_mask_scales_with_the_face():
    shape = MaskShape()
    for size in (128, 512):
        mask = crop_mask(size, shape)
        row = mask[size // 2]
        assert row[: int(size * shape.erosion)].max() == 0
        assert torch.all(row[int(size * (shape.erosion + shape.feather)) + 1: size // 2] == 1)
    with pytest.raises(Exception, match="erosion"):
        MaskShape(erosion=0.3, feather=0.3)


def _official_square_mask(inverse: np.ndarray, size: int, out_hw, upscale: int) -> np.ndarray:
    """facexlib's paste-back mask without parsing, with its own OpenCV calls (reference, test-only)."""
    h, w = out_hw
    inv_mask = cv2.warpAffine(np.ones((size, size), np.float32), inverse, (w, h))
    eroded = cv2.erode(inv_mask, np.ones((int(2 * upscale), int(2 * upscale)), np.uint8))
    edge = int(eroded.sum() ** 0.5) // 20
    centre = cv2.erode(eroded, np.ones((edge * 2, edge * 2), np.uint8))
    return cv2.GaussianBlur(centre, (edge * 2 + 1, edge * 2 + 1), 0), eroded


def _official_parse_mask(inverse: np.ndarray, size: int, out_hw) -> np.ndarray:
    """facexlib's parsing-mask treatment (two 101-px Gaussian blurs, σ 11, a 10-px zero border) applied to a
    face-shaped region, as ParseNet would give for skin."""
    region = np.zeros((512, 512), np.float32)
    cv2.ellipse(region, (256, 300), (150, 190), 0, 0, 360, 255, -1)
    region = cv2.GaussianBlur(cv2.GaussianBlur(region, (101, 101), 11), (101, 101), 11)
    region[:10], region[-10:], region[:, :10], region[:, -10:] = 0, 0, 0, 0
    region = cv2.resize(region / 255, (size, size))
    return cv2.warpAffine(region, inverse, (out_hw[1], out_hw[0]), flags=3)


@pytest.mark.parametrize("scale,upscale", [(0.3, 1), (0.6, 2)])
def test_seam_is_no_worse_than_the_official_masks(scale, upscale):
    photo = _photo()
    matrix = _face_matrix(scale, 0.2)
    crop = crop_faces(photo, matrix, [0], 512)
    restored = (crop * 0.9 + 0.08).clamp(0, 1)  # a tone mismatch, as restorers often leave
    background = photo if upscale == 1 else F.interpolate(photo, scale_factor=upscale, mode="bilinear")
    inverse = upscale_affine(invert_affine(matrix), upscale)
    ours = paste_back(background, restored, inverse, [0])
    layer = (ours.image - (1 - ours.mask) * background) / ours.mask.clamp_min(1e-12)
    ours_seam = seam_strength(layer, background, ours.mask)

    official_inverse = (invert_affine(matrix) * upscale)[0].double().numpy()
    if upscale > 1:
        official_inverse[:, 2] += upscale / 2
    hw = background.shape[-2:]
    face = cv2.warpAffine(np.ascontiguousarray(restored[0].permute(1, 2, 0).numpy()), official_inverse, hw[::-1])
    face = torch.from_numpy(face).permute(2, 0, 1)[None]
    square, eroded = _official_square_mask(official_inverse, 512, hw, upscale)
    square_seam = seam_strength(face * torch.from_numpy(eroded), background, torch.from_numpy(square)[None, None])
    parse_seam = seam_strength(face, background, torch.from_numpy(_official_parse_mask(official_inverse, 512, hw))
                               [None, None])
    assert ours_seam.item() <= 0.75 * square_seam.item()
    assert ours_seam.item() <= parse_seam.item()


def test_seam_strength_of_a_hard_edge_is_the_step():
    background = torch.zeros(1, 3, 32, 32)
    face = torch.full((1, 3, 32, 32), 0.25)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    assert seam_strength(face, background, mask).item() == pytest.approx(0.25)


def test_official_paste_mask_equals_facexlibs():
    """paste_back_official's mask is facexlib's (erosion, 2e erosion, OpenCV's Gaussian), computed in torch."""
    cv2 = pytest.importorskip("cv2")
    from ganpost.runtime.faces import paste_back_official

    for angle, scale, up in ((0.3, 0.35, 1), (-0.2, 0.08, 1), (0.1, 0.4, 2)):  # 0.08: a small face, a 7-tap blur
        height, width = 300 * up, 400 * up
        c, s = np.cos(angle) * scale * up, np.sin(angle) * scale * up
        inverse = np.array([[c, -s, 60.0 * up], [s, c, 30.0 * up]])
        square = cv2.warpAffine(np.ones((512, 512)), inverse, (width, height))
        square = cv2.erode(square, np.ones((2 * up, 2 * up), np.uint8))
        edge = int(square.sum() ** 0.5) // 20
        expected = cv2.GaussianBlur(cv2.erode(square, np.ones((2 * edge, 2 * edge), np.uint8)),
                                    (2 * edge + 1, 2 * edge + 1), 0)
        pasted = paste_back_official(torch.zeros(1, 3, height, width, dtype=torch.float64),
                                     torch.ones(1, 3, 512, 512, dtype=torch.float64),
                                     torch.tensor(inverse)[None], [0], upscale=up)
        # OpenCV samples at 1/32 px steps: its warped square differs at the corners (measured max 3.4e-3)
        np.testing.assert_allclose(pasted.mask[0, 0].numpy(), expected, atol=5e-3)


def test_official_paste_through_a_parse_mask_alone_or_within_the_square():
    """facexlib pastes through the parse mask; CodeFormer's helper through the smaller of it and the square mask."""
    from ganpost.runtime.faces import paste_back_official

    inverse = torch.tensor([[[0.3, 0.0, 40.0], [0.0, 0.3, 30.0]]], dtype=torch.float64)
    background, face = torch.zeros(1, 3, 240, 240, dtype=torch.float64), torch.ones(1, 3, 512, 512, dtype=torch.float64)
    parse = torch.ones(1, 1, 512, 512, dtype=torch.float64)  # everything is face: only the square can narrow it
    square = paste_back_official(background, face, inverse, [0]).mask
    alone = paste_back_official(background, face, inverse, [0], masks=parse).mask
    within = paste_back_official(background, face, inverse, [0], masks=parse, within_square=True).mask
    assert torch.equal(within, torch.minimum(alone, square)) and (within < alone).any()
