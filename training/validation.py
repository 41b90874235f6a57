"""Compatibility path: super-resolution validation moved to ``components/sr_validation.py``."""

from .components.sr_validation import PREVIEW_SIDE, bicubic_upscale, validate, write_preview  # noqa: F401
