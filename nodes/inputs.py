"""A task node's widgets, made from its task's option declarations (``OPTIONS``) and its families' forward options.

Each widget is the task :class:`Option` of the same name: a choice → Combo, bool → Boolean, int →
Int, float → Float, str → String, with the option's default, range, choices and help (as tooltip).
Where a node's saved-workflow contract differs from the API (a widget cannot hold None or
"auto", so ``tile`` 0 means auto), the node declares an :class:`Encoding` with its reason; options a
node does not offer are listed with theirs. ``tests/nodes/test_nodes_contract.py`` holds every node to
that, so a new task option fails it until the node decides. Forward options (a family's fidelity
weight) become optional widgets at the end, passed to the task only when given: a new family's
option reaches the nodes with no edit here.
"""

from __future__ import annotations

from collections.abc import Callable

from comfy_api.latest import io

from ..gan_models.contract import Task
from ..gan_models.options import NODE, Option, Options
from ..runtime.memory import MIN_TILE
from ..tasks.shared_options import forward_options
from .constants import MAX_TILE

MASK_TOOLTIP = ("transparency, 1 = transparent (LoadImage's mask); all zeros = opaque. Ignored when the image "
                "already has an alpha channel.")


class Encoding:
    """Why a node's widget differs from its task option, the widget it shows instead (default, min, max,
    options), how its value becomes the task's, and what it ``means`` (added to the option's help)."""

    def __init__(self, reason: str, to_task: Callable | None = None, *, means: str = "", **widget):
        self.reason, self.means, self.widget = reason, means, widget
        self.to_task = to_task or (lambda value: value)


AUTO_TILE = Encoding("0 = auto: a widget holds a number, and a node never wants an unbounded pass forced on it",
                     lambda tile: tile or "auto", default=0, max=MAX_TILE,
                     tooltip=f"input tile side in pixels (at least {MIN_TILE}); 0 = choose from free memory. Smaller "
                             "tiles use less memory; results are seam-free either way.")


def widget_fields(option: Option) -> dict:
    """The default, min and max, or options, of the widget that sets ``option`` as declared."""
    if option.choices:
        return {"options": list(option.choices), "default": option.default}
    if option.type not in (int, float):
        return {} if option.default is None else {"default": option.default}
    number = float if option.type is float else int  # a float widget's bounds are floats: 1.0, not 1
    fields = {"default": option.default, "min": option.minimum, "max": option.maximum}
    return {key: number(value) for key, value in fields.items() if isinstance(value, (int, float))}


def option_input(option: Option, **widget) -> io.Input:
    """The ComfyUI input for ``option``; ``widget`` overrides or adds keywords (step, optional, tooltip...)."""
    spec = {"tooltip": option.help} | widget_fields(option) | widget
    kind = io.Combo if "options" in spec else {bool: io.Boolean, int: io.Int, float: io.Float}.get(option.type, io.String)
    return kind.Input(option.name, **spec)


class TaskWidgets:
    """A task node's widgets and their values as the task's keywords.

    ``widgets``: option name → presentation (step, optional, ...), in the node's input order.
    ``encodings``: widgets whose value or range differs from the option's. ``left_out``: options
    offered to nodes that this one does not show, with the reason.
    """

    def __init__(self, task: Task, options: Options, widgets: dict[str, dict], *,
                 encodings: dict[str, Encoding] | None = None, left_out: dict[str, str] | None = None,
                 forward: bool = True):
        self.task, self.options, self.widgets, self.forward = task, options, widgets, forward
        self.encodings, self.left_out = encodings or {}, left_out or {}

    def forward_options(self) -> list[Option]:
        """The families' options (read from the registry whenever a schema is made)."""
        if not self.forward:
            return []
        return [o for o in forward_options(self.task) if o.offered_to(NODE) and o.name not in self.widgets]

    def _spec(self, name: str) -> dict:
        encoded = self.encodings.get(name)
        if encoded is None:
            return self.widgets[name]
        tooltip = f"{self.options[name].help}; {encoded.means}" if encoded.means else self.options[name].help
        return {"tooltip": tooltip} | encoded.widget | self.widgets[name]

    def inputs(self) -> list[io.Input]:
        return ([option_input(self.options[name], **self._spec(name)) for name in self.widgets]
                + [option_input(o, optional=True) for o in self.forward_options()])

    def to_task(self, given: dict) -> dict:
        """The widget values as task keywords; a missing widget (a workflow saved before it) at its default,
        a forward option only when given."""
        forward = {o.name for o in self.forward_options()}
        unknown = sorted(set(given) - set(self.widgets) - forward)
        if unknown:
            raise TypeError(f"unexpected node input{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        keywords = {}
        for name in self.widgets:
            default = self._spec(name).get("default", widget_fields(self.options[name]).get("default"))
            encoded = self.encodings.get(name)
            value = given.get(name, default)
            keywords[name] = encoded.to_task(value) if encoded else value
        return keywords | {name: given[name] for name in forward if given.get(name) is not None}
