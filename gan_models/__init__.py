"""Plain-PyTorch core of ganpost: architectures, safe loading, the inference core."""

from .descriptor import ModelDescriptor
from .errors import (
    CancelledError,
    DownloadError,
    GanpostError,
    ImageInputError,
    InvalidOptionError,
    ModelFileError,
    ModelNotFoundError,
    OutOfMemoryError,
    UnsupportedModelError,
)
from .loader import describe_state_dict, load_model
from .upscale import upscale

__all__ = [
    "CancelledError", "DownloadError", "GanpostError", "ImageInputError", "InvalidOptionError", "ModelDescriptor", "ModelFileError",
    "ModelNotFoundError", "OutOfMemoryError", "UnsupportedModelError", "describe_state_dict", "load_model", "upscale",
]
