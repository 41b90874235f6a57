"""The official pix2pix and CycleGAN model zoos (Berkeley's servers), known by name.

Names and URLs: the official repository's ``scripts/download_pix2pix_model.sh`` and
``scripts/download_cyclegan_model.sh``. Both zoos have ``sat2map``, ``map2sat`` and
``facades_label2photo``, so every name carries its zoo as a prefix, and so does the file name
(two files both called ``sat2map.pth`` could not share a models folder).

No SHA-256 of these files is published anywhere we could find, so they download unpinned
(``sha256=""``; the catalogue logs that it could not check them). A wrong file still cannot run
code (loading is ``weights_only``) and fails the strict load with a clear error.
"""

from ..known_file import KnownFile

SERVER = "http://efrosgans.eecs.berkeley.edu"
PIX2PIX_FOLDER = "pix2pix/models-pytorch"  # a mirror keeps these folders: both zoos have a sat2map.pth
CYCLEGAN_FOLDER = "cyclegan/pretrained_models"
COMFY_FOLDER = "translation_models"
UNET, RESNET = "UnetGenerator", "ResnetGenerator"  # pix2pix's zoo holds U-Nets, CycleGAN's ResNets
UNPINNED = ""


def _zoo(folder: str, zoo: str, architecture: str, name: str, description: str) -> KnownFile:
    return KnownFile(f"{zoo}_{name}", f"{zoo}_{name}.pth", SERVER, f"{folder}/{name}.pth", UNPINNED, None,
                     description, architecture=architecture, comfy_folder=COMFY_FOLDER)


PIX2PIX_FILES = tuple(_zoo(PIX2PIX_FOLDER, "pix2pix", UNET, name, f"pix2pix U-Net, {what}") for name, what in (
    ("edges2shoes", "shoe edge maps → shoe photos"),
    ("sat2map", "satellite photos → map tiles"),
    ("map2sat", "map tiles → satellite photos"),
    ("facades_label2photo", "facade label maps → facade photos"),
    ("day2night", "daytime scenes → night"),
))

CYCLEGAN_FILES = tuple(_zoo(CYCLEGAN_FOLDER, "cyclegan", RESNET, name, f"CycleGAN ResNet, {what}") for name, what in (
    ("apple2orange", "apples → oranges"),
    ("orange2apple", "oranges → apples"),
    ("summer2winter_yosemite", "Yosemite in summer → winter"),
    ("winter2summer_yosemite", "Yosemite in winter → summer"),
    ("horse2zebra", "horses → zebras"),
    ("zebra2horse", "zebras → horses"),
    ("monet2photo", "Monet paintings → photos"),
    ("style_monet", "photos → Monet style"),
    ("style_cezanne", "photos → Cézanne style"),
    ("style_ukiyoe", "photos → ukiyo-e style"),
    ("style_vangogh", "photos → Van Gogh style"),
    ("sat2map", "satellite photos → map tiles"),
    ("map2sat", "map tiles → satellite photos"),
    ("cityscapes_photo2label", "street photos → Cityscapes label maps"),
    ("cityscapes_label2photo", "Cityscapes label maps → street photos"),
    ("facades_photo2label", "facade photos → label maps"),
    ("facades_label2photo", "facade label maps → photos"),
    ("iphone2dslr_flower", "phone flower photos → shallow depth of field"),
))
KNOWN_FILES = CYCLEGAN_FILES + PIX2PIX_FILES  # the order they were listed in before
