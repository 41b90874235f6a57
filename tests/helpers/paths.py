"""Where things are, for tests in any folder of tests/ (which mirrors the source tree)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
EXAMPLES = REPO / "examples"


def images_in(folder: Path) -> list[str]:
    """The names in an output folder, less the run's record (``.ganpost-runs.jsonl``) and other dotfiles."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
