"""Tasks: thin policies over the runner that the front-ends (API, CLI, nodes, diffusers) call."""

from .upscale import upscale

__all__ = ["upscale"]
