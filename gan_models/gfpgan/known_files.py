"""The official GFPGAN clean release files, with checksums recorded by several packagers.

SHA-256 and sizes: the Git LFS pointers of independent Hugging Face mirrors (Gourieff/ReActor,
leonelhs/gfpgan, martintomov/comfy) agree for both files. URLs: GFPGAN's README and
``inference_gfpgan.py`` (both files are assets of the v1.3.0 release).
"""

from ..known_file import KnownFile

RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"


def _release(name: str, tag: str, sha256: str, size: int, description: str) -> KnownFile:
    return KnownFile(name, f"{name}.pth", RELEASES, f"{tag}/{name}.pth", sha256, size, description,
                     architecture="GFPGANv1Clean", comfy_folder="facerestore_models")


KNOWN_FILES = (
    _release("GFPGANv1.3", "v1.3.0", "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", 348632874,
             "GFPGANv1Clean 512 px face restoration: natural results, good on very low-quality faces"),
    _release("GFPGANv1.4", "v1.3.0", "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348632874,
             "GFPGANv1Clean 512 px face restoration: more detail and better identity than v1.3"),
)
