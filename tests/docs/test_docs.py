"""The docs stay honest: what they name exists.

Every relative link and every repository path a doc shows in backticks exists; every flag a
``ganpost`` command line in a doc uses is one that command takes; every node id a doc names is
registered by the pack; the README's first two commands are the install-and-run and the test
command, and the second is the one ``.ci/run`` runs.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest

from helpers import fake_comfy
from helpers.paths import REPO

DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").rglob("*.md")])
TOP_FOLDERS = ("bench", "tests", "gan_models", "runtime", "tasks", "nodes", "cli", "integrations", "training",
               "examples", "example_workflows", "tools", "web", "docs", ".ci")
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PLACEHOLDER = re.compile(r"[<>*{}…]|\.\.\.")


def _doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_docs_are_where_the_readme_says():
    assert len(DOCS) > 10 and (REPO / "docs" / "training" / "README.md") in DOCS


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_relative_link_exists(doc):
    text = doc.read_text(encoding="utf-8")
    missing = [target for target in LINK.findall(text)
               if not re.match(r"[a-z]+:", target) and not target.startswith("#")
               and not (doc.parent / target.split("#")[0]).exists()]
    assert not missing, f"{_doc_id(doc)} links to missing files: {missing}"


def _repository_paths(text: str) -> list[str]:
    """Backticked ``folder/…`` paths (a ``: name`` or ``::test`` after them is the symbol, not the path)."""
    found = []
    for span in CODE_SPAN.findall(text):
        for word in span.split():
            path = re.split(r"[:,;()]", word)[0].rstrip(".")
            if path.split("/")[0] in TOP_FOLDERS and "/" in path and not PLACEHOLDER.search(path):
                found.append(path)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_repository_path_named_exists(doc):
    missing = [p for p in _repository_paths(doc.read_text(encoding="utf-8")) if not (REPO / p).exists()]
    assert not missing, f"{_doc_id(doc)} names paths that do not exist: {sorted(set(missing))}"


def _command_lines(text: str) -> list[list[str]]:
    """Each ``ganpost ...`` line of the docs' code blocks (continuations joined, comments dropped), as words."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            for part in re.split(r"&&|\|", line):
                words = part.split()
                if words[:1] == ["ganpost"] and "[" not in part and "|" not in part:
                    commands.append(shlex.split(part))
    return commands


def _parser_for(words: list[str]):
    """The innermost argparse parser a command line reaches (``ganpost train pix2pix`` → the recipe's)."""
    from ganpost.cli.main import build_parser

    parser, rest = build_parser(), words[1:]
    while rest:
        choices = next((a.choices for a in parser._actions if getattr(a, "choices", None) and
                        isinstance(a.choices, dict)), None)
        if not choices or rest[0] not in choices:
            break
        parser, rest = choices[rest[0]], rest[1:]
    return parser


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_flag_a_doc_shows_is_taken_by_its_command(doc):
    wrong = []
    for words in _command_lines(doc.read_text(encoding="utf-8")):
        taken = {flag for action in _parser_for(words)._actions for flag in action.option_strings}
        wrong += [f"{' '.join(words[:3])} {w.split('=')[0]}" for w in words
                  if w.startswith("-") and w.split("=")[0] not in taken]
    assert not wrong, f"{_doc_id(doc)} shows flags its commands do not take: {wrong}"


def test_the_docs_show_command_lines():
    assert sum(len(_command_lines(d.read_text(encoding="utf-8"))) for d in DOCS) > 20


@pytest.fixture(scope="module")
def node_ids(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    fake_comfy.install(monkeypatch, tmp_path_factory.mktemp("comfy"))
    fake_comfy.forget_modules()
    import ganpost

    nodes = asyncio.run(asyncio.run(ganpost.comfy_entrypoint()).get_node_list())
    yield {node.define_schema().node_id for node in nodes}
    fake_comfy.forget_modules()
    monkeypatch.undo()


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_node_id_named_is_registered(doc, node_ids):
    named = set(re.findall(r"\bGanpost[A-Z][A-Za-z]+\b", doc.read_text(encoding="utf-8")))
    named -= {"GanpostError", "GanpostModel", "GanpostFaceModel", "GanpostFaceDetector", "GanpostFaceParser",
              "GanpostTranslator"}  # exception and socket type names, not nodes
    assert named <= node_ids, f"{_doc_id(doc)} names nodes the pack does not register: {sorted(named - node_ids)}"


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), flags=re.S)
    install_and_run, run_tests = blocks[0].strip(), blocks[1].strip()
    assert install_and_run.startswith("pip install") and "ganpost upscale" in install_and_run
    assert run_tests.startswith("pip install") and run_tests.endswith("python -m pytest -q")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert run_tests in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_the_readme_fits_on_a_screen_or_two():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
