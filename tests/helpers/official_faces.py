"""The official face pipeline (gfpgan's ``GFPGANer`` around facexlib's ``FaceRestoreHelper``), offline.

Both packages are installed ``--no-deps`` for parity checks; their package ``__init__`` files pull in
torchvision, basicsr's data pipeline and downloads. Here their few files are loaded one by one under
stub parent packages and ``sys.modules`` is restored afterwards (the loaded classes keep working: they
hold their modules' globals). What is stubbed, and why it changes nothing measured:

- ``basicsr.utils``: ``img2tensor`` / ``tensor2img`` re-written below to basicsr 1.4.2's behaviour
  (float32, BGR↔RGB, clamp, ×255, round, uint8) — the only two GFPGANer calls.
- ``facexlib.detection.init_detection_model``: builds facexlib's own ``RetinaFace('mobile0.25')`` and
  loads the given file strictly instead of downloading the ResNet-50 one.
- ``facexlib.parsing.init_parsing_model``: returns None; parsing is switched off after construction
  (``face_helper.use_parse = False``: the square mask with erosion and Gaussian blur).
- gfpgan's bilinear and original (compiled-op) architectures: placeholders; only ``arch='clean'`` runs.
- noise: the network's ``forward`` is wrapped as ``functools.partial(forward, randomize_noise=False)``,
  so it adds its stored noise buffers, as ganpost's GFPGAN does by default.

No pytest here: bench/faces.py uses it too. ``official_available()`` says whether it can load.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import torch
from torch import nn

from .isolated_import import isolated_modules, load_file, stub_basicsr_archs, stub_package
from .torchvision_stub import install_torchvision_stub

_OURS = ("basicsr", "gfpgan", "facexlib", "torchvision")


def official_available() -> str | None:
    """None when gfpgan, facexlib, basicsr and cv2 are importable; else what is missing."""
    missing = [name for name in ("gfpgan", "facexlib", "basicsr", "cv2") if importlib.util.find_spec(name) is None]
    return f"not installed: {', '.join(missing)} (pip install --no-deps gfpgan==1.3.8 facexlib==0.3.0)" \
        if missing else None


def official_restorer(gfpgan_path: str, detector_path: str, upscale: float = 1, device: str = "cpu"):
    """A ``GFPGANer`` (arch clean, 512 px, parsing off, noise fixed) with the MobileNet-0.25 detector."""
    GFPGANer = _load()["GFPGANer"]
    _DETECTOR_FILE[0] = detector_path
    restorer = GFPGANer(gfpgan_path, upscale=upscale, arch="clean", channel_multiplier=2,
                        device=torch.device(device))
    restorer.face_helper.use_parse = False
    network = restorer.gfpgan
    network.forward = functools.partial(network.forward, randomize_noise=False)
    return restorer


def official_face_helper(detector_path: str, upscale: float = 1, face_size: int = 512, device: str = "cpu"):
    """facexlib's ``FaceRestoreHelper`` alone (parsing off, MobileNet-0.25): detect, align, paste back."""
    FaceRestoreHelper = _load()["FaceRestoreHelper"]
    _DETECTOR_FILE[0] = detector_path
    return FaceRestoreHelper(upscale, face_size=face_size, use_parse=False, device=torch.device(device))


def official_parsers() -> dict:
    """facexlib's parsing classes: ``{"ParseNet": ..., "BiSeNet": ...}`` (no torchvision needed)."""
    loaded = _load()
    return {"ParseNet": loaded["ParseNet"], "BiSeNet": loaded["BiSeNet"]}


def official_restorer_with_parser(gfpgan_path: str, detector_path: str, parser: nn.Module, upscale: float = 1,
                                  device: str = "cpu"):
    """As :func:`official_restorer`, with parsing on (``use_parse=True``) through the given facexlib ParseNet."""
    restorer = official_restorer(gfpgan_path, detector_path, upscale=upscale, device=device)
    restorer.face_helper.face_parse = parser.eval().to(device)
    restorer.face_helper.use_parse = True
    return restorer


def official_detector(detector_path: str, device: str = "cpu"):
    """facexlib's ``RetinaFace('mobile0.25')`` with ``detector_path`` loaded strictly."""
    RetinaFace = _load()["RetinaFace"]
    model = RetinaFace(network_name="mobile0.25", half=False, device=torch.device(device))
    model.load_state_dict(torch.load(detector_path, map_location="cpu", weights_only=True), strict=True)
    return model.eval().to(device)


def official_square_mask(inverse: np.ndarray, size: int, out_hw, upscale: float = 1) -> np.ndarray:
    """facexlib's paste mask with parsing off, re-done for measuring (H×W float32): the crop square
    warped to the output, eroded by 2·upscale px, then eroded by 2·e and Gaussian-blurred over 2·e + 1
    px, where e = ⌊√area⌋ // 20 (about a tenth of the face side)."""
    import cv2

    height, width = out_hw
    square = cv2.warpAffine(np.ones((size, size), np.float32), inverse, (width, height))
    side = int(2 * upscale)
    square = cv2.erode(square, np.ones((side, side), np.uint8))
    edge = int(square.sum() ** 0.5) // 20
    centre = cv2.erode(square, np.ones((edge * 2, edge * 2), np.uint8))
    return cv2.GaussianBlur(centre, (edge * 2 + 1, edge * 2 + 1), 0)


# ------------------------------------------------------------------------ basicsr's two converters
def img2tensor(img, bgr2rgb=True, float32=True):
    """H×W×3 array → 3×H×W tensor, as basicsr: float64 made float32 before the channel swap."""
    if isinstance(img, list):
        return [img2tensor(one, bgr2rgb, float32) for one in img]
    if img.shape[2] == 3 and bgr2rgb:
        img = (img.astype(np.float32) if img.dtype == np.float64 else img)[..., ::-1]
    tensor = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return tensor.float() if float32 else tensor


def tensor2img(tensor, rgb2bgr=True, out_type=np.uint8, min_max=(0, 1)):
    """3×H×W tensor → H×W×3 array, as basicsr: clamp to min_max, scale to [0, 1], ×255 and round for uint8."""
    low, high = min_max
    values = tensor.squeeze(0).float().detach().cpu().clamp(low, high)
    values = ((values - low) / (high - low)).numpy().transpose(1, 2, 0)
    if rgb2bgr and values.shape[2] == 3:
        values = values[..., ::-1]
    if out_type == np.uint8:
        values = (values * 255.0).round()
    return np.ascontiguousarray(values).astype(out_type)


# ------------------------------------------------------------------------------------- loading
_DETECTOR_FILE: list[str | None] = [None]
_LOADED: dict = {}


def _init_detection_model(model_name, half=False, device="cpu", model_rootpath=None):
    return official_detector(_DETECTOR_FILE[0], device=str(device))


def _no_parsing(*_args, **_kwargs):
    return None


def _download_refused(url, *_args, **_kwargs):
    raise RuntimeError(f"official pipeline stub: no downloads here (asked for {url})")


def _load() -> dict:
    if _LOADED:
        return _LOADED
    reason = official_available()
    if reason:
        raise ImportError(reason)
    roots = {name: importlib.util.find_spec(name).submodule_search_locations[0]
             for name in ("basicsr", "gfpgan", "facexlib")}

    with isolated_modules(*_OURS):
        install_torchvision_stub()
        bs, gf, fx = roots["basicsr"], roots["gfpgan"], roots["facexlib"]
        stub_basicsr_archs(bs, img2tensor=img2tensor, tensor2img=tensor2img)
        stub_package("basicsr.utils.download_util", None, load_file_from_url=_download_refused)

        stub_package("facexlib", fx)
        stub_package("facexlib.detection", f"{fx}/detection", init_detection_model=_init_detection_model)
        stub_package("facexlib.parsing", f"{fx}/parsing", init_parsing_model=_no_parsing)
        stub_package("facexlib.utils", f"{fx}/utils")
        retinaface = load_file("facexlib.detection.retinaface", f"{fx}/detection/retinaface.py")
        load_file("facexlib.utils.misc", f"{fx}/utils/misc.py")
        load_file("facexlib.parsing.resnet", f"{fx}/parsing/resnet.py")
        bisenet = load_file("facexlib.parsing.bisenet", f"{fx}/parsing/bisenet.py")
        parsenet = load_file("facexlib.parsing.parsenet", f"{fx}/parsing/parsenet.py")
        helper = load_file("facexlib.utils.face_restoration_helper", f"{fx}/utils/face_restoration_helper.py")

        placeholder = type("NotLoaded", (nn.Module,), {})
        stub_package("gfpgan", gf)
        stub_package("gfpgan.archs", f"{gf}/archs")
        stub_package("gfpgan.archs.gfpgan_bilinear_arch", None, GFPGANBilinear=placeholder)
        stub_package("gfpgan.archs.gfpganv1_arch", None, GFPGANv1=placeholder)
        load_file("gfpgan.archs.stylegan2_clean_arch", f"{gf}/archs/stylegan2_clean_arch.py")
        clean = load_file("gfpgan.archs.gfpganv1_clean_arch", f"{gf}/archs/gfpganv1_clean_arch.py")
        utils = load_file("gfpgan.utils", f"{gf}/utils.py")
        _LOADED.update(GFPGANer=utils.GFPGANer, FaceRestoreHelper=helper.FaceRestoreHelper,
                       RetinaFace=retinaface.RetinaFace, GFPGANv1Clean=clean.GFPGANv1Clean,
                       ParseNet=parsenet.ParseNet, BiSeNet=bisenet.BiSeNet)
    return _LOADED
