"""The face-detection family's registry entry: RetinaFace, with its backbone read from the keys.

One entry with a ``backbone`` hyper-parameter: both checkpoints share every key outside
``body.``, and the backbone is the only thing that differs (``body.stage1`` MobileNet-0.25,
``body.layer1`` ResNet-50).
"""

from __future__ import annotations

from ..contract import ModelContract, SizeRule, Task, TilingPolicy
from ..errors import UnsupportedModelError
from ..architecture import ArchitectureEntry, Built, Tensors
from .decode import decode_retinaface
from .retinaface import RetinaFace

FILES_LOADED_MOST = ("RRDBNet", "SRVGGNetCompact", "GFPGANv1Clean")  # tested before this family's
SHARED_KEYS = ("fpn.output1.0.weight", "ssh1.conv3X3.0.weight", "ClassHead.0.conv1x1.weight",
               "BboxHead.0.conv1x1.weight", "LandmarkHead.0.conv1x1.weight")
BACKBONE_KEYS = {"mobilenet0.25": "body.stage1.0.0.weight", "resnet50": "body.layer1.0.conv1.weight"}
# Peak activation elements per input pixel: an upper estimate from the largest maps alive at once (the stride-2/4
# stages); the detector is never tiled, this only sizes batches.
ACTIVATIONS = {"mobilenet0.25": 24, "resnet50": 96}


def looks_like_retinaface(sd: Tensors) -> bool:
    return all(k in sd for k in SHARED_KEYS)


def retinaface_backbone(sd: Tensors) -> str:
    for backbone, key in BACKBONE_KEYS.items():
        if key in sd:
            return backbone
    raise UnsupportedModelError(
        f"a RetinaFace with an unknown backbone (first body keys: "
        f"{', '.join([k for k in sd if k.startswith('body.')][:3])}); MobileNet-0.25 and ResNet-50 are supported"
    )


def build_retinaface(sd: Tensors, options: dict) -> Built:
    hp = {"backbone": retinaface_backbone(sd)}
    return Built(RetinaFace(**hp), hp, dict(sd))


def retinaface_contract(hp: dict) -> ModelContract:
    return ModelContract(
        # value_range is ours: the module turns RGB [0, 1] into the BGR 0..255 minus mean it was
        # trained on. out_channels is 0: no image comes out (detect_faces decodes boxes instead).
        task=Task.FACE_DETECT, scale=1, in_channels=3, out_channels=0, value_range=(0.0, 1.0),
        size=SizeRule(), tiling=TilingPolicy(margin=0), activation_elements=ACTIVATIONS[hp["backbone"]],
        # Half precision is unmeasured on the real detectors: keep fp32 unless asked.
        fp16_safe=False, bf16_safe=False, auto_half=False, decode=decode_retinaface,
    )


RETINAFACE = ArchitectureEntry(
    architecture="RetinaFace", family="facedetect", detect=looks_like_retinaface, build=build_retinaface,
    contract=retinaface_contract, create=RetinaFace,
    # fpn./ssh1./ClassHead. keys that no image-to-image family has: anywhere works, and after the
    # files people load most (the upscalers and the restorer) is cheapest
    after=FILES_LOADED_MOST,
)
ENTRIES = (RETINAFACE,)
