"""A task node's widgets, made from the task's option declarations (``OPTIONS``) and its family's forward options.

Each widget is the task :class:`Option` of the same name as a ComfyUI input: the type picks the
widget (a choice → Combo, bool → Boolean, int → Int, float → Float, str → String), with the
option's default, range, choices and help as tooltip. Where a node's saved-workflow contract
differs from the API (a widget cannot hold None or "auto", so ``tile`` 0 means auto), the node
declares an :class:`Encoding` with its reason: the widget it shows and how its value becomes
the task's. Options a node does not offer are listed with the reason too, so a new task option
fails ``tests/test_nodes_contract.py`` until the node decides.

The family's forward options (``tasks.shared_options.forward_options``) are added as optional
widgets at the end and passed to the task as keywords: a new family's option reaches the node
with no edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from comfy_api.latest import io

from ..gan_models.contract import Task
from ..gan_models.options import NODE, Option, Options
from ..runtime.memory import MIN_TILE
from ..tasks.shared_options import forward_options
from .constants import MAX_TILE

WIDGET_FIELDS = ("default", "min", "max", "options")


@dataclass(frozen=True)
class Encoding:
    """How a node's widget differs from the task option it sets, and why."""

    reason: str
    to_task: Callable[[Any, dict], Any] = lambda value, given: value
    """The widget's value (and the node's other widget values) → the task's value."""
    widget: dict = field(default_factory=dict)
    """The widget's own default, min, max or options (and a tooltip in node terms)."""


def encoding(reason: str, to_task: Callable[[Any], Any] | None = None, **widget) -> Encoding:
    """An :class:`Encoding` whose conversion reads only its own value."""
    return Encoding(reason, (lambda value, given: to_task(value)) if to_task else Encoding.to_task, widget)


# Upscale and Translate Image: tile 0 means auto, as the widget has always read.
AUTO_TILE = encoding("0 = auto: a widget holds a number, and a node never wants an unbounded pass forced on it",
                     lambda tile: tile or "auto", default=0, max=MAX_TILE,
                     tooltip=f"input tile side in pixels (at least {MIN_TILE}); 0 = choose from free memory. Smaller "
                             "tiles use less memory; results are seam-free either way.")


def widget_fields(option: Option) -> dict:
    """default, min, max or options of the ComfyUI widget that sets ``option`` as declared."""
    if option.choices:
        return {"options": list(option.choices), "default": option.default}
    number = float if option.type is float else (lambda x: x)
    found = {"default": number(option.default) if option.default is not None else None}
    if option.type in (int, float):
        found |= {key: number(bound) for key, bound in (("min", option.minimum), ("max", option.maximum))
                  if bound is not None}
    return found


def option_input(option: Option, **widget) -> io.Input:
    """The ComfyUI input for ``option``; ``widget`` overrides or adds keywords (step, optional, tooltip...)."""
    spec = {key: value for key, value in widget_fields(option).items() if value is not None}
    spec = {"tooltip": option.help} | spec | widget
    if "options" in spec:
        return io.Combo.Input(option.name, **spec)
    kind = {bool: io.Boolean, int: io.Int, float: io.Float}.get(option.type, io.String)
    return kind.Input(option.name, **spec)


class TaskWidgets:
    """The widgets a task node shows for its task's options, and their values as the task's keywords.

    ``widgets``: name → presentation keywords (step, optional, control_after_generate), in the
    node's input order. ``encodings``: the widgets whose value or range differs from the option's.
    ``left_out``: task options the node does not offer, with the reason.
    """

    def __init__(self, task: Task, options: Options, widgets: dict[str, dict], *,
                 encodings: dict[str, Encoding] | None = None, left_out: dict[str, str] | None = None,
                 forward: bool = True):
        self.task, self.options, self.widgets = task, options, widgets
        self.encodings, self.left_out, self.forward = encodings or {}, left_out or {}, forward

    def forward_options(self) -> list[Option]:
        """The family options offered as optional widgets (read from the registry when the schema is made)."""
        if not self.forward:
            return []
        return [o for o in forward_options(self.task) if o.offered_to(NODE) and o.name not in self.widgets]

    def inputs(self) -> list[io.Input]:
        made = []
        for name, presentation in self.widgets.items():
            encoded = self.encodings.get(name)
            made.append(option_input(self.options[name], **(encoded.widget if encoded else {}) | presentation))
        return made + [option_input(o, optional=True) for o in self.forward_options()]

    def default(self, name: str):
        encoded = self.encodings.get(name)
        if encoded and "default" in encoded.widget:
            return encoded.widget["default"]
        return widget_fields(self.options[name])["default"]

    def to_task(self, given: dict) -> dict:
        """The node's widget values (missing ones at their widget default, as in a workflow saved before
        they existed) as the task's keywords; forward options only when given."""
        forward = {o.name for o in self.forward_options()}
        unknown = sorted(set(given) - set(self.widgets) - forward)
        if unknown:
            raise TypeError(f"unexpected node input{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        values = {name: given.get(name, self.default(name)) for name in self.widgets}
        keywords = {}
        for name, value in values.items():
            encoded = self.encodings.get(name)
            keywords[name] = encoded.to_task(value, values) if encoded else value
        return keywords | {name: given[name] for name in forward if given.get(name) is not None}
