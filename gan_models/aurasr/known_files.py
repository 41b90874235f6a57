"""The released AuraSR files on Hugging Face: each model is ``model.safetensors`` plus its ``config.json``.

Saved as ``AuraSR.safetensors`` + ``AuraSR.json`` (and ``AuraSR-v2.*``), so both releases can share
one models folder; the loader reads ``<stem>.json`` beside the weights. ganpost infers the shape
from the weights anyway; the config is fetched so the folder also works with the official tools.

SHA-256 from the Git LFS details Hugging Face shows for each file: v2 on fal/AuraSR-v2's main
(commit 5d861ec); v1 on fal/AuraSR's ``refs/pr/3`` (commit 7a17633, "Upload model.safetensors",
by the repository's owners), the only revision whose digest we could read, so v1 is fetched from
that revision. The configs are plain Git files with no published digest: not checked.
"""

from ..known_file import KnownFile

HUB = "https://huggingface.co"
ARCHITECTURE = "UnetUpsampler"
COMFY_FOLDER = "upscale_models"  # with the other upscalers (the nodes also list the AuraSR pack's folder)
V2_SHA256 = "8a80b4546f3f49b9095733cb9699030409339e2f4eb0ae9c1ada14c7d21d4dde"


V1_SHA256 = "ff203dd1037ca14697a55f7c47129e2b11e7ef6315c2a4113d8e382a0d3fa7de"


def _release(name: str, repo: str, revision: str, sha256: str, description: str) -> KnownFile:
    config = KnownFile(f"{name}-config", f"{name}.json", HUB, f"{repo}/resolve/main/config.json", "", None,
                       f"config.json of {name}", architecture=ARCHITECTURE, comfy_folder=COMFY_FOLDER)
    return KnownFile(name, f"{name}.safetensors", HUB, f"{repo}/resolve/{revision}/model.safetensors", sha256, None,
                     description, architecture=ARCHITECTURE, comfy_folder=COMFY_FOLDER, companions=(config,))


KNOWN_FILES = (
    _release("AuraSR", "fal/AuraSR", "refs%2Fpr%2F3", V1_SHA256,
             "AuraSR v1 (GigaGAN UnetUpsampler) ×4 for generated images; CC BY-SA 4.0"),
    _release("AuraSR-v2", "fal/AuraSR-v2", "main", V2_SHA256,
             "AuraSR v2 (GigaGAN UnetUpsampler) ×4, retrained; Apache-2.0"),
)
