"""Running a config: the engine's :class:`~.engine.Trainer`, with the recipe found from the config's type.

The engine is always handed its recipe; this is where a config (of a recipe's type) finds it.
"""

from __future__ import annotations

from . import engine
from .recipes import recipe_for_config


class Trainer(engine.Trainer):
    """``Trainer(config)``: the engine's trainer running the recipe whose config type ``config`` is
    (or ``recipe=``, any ``Recipe`` class)."""

    def __init__(self, config, *, recipe=None, **options):
        super().__init__(config, recipe=recipe or recipe_for_config(config), **options)


def train(config, *, recipe=None, resume: bool = False, callbacks: engine.Callbacks | None = None,
          models_dir=None) -> engine.TrainingResult:
    """Run (or resume) a training run described by ``config``."""
    return Trainer(config, recipe=recipe, resume=resume, callbacks=callbacks, models_dir=models_dir).fit()
