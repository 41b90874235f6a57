"""facexlib's released face-parsing files.

``parsing_parsenet.pth`` (facexlib v0.2.2 release, 85,331,193 bytes): its SHA-256 is pinned alike by
several independent downloaders and deployment manifests. ``parsing_bisenet.pth`` (v0.2.0) has no
digest we could confirm from more than one source, so it is not downloadable by name
(``BISENET_URL``); the file, put in the models folder, loads like any checkpoint. ComfyUI packs keep
both in ``facedetection``.
"""

from ..known_file import KnownFile

RELEASES = "https://github.com/xinntao/facexlib/releases/download"
BISENET_URL = f"{RELEASES}/v0.2.0/parsing_bisenet.pth"

KNOWN_FILES = (
    KnownFile("parsing_parsenet", "parsing_parsenet.pth", RELEASES, "v0.2.2/parsing_parsenet.pth",
              "3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2", 85331193,
              "ParseNet face parser, 512 px (facexlib; GFPGAN's use_parse mask)", architecture="ParseNet",
              comfy_folder="facedetection"),
)
