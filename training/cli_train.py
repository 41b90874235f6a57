"""Compatibility path: ``ganpost train`` moved to ``cli/train_command.py``."""

from ..cli.train_command import (ProgressLine, StopOnSignals, add_train_parser, format_duration,  # noqa: F401
                                 resolve_config, run_recipe)
