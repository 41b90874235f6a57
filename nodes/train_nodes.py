"""The training nodes (V3 schema), one per recipe node form in ``training.recipes.RECIPES`` (``Recipe.node``).

Every node is built here from what its recipe declares (inputs, output, where the model is
published, how inputs become settings); no recipe is named in this file. The whole run happens in
the node's execution, step by step, with ComfyUI's progress bar, a preview at each validation and
Cancel wired in. A cancelled run saves its state first, so running the same node again (resume on)
continues where it stopped. A published model lands in its ComfyUI folder (``models/upscale_models``,
``models/facerestore_models``, ...) under the run's name, for our loaders and ComfyUI core's.
"""

from __future__ import annotations

from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..gan_models import GanpostError, load_model
from ..gan_models.atomic import atomic_copy
from ..training import Callbacks, Trainer
from ..training.config import load_config
from ..training.engine.run_folder import RunFolderError
from ..training.recipes import RECIPES, recipe_named
from ..training.recipes.front_end import SUMMARY_TOOLTIP, every_tenth
from . import model_folders
from .face_nodes import GanpostFaceDetector, GanpostFaceModel
from .search_aliases import schema
from .train_run_names import published_path, run_folder
from .translate_nodes import GanpostTranslator
from .upscale_nodes import GanpostModel

CATEGORY = "ganpost/training"
MODEL_SOCKETS = {"upscaler": GanpostModel, "face_restorer": GanpostFaceModel, "face_detector": GanpostFaceDetector,
                 "translator": GanpostTranslator}
WIDGETS = {"int": io.Int, "float": io.Float, "string": io.String, "boolean": io.Boolean, "combo": io.Combo}
RUN_FOLDER_FIXES = {
    "saved": "Turn resume on to continue it, or give the new run another run_name.",
    "busy": "Wait for that run to finish, or give this one another run_name.",
    "overlap": "Give the training images a folder outside output/ganpost_training.",
    "foreign": "Give the run another run_name.",
}


class _ComfyProgress(Callbacks):
    """Progress bar, preview after each validation, and Cancel checked every step."""

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(total)
        self.interrupt: BaseException | None = None
        self.preview_path: Path | None = None
        self.last_losses: dict = {}

    def on_step(self, report) -> None:
        self.last_losses = report.losses
        self.bar.update_absolute(report.step, report.total)

    def on_validation(self, step, metrics, preview) -> None:
        self.preview_path = preview
        from PIL import Image

        with Image.open(preview) as im:
            self.bar.update_absolute(step, None, ("JPEG", im.convert("RGB"), 1024))

    def should_stop(self) -> bool:
        # ComfyUI signals Cancel by raising from this check; keep the exception, save, then re-raise it.
        try:
            mm.throw_exception_if_processing_interrupted()
        except BaseException as err:  # noqa: BLE001 - ComfyUI's interrupt type is not importable everywhere
            self.interrupt = err
            return True
        return False


def train_in_node(make_config, run_name: str, steps: int, resume: bool, recipe, **trainer_options):
    """One training run inside a node's execution → (result, progress).

    ComfyUI's models are unloaded first and autograd is switched back on (nodes run under
    inference_mode); our errors become the node's error, naming the run; a Cancel is raised once
    the state is saved, so the same node with resume on continues. ``make_config()`` is called
    inside, so a bad setting is reported the same way.
    """
    try:
        config = make_config()
        run_dir = Path(config.run.output_dir)
        mm.unload_all_models()
        mm.soft_empty_cache()
        progress = _ComfyProgress(steps)
        has_state = (run_dir / "state" / "latest.state").is_file()
        with torch.inference_mode(False), torch.enable_grad():
            trainer = Trainer(config, recipe=recipe, resume=resume and has_state, callbacks=progress,
                              models_dir=_support_models_dir(), **trainer_options)
            result = trainer.fit()
    except RunFolderError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}. {RUN_FOLDER_FIXES.get(err.kind, '')}") from err
    except GanpostError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
    finally:
        mm.soft_empty_cache()
    if progress.interrupt is not None:
        raise progress.interrupt  # saved already; ComfyUI shows the run as cancelled
    return result, progress


def execute_form(form, values: dict) -> io.NodeOutput:
    """The run section every training node shares: check, configure, train, publish, load, summarise."""
    values = {i.id: values.get(i.id, i.default) for i in form.inputs}
    run_name, steps = values["run_name"], values["steps"]
    try:  # before anything is unloaded: the recipe knows what it can train
        if form.check is not None:
            form.check(values)
    except GanpostError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
    run_dir = run_folder(run_name)
    for spec in form.inputs:
        if spec.folder:
            text = values[spec.id]
            values[spec.id] = _input_folder(text) if text or not spec.optional else None
    planned = form.run(values)
    recipe = recipe_named(planned.recipe)
    every = every_tenth(steps)
    overrides = {**planned.overrides, "run": {
        "output_dir": str(run_dir), "total_steps": steps, "seed": values["seed"], "log_every": 10,
        "device": str(mm.get_torch_device()), "save_every": every, "val_every": every}}
    result, progress = train_in_node(
        lambda: load_config(recipe=planned.recipe, preset=planned.preset, overrides=overrides),
        run_name, steps, values["resume"], recipe, **planned.options)
    saved = _publish(result.generator, run_dir.name, form.publish) if form.publish else result.generator
    try:
        trained = load_model(saved)
    except GanpostError as err:
        raise RuntimeError(f"ganpost training ({run_name}): {err}") from err
    losses = ", ".join(f"{k} {v:.4g}" for k, v in progress.last_losses.items())
    summary = f"{run_name}: step {result.step}/{steps}; {losses}; saved {saved}"
    if result.validation:
        summary += f"; {recipe.validation_text(result.validation)}"
    return io.NodeOutput(trained, summary)


def _input_folder(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.is_absolute():
        path = Path(folder_paths.get_input_directory()) / path
    return path


def _support_models_dir() -> Path:
    """Where loss networks' weights (VGG19, ArcFace) are looked for (and downloaded to): models/ganpost."""
    return Path(folder_paths.models_dir) / "ganpost"


def _publish(model_file: Path, run_name: str, publish) -> Path:
    """Copy the newest model (its companions first, so it is never found without them) into
    ``models/<publish.folder>`` under the run's name, atomically."""
    model_folders.ensure_registered(publish.folder)
    folder = Path(folder_paths.get_folder_paths(publish.folder)[0])
    target = published_path(folder, run_name, publish.suffix)
    folder.mkdir(parents=True, exist_ok=True)
    for name, suffix in publish.companions.items():
        atomic_copy(model_file.with_name(name), target.with_suffix(suffix))
    atomic_copy(model_file, target)
    return target


# ----------------------------------------------------------------------------- the node classes
def _socket_input(spec):
    if spec.kind in MODEL_SOCKETS:
        return MODEL_SOCKETS[spec.kind].Input(spec.id, tooltip=spec.tooltip, optional=spec.optional)
    keywords = {k: getattr(spec, k) for k in ("default", "min", "max", "step") if getattr(spec, k) is not None}
    if spec.options is not None:
        keywords["options"] = list(spec.options)
    if spec.optional:
        keywords["optional"] = True
    return WIDGETS[spec.kind].Input(spec.id, tooltip=spec.tooltip, **keywords)


def node_class(form) -> type[io.ComfyNode]:
    """The ComfyUI node of a recipe's :class:`~..training.recipes.front_end.NodeForm`."""

    def define_schema(cls):
        return schema(
            node_id=form.node_id, display_name=form.display_name, category=CATEGORY, description=form.description,
            is_output_node=True, inputs=[_socket_input(spec) for spec in form.inputs],
            outputs=[MODEL_SOCKETS[form.output.kind].Output(display_name=form.output.display_name,
                                                            tooltip=form.output.tooltip),
                     io.String.Output(display_name="summary", tooltip=SUMMARY_TOOLTIP)])

    def execute(cls, **values) -> io.NodeOutput:
        return execute_form(form, values)

    return type(form.node_id, (io.ComfyNode,), {
        "__module__": __name__, "__doc__": form.description, "form": form,
        "define_schema": classmethod(define_schema), "execute": classmethod(execute)})


def _forms() -> list:
    """Each recipe's node form once (one form may serve several recipes), in the recipe table's order."""
    forms = {}
    for recipe in RECIPES.values():
        if recipe.node is not None:
            forms.setdefault(recipe.node.node_id, recipe.node)
    return list(forms.values())


TRAIN_NODES: list[type[io.ComfyNode]] = [node_class(form) for form in _forms()]
globals().update({node.__name__: node for node in TRAIN_NODES})  # GanpostTrainUpscaleModel, ... importable by name

__all__ = ["TRAIN_NODES", "node_class", "execute_form", "train_in_node",
           *(node.__name__ for node in TRAIN_NODES)]
