"""The official GPEN-BFR files.

GPEN-BFR-256 and GPEN-BFR-512: the links in GPEN's README (Alibaba's OSS bucket). GPEN-BFR-1024 and
GPEN-BFR-2048: only on ModelScope (``damo/cv_gpen_image-portrait-enhancement-hires``, where the README
sends people), as ``pytorch_model.pt`` and ``pytorch_model-2048.pt``; they are saved here under the
names people use for them. No publisher gives a digest or a size: the strict, weights-only load is
the only check.

Licence: GPEN's README said "© Alibaba, 2021. For academic and non-commercial use only." until
March 2026, when that section was deleted without a replacement; the repository has no LICENSE
file. Either way nobody is granted commercial use, and the README calls the public models "not our
best model due to commercial issues" (the first 2048 file was withdrawn for the same reason).
"""

from ..known_file import KnownFile

OSS = "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models"
MODELSCOPE = "https://www.modelscope.cn/models/damo/cv_gpen_image-portrait-enhancement-hires/resolve/master"
LICENCE = "NON-COMMERCIAL: © Alibaba, academic and non-commercial use only"


def _file(name: str, base: str, remote: str, what: str) -> KnownFile:
    return KnownFile(name, f"{name}.pth", base, remote, "", None, f"GPEN {what} [{LICENCE}]",
                     architecture="GPEN", comfy_folder="facerestore_models")


KNOWN_FILES = (
    _file("GPEN-BFR-512", OSS, "GPEN-BFR-512.pth", "512 px blind face restoration (the README's default)"),
    _file("GPEN-BFR-256", OSS, "GPEN-BFR-256.pth", "256 px blind face restoration (narrow: fast, small faces)"),
    _file("GPEN-BFR-1024", MODELSCOPE, "pytorch_model.pt", "1024 px face restoration (ModelScope's hires model)"),
    _file("GPEN-BFR-2048", MODELSCOPE, "pytorch_model-2048.pt",
          "2048 px face restoration for high-resolution selfies (ModelScope)"),
)
