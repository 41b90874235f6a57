"""How far detection on a shrunk copy moves faces, and what detecting at full size costs.

For each photo and size, facexlib's official ``RetinaFace.detect_faces`` at full size (what the
official pipeline does: ``use_origin_size=True``) is the reference; ganpost's ``detect_faces`` runs
with ``detection_size`` = each bound given (``none`` = always full size). Faces are matched by IoU
(> 0.5); printed per photo and size: faces found (official / ours at each bound) and, over the
matched faces, the max |Δ| of a box corner and of a landmark coordinate, in input pixels. A second
table compares the same detections with the official detection at the photo's own size scaled up
(a proxy for where the faces are: the upsized photo holds no more): it shows where full-size
detection itself goes wrong (faces far larger than the biggest prior, 512 px). Then, for
one photo per size, the time (median of --repeats) and the peak memory (resident set growth of a
fresh process) of ganpost's detection at full size and at each bound.

Weights: ../shared/weights/retinaface_mobilenet0.25.pth (facexlib layout); photos: the Kodak
photos with faces (../shared/datasets/kodak: kodim04, 12, 14, 15, 17, 18, used whole, none trained
on), a montage of three of them (kodim04 | kodim17 | kodim18, 3 faces), the test collage
(tests/gan_models/test_facedetect.py, 4 faces) and the bench collage (bench/faces.py), each resized (PIL
Lanczos) to every long side. Needs facexlib, cv2 and scikit-image (tests/helpers/official_faces.py).

    python bench/face_detection_size.py --threads 2
    python bench/face_detection_size.py --photos trio kodim15 --sizes 1280 1536 --bounds 1024 none
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
for folder in (TESTS, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

SHARED = ROOT.parent / "shared"
DETECTOR = SHARED / "weights" / "retinaface_mobilenet0.25.pth"
KODAK = SHARED / "datasets" / "kodak"
KODAK_FACES = ("kodim04", "kodim12", "kodim14", "kodim15", "kodim17", "kodim18")
PHOTOS = (*KODAK_FACES, "trio", "test_collage", "bench_collage")
SIZES = (768, 1024, 1280, 1536, 2048, 3072, 4096)
THRESHOLD = 0.97


# ------------------------------------------------------------------------------------- photos
def kodak(name: str) -> np.ndarray:
    return np.asarray(Image.open(KODAK / f"{name}.png").convert("RGB"))


def trio() -> np.ndarray:
    """kodim04 | kodim17 | kodim18 (all 512×768 portraits) side by side: 1536×768, three faces of 281, 114
    and 48 px."""
    return np.concatenate([kodak("kodim04"), kodak("kodim17"), kodak("kodim18")], axis=1)


def photo(name: str) -> np.ndarray:
    if name in KODAK_FACES:
        return kodak(name)
    if name == "trio":
        return trio()
    if name == "test_collage":
        from test_facedetect import collage
        return collage()
    if name == "bench_collage":
        from faces import collage
        return collage()
    raise SystemExit(f"unknown photo {name}; one of {', '.join(PHOTOS)}")


def resized(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = long_side / max(height, width)
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS)) if size != (width, height) else image


# ------------------------------------------------------------------------------------- the two sides
def official_rows(detector, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.asarray(detector.detect_faces(image[..., ::-1].copy(), conf_threshold=THRESHOLD)).reshape(-1, 15)


def our_rows(model, image: np.ndarray, bound: int | None) -> np.ndarray:
    from ganpost.tasks.detect_faces import detect_faces

    faces = detect_faces(image, model, threshold=THRESHOLD, detection_size=bound, order="score", device="cpu")[0]
    return np.array([[*f.box, f.score, *np.ravel(f.landmarks)] for f in faces]).reshape(-1, 15)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def deviation(reference: np.ndarray, got: np.ndarray) -> tuple[int, float, float]:
    """Matched faces (IoU > 0.5), and over them the max |Δ| of box corners and of landmark coordinates."""
    matched, box, points = 0, 0.0, 0.0
    for row in reference:
        best = max(got, key=lambda g: iou(row, g), default=None)
        if best is None or iou(row, best) <= 0.5:
            continue
        matched += 1
        box = max(box, float(np.abs(best[:4] - row[:4]).max()))
        points = max(points, float(np.abs(best[5:] - row[5:]).max()))
    return matched, box, points


# ------------------------------------------------------------------------------------- cost
def measure_one(name: str, long_side: int, bound: int | None, repeats: int, threads: int,
                backbone: str = "mobilenet0.25") -> dict:
    """In this (fresh) process: seconds (median) and resident-set growth of one detection. ``resnet50``: the
    default detector's network with random weights (its cost does not depend on them)."""
    torch.set_num_threads(threads)
    from ganpost import load_model
    from ganpost.gan_models import describe_state_dict
    from ganpost.gan_models.facedetect import RetinaFace

    if backbone == "mobilenet0.25":
        model = load_model(DETECTOR)
    else:
        network = RetinaFace("resnet50")
        for head in network.ClassHead:  # no face anywhere: random scores would time suppression, not the network
            head.conv1x1.weight.data.zero_()
            head.conv1x1.bias.data.copy_(torch.tensor([8.0, -8.0]).repeat(2))
        model = describe_state_dict(network.state_dict())
    image = resized(photo(name), long_side)
    our_rows(model, resized(image, 256), None)  # warm the working copy and allocator on a small image
    resident = _Resident()
    wall, cpu = [], []
    with resident:
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            our_rows(model, image, bound)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return {"seconds": statistics.median(wall), "cpu_seconds": statistics.median(cpu),
            "peak_mb": resident.growth / 2**20}


class _Resident:
    """The growth of this process's resident set over a block, sampled every 2 ms (Linux /proc)."""

    def __enter__(self):
        self.start = self.peak = self._now()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self._now())
            time.sleep(0.002)

    @staticmethod
    def _now() -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()


def cost(name: str, long_side: int, bound: int | None, repeats: int, threads: int, backbone: str) -> dict:
    command = [sys.executable, __file__, "--measure-one", name, str(long_side), str(bound or "none"),
               "--repeats", str(repeats), "--threads", str(threads), "--cost-backbones", backbone]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- main
def _cell(reference: np.ndarray, rows: np.ndarray) -> str:
    matched, box, points = deviation(reference, rows)
    extra = "" if len(rows) == len(reference) else f" ({len(rows)})"
    return f"{matched}/{len(reference)} {box:5.2f}/{points:5.2f}{extra}"


def bound_value(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def scaled(rows: np.ndarray, factor_x: float, factor_y: float) -> np.ndarray:
    """Detections at one size mapped to another (pixel centres kept aligned); score untouched."""
    out = rows.copy()
    for column in (0, 2, 5, 7, 9, 11, 13):
        out[:, column] = (rows[:, column] + 0.5) * factor_x - 0.5
    for column in (1, 3, 6, 8, 10, 12, 14):
        out[:, column] = (rows[:, column] + 0.5) * factor_y - 0.5
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", nargs="+", default=list(PHOTOS), choices=PHOTOS)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--bounds", nargs="+", type=bound_value, default=[1024, 1536, 2048, None],
                        help="detection_size values to compare (none = full size)")
    parser.add_argument("--cost-photo", default="trio", choices=PHOTOS)
    parser.add_argument("--cost-sizes", nargs="+", type=int, help="long sides for the cost (default: --sizes)")
    parser.add_argument("--cost-backbones", nargs="+", default=["mobilenet0.25", "resnet50"],
                        choices=["mobilenet0.25", "resnet50"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--only-cost", action="store_true", help="skip the deviation tables")
    parser.add_argument("--out", help="also write the figures as JSON")
    parser.add_argument("--measure-one", nargs=3, metavar=("PHOTO", "SIZE", "BOUND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_one:
        name, size, bound = args.measure_one
        print(json.dumps(measure_one(name, int(size), bound_value(bound), args.repeats, args.threads,
                                     args.cost_backbones[0])))
        return
    torch.set_num_threads(args.threads)
    from helpers.official_faces import official_available, official_detector

    missing = official_available()
    if missing or not DETECTOR.exists():
        raise SystemExit(missing or f"{DETECTOR} is missing")
    from ganpost import load_model

    model, official = load_model(DETECTOR), official_detector(str(DETECTOR))
    names = [str(b) if b else "full" for b in args.bounds]
    print(f"# ganpost detect_faces(detection_size=N) vs facexlib detect_faces at full size; threshold {THRESHOLD}, "
          f"MobileNet-0.25, CPU fp32, {args.threads} threads, torch {torch.__version__}")
    print("# per bound: matched/official faces, max |Δ| box px / landmark px (ours found, if it differs)")
    print(f"{'photo':<14} {'size':>10} {'official':>8} " + " ".join(f"{'N=' + n:>22}" for n in names))
    figures = []
    worst: dict[str, dict[int, list[float]]] = {n: {} for n in names}
    proxy_lines = []
    for name in [] if args.only_cost else args.photos:
        source = photo(name)
        native = official_rows(official, source)
        for long_side in args.sizes:
            image = resized(source, long_side)
            reference = official_rows(official, image)
            proxy = scaled(native, image.shape[1] / source.shape[1], image.shape[0] / source.shape[0])
            proxy_cells = [_cell(proxy, reference)]
            cells, full = [], None
            for bound, label in zip(args.bounds, names):
                if bound is None or bound >= max(image.shape[:2]):  # detected at full size
                    full = our_rows(model, image, None) if full is None else full
                    rows = full
                else:
                    rows = our_rows(model, image, bound)
                matched, box, points = deviation(reference, rows)
                extra = "" if len(rows) == len(reference) else f" ({len(rows)})"
                cells.append(f"{matched}/{len(reference)} {box:5.2f}/{points:5.2f}{extra}")
                proxy_cells.append(_cell(proxy, rows))
                worst[label].setdefault(long_side, []).append(max(box, points))
                figures.append({"photo": name, "size": f"{image.shape[1]}x{image.shape[0]}", "bound": label,
                                "official": len(reference), "ours": len(rows), "matched": matched,
                                "box_px": box, "landmark_px": points})
            print(f"{name:<14} {image.shape[1]:>5}×{image.shape[0]:<4} {len(reference):>8} "
                  + " ".join(f"{c:>22}" for c in cells), flush=True)
            proxy_lines.append(f"{name:<14} {image.shape[1]:>5}×{image.shape[0]:<4} {len(proxy):>8} "
                               + " ".join(f"{c:>22}" for c in proxy_cells))
    print("\n# against the official detection at the photo's own size, scaled up (matched/faces, max |Δ| box/landmark)")
    print(f"{'photo':<14} {'size':>10} {'native':>8} {'official full':>22} "
          + " ".join(f"{'N=' + n:>22}" for n in names))
    print("\n".join(proxy_lines))
    print("\n# worst |Δ| (box or landmark, px) over all photos, per long side")
    print(f"{'bound':>8} " + " ".join(f"{s:>7}" for s in args.sizes))
    for label in names:
        print(f"{label:>8} " + " ".join(f"{max(worst[label].get(s, [0])):7.2f}" for s in args.sizes))
    costs = []
    if not args.no_cost:
        print(f"\n# cost of one detection of {args.cost_photo} (fresh process each, median of {args.repeats}: "
              f"CPU seconds (all threads), wall seconds, peak resident growth MB)")
        print(f"{'backbone':<14} {'size':>6} " + " ".join(f"{'N=' + n:>24}" for n in names))
        for backbone in args.cost_backbones:
            for long_side in args.cost_sizes or args.sizes:
                cells, full = [], None
                for bound, label in zip(args.bounds, names):
                    if bound is None or bound >= long_side:  # full size: measured once per size
                        full = full or cost(args.cost_photo, long_side, None, args.repeats, args.threads, backbone)
                        figure = full
                    else:
                        figure = cost(args.cost_photo, long_side, bound, args.repeats, args.threads, backbone)
                    costs.append({"backbone": backbone, "size": long_side, "bound": label, **figure})
                    cells.append(f"{figure['cpu_seconds']:6.2f}/{figure['seconds']:5.2f} s {figure['peak_mb']:5.0f} MB")
                print(f"{backbone:<14} {long_side:>6} " + " ".join(f"{c:>24}" for c in cells), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"deviation": figures, "cost": costs}, indent=1))


if __name__ == "__main__":
    main()
