"""The model side of ganpost: families (registry entries with official key names), safe loading,
the model contract and the weights catalogue. Nothing here runs inference; see ``runtime``.

Despite the package's name, not every network here is a GAN: ``facedetect`` (RetinaFace) and
``faceparse`` (ParseNet, BiSeNet) are a detector and parsers that face restoration runs around
GFPGAN. They are families like the others; the name ``gan_models`` stays because it is public.

A family is a subpackage whose ``__init__`` exports ``ENTRIES`` (one
:class:`~.architecture.ArchitectureEntry` per network, generators and discriminators alike,
declared in the folder's ``registration.py`` with their ``before``/``after`` detection
constraints) and ``KNOWN_FILES`` (``known_files.py``: files known by name, each naming its
architecture and its ComfyUI models folder). ``registry`` finds such folders by itself: adding a
family is adding a folder. Outside its folder nothing imports a family; code goes through the
registry (``tests/gan_models/test_layering.py`` checks it).
"""

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
