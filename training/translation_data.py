"""Compatibility path: the translation recipes' data moved to ``recipes/translation/data.py``."""

from .recipes.translation.data import PairedImages, UnpairedImages, aligned_pairs, pairs_by_name  # noqa: F401
