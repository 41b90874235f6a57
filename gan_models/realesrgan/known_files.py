"""The official Real-ESRGAN release files, with their checksums (as recorded by several packagers)."""

from ..known_file import KnownFile

RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
RRDB, COMPACT = "RRDBNet", "SRVGGNetCompact"  # the architecture each file holds


def _release(architecture: str, name: str, tag: str, sha256: str, size: int, description: str, **extra) -> KnownFile:
    return KnownFile(name, f"{name}.pth", RELEASES, f"{tag}/{name}.pth", sha256, size, description,
                     architecture=architecture, comfy_folder="upscale_models", **extra)


KNOWN_FILES = (
    _release(RRDB, "RealESRGAN_x4plus", "v0.1.0", "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
             67040989, "RRDBNet ×4, general photos"),
    _release(RRDB, "RealESRNet_x4plus", "v0.1.1", "a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",
             67040989, "RRDBNet ×4, L1-trained (smoother, fewer artefacts)"),
    _release(RRDB, "RealESRGAN_x2plus", "v0.2.1", "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
             67061725, "RRDBNet ×2, general photos"),
    _release(RRDB, "RealESRGAN_x4plus_anime_6B", "v0.2.2.4",
             "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da", 17938799,
             "RRDBNet ×4 with 6 blocks, anime illustrations"),
    _release(COMPACT, "realesr-animevideov3", "v0.2.5.0",
             "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
             2504012, "SRVGGNetCompact ×4, anime video (fast)"),
    _release(COMPACT, "realesr-general-x4v3", "v0.2.5.0",
             "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
             4885111, "SRVGGNetCompact ×4, general scenes (fast); supports denoise_strength",
             denoise_companion="realesr-general-wdn-x4v3"),
    _release(COMPACT, "realesr-general-wdn-x4v3", "v0.2.5.0",
             "1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca", 4885111,
             "weak-denoise companion of realesr-general-x4v3"),
)
