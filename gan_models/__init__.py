"""The model side of ganpost: families (registry entries with official key names), safe loading,
the model contract and the weights catalogue. Nothing here runs inference; see ``runtime``."""

from .contract import ModelContract, ModelDescriptor, Task
from .errors import (
    CancelledError,
    DeviceError,
    DownloadError,
    GanpostError,
    ImageInputError,
    InvalidOptionError,
    ModelFileError,
    ModelNotFoundError,
    OutOfMemoryError,
    OutputError,
    UnsupportedModelError,
)
from .loader import describe_state_dict, load_model

__all__ = [
    "CancelledError", "DeviceError", "DownloadError", "GanpostError", "ImageInputError", "InvalidOptionError",
    "ModelContract", "ModelDescriptor", "ModelFileError", "ModelNotFoundError", "OutOfMemoryError", "OutputError",
    "Task", "UnsupportedModelError", "describe_state_dict", "load_model",
]
