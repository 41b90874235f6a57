"""ganpost's restore_faces against the official pipeline (GFPGANer + facexlib), same weights, one run.

Both sides: the real RetinaFace MobileNet-0.25 (../shared/weights/retinaface_mobilenet0.25.pth) and the
same full-size GFPGANv1Clean with random weights (ganpost's class, defaults, seed 0, saved as
{'params_ema': ...} and loaded by both), fp32, noise fixed (official: randomize_noise=False through
tests/helpers/official_faces.py; ours: the stored noise, its default), parsing off, no colour fix.
Photos: scikit-image's astronaut, a 1024×1024 collage of skimage faces, chelsea (a cat: no face).

Printed, per photo and upscale:
  faces     count found by each, max box / landmark difference (px) of matched faces;
  all       |ours − official| over the whole image, in steps of 1/255: mean, 99.9th pct, max;
  all(paste=official)  the same with restore_faces(paste="official"), facexlib's mask and order;
  interior  the same where both masks are ≥ 0.99 (both paste the face fully);
  xmask     ours with the official square mask (erosion + blur) put over our warped faces instead of
            ours: what is left once the mask is the same;
  crops / restored  the aligned crops and network outputs, ours vs official (uint8), mean and max;
  seam      mean gradient jump at the paste-back border (runtime/faces/paste.seam_strength), ours and
            official, averaged over faces;
and the time of the collage, ours vs official, in turns, median of --repeats.

--parse: parsing on instead. The same random GFPGAN, plus facexlib's full-size ParseNet(512, 512, 19)
with random weights and BatchNorm statistics (seed 0; the same file loaded by both), official
``use_parse=True`` against ``restore_faces(parser=..., paste="official")`` (and paste="soft"): the
whole-image difference (all), and the share of the crop the parsing mask keeps.

    python bench/faces.py --threads 2 --out faces.json
    python bench/faces.py --quick          # astronaut only, no timing
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.faces import randomise, six_face_collage as collage  # noqa: E402
from helpers.official_faces import (  # noqa: E402
    official_available, official_parsers, official_restorer, official_restorer_with_parser, official_square_mask,
)

from ganpost import load_model, restore_faces_detailed  # noqa: E402
from ganpost.gan_models.gfpgan import GFPGANv1Clean  # noqa: E402
from ganpost.runtime.faces import (  # noqa: E402
    face_template, invert_affine, seam_strength, similarity_transform, upscale_affine, warp_affine,
)

DETECTOR = Path(__file__).resolve().parent.parent.parent / "shared" / "weights" / "retinaface_mobilenet0.25.pth"


# ------------------------------------------------------------------------------------- photos
def astronaut() -> np.ndarray:
    from skimage import data
    return data.astronaut()


def chelsea() -> np.ndarray:
    from skimage import data
    return data.chelsea()


# ------------------------------------------------------------------------------------- the two sides
def ours(image, model, detector, upscale, precision="fp32", paste="soft"):
    result = restore_faces_detailed(image, model, detector=detector, upscale=upscale, strength=1, color_fix="none",
                                    precision=precision, paste=paste)
    return result.images, result.faces[0]


def official(image, restorer):
    crops, restored, out = restorer.enhance(image[..., ::-1].copy(), paste_back=True)
    return out[..., ::-1].copy(), restorer.face_helper


def our_inverse(landmarks, size: int, upscale: float) -> torch.Tensor:
    points = torch.tensor(np.asarray(landmarks), dtype=torch.float32)[None]
    inverse = invert_affine(similarity_transform(points, face_template(size)))
    return inverse if upscale == 1 else upscale_affine(inverse, upscale)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None] / 255


# ------------------------------------------------------------------------------------- measures
def steps(diff: np.ndarray) -> dict:
    if diff.size == 0:
        return {"mean": None, "p99.9": None, "max": None}
    return {"mean": round(float(diff.mean()), 3), "p99.9": round(float(np.percentile(diff, 99.9)), 2),
            "max": round(float(diff.max()), 2)}


def match(ours_faces, helper):
    """Pairs (our record, official index) by nearest box centre."""
    pairs = []
    for face in ours_faces:
        centre = np.array([(face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2])
        dists = [np.hypot(*(centre - [(d[0] + d[2]) / 2, (d[1] + d[3]) / 2])) for d in helper.det_faces]
        if dists:
            pairs.append((face, int(np.argmin(dists))))
    return pairs


def compare(name, image, model, detector, restorer, upscale) -> dict:
    restorer.face_helper.set_upscale_factor(upscale)
    restorer.upscale = upscale
    got, faces = ours(image, model, detector, upscale)
    expected, helper = official(image, restorer)
    row = {"photo": name, "upscale": upscale, "faces_ours": len(faces), "faces_official": len(helper.det_faces)}
    pairs = match(faces, helper)
    if pairs:
        row["box_px"] = round(max(float(np.abs(np.array(f.box) - helper.det_faces[k][:4]).max()) for f, k in pairs), 3)
        row["landmark_px"] = round(max(float(np.abs(np.array(f.landmarks) - helper.all_landmarks_5[k]).max())
                                       for f, k in pairs), 3)
    diff = np.abs(got.astype(np.float64) - expected).max(-1) if got.shape == expected.shape else None
    row["all"] = steps(diff) if diff is not None else f"shapes differ {got.shape} vs {expected.shape}"
    if not pairs or diff is None:
        return row
    official_paste, _ = ours(image, model, detector, upscale, paste="official")
    row["all_official_paste"] = steps(np.abs(official_paste.astype(np.float64) - expected).max(-1))

    out_hw = got.shape[:2]
    size = model.contract.size.fixed
    # the official background (at ×2 its Lanczos resize; ours is bicubic): the faces are measured on one background
    background = to_tensor(image if upscale == 1 else cv2.resize(image, out_hw[::-1], interpolation=cv2.INTER_LANCZOS4))
    ours_cover = 1 - np.prod([1 - f.mask[0].numpy() for f in faces], axis=0)
    official_cover = np.zeros(out_hw, np.float64)
    crop_diffs, restored_diffs, seams_ours, seams_official = [], [], [], []
    xmask = background.clone()
    for face, k in pairs:
        off_inverse = helper.inverse_affine_matrices[k]  # crop → output, facexlib's offset included
        soft = official_square_mask(off_inverse, size, out_hw, upscale)
        official_cover = 1 - (1 - official_cover) * (1 - soft)
        crop_diffs.append(np.abs(face.crop.permute(1, 2, 0).numpy() * 255 - helper.cropped_faces[k][..., ::-1]))
        restored_diffs.append(np.abs(face.restored.permute(1, 2, 0).numpy() * 255 - helper.restored_faces[k][..., ::-1]))
        inverse = our_inverse(face.landmarks, size, upscale)
        layer = warp_affine(face.restored[None], inverse, out_hw)
        seams_ours.append(float(seam_strength(layer, background, face.mask[None])[0]))
        off_layer = cv2.warpAffine(helper.restored_faces[k], off_inverse, out_hw[::-1])[..., ::-1]
        seams_official.append(float(seam_strength(to_tensor(off_layer), background,
                                                  torch.from_numpy(soft)[None, None].float())[0]))
        mask = torch.from_numpy(soft)[None, None].float()
        xmask = mask * layer + (1 - mask) * xmask
    interior = (ours_cover >= 0.99) & (official_cover >= 0.99)
    row["interior"] = steps(diff[interior])
    row["interior_px"] = int(interior.sum())
    xm = (xmask[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255)
    row["xmask"] = steps(np.abs(xm - expected).max(-1))
    row["crops"] = steps(np.concatenate([d.max(-1).ravel() for d in crop_diffs]))
    row["restored"] = steps(np.concatenate([d.max(-1).ravel() for d in restored_diffs]))
    row["matrix_px"] = round(max(float(_matrix_shift(face.landmarks, helper.affine_matrices[k], size)) for face, k in pairs), 3)
    row["seam_ours"] = round(float(np.nanmean(seams_ours)) * 255, 3)
    row["seam_official"] = round(float(np.nanmean(seams_official)) * 255, 3)
    return row


def _matrix_shift(landmarks, official_matrix, size) -> float:
    """Largest distance (crop px) between where ours and the official alignment send the crop's corners back."""
    mine = invert_affine(similarity_transform(torch.tensor(np.asarray(landmarks), dtype=torch.float64)[None],
                                              face_template(size, dtype=torch.float64)))[0].numpy()
    theirs = cv2.invertAffineTransform(official_matrix)
    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [0, size - 1, 1], [size - 1, size - 1, 1]], np.float64)
    return float(np.abs(corners @ mine.T - corners @ theirs.T).max())


def timing(image, model, detector, restorer, repeats) -> dict:
    restorer.face_helper.set_upscale_factor(1)
    restorer.upscale = 1
    times = {"ours": [], "ours_auto": [], "official": []}
    for _ in range(repeats):
        start = time.perf_counter()
        ours(image, model, detector, 1)
        times["ours"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours(image, model, detector, 1, precision="auto")  # what users get: bf16 on CPUs with bf16 units
        times["ours_auto"].append(time.perf_counter() - start)
        start = time.perf_counter()
        official(image, restorer)
        times["official"].append(time.perf_counter() - start)
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
            "median_ours": round(medians["ours"], 2), "median_ours_auto": round(medians["ours_auto"], 2),
            "median_official": round(medians["official"], 2),
            "ratio": round(medians["ours"] / medians["official"], 3),
            "ratio_auto": round(medians["ours_auto"] / medians["official"], 3)}


# ------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="astronaut only at ×1, no timing")
    parser.add_argument("--detector", default=str(DETECTOR))
    parser.add_argument("--out", help="write the figures as JSON here")
    parser.add_argument("--parse", action="store_true",
                        help="parsing on (random ParseNet), astronaut and collage at ×1")
    args = parser.parse_args(argv)
    reason = official_available()
    if reason or not Path(args.detector).exists():
        print(f"cannot run: {reason or f'no detector file at {args.detector}'}")
        return 2
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        weights = Path(folder) / "gfpgan_random.pth"
        torch.save({"params_ema": GFPGANv1Clean().state_dict()}, weights)
        model, detector = load_model(str(weights)), load_model(args.detector)
        if args.parse:
            return parse_bench(Path(folder), str(weights), model, detector, args)
        restorer = official_restorer(str(weights), args.detector, upscale=1)

    photos = {"astronaut": astronaut()} if args.quick else {
        "astronaut": astronaut(), "collage": collage(), "chelsea": chelsea()}
    rows = []
    with torch.no_grad():
        for name, image in photos.items():
            for upscale in ((1,) if args.quick else (1, 2)):
                rows.append(compare(name, image, model, detector, restorer, upscale))
                print(_line(rows[-1]), flush=True)
        speed = None if args.quick else timing(photos["collage"], model, detector, restorer, args.repeats)
    if speed:
        print(f"collage 1024×1024, {rows[2]['faces_ours']} faces, {args.threads} threads: ours fp32 "
              f"{speed['median_ours']} s (ratio {speed['ratio']}), ours auto {speed['median_ours_auto']} s "
              f"(ratio {speed['ratio_auto']}), official fp32 {speed['median_official']} s")
    if args.out:
        report = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
                  "torch": torch.__version__, "rows": rows, "speed": speed}
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


def random_parsenet(path: Path) -> torch.nn.Module:
    """facexlib's ParseNet(512, 512, 19), every weight and BN statistic random (seed 0), saved to ``path``."""
    net = randomise(official_parsers()["ParseNet"](in_size=512, out_size=512, parsing_ch=19))
    torch.save(net.state_dict(), path)
    return net


def parse_bench(folder: Path, weights: str, model, detector, args) -> int:
    reference = random_parsenet(folder / "parsenet_random.pth")
    parser = load_model(str(folder / "parsenet_random.pth"))
    restorer = official_restorer_with_parser(weights, args.detector, reference, upscale=1)
    rows = []
    with torch.no_grad():
        for name, image in {"astronaut": astronaut(), "collage": collage()}.items():
            expected, helper = official(image, restorer)
            row = {"photo": name, "faces_official": len(helper.det_faces)}
            for paste in ("official", "soft"):
                result = restore_faces_detailed(image, model, detector=detector, parser=parser, paste=paste,
                                                precision="fp32")
                got, records = result.images, result.faces
                row[f"all_{paste}"] = steps(np.abs(got.astype(np.float64) - expected).max(-1))
            row["faces_ours"] = len(records[0])
            row["mask_kept"] = round(float(np.mean([(r.mask > 0.5).float().mean() / max(
                (warp_affine(torch.ones(1, 1, 512, 512), our_inverse(r.landmarks, 512, 1), image.shape[:2]) > 0.5)
                .float().mean(), 1e-9) for r in records[0]])), 3)
            rows.append(row)
            print(f"{name:9} parse  faces {row['faces_ours']}/{row['faces_official']}  mask kept {row['mask_kept']}"
                  f"  all(paste=official) {row['all_official']}  all(paste=soft) {row['all_soft']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"threads": args.threads, "torch": torch.__version__, "parse": rows},
                                             indent=1))
    return 0


def _line(row) -> str:
    def fmt(stats):
        return "-" if not isinstance(stats, dict) or stats["mean"] is None else \
            f"{stats['mean']:.2f}/{stats['p99.9']:.1f}/{stats['max']:.1f}"
    return (f"{row['photo']:9} x{row['upscale']}  faces {row['faces_ours']}/{row['faces_official']}"
            f"  box {row.get('box_px', '-')} lmk {row.get('landmark_px', '-')} matrix {row.get('matrix_px', '-')}"
            f"  all {fmt(row['all'])}  all(paste=official) {fmt(row.get('all_official_paste'))}"
            f"  interior {fmt(row.get('interior'))}  xmask {fmt(row.get('xmask'))}"
            f"  crops {fmt(row.get('crops'))}  restored {fmt(row.get('restored'))}"
            f"  seam {row.get('seam_ours', '-')}/{row.get('seam_official', '-')}")


if __name__ == "__main__":
    sys.exit(main())
