"""The official CodeFormer release files (assets of sczhou/CodeFormer's v0.1.0 release).

URLs: ``inference_codeformer.py``, ``inference_colorization.py`` and ``inference_inpainting.py``.
CodeFormer publishes no SHA-256 of them, so they download unpinned (``sha256=""``); a wrong file still
cannot run code (loading is ``weights_only``) and fails the strict load with a clear error.

Licence: the code and these weights are under the S-Lab License 1.0 (the repository's LICENSE):
redistribution and use for NON-COMMERCIAL purposes only; commercial use needs the authors' permission.
Every description says so, and ``ganpost models`` prints it beside the name.
"""

from ..known_file import KnownFile

RELEASES = "https://github.com/sczhou/CodeFormer/releases/download"
LICENCE = "NON-COMMERCIAL use only (S-Lab License 1.0)"
UNPINNED = ""


def _release(name: str, description: str) -> KnownFile:
    return KnownFile(name, f"{name}.pth", RELEASES, f"v0.1.0/{name}.pth", UNPINNED, None,
                     f"{description}; {LICENCE}", architecture="CodeFormer", comfy_folder="facerestore_models")


KNOWN_FILES = (
    _release("codeformer", "CodeFormer 512 px face restoration (codebook lookup transformer); fidelity 0 = the most "
             "restoration, 1 = the most faithful to the input"),
    _release("codeformer_colorization", "CodeFormer 512 px face colourisation of grey aligned faces (the official "
             "script runs fidelity 0)"),
    _release("codeformer_inpainting", "CodeFormer 512 px face inpainting of aligned faces with white-painted holes "
             "(the official script runs fidelity 1, adain=False: load_model(..., adain=False))"),
)
