"""An option, declared once: the API keyword, the CLI flag, the ComfyUI input and the diffusers keyword
are all made from (or checked against) one :class:`Option`.

A task declares its options (``tasks/*.py``: ``OPTIONS``); a family declares the extra keyword
arguments its network's forward takes (``ModelContract.forward_options``, e.g. a fidelity weight),
and every front-end offers them without an edit. ``Option.check`` is the one place a value is
refused, so the message is the same whichever front-end passed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidOptionError

API, CLI, NODE, DIFFUSERS = "api", "cli", "node", "diffusers"
EVERYWHERE = frozenset((API, CLI, NODE, DIFFUSERS))


@dataclass(frozen=True)
class Option:
    name: str
    """The Python keyword; the CLI flag is ``--name-with-dashes`` unless ``flag`` says otherwise."""
    type: type
    """int, float, bool or str (a str with ``choices`` is a choice)."""
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    below_maximum: bool = False
    """The maximum itself is refused (a score must be *below* 1)."""
    none: str | None = None
    """What ``None`` means ("all faces", "the model's default"); None here: None is refused."""
    words: tuple[str, ...] = ()
    """Words accepted besides numbers (``tile="auto"``)."""
    flag: str | None = None
    """The CLI flag where it differs from the keyword (``upscaler`` → ``--background-model``)."""
    convert: Callable[[Any], Any] | None = None
    """Normalises a valid value (``face_index="0,2"`` → ``[0, 2]``); raises InvalidOptionError to refuse one."""
    forward: str | None = None
    """For a family's forward option: the keyword its network's forward takes, if not ``name``."""
    front_ends: frozenset = field(default=EVERYWHERE)

    # ------------------------------------------------------------------------------ checking
    def check(self, value: Any) -> Any:
        """``value`` as the task will use it, or InvalidOptionError naming the option, the rule and the value."""
        if value is None:
            if self.none is None:
                raise InvalidOptionError(f"{self.name} must be {self.rule()}, not None")
            return None
        if isinstance(value, str) and value in self.words:
            return value
        if self.choices:
            if value not in self.choices:
                raise InvalidOptionError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, "
                                         f"not {value!r}")
            return value
        if self.convert is not None:
            return self.convert(value)
        if not self._right_type(value) or not self._in_range(value):
            raise InvalidOptionError(f"{self.name} must be {self.rule()}, not {value!r}")
        return float(value) if self.type is float else value

    def _right_type(self, value) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.type is int:
            return isinstance(value, int)
        if self.type is float:
            return isinstance(value, (int, float)) and math.isfinite(value)
        return isinstance(value, self.type)

    def _in_range(self, value) -> bool:
        if self.type not in (int, float):
            return True
        if self.minimum is not None and value < self.minimum:
            return False
        if self.maximum is not None and (value >= self.maximum if self.below_maximum else value > self.maximum):
            return False
        return True

    def rule(self) -> str:
        """What is allowed, in words: "a number from 0 to 1", "auto, 0 or a whole number ≥ 32"."""
        if self.choices:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.type is bool:
            text = "True or False"
        elif self.type in (int, float):
            noun = "a whole number" if self.type is int else "a number"
            low, high = (None if v is None else (str(int(v)) if self.type is int else f"{v:g}")
                         for v in (self.minimum, self.maximum))
            if low is not None and high is not None:
                text = f"{noun} from {low} to {high}" + (" (less than the maximum)" if self.below_maximum else "")
            elif low is not None:
                text = f"{noun} ≥ {low}"
            elif high is not None:
                text = f"{noun} ≤ {high}"
            else:
                text = noun
        else:
            text = "text"
        if self.words:
            text = f"{', '.join(self.words)} or {text}"
        if self.none is not None:
            text += f", or None ({self.none})"
        return text

    # ------------------------------------------------------------------------------ front-ends
    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def forward_keyword(self) -> str:
        return self.forward or self.name

    def parse(self, text: str) -> Any:
        """A CLI argument's text → the checked value (InvalidOptionError names the option)."""
        if text in self.words or self.type is str:
            return self.check(text)
        try:  # a tuple is a size: "1920x1080" → (1920, 1080); check() judges the numbers
            value = tuple(int(v) for v in text.lower().split("x")) if self.type is tuple else self.type(text)
        except ValueError:
            looks = "look like 1920x1080" if self.type is tuple else f"be {self.rule()}"
            raise InvalidOptionError(f"{self.name} must {looks}, not {text!r}") from None
        return self.check(value)

    def offered_to(self, front_end: str) -> bool:
        return front_end in self.front_ends


class Options:
    """A task's options in declaration order, looked up by name; ``check`` validates a set of values."""

    def __init__(self, *options: Option):
        self._by_name = {o.name: o for o in options}
        if len(self._by_name) != len(options):
            raise ValueError("two options share a name")

    def __iter__(self) -> Iterator[Option]:
        return iter(self._by_name.values())

    def __getitem__(self, name: str) -> Option:
        return self._by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __add__(self, other: Iterable[Option]) -> Options:
        return Options(*self, *other)

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self}

    def check(self, values: dict[str, Any]) -> dict[str, Any]:
        """Every given value checked (and normalised); a name this set does not have is refused."""
        unknown = sorted(set(values) - set(self._by_name))
        if unknown:
            raise InvalidOptionError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                     f"this takes: {', '.join(self._by_name)}")
        return {name: self._by_name[name].check(value) for name, value in values.items()}

    def offered_to(self, front_end: str) -> list[Option]:
        return [o for o in self if o.offered_to(front_end)]
