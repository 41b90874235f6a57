"""RestoreFormer / RestoreFormer++: ganpost's network and face pipeline against the official code, same weights.

The official code is not part of ganpost: RestoreFormer's is GFPGAN's ``gfpgan/archs/restoreformer_arch.py``
(installed: gfpgan 1.3.8) run by ``GFPGANer(arch='RestoreFormer')``; RestoreFormer++'s (which runs both
networks: ``VQVAEGANMultiHeadTransformer(head_size, ex_multi_scale_num)``) and its inference helper
``RestoreFormer/RestoreFormer.py`` (what ``inference.py`` runs) come from a checkout of
wzhouxiff/RestoreFormerPlusPlus named by --repo or $RESTOREFORMER_PLUSPLUS_REPO. Weights: random
(tests/helpers/restoreformer.seeded_weights, seed 0), the same tensors on both sides.

Sections (all by default):
  network   the released configurations at 512 px (RestoreFormer: ch 64, ch_mult 1,2,2,4,4,8, 2 blocks,
            1024×256 codebook, 8 heads; ++: the same with decoder attention at 16 and 32 px, 4 heads):
            max |ours − official| of the output (goal ≤ 1e-5) and whether the codebook indices agree; RestoreFormer
            against GFPGAN's class and against the ++ repository's class with ex_multi_scale_num=0.
  pipeline  whole images (scikit-image's astronaut and a 1024×1024 collage of faces) through
            ``restore_faces(paste="official", color_fix="none", strength=1, precision="fp32")`` against the
            official helpers with facexlib's parsing off (so both paste with facexlib's square mask) and the real
            RetinaFace MobileNet-0.25 (../shared/weights) on both sides: |Δ| in steps of 1/255, mean / p99.9 / max.
            RestoreFormer: GFPGANer(arch='RestoreFormer'); ++: the repository's RestoreFormer helper
            (arch='RestoreFormer++'), loading our saved Lightning-layout checkpoint ({'state_dict': {'vqvae.…'}}).
            The codebook holds the test faces' encoder outputs (--codebook faces, see with_codebook_from_faces;
            --codebook random keeps it random and shows code flips from the official uint8 crop).
  timing    CPU seconds for the astronaut (one face) through each pipeline: ours fp32, ours precision="auto"
            (fp32: the contract refuses bf16 and fp16, see registration.py), the official one; median of --repeats.
  fixture   --write-fixture: the small-configuration reference outputs of the official code that CI compares
            against (tests/fixtures/restoreformer_parity.pt).

    python bench/restoreformer_parity.py --repo /tmp/RestoreFormerPlusPlus --threads 2
    python bench/restoreformer_parity.py --repo ... --only network
    python bench/restoreformer_parity.py --repo ... --write-fixture
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from helpers.restoreformer import (  # noqa: E402
    RELEASED, RELEASED_PLUS, REPO_ENV, TINY, TINY_PLUS, face_input, official_network, quietly, seeded_network,
    seeded_weights,
)

DETECTOR = Path(__file__).resolve().parent.parent.parent / "shared" / "weights" / "retinaface_mobilenet0.25.pth"
FIXTURE = TESTS / "fixtures" / "restoreformer_parity.pt"
STRIDE = 8  # the fixture keeps every 8th pixel of each output (and the exact sums of the whole)


# ------------------------------------------------------------------------------------- network
def network_parity(repo: Path | None) -> list[dict]:
    rows = []
    x = face_input(512, seed=1)
    for name, config, plusplus in (("RestoreFormer", RELEASED, False), ("RestoreFormer++", RELEASED_PLUS, True)):
        weights = seeded_weights(config)
        ours = seeded_network(config)
        with torch.no_grad():
            mine = ours(x)
            our_codes = ours.quantize.indices(ours.quant_conv(ours.encoder(x, ours._keep)[0]))
        sources = ([None] if not plusplus else []) + ([repo] if repo else [])
        for source in sources:
            official = official_network(config, plusplus, source)
            official.load_state_dict(weights, strict=True)
            with torch.no_grad():
                theirs = official(x)[0]
                codes = official.encode(x)[2][2].view(-1)
            label = "GFPGAN restoreformer_arch" if source is None else "RestoreFormerPlusPlus vqvae_arch"
            row = {"network": name, "official": label, "max_abs": float((mine - theirs).abs().max()),
                   "output_max": float(theirs.abs().max()), "codes_equal": bool(torch.equal(codes, our_codes))}
            rows.append(row)
            print(f"{name:16} vs {label:33} max |Δ| {row['max_abs']:.2e} (output max {row['output_max']:.2f}), "
                  f"codebook indices equal: {row['codes_equal']}", flush=True)
            del official
    return rows


def write_fixture(repo: Path | None) -> None:
    """Official outputs at the small configurations: {name: {'input_seed', 'sub', 'sum', 'abs_sum', 'codes'}}."""
    stored = {}
    for name, config, plusplus, source in (("RestoreFormer", TINY, False, None),
                                           ("RestoreFormer++", TINY_PLUS, True, repo)):
        if plusplus and source is None:
            raise SystemExit("--write-fixture needs --repo (RestoreFormer++ is only in its own repository)")
        official = official_network(config, plusplus, source)
        official.load_state_dict(seeded_weights(config), strict=True)
        x = face_input(64, batch=2, seed=3)
        with torch.no_grad():
            out = official(x)[0].double()
            codes = official.encode(x)[2][2].view(-1)
        stored[name] = {"input_seed": 3, "sub": out[..., ::STRIDE, ::STRIDE].float().clone(), "sum": out.sum(),
                        "abs_sum": out.abs().sum(), "codes": codes.clone()}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(stored, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


# ------------------------------------------------------------------------------------- whole images
def photos() -> dict:
    from skimage import data
    photo, camera = data.astronaut(), np.repeat(data.camera()[..., None], 3, axis=-1)
    canvas = np.full((1024, 1024, 3), 128, np.uint8)
    canvas[:512, :512] = photo
    canvas[:512, 512:] = camera
    canvas[512:768, :256] = photo[::2, ::2]
    canvas[512:768, 256:512] = photo[::2, ::-2]
    canvas[830:1001, 300:471] = photo[::3, ::3]
    return {"astronaut": photo, "collage": canvas}


def gfpganer_restoreformer(weights: str, detector: str):
    """GFPGANer(arch='RestoreFormer'), offline: tests/helpers/official_faces' facexlib (MobileNet detector, parsing
    stubbed) with GFPGAN's restoreformer_arch importable while GFPGANer builds it; parsing off afterwards."""
    from helpers import official_faces
    from helpers.isolated_import import isolated_modules, load_file, stub_package

    loaded = official_faces._load()
    official_faces._DETECTOR_FILE[0] = detector
    root = importlib.util.find_spec("gfpgan").submodule_search_locations[0]
    with isolated_modules("gfpgan"):
        stub_package("gfpgan", root)
        stub_package("gfpgan.archs", f"{root}/archs")
        load_file("gfpgan.archs.restoreformer_arch", f"{root}/archs/restoreformer_arch.py")
        restorer = quietly(loaded["GFPGANer"], weights, upscale=1, arch="RestoreFormer", device=torch.device("cpu"))
    restorer.face_helper.use_parse = False
    return restorer


def plusplus_helper(repo: Path, weights: str, detector: str, arch: str):
    """RestoreFormerPlusPlus's ``RestoreFormer`` inference helper (its ``inference.py`` runs it), offline: its
    imports (basicsr's img2tensor/tensor2img, facexlib's FaceRestoreHelper, torchvision's normalize, its own
    vqvae_arch) served by tests/helpers/official_faces' copies; parsing off after construction."""
    from helpers import official_faces
    from helpers.isolated_import import isolated_modules, load_file, stub_package
    from helpers.torchvision_stub import install_torchvision_stub

    loaded = official_faces._load()
    official_faces._DETECTOR_FILE[0] = detector
    with isolated_modules("RestoreFormer", "basicsr", "facexlib", "torchvision"):
        install_torchvision_stub()
        stub_package("basicsr", None)
        stub_package("basicsr.utils", None, img2tensor=official_faces.img2tensor, tensor2img=official_faces.tensor2img)
        stub_package("facexlib", None)
        stub_package("facexlib.utils", None)
        stub_package("facexlib.utils.face_restoration_helper", None, FaceRestoreHelper=loaded["FaceRestoreHelper"])
        stub_package("RestoreFormer", str(repo / "RestoreFormer"))
        stub_package("RestoreFormer.download_util", None, load_file_from_url=None)
        stub_package("RestoreFormer.modules", str(repo / "RestoreFormer" / "modules"))
        stub_package("RestoreFormer.modules.vqvae", str(repo / "RestoreFormer" / "modules" / "vqvae"))
        load_file("RestoreFormer.modules.vqvae.vqvae_arch", str(repo / "RestoreFormer/modules/vqvae/vqvae_arch.py"))
        helper = load_file("RestoreFormer.RestoreFormer", str(repo / "RestoreFormer" / "RestoreFormer.py"))
        restorer = quietly(helper.RestoreFormer, weights, upscale=1, arch=arch, device=torch.device("cpu"))
    restorer.face_helper.use_parse = False
    return restorer


def steps(diff: np.ndarray) -> dict:
    return {"mean": round(float(diff.mean()), 4), "p99.9": round(float(np.percentile(diff, 99.9)), 2),
            "max": round(float(diff.max()), 2)}


def with_codebook_from_faces(weights: dict, images: dict, detector) -> dict:
    """``weights`` with the codebook's first rows replaced by the encoder's outputs (after quant_conv) for the
    faces of ``images`` as ganpost aligns them: as training pulls codes and encoder outputs together, each
    position then has a clear nearest code. With the plain random codebook the nearest and second-nearest
    codes are a median 0.8 % apart, so the official pipeline's uint8 rounding of the aligned crop (up to
    0.5/255 per pixel; ganpost keeps the crop in float) flips a few codes, and each flip repaints a patch."""
    from ganpost import restore_faces_detailed
    from ganpost.gan_models import describe_state_dict

    model = describe_state_dict(weights)
    net, rows = model.module, []
    with torch.no_grad():
        for image in images.values():
            faces = restore_faces_detailed(image, model, detector=detector, precision="fp32").faces[0]
            for face in faces:
                z = net.quant_conv(net.encoder(face.crop[None] * 2 - 1, net._keep)[0])
                rows.append(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]))
    codes = torch.cat(rows)
    codebook = weights["quantize.embedding.weight"].clone()
    if len(codes) > len(codebook):
        codes = codes[torch.randperm(len(codes), generator=torch.Generator().manual_seed(0))[:len(codebook)]]
    codebook[:len(codes)] = codes
    return dict(weights, **{"quantize.embedding.weight": codebook})


def pipeline_parity(repo: Path | None, detector_path: str, repeats: int, timing: bool,
                    codebook: str = "faces") -> list[dict]:
    from ganpost import load_model, restore_faces_detailed

    rows = []
    detector = load_model(detector_path)
    images = photos()
    with tempfile.TemporaryDirectory() as folder:
        for name, config, plusplus in (("RestoreFormer", RELEASED, False), ("RestoreFormer++", RELEASED_PLUS, True)):
            weights = seeded_weights(config)
            if codebook == "faces":
                weights = with_codebook_from_faces(weights, images, detector)
            pth = Path(folder) / f"{name}.pth"
            ckpt = Path(folder) / f"{name}.ckpt"
            torch.save({"params_ema": weights}, pth)
            torch.save({"state_dict": {f"vqvae.{k}": v for k, v in weights.items()}, "epoch": 0}, ckpt)
            officials = []
            if not plusplus:
                officials.append(("GFPGANer(arch='RestoreFormer')", gfpganer_restoreformer(str(pth), detector_path), pth))
            if repo is not None:
                officials.append((f"RestoreFormerPlusPlus helper(arch='{'RestoreFormer++' if plusplus else 'RestoreFormer'}')",
                                  plusplus_helper(repo, str(ckpt), detector_path,
                                                  "RestoreFormer++" if plusplus else "RestoreFormer"), ckpt))
            for label, restorer, path in officials:
                model = load_model(str(path))
                assert model.architecture == ("RestoreFormerPlusPlus" if plusplus else "RestoreFormer")
                for photo, image in images.items():
                    with torch.no_grad():
                        ours = restore_faces_detailed(image, model, detector=detector, paste="official", strength=1,
                                                      color_fix="none", precision="fp32")
                        _, _, theirs = restorer.enhance(image[..., ::-1].copy(), paste_back=True)
                    theirs = theirs[..., ::-1]
                    diff = np.abs(ours.images.astype(np.float64) - theirs).max(-1)
                    row = {"network": name, "official": label, "photo": photo, "file": path.suffix,
                           "faces_ours": len(ours.faces[0]), "faces_official": len(restorer.face_helper.det_faces),
                           "all": steps(diff)}
                    rows.append(row)
                    print(f"{name:16} {photo:9} vs {label:45} faces {row['faces_ours']}/{row['faces_official']}  "
                          f"|Δ| mean {row['all']['mean']:.4f}/255 p99.9 {row['all']['p99.9']} max {row['all']['max']}",
                          flush=True)
                if timing:
                    rows.append(time_one_face(name, label, model, detector, restorer, images["astronaut"], repeats))
    return rows


def time_one_face(name, label, model, detector, restorer, image, repeats) -> dict:
    from ganpost import restore_faces_detailed

    times = {"ours_fp32": [], "ours_auto": [], "official": []}
    with torch.no_grad():
        for _ in range(repeats):
            for key, precision in (("ours_fp32", "fp32"), ("ours_auto", "auto")):
                start = time.perf_counter()
                restore_faces_detailed(image, model, detector=detector, paste="official", precision=precision)
                times[key].append(time.perf_counter() - start)
            start = time.perf_counter()
            restorer.enhance(image[..., ::-1].copy(), paste_back=True)
            times["official"].append(time.perf_counter() - start)
    medians = {k: round(statistics.median(v), 2) for k, v in times.items()}
    print(f"{name:16} astronaut (1 face), median of {repeats}: ours fp32 {medians['ours_fp32']} s, ours auto "
          f"{medians['ours_auto']} s, official ({label}) {medians['official']} s", flush=True)
    return {"network": name, "official": label, "timing_s": medians}


# ------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=os.environ.get(REPO_ENV), help="a RestoreFormerPlusPlus checkout")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detector", default=str(DETECTOR))
    parser.add_argument("--only", choices=("network", "pipeline"), help="one section (pipeline includes timing)")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--codebook", choices=("faces", "random"), default="faces",
                        help="pipeline weights: the codebook holds the test faces' encoder outputs (trained-like "
                             "margins, the default) or stays random (a few codes flip: see with_codebook_from_faces)")
    parser.add_argument("--write-fixture", action="store_true", help="write the CI reference outputs and stop")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repo = Path(args.repo) if args.repo else None
    if repo is None:
        print("no RestoreFormerPlusPlus checkout (--repo): RestoreFormer++ is skipped", flush=True)
    if args.write_fixture:
        write_fixture(repo)
        return 0
    if args.only in (None, "network"):
        network_parity(repo)
    if args.only in (None, "pipeline"):
        if not Path(args.detector).exists():
            print(f"no detector at {args.detector}: the pipeline comparison is skipped")
            return 0
        import cv2
        cv2.setNumThreads(args.threads)
        pipeline_parity(repo, args.detector, args.repeats, not args.no_timing, args.codebook)
    return 0


if __name__ == "__main__":
    sys.exit(main())
