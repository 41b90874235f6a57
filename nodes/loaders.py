"""What every loader node shares: a file from its task's models folder (``tasks.wrong_model.PLACES``: the
folder, the display name, example files), loaded once, refused with the fix when it is another kind.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..gan_models import GanpostError
from ..gan_models.contract import ModelDescriptor, Task
from ..tasks.wrong_model import PLACES
from . import model_folders
from .model_cache import cached_model
from .search_aliases import schema


def load_task_model(model_name: str, task: Task) -> ModelDescriptor:
    """The cached model for a file in ``task``'s folder; any failure a RuntimeError naming the file and the fix
    (ComfyUI shows its message as is)."""
    wanted = PLACES[task]
    path = model_folders.model_path(model_name, wanted.folder)
    try:
        model = cached_model(path)
    except GanpostError as err:
        raise RuntimeError(f"ganpost could not load {model_name}: {err}") from err
    except MemoryError:
        raise
    except Exception as err:  # a reader error the core did not classify: still name the file
        raise RuntimeError(f"ganpost could not load {model_name} ({path}): {type(err).__name__}: {err}. The file is "
                           f"probably corrupt, truncated or not {wanted.called} checkpoint; download it again.") from err
    if model.contract.task != task:
        found = PLACES.get(model.contract.task)
        hint = found.in_comfyui() if found and found.loader else f"load {wanted.called} such as {wanted.files}"
        raise RuntimeError(f"ganpost: {model_name} ({path}): {model.architecture} is {model.kind}, not "
                           f"{wanted.called}; {hint}.")
    return model


class ModelLoader(io.ComfyNode):
    """A loader node; a subclass names its task, category, output socket and where the output goes.

    Lower-case names: ComfyUI's node base has DESCRIPTION and CATEGORY of its own (read from the schema).
    """

    task: Task
    category = "ganpost"
    output: type
    output_name: str
    output_tooltip: str
    note = ""  # a sentence for the description

    @classmethod
    def extra_inputs(cls) -> list:
        return []

    @classmethod
    def define_schema(cls):
        place = PLACES[cls.task]
        return schema(
            node_id=cls.__name__, display_name=place.loader, category=cls.category,
            description=f"Load {place.called} (e.g. {place.files}) from models/{place.folder}. {cls.note}"
                        "Loading never runs pickled code.",
            inputs=[io.Combo.Input("model_name", options=model_folders.list_models(place.folder),
                                   tooltip=f"a file in models/{place.folder} (or a path from extra_model_paths.yaml)"),
                    *cls.extra_inputs()],
            outputs=[cls.output.Output(display_name=cls.output_name, tooltip=cls.output_tooltip)])

    @classmethod
    def fingerprint_inputs(cls, model_name, **_):
        return model_folders.modified_time(model_name, PLACES[cls.task].folder)

    @classmethod
    def execute(cls, model_name) -> io.NodeOutput:
        return io.NodeOutput(load_task_model(model_name, cls.task))
