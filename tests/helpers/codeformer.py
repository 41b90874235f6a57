"""CodeFormer for tests and benches: seeded random weights for our network, and the official network
(sczhou/CodeFormer's ``basicsr/archs/codeformer_arch.py`` + ``vqgan_arch.py``) loaded at run time from
a checkout that is never part of this repository.

Where the official code comes from: ``$CODEFORMER_ROOT`` (a checkout or ``git archive`` of
sczhou/CodeFormer), else the bare mirror ``/work/.mirror/sczhou+CodeFormer/repo`` extracted once into a
temporary folder. Neither present: ``official_codeformer_module()`` raises ``OfficialMissing`` (tests
skip; the stored references in ``tests/fixtures/codeformer_reference.json`` keep CI's parity check).

Small configurations for the official class: its ``__init__`` fixes the VQGAN at 512 px, nf 64,
ch_mult (1, 2, 2, 4, 4, 8); :func:`official_codeformer` builds it with another ``nf`` by scaling the
arguments it passes to ``VQAutoEncoder.__init__`` and the fusion widths (its ``channels`` table) by
nf/64; every index, the forward and the rest of ``__init__`` stay the official code's.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganpost.gan_models.codeformer import CodeFormer

MIRROR = Path("/work/.mirror/sczhou+CodeFormer/repo")
# A small network in the official layout (six levels, two blocks each, 16×16 latent of 256 channels, as
# the official forward hard-codes) that runs in about a second on a CPU.
# Fused at the latent level, in the middle and at full size (the released 32-256 are checked at the released
# size by bench/codeformer_parity.py). nf 32 is the narrowest the 32-group norms allow.
SMALL = dict(dim_embd=64, n_head=4, n_layers=2, codebook_size=64, latent_size=256,
             connect_list=("16", "64", "256", "512"), nf=32)
CONFIGS = {"small": SMALL}


class OfficialMissing(RuntimeError):
    """No checkout of sczhou/CodeFormer is reachable."""


# ------------------------------------------------------------------------------------- our side
def seeded_codeformer(config: dict | None = None, seed: int = 0, stable_codes: bool = False) -> CodeFormer:
    """Our CodeFormer with every tensor drawn from ``seed`` in state-dict order (reproducible anywhere).

    ``stable_codes``: ``feat_emb.weight`` zeroed, so the transformer's code choice depends on the token's
    position only. A random network's top-1 code otherwise flips under input changes of a fraction of a
    grey level (its logits have no trained margins), which would make a whole-image comparison measure
    the crops' rounding rather than the pipeline; the rest of the network still reads the face.
    """
    net = CodeFormer(**(config or {}))
    fill_seeded(net, seed)
    if stable_codes:
        with torch.no_grad():
            net.feat_emb.weight.zero_()
    return net.eval()


def fill_seeded(net: torch.nn.Module, seed: int = 0) -> None:
    """Every tensor of ``net`` from one seeded generator: weights ~ N(0, 1/fan_in), norm scales ~ 1 ± 0.1,
    biases ~ N(0, 0.05²), the position embedding ~ N(0, 0.5²), the codebook ~ N(0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            noise = torch.randn(tensor.shape, generator=gen, dtype=torch.float32)
            if name == "position_emb":
                value = noise * 0.5
            elif name == "quantize.embedding.weight":
                value = noise
            elif tensor.ndim == 1:
                value = 1 + 0.1 * noise if name.endswith("weight") else 0.05 * noise
            else:
                value = noise / (tensor[0].numel() ** 0.5)
            tensor.copy_(value)


def face_input(size: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    """Smooth random faces-to-be in [-1, 1] (random networks: any natural-ish input will do)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(batch, 3, max(size // 16, 2), max(size // 16, 2), generator=g)
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False) * 2 - 1


# ------------------------------------------------------------------------------------- the official side
def official_root() -> Path:
    given = os.environ.get("CODEFORMER_ROOT")
    if given:
        root = Path(given)
        if not (root / "basicsr" / "archs" / "codeformer_arch.py").is_file():
            raise OfficialMissing(f"$CODEFORMER_ROOT={given} holds no basicsr/archs/codeformer_arch.py")
        return root
    if not MIRROR.is_dir():
        raise OfficialMissing("no official CodeFormer checkout: set $CODEFORMER_ROOT to one (git clone "
                              "https://github.com/sczhou/CodeFormer)")
    target = Path(tempfile.gettempdir()) / "ganpost-official-codeformer"
    if not (target / "basicsr" / "archs" / "codeformer_arch.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", f"--git-dir={MIRROR}", "archive", "HEAD", "basicsr", "facelib",
                                  "inference_codeformer.py", "LICENSE"], check=True, capture_output=True).stdout
        with tempfile.TemporaryFile() as tmp:
            tmp.write(archive)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as tar:
                tar.extractall(target, filter="data")
    return target


_MODULES: dict = {}


def official_codeformer_module():
    """The official ``codeformer_arch`` module (``vqgan_arch`` behind it), loaded under stub parents."""
    if "arch" in _MODULES:
        return _MODULES["arch"]
    from .isolated_import import isolated_modules, load_file, stub_package
    from .torchvision_stub import install_torchvision_stub

    root = official_root()
    bs = str(root / "basicsr")
    with isolated_modules("basicsr", "torchvision"):
        install_torchvision_stub()
        stub_package("basicsr", bs)
        stub_package("basicsr.utils", f"{bs}/utils", get_root_logger=lambda *a, **k: None)
        load_file("basicsr.utils.registry", f"{bs}/utils/registry.py")
        stub_package("basicsr.archs", f"{bs}/archs")
        load_file("basicsr.archs.vqgan_arch", f"{bs}/archs/vqgan_arch.py")
        _MODULES["arch"] = load_file("basicsr.archs.codeformer_arch", f"{bs}/archs/codeformer_arch.py")
    return _MODULES["arch"]


def official_codeformer(config: dict | None = None):
    """The official ``CodeFormer`` for one of our configs (released when None); random, unloaded, eval."""
    config = dict(config or {})
    arch = official_codeformer_module()
    nf = config.pop("nf", 64)
    for unsupported in ("ch_mult", "res_blocks", "emb_dim", "dim_mlp"):
        if unsupported in config:
            raise ValueError(f"the official class fixes {unsupported}")
    config.pop("adain", None)
    if config.pop("latent_size", 256) != 256:
        raise ValueError("the official forward fixes a 16×16 latent")
    vq_init = arch.VQAutoEncoder.__init__

    def scaled_init(self, img_size, _nf, ch_mult, *rest, **kw):
        vq_init(self, img_size, nf, ch_mult, *rest, **kw)

    arch.VQAutoEncoder.__init__ = scaled_init
    try:
        net = arch.CodeFormer(fix_modules=None, **config)
    finally:
        arch.VQAutoEncoder.__init__ = vq_init
    if nf != 64:  # its fusion widths: the channels table scaled like the VQGAN
        net.channels = {k: v * nf // 64 for k, v in net.channels.items()}
        net.fuse_convs_dict = torch.nn.ModuleDict({s: arch.Fuse_sft_block(net.channels[s], net.channels[s])
                                                   for s in net.connect_list})
    return net.eval()


# ------------------------------------------------------------------------------------- stored references
def encode(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode()


def decode(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


STRIDE = 64  # stored: every 64th pixel of each 512 px output (8×8×3), plus whole-image statistics


def summary(image: torch.Tensor, logits: torch.Tensor) -> dict:
    """What a stored reference keeps of one forward: a pixel grid, whole-image statistics, the codes."""
    grid = image[0, :, STRIDE // 2::STRIDE, STRIDE // 2::STRIDE].detach().double().numpy()
    img = image.detach().double()
    return {"grid": encode(grid, np.float32), "mean": float(img.mean()), "abs_mean": float(img.abs().mean()),
            "std": float(img.std())}


def codes_of(logits: torch.Tensor) -> str:
    """The predicted code of each latent token (first sample), stored once per config (w does not change them)."""
    return encode(logits.argmax(dim=2)[0].numpy(), np.int16)


# ------------------------------------------------------------------------------------- the official script
def run_official_script(image_bgr: np.ndarray, weights: str, detector: str, parser: str | None, *, w: float,
                        upscale: int, folder: Path, detect_at_native_size: bool = False):
    """``inference_codeformer.py`` itself (run as ``__main__``) on one image, offline: returns its
    ``final_results`` image (BGR uint8) and its ``FaceRestoreHelper`` (landmarks, crops, restored faces).

    Run as ``-w W -s UPSCALE --detection_model retinaface_mobile0.25``; the stubs only answer what it
    would download or probe: ``load_file_from_url`` gives ``weights`` (the restorer); the detector is
    CodeFormer's own ``facelib`` RetinaFace('mobile0.25') with ``detector`` loaded strictly; the parser
    its own ``facelib`` ParseNet(512, 512) with ``parser`` loaded strictly (None: ``use_parse`` off, the
    square mask alone); ``get_device``/``gpu_is_available``: the CPU. ``detect_at_native_size``: its helper
    detects on the image itself instead of a copy resized to a 640 px short side (``resize=None``, as
    facexlib's GFPGAN pipeline and ganpost's detect), for a comparison with the same landmarks. Everything
    else is the official files (its FaceRestoreHelper, its CodeFormer, its basicsr ``img2tensor``,
    ``tensor2img`` and ``imwrite``).
    """
    import runpy
    import sys

    import cv2

    from .isolated_import import isolated_modules, load_file, stub_package
    from .torchvision_stub import install_torchvision_stub

    root = official_root()
    bs, fl = str(root / "basicsr"), str(root / "facelib")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "input.png"
    cv2.imwrite(str(source), image_bgr)
    out = folder / "out"
    cpu = torch.device("cpu")

    def no_download(url, *args, **kwargs):
        if url.endswith("codeformer.pth"):
            return weights
        raise RuntimeError(f"offline: the official script asked for {url}")

    with isolated_modules("basicsr", "facelib", "torchvision"):
        install_torchvision_stub()
        if not hasattr(sys.modules["torchvision.utils"], "make_grid"):  # basicsr's img_util imports it, never calls it
            sys.modules["torchvision.utils"].make_grid = None
        stub_package("basicsr", bs)
        stub_package("basicsr.utils", f"{bs}/utils", get_root_logger=lambda *a, **k: None)
        img_util = load_file("basicsr.utils.img_util", f"{bs}/utils/img_util.py")
        for name in ("img2tensor", "tensor2img", "imwrite"):
            setattr(sys.modules["basicsr.utils"], name, getattr(img_util, name))
        load_file("basicsr.utils.registry", f"{bs}/utils/registry.py")
        stub_package("basicsr.utils.download_util", None, load_file_from_url=no_download)
        stub_package("basicsr.utils.misc", None, get_device=lambda *a, **k: cpu, gpu_is_available=lambda: False)
        stub_package("basicsr.archs", f"{bs}/archs")
        load_file("basicsr.archs.vqgan_arch", f"{bs}/archs/vqgan_arch.py")
        load_file("basicsr.archs.codeformer_arch", f"{bs}/archs/codeformer_arch.py")

        stub_package("facelib", fl)
        stub_package("facelib.utils", f"{fl}/utils")
        misc = load_file("facelib.utils.misc", f"{fl}/utils/misc.py")
        sys.modules["facelib.utils"].load_file_from_url = no_download
        sys.modules["facelib.utils"].img2tensor = misc.img2tensor
        stub_package("facelib.detection", f"{fl}/detection")
        load_file("facelib.detection.matlab_cp2tform", f"{fl}/detection/matlab_cp2tform.py")
        load_file("facelib.detection.align_trans", f"{fl}/detection/align_trans.py")
        stub_package("facelib.detection.retinaface", f"{fl}/detection/retinaface")
        load_file("facelib.detection.retinaface.retinaface_net", f"{fl}/detection/retinaface/retinaface_net.py")
        load_file("facelib.detection.retinaface.retinaface_utils", f"{fl}/detection/retinaface/retinaface_utils.py")
        retinaface = load_file("facelib.detection.retinaface.retinaface", f"{fl}/detection/retinaface/retinaface.py")
        stub_package("facelib.parsing", f"{fl}/parsing")
        parsenet = load_file("facelib.parsing.parsenet", f"{fl}/parsing/parsenet.py")

        def init_detection_model(model_name, half=False, device="cuda"):
            assert model_name == "retinaface_mobile0.25", model_name
            model = retinaface.RetinaFace(network_name="mobile0.25", half=half)
            model.load_state_dict(torch.load(detector, map_location="cpu", weights_only=True), strict=True)
            return model.eval().to(device)

        def init_parsing_model(model_name="bisenet", half=False, device="cuda"):
            model = parsenet.ParseNet(in_size=512, out_size=512, parsing_ch=19)
            if parser is not None:
                model.load_state_dict(torch.load(parser, map_location="cpu", weights_only=True), strict=True)
            return model.eval().to(device)

        sys.modules["facelib.detection"].init_detection_model = init_detection_model
        sys.modules["facelib.parsing"].init_parsing_model = init_parsing_model
        helper = load_file("facelib.utils.face_restoration_helper", f"{fl}/utils/face_restoration_helper.py")
        if parser is None:  # the script hard-codes use_parse=True: the square mask alone, for comparison
            original = helper.FaceRestoreHelper.__init__

            def square_only(self, *args, **kwargs):
                original(self, *args, **{**kwargs, "use_parse": False})

            helper.FaceRestoreHelper.__init__ = square_only
        if detect_at_native_size:
            landmarks = helper.FaceRestoreHelper.get_face_landmarks_5

            def native(self, *args, **kwargs):
                return landmarks(self, *args, **{**kwargs, "resize": None})

            helper.FaceRestoreHelper.get_face_landmarks_5 = native
        argv = sys.argv
        sys.argv = ["inference_codeformer.py", "-i", str(source), "-o", str(out), "-w", str(w), "-s", str(upscale),
                    "--detection_model", "retinaface_mobile0.25"]
        try:
            state = runpy.run_path(str(root / "inference_codeformer.py"), run_name="__main__")
        finally:
            sys.argv = argv
    return cv2.imread(str(out / "final_results" / "input.png"), cv2.IMREAD_COLOR), state["face_helper"]
