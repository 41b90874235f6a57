"""The ``ganpost`` command line: ``ganpost upscale INPUT... -o OUTPUT``, ``ganpost models``, ``ganpost train``."""

from .main import main

__all__ = ["main"]
