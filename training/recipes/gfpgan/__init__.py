"""GFPGAN v1-clean fine-tuning (``ganpost train gfpgan``)."""

from .recipe import GFPGAN

__all__ = ["GFPGAN"]
