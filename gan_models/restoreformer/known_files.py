"""The official RestoreFormer release files. Neither publisher gives a checksum (so none is recorded: the
strict, weights-only load is the check); sizes are not recorded either.

- ``RestoreFormer``: ``RestoreFormer.pth``, an asset of GFPGAN's v1.3.4 release (the file GFPGAN's
  ``inference_gfpgan.py -v RestoreFormer`` and ``GFPGANer(arch='RestoreFormer')`` load): a plain state dict.
- ``RestoreFormer++``: ``RestoreFormer++.ckpt``, an asset of wzhouxiff/RestoreFormerPlusPlus's v1.0.0
  release (the URL in its ``inference.py``): the training module's Lightning checkpoint, network under
  ``vqvae.``. The same release also has ``RestoreFormer.ckpt`` (RestoreFormer in that layout, which loads
  too; not listed, its name would clash with GFPGAN's file).

Licences: both repositories are Apache-2.0 (GFPGAN's LICENSE adds notices for third-party code it
includes, none of which RestoreFormer uses) and neither gives the weights other terms. Both networks were
trained on FFHQ, whose images are under their own (non-commercial dataset compilation) terms.
"""

from ..known_file import KnownFile

GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
PLUSPLUS_RELEASES = "https://github.com/wzhouxiff/RestoreFormerPlusPlus/releases/download"

KNOWN_FILES = (
    KnownFile("RestoreFormer", "RestoreFormer.pth", GFPGAN_RELEASES, "v1.3.4/RestoreFormer.pth", "", None,
              "RestoreFormer 512 px face restoration (VQ dictionary + cross-attention), GFPGAN's release; "
              "Apache-2.0", architecture="RestoreFormer", comfy_folder="facerestore_models"),
    KnownFile("RestoreFormer++", "RestoreFormer++.ckpt", PLUSPLUS_RELEASES, "v1.0.0/RestoreFormer++.ckpt", "", None,
              "RestoreFormer++ 512 px face restoration (multi-scale cross-attention), Lightning checkpoint; "
              "Apache-2.0", architecture="RestoreFormerPlusPlus", comfy_folder="facerestore_models"),
)
