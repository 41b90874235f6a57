"""Compatibility path: the GFPGAN recipe's face data moved to ``recipes/gfpgan/data.py``."""

from .recipes.gfpgan.data import (FaceCrops, aligned_crops, component_boxes, crop_boxes, flip_boxes,  # noqa: F401
                                  prepare_faces, template_crop)
