"""Compatibility path for ``python -m ganpost.training.export``: it runs ``ganpost export``
(cli/train_tools.py; the function is components/export.py)."""

from __future__ import annotations

import sys

from .components.export import export  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from ..cli.main import main as ganpost

    return ganpost(["export", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
