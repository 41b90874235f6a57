"""The old name of :mod:`.architecture`: ``FamilyEntry`` is :class:`~.architecture.ArchitectureEntry`."""

from .architecture import ArchitectureEntry as FamilyEntry, Built, Tensors  # noqa: F401

__all__ = ["Built", "FamilyEntry", "Tensors"]
