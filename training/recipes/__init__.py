"""Training recipes: each declares what to train and how (see ``base.Recipe``); the engine runs them."""

from __future__ import annotations

from ..config_schema import ConfigError
from .aurasr import AuraSR
from .base import Optimizer, Phase, Recipe
from .gfpgan import GFPGAN
from .realesrgan import RealESRGAN
from .translation import CycleGAN, Pix2Pix

RECIPES: dict[str, type[Recipe]] = {r.name: r for r in (RealESRGAN, Pix2Pix, CycleGAN, AuraSR, GFPGAN)}


def recipe_named(name: str) -> type[Recipe]:
    if name not in RECIPES:
        raise ConfigError(f"recipe: {name!r} is not known. Allowed values: {', '.join(RECIPES)}")
    return RECIPES[name]


def recipe_for_config(config) -> type[Recipe]:
    """The recipe whose config type ``config`` is."""
    for recipe in RECIPES.values():
        if isinstance(config, recipe.config_type):
            return recipe
    raise TypeError(f"no recipe takes a {type(config).__name__}; pass recipe= to the Trainer")


__all__ = ["Optimizer", "Phase", "Recipe", "RealESRGAN", "Pix2Pix", "CycleGAN", "AuraSR", "GFPGAN",
           "RECIPES", "recipe_named", "recipe_for_config"]
