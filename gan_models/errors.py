"""The pack's own exceptions. Every message names the input, what was found and what to do."""


class GanpostError(Exception):
    """Base class: callers (CLI, ComfyUI nodes) catch this to show a one-line reason."""


class ModelFileError(GanpostError):
    """A model file is missing, unreadable, corrupt or refused (unsafe pickle)."""


class UnsupportedModelError(GanpostError):
    """A readable checkpoint whose tensors match no architecture we know."""


class ModelNotFoundError(GanpostError):
    """A model name or path that resolves to nothing, with where to put the file."""


class DownloadError(GanpostError):
    """A download failed or produced a file whose checksum does not match."""


class ImageInputError(GanpostError):
    """An image we cannot process: wrong mode, shape, dtype or an absurd size."""


class OutOfMemoryError(GanpostError):
    """Even the smallest tile did not fit in memory."""


class CancelledError(GanpostError):
    """The caller's cancellation check asked us to stop between tiles."""


class InvalidOptionError(GanpostError, ValueError):
    """An option outside its allowed values (precision, tile, alpha mode…); still a ValueError for callers."""


class OutputError(GanpostError):
    """An output cannot be written (read-only folder, a name that is not an image file, ...)."""


class DeviceError(GanpostError, ValueError):
    """A device that does not exist on this machine (``cuda`` without a GPU, ``mps`` off macOS, ...)."""
