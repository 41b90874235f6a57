"""Our errors in the CLI's own terms: keyword arguments become the flags that set them.

The tasks and the runtime write one message for every front-end, naming options the Python way
(``detector=``, ``device="cpu"``, ``face_index``, ``ganpost.restore_faces``). A command's flags
have the same names as those keywords (argparse ``dest``), so the CLI rewrites them when it
prints the message, instead of every message existing twice.
"""

from __future__ import annotations

import argparse
import re

# name=value, name='value', name="value" or a bare name= (a value is never a sentence's last full stop)
_ASSIGNMENT = re.compile(r"""(?<![\w.-])([a-z][a-z0-9_]*)=(?:"([^"]*)"|'([^']*)'|([\w:.-]*\w))?""")
_UNDERSCORED = re.compile(r"(?<![\w.-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w(])")  # face_index, not f() or x.y_z
_SUBJECT = re.compile(r"(^|: |; )([a-z][a-z0-9_]*)(?= must )")  # "tile must be ...", a sentence's subject
_FUNCTION = re.compile(r"\bganpost\.([a-z_]+)\b(?:\(\))?")


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """``dest`` → its long flag, for every option of ``parser`` (``model_b`` → ``--model-b``)."""
    flags = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of a parser's options
        if action.option_strings and action.dest not in ("help", argparse.SUPPRESS):
            flags[action.dest] = max(action.option_strings, key=len)
    return flags


def in_cli_terms(message: str, flags: dict[str, str]) -> str:
    """``message`` with the keywords this command has as flags named as flags, functions as commands."""
    if not flags:
        return message

    def assignment(found: re.Match) -> str:
        name, value = found.group(1), next((v for v in found.groups()[1:] if v is not None), "")
        if name not in flags:
            return found.group(0)
        return f"{flags[name]} {value}" if value else flags[name]

    def name_only(found: re.Match) -> str:
        return flags.get(found.group(1), found.group(0))

    message = _ASSIGNMENT.sub(assignment, message)
    message = _UNDERSCORED.sub(name_only, message)
    message = _SUBJECT.sub(lambda found: found.group(1) + flags.get(found.group(2), found.group(2)), message)
    return _FUNCTION.sub(lambda found: f"`ganpost {found.group(1).replace('_', '-')}`", message)
