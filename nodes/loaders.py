"""What every loader node shares: a file from its task's models folder, loaded once, refused with the fix
when it is another kind of model. The folder and display name come from ``tasks.wrong_model.PLACES``.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..gan_models.contract import ModelDescriptor, Task
from ..tasks.wrong_model import PLACES
from . import model_folders
from .model_cache import load_for_node


def load_task_model(model_name: str, task: Task) -> ModelDescriptor:
    """The cached model for a file in ``task``'s folder; RuntimeError naming the file and where it belongs."""
    wanted = PLACES[task]
    path = model_folders.model_path(model_name, wanted.folder)
    model = load_for_node(model_name, path, wanted.called)
    if model.contract.task != task:
        found = PLACES.get(model.contract.task)
        hint = found.in_comfyui() if found and found.loader else f"load {wanted.called} such as {wanted.files}"
        raise RuntimeError(f"ganpost: {model_name} ({path}): {model.architecture} is {model.kind}, not "
                           f"{wanted.called}; {hint}.")
    return model


class ModelLoader(io.ComfyNode):
    """A loader node: subclasses set the task, the category, what they say and their output socket."""

    # lower case: ComfyUI's node base has DESCRIPTION and CATEGORY of its own (read from the schema)
    task: Task
    category = "ganpost"
    description: str
    output: type
    output_name: str
    output_tooltip: str

    @classmethod
    def folder(cls) -> str:
        return PLACES[cls.task].folder

    @classmethod
    def extra_inputs(cls) -> list:
        return []

    @classmethod
    def define_schema(cls):
        place = PLACES[cls.task]
        return io.Schema(
            node_id=cls.__name__,
            display_name=place.loader,
            category=cls.category,
            description=cls.description,
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(cls.folder()),
                                   tooltip=f"a file in models/{place.folder} (or a path from extra_model_paths.yaml), "
                                           f"e.g. {place.files}"),
                    *cls.extra_inputs()],
            outputs=[cls.output.Output(display_name=cls.output_name, tooltip=cls.output_tooltip)],
        )

    @classmethod
    def fingerprint_inputs(cls, model_name, **_):
        return model_folders.modified_time(model_name, cls.folder())

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_task_model(model_name, cls.task))
