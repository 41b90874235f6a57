"""A real ComfyUI server for checks and for making the templates' thumbnails: started on loopback from a
ComfyUI checkout with a fresh base directory (its own custom_nodes/, models/, input/, output/), so the
checkout itself is never touched, and stopped by its process id.

    with ComfyServer(comfy_dir, python, base_dir, pack=REPO) as server:
        server.get_json("/object_info")

Standard library only: it runs under any Python, the server under the checkout's own interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

PACK_NAME = "ganpost"


def comfy_from_environment() -> tuple[Path, str] | None:
    """``$COMFYUI_DIR`` (a checkout with main.py) and its interpreter (``$COMFYUI_PYTHON``, else the
    ``venv/bin/python`` beside the checkout), or None where either is missing."""
    root = os.environ.get("COMFYUI_DIR")
    if not root or not (Path(root) / "main.py").is_file():
        return None
    python = os.environ.get("COMFYUI_PYTHON") or str(Path(root).parent / "venv" / "bin" / "python")
    return (Path(root), python) if Path(python).is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """ComfyUI with the pack linked as ``custom_nodes/ganpost`` and only it loaded."""

    def __init__(self, comfy_dir: Path, python: str, base_dir: Path, pack: Path, *,
                 models: dict[str, list[Path]] | None = None, start_timeout: float = 300):
        self.comfy_dir, self.python, self.base = Path(comfy_dir), python, Path(base_dir)
        self.pack, self.models, self.start_timeout = Path(pack), models or {}, start_timeout
        self.port, self.process, self.log_path = _free_port(), None, self.base / "server.log"
        self.url = f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ start / stop
    def __enter__(self) -> "ComfyServer":
        for folder in ("custom_nodes", "input", "output", "temp", "user"):
            (self.base / folder).mkdir(parents=True, exist_ok=True)
        link = self.base / "custom_nodes" / PACK_NAME
        if not link.exists():
            link.symlink_to(self.pack.resolve(), target_is_directory=True)
        for folder, files in self.models.items():
            (self.base / "models" / folder).mkdir(parents=True, exist_ok=True)
            for file in files:
                target = self.base / "models" / folder / Path(file).name
                if not target.exists():
                    target.symlink_to(Path(file).resolve())
        command = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                   "--base-directory", str(self.base), "--disable-all-custom-nodes",
                   "--whitelist-custom-nodes", PACK_NAME, "--disable-auto-launch"]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=self.comfy_dir, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited at start (code {self.process.returncode}): {self.log_tail()}")
            try:
                self.get_json("/system_stats", timeout=5)
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {self.start_timeout:.0f} s: {self.log_tail()}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGINT (ComfyUI's own shutdown), then SIGTERM/SIGKILL of the process group this started."""
        if self.process is not None and self.process.poll() is None:
            for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if getattr(self, "log", None):
            self.log.close()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    # ------------------------------------------------------------------ HTTP
    def get(self, path: str, timeout: float = 60) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get_json(self, path: str, timeout: float = 60):
        status, body = self.get(path, timeout)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status} {body[:300]!r}")
        return json.loads(body)

    def post_json(self, path: str, payload: dict, timeout: float = 60) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def add_input(self, source: Path, name: str | None = None) -> str:
        """Copy a file (or a folder) into the server's input folder; returns its name there."""
        target = self.base / "input" / (name or Path(source).name)
        if Path(source).is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        return target.name

    def run(self, prompt: dict, timeout: float = 1800) -> list[Path]:
        """Queue an API-format prompt, wait for it, and return the files its nodes saved (output folder), in
        node id order.

        A prompt /prompt refuses, or one that fails, raises with ComfyUI's own message."""
        status, answer = self.post_json("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})
        if status != 200 or "prompt_id" not in answer:
            raise RuntimeError(f"/prompt refused the workflow (HTTP {status}): {json.dumps(answer)[:2000]}")
        prompt_id, deadline = answer["prompt_id"], time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if history and history.get("status", {}).get("completed") is not None:
                state = history["status"]
                if state.get("status_str") != "success":
                    errors = [m for m in state.get("messages", []) if m[0] == "execution_error"]
                    raise RuntimeError(f"the workflow failed: {json.dumps(errors)[:3000]}")
                saved = []
                for _, output in sorted(history["outputs"].items(), key=lambda item: int(item[0])):
                    for image in output.get("images", []):
                        if image.get("type") == "output":
                            saved.append(self.base / "output" / image.get("subfolder", "") / image["filename"])
                return saved
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI stopped while running the workflow: {self.log_tail()}")
            time.sleep(1)
        raise TimeoutError(f"the workflow did not finish within {timeout:.0f} s")
