"""Every flag of the image commands, pinned: generating them from the tasks' declarations must give
the same command line people have scripts for (help text may change; names, defaults, choices,
kinds and metavars may not). Regenerate the fixture only for a deliberate change:
``PYTHONPATH=tests python tests/cli/test_cli_flags.py > tests/fixtures/cli_flags.json``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from helpers.paths import FIXTURES
from ganpost.cli.main import build_parser

FIXTURE = FIXTURES / "cli_flags.json"
COMMANDS = ("upscale", "restore-faces", "translate", "models")


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flags() -> dict[str, list[dict]]:
    """``command`` → its arguments, sorted by name, as JSON-ready records."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    table = {}
    for command in COMMANDS:
        records = [{
            "option_strings": sorted(action.option_strings),
            "dest": action.dest,
            "default": _plain(action.default),
            "choices": None if action.choices is None else _plain(list(action.choices)),
            "kind": type(action).__name__,
            "nargs": action.nargs,
            "required": action.required,
            "metavar": action.metavar,
        } for action in sub.choices[command]._actions]  # noqa: SLF001 - argparse lists its arguments nowhere else
        table[command] = sorted(records, key=lambda r: (r["option_strings"], r["dest"]))
    return table


def test_the_flags_are_the_ones_people_script_against(monkeypatch):
    monkeypatch.delenv("GANPOST_MAX_PIXELS", raising=False)  # --max-pixels' default comes from it
    pinned = json.loads(FIXTURE.read_text())
    now = json.loads(json.dumps(flags()))  # the same JSON round trip as the fixture (tuples → lists)
    for command in COMMANDS:
        by_name = {tuple(r["option_strings"]) or r["dest"]: r for r in now[command]}
        was = {tuple(r["option_strings"]) or r["dest"]: r for r in pinned[command]}
        assert sorted(map(str, by_name)) == sorted(map(str, was)), command
        for name, record in was.items():
            assert by_name[name] == record, (command, name)


if __name__ == "__main__":
    os.environ.pop("GANPOST_MAX_PIXELS", None)
    print(json.dumps(flags(), indent=1, ensure_ascii=False))
