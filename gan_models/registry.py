"""Every family's entries, in the order checkpoints are tested against them.

Families register themselves: every subpackage of ``gan_models`` whose ``__init__`` defines
``ENTRIES`` (a tuple of :class:`~.architecture.ArchitectureEntry`) is a family, found here by
walking the package (no list of families in this file), and its ``KNOWN_FILES`` (optional) are the
files it knows by name. A new family is a folder; ``register_family`` adds one from elsewhere
(a plug-in, a test).

Order matters where layouts look alike: legacy ESRGAN files (``model.N``), CycleGAN's
ResnetGenerator (``model.N`` too) and PatchGAN discriminators share key patterns, so the entry
with the most specific test comes first. Each entry says what it must precede (``before``) or
follow (``after``), spandrel-style, with the reason beside it; ``DETECTION_ORDER`` is the stable
topological sort of those constraints, ties going to the family folder's name and then to the
order the family declares its entries in. A cycle, or a constraint naming an architecture no
family registers, is an error at import. The first entry whose ``detect`` accepts a state dict
wins; nothing else in ganpost tests an architecture's name.
"""

from __future__ import annotations

import heapq
import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType

from .architecture import ArchitectureEntry, Tensors
from .errors import GanpostError, InvalidOptionError, UnsupportedModelError
from .known_file import KnownFile

__all__ = ["DETECTION_ORDER", "RegistryError", "architectures", "detect", "entry_for", "known_files",
           "order_entries", "register_family"]


FamilyEntry = ArchitectureEntry  # the old name, for code that annotates with registry.FamilyEntry


class RegistryError(GanpostError):
    """The families' entries cannot be put in one detection order (a cycle, an unknown name, a duplicate)."""


_FAMILIES: dict[str, tuple[tuple[ArchitectureEntry, ...], tuple[KnownFile, ...]]] = {}
"""Family name → (its entries in declaration order, its known files), in registration order."""
DETECTION_ORDER: tuple[ArchitectureEntry, ...] = ()


def order_entries(families: Iterable[tuple[str, Iterable[ArchitectureEntry]]]) -> tuple[ArchitectureEntry, ...]:
    """The entries of ``families`` (name, entries) in an order that honours every ``before``/``after``.

    Stable: among the entries whose constraints are met, the one whose family name sorts first
    goes next, then the one declared first in its family. Raises :class:`RegistryError` for a
    duplicate architecture, a constraint naming an unknown one, or a cycle (naming its members).
    """
    entries: list[ArchitectureEntry] = []
    key: dict[str, tuple[str, int]] = {}
    for family, declared in families:
        for index, entry in enumerate(declared):
            if entry.architecture in key:
                raise RegistryError(f"architecture {entry.architecture!r} is registered twice (families "
                                    f"{key[entry.architecture][0]!r} and {family!r})")
            key[entry.architecture] = (family, index)
            entries.append(entry)
    by_name = {e.architecture: e for e in entries}
    follows: dict[str, set[str]] = {name: set() for name in by_name}  # name → the names that must come first
    for entry in entries:
        for field, names in (("before", entry.before), ("after", entry.after)):
            for other in names:
                if other not in by_name:
                    raise RegistryError(f"{entry.architecture} ({entry.family}) must come {field} {other!r}, "
                                        f"which no family registers; known: {', '.join(sorted(by_name))}")
                if other == entry.architecture:
                    raise RegistryError(f"{entry.architecture} ({entry.family}) names itself in {field}=")
                first, then = (entry.architecture, other) if field == "before" else (other, entry.architecture)
                follows[then].add(first)
    waiting = {name: len(firsts) for name, firsts in follows.items()}
    unblocks: dict[str, list[str]] = {name: [] for name in by_name}
    for then, firsts in follows.items():
        for first in firsts:
            unblocks[first].append(then)
    ready = [(key[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[ArchitectureEntry] = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for then in unblocks[name]:
            waiting[then] -= 1
            if waiting[then] == 0:
                heapq.heappush(ready, (key[then], then))
    if len(ordered) < len(entries):
        raise RegistryError("the detection order constraints form a cycle: " + _cycle(follows, waiting))
    return tuple(ordered)


def _cycle(follows: dict[str, set[str]], waiting: dict[str, int]) -> str:
    """One cycle among the entries left waiting, written ``A after B after … after A``."""
    stuck = {name for name, count in waiting.items() if count > 0}
    path: list[str] = []
    name = min(stuck)
    while name not in path:
        path.append(name)
        name = min(first for first in follows[name] if first in stuck)
    loop = path[path.index(name):] + [name]
    return " must come after ".join(loop) + f" (every architecture left unordered: {', '.join(sorted(stuck))})"


FamilyParts = tuple[str, tuple[ArchitectureEntry, ...], tuple[KnownFile, ...]]


def _family_parts(source: ModuleType | Iterable[ArchitectureEntry], known: Iterable[KnownFile] | None) -> FamilyParts:
    """(family, entries, known files) of a family module or of its entries, checked for consistency."""
    label = getattr(source, "__name__", "the entries given")
    if isinstance(source, ModuleType):
        entries = tuple(source.ENTRIES)
        files = tuple(getattr(source, "KNOWN_FILES", ()) if known is None else known)
    else:
        entries, files = tuple(source), tuple(known or ())
    if not entries or not all(isinstance(e, ArchitectureEntry) for e in entries):
        raise RegistryError(f"{label}: ENTRIES must be a non-empty tuple of ArchitectureEntry")
    for e in entries:
        if e.forward_options and e.task is None:
            raise RegistryError(f"{label}: {e.architecture} declares forward options but no task; front-ends "
                                "offer forward options per task")
    families = {e.family for e in entries}
    if len(families) != 1:
        raise RegistryError(f"{label}: one family per registration; its entries name {', '.join(sorted(families))}")
    family = families.pop()
    own = {e.architecture for e in entries}
    for f in files:
        if f.architecture not in own:
            raise RegistryError(f"{label}: known file {f.name!r} holds {f.architecture!r}, which is not one of "
                                f"this family's architectures ({', '.join(sorted(own))})")
    return family, entries, files


def register_family(source: ModuleType | Iterable[ArchitectureEntry], known: Iterable[KnownFile] | None = None) -> None:
    """Add (or replace) a family: a module with ``ENTRIES`` (and optionally ``KNOWN_FILES``), or its entries.

    The detection order is computed again with the new entries; if it cannot be (a cycle, an
    unknown name), :class:`RegistryError` is raised and the registry is left as it was. Entries
    are keyed by their ``family``: registering a family again replaces it.
    """
    global DETECTION_ORDER
    family, entries, files = _family_parts(source, known)
    candidate = {**_FAMILIES, family: (entries, files)}
    order = order_entries((name, candidate[name][0]) for name in sorted(candidate))
    _FAMILIES.clear()
    _FAMILIES.update(candidate)
    DETECTION_ORDER = order


def unregister_family(family: str) -> None:
    """Remove a family added by :func:`register_family` (tests; plug-ins being unloaded)."""
    global DETECTION_ORDER
    candidate = {name: parts for name, parts in _FAMILIES.items() if name != family}
    if len(candidate) == len(_FAMILIES):
        raise InvalidOptionError(f"no registered family {family!r}; registered: {', '.join(_FAMILIES)}")
    DETECTION_ORDER = order_entries((name, candidate[name][0]) for name in sorted(candidate))
    _FAMILIES.clear()
    _FAMILIES.update(candidate)


def _discover_families() -> None:
    """Register every subpackage of this package that defines ``ENTRIES`` (its folder name is its family)."""
    global DETECTION_ORDER
    package = importlib.import_module(__package__)
    found: dict[str, tuple[tuple[ArchitectureEntry, ...], tuple[KnownFile, ...]]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if not hasattr(module, "ENTRIES"):
            continue  # a helper subpackage, not a family
        family, entries, files = _family_parts(module, None)
        if family != info.name:
            raise RegistryError(f"{module.__name__}: its entries say family={family!r}; a family's name is its "
                                f"folder's ({info.name!r})")
        found[family] = (entries, files)
    DETECTION_ORDER = order_entries((name, parts[0]) for name, parts in found.items())
    _FAMILIES.update(found)


def detect(sd: Tensors, label: str) -> ArchitectureEntry:
    """The entry for a flat state dict, or an error that lists what was tried."""
    for entry in DETECTION_ORDER:
        try:
            if entry.detect(sd):
                return entry
        except UnsupportedModelError as err:  # a layout the family recognises but refuses, with its reason
            raise UnsupportedModelError(f"{label}: {err}.") from err
    raise UnsupportedModelError(_unsupported_message(label, sd))


def entry_for(architecture: str) -> ArchitectureEntry:
    for entry in DETECTION_ORDER:
        if entry.architecture == architecture:
            return entry
    raise InvalidOptionError(f"unknown architecture {architecture!r}; known: {', '.join(architectures())}")


def architectures(family: str | None = None) -> list[str]:
    return [e.architecture for e in DETECTION_ORDER if family is None or e.family == family]


def forward_options(task) -> list:
    """Every forward option some family of ``task`` declares (each name once): what front-ends offer."""
    found = {}
    for entry in DETECTION_ORDER:
        if entry.task == task:
            for option in entry.forward_options:
                found.setdefault(option.name, option)
    return list(found.values())


def known_files(architecture: str | None = None) -> list[KnownFile]:
    """The files known by name (of one architecture, or all), in detection order then as each family lists them."""
    files = [f for _, family_files in _FAMILIES.values() for f in family_files]
    return [f for entry in DETECTION_ORDER if architecture in (None, entry.architecture)
            for f in files if f.architecture == entry.architecture]


def _unsupported_message(label: str, sd: Tensors) -> str:
    keys = list(sd)
    msg = (f"{label}: no supported architecture matches its {len(keys)} tensors "
           f"(first keys: {', '.join(keys[:5])}). Tried, in order: {', '.join(architectures())}.")
    joined = " ".join(keys[:2000])
    if any(s in joined for s in ("lora_up", "lora_down", "lora_A", "lora_B", ".alpha ")) or joined.endswith(".alpha"):
        msg += " This looks like a LoRA: load it with your diffusion model, not as an upscaler."
    elif any(s in joined for s in ("model.diffusion_model.", "first_stage_model.", "double_blocks.", "down_blocks.")):
        msg += " This looks like a diffusion model checkpoint, not a GAN upscaler."
    return msg


_discover_families()
