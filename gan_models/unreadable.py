"""Why a checkpoint or training state could not be read, in our words.

torch's own messages are written for torch developers: they suggest re-running ``torch.load``
with ``weights_only=False`` (the one thing that would run a hostile pickle), ask the reader to
"file an issue", call a text file a pickle, and say nothing at all for an empty file. So a
failure is explained from what the file holds (its first bytes, and for pickles the code they
would import, found by reading the opcodes without executing any), never by quoting torch.
"""

from __future__ import annotations

import pickle
import pickletools
import re
from pathlib import Path

ZIP_MAGIC = b"PK\x03\x04"
TAR_MAGIC_OFFSET, TAR_MAGIC = 257, b"ustar"
SAFE_MODULES = ("torch", "collections", "numpy")  # what weights hold; anything else is someone's code


def why_unreadable(path: str | Path, err: BaseException | None = None) -> str:
    """A one-line reason (with what to do) for a file ``torch.load`` or safetensors refused with ``err``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as read_err:
        return f"cannot be read ({read_err.strerror or read_err})"
    if not head:
        return "the file is empty (an interrupted download or save?); download or save it again"
    named_safetensors = path.suffix.lower() in (".safetensors", ".sft")
    if head.startswith(ZIP_MAGIC):
        if named_safetensors:
            return "a PyTorch file named .safetensors; rename it to .pth"
        code = refused_global(err)
        if code:
            return _refused(code)
        return ("a truncated or damaged PyTorch file (its zip archive is incomplete or corrupt); "
                "download or save it again")
    if _looks_like_pickle(head):
        return _why_pickle(path, err)
    if _looks_like_safetensors(head):
        if not named_safetensors:
            return f"a safetensors file named {path.suffix or 'without an extension'}; rename it to .safetensors"
        return ("a truncated or damaged safetensors file (its header does not match its size); "
                "download or save it again")
    text = _as_text(head)
    if text is not None:
        return _why_text(text)
    if head[TAR_MAGIC_OFFSET: TAR_MAGIC_OFFSET + len(TAR_MAGIC)] == TAR_MAGIC:
        return ("a tar archive (PyTorch's pre-1.0 checkpoint format, which cannot be read safely); "
                "re-save the weights as .safetensors with the tool that made them")
    return f"not a PyTorch or safetensors file (it starts with bytes {head[:8].hex(' ')})"


def _why_pickle(path: Path, err: BaseException | None) -> str:
    code = refused_global(err) or next(iter(_code_imports(path)), None)
    if code:
        return _refused(code)
    if isinstance(err, EOFError) or "truncated" in str(err).lower():
        return "a truncated PyTorch file (its data ends early); download or save it again"
    return ("a Python pickle that was not written by torch.save (the safe reader cannot take it); "
            "re-save the weights with torch.save(model.state_dict()) or as .safetensors")


def _refused(code: str) -> str:
    return (f"refused: its pickle would import and run code ({code}), which ganpost never does; nothing in it "
            "was run. Use a .safetensors file, or a checkpoint that holds only tensors (a state_dict)")


def _why_text(text: str) -> str:
    if text.startswith("version https://git-lfs"):
        return "a Git LFS pointer, not the weights; fetch them (git lfs pull) or download the file itself"
    if re.match(r"\s*<(!doctype html|html|\?xml)", text, re.IGNORECASE):
        return ("a web page, not a model (the download saved an error or login page); "
                "download the file itself")
    return "a text file, not a PyTorch or safetensors model"


def refused_global(err: BaseException | None) -> str | None:
    """The code a refused pickle names (torch says ``GLOBAL posix.system``)."""
    if not isinstance(err, pickle.UnpicklingError):
        return None
    found = re.search(r"GLOBAL (\S+)", str(err))
    return found.group(1).rstrip(".,") if found else None


def _code_imports(path: Path) -> list[str]:
    """Callables the pickles in ``path`` import outside torch's own, read from the opcodes (nothing runs).

    A legacy torch file is several pickles in a row, then raw storage bytes (where parsing stops).
    """
    found, strings = [], []
    try:
        with open(path, "rb") as f:
            while True:
                for op, arg, _ in pickletools.genops(f):
                    name = None
                    if op.name in ("GLOBAL", "INST"):
                        name = str(arg).replace(" ", ".")
                    elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                        name = ".".join(strings[-2:])
                    elif isinstance(arg, str):
                        strings.append(arg)
                    if name and name.split(".")[0] not in SAFE_MODULES:
                        found.append(name)
                        return found
    except Exception:  # noqa: BLE001 - a damaged stream or the storages after the pickles: we have what we need
        pass
    return found


def _looks_like_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # PROTO 2..5


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{"  # an 8-byte header length, then its JSON


def _as_text(head: bytes) -> str | None:
    for cut in range(4):  # the 512-byte read may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    return None if any(c < " " and c not in "\t\r\n" for c in text) else text
