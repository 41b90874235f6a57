"""The training state: everything a resume needs, in one flat dict of named parts.

    format, recipe, step, bad_steps, config, rng_torch
    <network name>          each network's weights ("generator", "discriminator", ...)
    <EMA name>              each average's weights ("ema")
    opt_<k>, sched_<k>, scaler_<k>   per optimizer k ("g", "d", ...)
    ...                     the recipe's own parts (e.g. a pair pool)

States written before recipes existed name none; the recipe whose ``reads_unnamed_states`` is set
(Real-ESRGAN, the single-recipe trainer's) resumes them.
"""

from __future__ import annotations

import torch

from ..config_schema import to_dict
from .run_files import ResumeError

FORMAT = "ganpost-train-state/1"


def _parts(engine) -> dict:
    parts = {name: engine.network(name) for name in engine.networks}
    parts.update(engine.emas)
    for key in engine.optimizers:
        parts.update({f"opt_{key}": engine.optimizers[key], f"sched_{key}": engine.schedulers[key],
                      f"scaler_{key}": engine.scalers[key]})
    return parts


def collect_state(engine) -> dict:
    state = {"format": FORMAT, "recipe": engine.recipe.name, "step": engine.step, "bad_steps": engine.bad_steps,
             "config": to_dict(engine.config), "rng_torch": torch.get_rng_state()}
    parts = {key: part.state_dict() for key, part in _parts(engine).items()}
    for key, value in {**parts, **engine.recipe.state_dict()}.items():
        if key in state or (key in parts and value is not parts[key]):
            raise ValueError(f"recipe {engine.recipe.name}: two parts of the training state are named {key!r}")
        state[key] = value
    return state


def restore_state(engine, state: dict) -> None:
    where = engine.files.state
    if state.get("format") != FORMAT:
        raise ResumeError(f"{where}: not a ganpost training state")
    saved_recipe = state.get("recipe")
    if saved_recipe is None and engine.recipe.reads_unnamed_states:
        saved_recipe = engine.recipe.name
    if saved_recipe != engine.recipe.name:
        raise ResumeError(f"{where}: was saved by the {saved_recipe!r} recipe, not {engine.recipe.name!r}; "
                          "resume it with its own recipe or start a new run folder")
    for key, part in _parts(engine).items():
        if key not in state:
            raise ResumeError(f"{where}: was saved without {key!r}, but this config has it; "
                              "resume with the run's own config or start a new run folder")
        part.load_state_dict(state[key])
    engine.recipe.load_state_dict(state)
    torch.set_rng_state(state["rng_torch"])
    engine.step, engine.bad_steps = int(state["step"]), int(state["bad_steps"])
