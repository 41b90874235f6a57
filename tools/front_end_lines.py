"""Lines of the front-ends (``nodes/``, ``cli/``, ``integrations/``), counted like for like with the tree before
issue 17's redesign, for its target "down by a quarter or more" (3,325 lines before it).

The front-ends grew capabilities after the redesign that the tree before it never had, so a raw count mixes
thinning with growth. Two like-for-like figures leave the growth out:

- ``blame``: the lines at REV whose ``git blame`` commit is not one of those that added issue 19/20/21
  capabilities (streaming, worker processes, Ray, video, file URLs, search aliases: ``NEW_FROM..NEW_TO``),
  the ONNX export surface counted net (below). It also leaves out the older lines those commits rewrote, so
  it reads low: at ``NEW_TO`` it is already lower than at ``NEW_FROM``, with no thinning.
- ``net`` (the one to hold to the target): the ``blame`` figure at ``NEW_FROM``, changed by each commit after
  ``NEW_TO`` by what it does to the older code: the lines it deletes that the new commits did not write, and
  its added lines in the share those deleted lines have of all it deletes (a commit that folds old and new
  code into one helper replaces both). What it does to the new commits' lines is reported as the cut in new
  code and credited nowhere.

The ONNX export surface (``ONNX_COMMITS``, before ``NEW_FROM``) counts only as far as it replaced older lines
in these folders (the weights-only ``export`` and the folder listing, which the tree before had too): its
lines at REV, at most as many as those commits deleted. A blank, comment or docstring line counts in the raw
figures and not in the code figures.

    python tools/front_end_lines.py [REV ...]     # default HEAD; run from the repository
"""

from __future__ import annotations

import ast
import functools
import io
import subprocess
import sys
import tokenize
from collections import Counter

FOLDERS = ("nodes", "cli", "integrations")
BEFORE = 3325  # the tree at 915cfdf: 2,898 in FOLDERS + 382 of the training CLI + ~45 of the tools' mains
NEW_FROM, NEW_TO = "7a15357", "089213d"
ONNX_COMMITS = ("c72ef00", "c935518")


def git(*args: str) -> str:
    return subprocess.run(("git", *args), check=True, capture_output=True, text=True).stdout


@functools.cache
def new_commits() -> frozenset[str]:
    """The commits that added issue 19/20/21 capabilities."""
    return frozenset(git("rev-list", f"{NEW_FROM}..{NEW_TO}").split())


@functools.cache
def files(rev: str) -> list[str]:
    names = git("ls-tree", "-r", "--name-only", rev, "--", *FOLDERS).split()
    return [name for name in names if name.endswith(".py")]


def blame(rev: str, path: str) -> list[str]:
    """The commit that last wrote each line of ``path`` at ``rev``, in line order."""
    owners = []
    for line in git("blame", "--porcelain", rev, "--", path).splitlines():
        fields = line.split()
        if len(fields) >= 3 and len(fields[0]) == 40 and fields[1].isdigit() and fields[2].isdigit():
            owners.append(fields[0])
    return owners


def code_lines(source: str) -> set[int]:
    """Line numbers (1-based) that hold code: not blank, not only a comment, not part of a docstring."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER, tokenize.ENCODING)
    for token in tokenize.tokenize(io.BytesIO(source.encode()).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstrings


def changed_lines(commit: str):
    """Each .py file of FOLDERS that ``commit`` changes: (path, its deleted line numbers in the parent, its
    added line numbers in the commit, the parent's source, the commit's source)."""
    parent = f"{commit}^"
    for path in git("diff", "--name-only", parent, commit, "--", *FOLDERS).split():
        if not path.endswith(".py"):
            continue
        before = git("show", f"{parent}:{path}") if path in files(parent) else ""
        after = git("show", f"{commit}:{path}") if path in files(commit) else ""
        deleted, added = [], []
        for hunk in git("diff", "-U0", parent, commit, "--", path).splitlines():
            if hunk.startswith("@@"):
                for numbers, sign in ((deleted, "-"), (added, "+")):
                    field = next(f for f in hunk.split()[1:3] if f.startswith(sign))
                    start, _, count = field[1:].partition(",")
                    numbers.extend(range(int(start), int(start) + (int(count) if count else 1)))
        yield path, deleted, added, before, after


def onnx_replaced() -> Counter:
    """Raw and code lines the ONNX commits deleted in FOLDERS (the older code their lines stand for)."""
    replaced = Counter()
    for commit in ONNX_COMMITS:
        for _, deleted, _, before, _ in changed_lines(commit):
            replaced["raw"] += len(deleted)
            replaced["code"] += len(code_lines(before).intersection(deleted))
    return replaced


@functools.cache
def by_blame(rev: str) -> Counter:
    """Lines at ``rev`` by who last wrote them (new: NEW_FROM..NEW_TO; onnx; old: any other), raw and code."""
    new = new_commits()
    onnx = {git("rev-parse", commit).strip() for commit in ONNX_COMMITS}
    counts = Counter()
    for path in files(rev):
        code = code_lines(git("show", f"{rev}:{path}"))
        for number, owner in enumerate(blame(rev, path), start=1):
            kind = "new" if owner in new else "onnx" if owner in onnx else "old"
            counts[f"raw_{kind}"] += 1
            counts[f"code_{kind}"] += number in code
    replaced = onnx_replaced()
    for unit in ("raw", "code"):
        counts[f"{unit}_blame"] = counts[f"{unit}_old"] + min(counts[f"{unit}_onnx"], replaced[unit])
    return counts


def net(rev: str) -> Counter:
    """The ``net`` like-for-like figures at ``rev`` (raw and code), and the net cut in new code after NEW_TO."""
    start = by_blame(NEW_FROM)
    figures = Counter(raw=start["raw_blame"], code=start["code_blame"])
    new = new_commits()
    for commit in git("rev-list", "--reverse", "--no-merges", f"{NEW_TO}..{rev}").split():
        change = Counter()
        for path, deleted, added, before, after in changed_lines(commit):
            owners = blame(f"{commit}^", path) if deleted else []
            code_before = code_lines(before) if before else set()
            for number in deleted:
                kind = "new" if owners[number - 1] in new else "old"
                change[f"raw_{kind}"] += 1
                change[f"code_{kind}"] += number in code_before
            change["raw_added"] += len(added)
            change["code_added"] += len(code_lines(after).intersection(added)) if after else 0
        for unit in ("raw", "code"):
            # what a commit adds replaces the old and the new code it deletes in the same shares
            deleted = change[f"{unit}_old"] + change[f"{unit}_new"]
            old_share = change[f"{unit}_old"] / deleted if deleted else 1.0
            figures[unit] += round(change[f"{unit}_added"] * old_share) - change[f"{unit}_old"]
            figures[f"new_cut_{unit}"] += change[f"{unit}_new"] - round(change[f"{unit}_added"] * (1 - old_share))
    return figures


def main(argv: list[str]) -> int:
    for rev in argv or ["HEAD"]:
        counts, figures = by_blame(rev), net(rev)
        raw = sum(counts[f"raw_{kind}"] for kind in ("old", "onnx", "new"))
        code = sum(counts[f"code_{kind}"] for kind in ("old", "onnx", "new"))
        print(f"{rev}: raw {raw} (code {code})")
        print(f"  like for like, net: {figures['raw']} ({figures['raw'] / BEFORE - 1:+.1%} against {BEFORE}), "
              f"code {figures['code']}; cut in new code since {NEW_TO}: {figures['new_cut_raw']} "
              f"(code {figures['new_cut_code']})")
        print(f"  like for like, blame: {counts['raw_blame']} (code {counts['code_blame']}); left out: "
              f"issue 19-21 lines {counts['raw_new']} (code {counts['code_new']}), "
              f"ONNX lines {counts['raw_onnx']} (code {counts['code_onnx']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
