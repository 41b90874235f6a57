"""facexlib's released RetinaFace detector files (facexlib v0.1.0 release assets).

Only files whose SHA-256 we found published go in the catalogue: ``detection_Resnet50_Final.pth``
(the digest several downloaders pin). facexlib's ``detection_mobilenet0.25_Final.pth``
(``MOBILENET_URL``) has no published digest we could find, so it is not downloadable by name:
a file the user puts in the models folder still loads, like any checkpoint.
"""

from ..known_file import KnownFile

RELEASES = "https://github.com/xinntao/facexlib/releases/download"
MOBILENET_URL = f"{RELEASES}/v0.1.0/detection_mobilenet0.25_Final.pth"

KNOWN_FILES = (
    KnownFile("retinaface_resnet50", "detection_Resnet50_Final.pth", RELEASES, "v0.1.0/detection_Resnet50_Final.pth",
              "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", 109497761,
              "RetinaFace face detector, ResNet-50 backbone (facexlib, GFPGAN's default)",
              architecture="RetinaFace", comfy_folder="facedetection"),
)
