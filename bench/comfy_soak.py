"""A soak of the node pack in a real ComfyUI: many prompts over HTTP, interrupts, the server's memory.

Standard library only (any Python 3.9+); the server runs under --python, ComfyUI's own venv. It

1. links this pack into <comfy-dir>/custom_nodes/ and the model files into <comfy-dir>/models/<folder>/
   (upscalers → upscale_models, translator → translation_models, detector → facedetection, face model →
   facerestore_models), starts ``main.py --cpu`` on 127.0.0.1 with scratch input/output/temp/user
   folders (or, with --reuse URL, uses a server already running this pack);
2. queues --prompts prompts (default 200), one at a time, cycling through one "kind" per task node
   use (see build_kinds): every upscaler, the same upscaler again with an alpha mask, core's "Load
   Upscale Model" into our upscale node, translate, restore faces, detect faces. Loaders are shared:
   one loader output feeds two consumers in one prompt, and consecutive prompts use the same model;
3. sends ``POST /interrupt`` (for that prompt id) on every --interrupt-every'th prompt,
   --interrupt-delay after its first task node started (ComfyUI's websocket "executing" event), so
   it lands inside a task node. Those prompts are the same work as the others;
4. after every prompt records its status (success / interrupted / error + message), wall time,
   ComfyUI's execution time, seconds per node (from the websocket's "executing" events; the loaders'
   share shows models loaded again), and the server's VmRSS and VmHWM (/proc/<pid>/status);
5. prints a summary (checks, per-kind times, RSS per cycle) and writes the raw series to --out.

Checks (exit code 1 when one fails, 2 for a setup problem such as a missing file): no prompt fails
except the interrupted ones; the prompt after each interrupt succeeds; RSS from the end of cycle 1
to the end of the last full cycle grows by at most --rss-tolerance-mib or --rss-tolerance-pct,
whichever is larger (reported, PASS/FAIL).

On a CPU shared with other jobs, torch's OpenMP threads spin-wait for each other and small
networks slow down 10-100x at random (RetinaFace on a 64 px image: 5 ms with 1 thread, up to 2 s
with 2 threads beside other jobs); --threads 1 gives steadier times.

The tiny random GFPGAN (there is no real GFPGAN weight offline) is made with the tests' own helper
(tests/helpers/gfpgan.py) under --python when --face-model is "tiny".

    python3 bench/comfy_soak.py --comfy-dir lab/comfy/ComfyUI --python lab/comfy/venv/bin/python \\
        --weights-dir ../shared/weights --threads 1 --side 128 --out lab/soak.json
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

PACK = Path(__file__).resolve().parent.parent
EMBEDDED_UPSCALER = PACK / "gan_models" / "weights" / "ganpost-compact-x4.safetensors"
FACE_IMAGE = PACK / "examples" / "astronaut_crop.png"
# Files looked for in --weights-dir when no explicit path is given (the names of the shared weights).
DEFAULT_NAMES = {
    "upscaler": ["RealESRGAN_x4plus_anime_6B.pth"],
    "translator": "cyclegan_modern2vintage_net_G.pth",
    "detector": "retinaface_mobilenet0.25.pth",
}
FOLDERS = {"upscaler": "upscale_models", "translator": "translation_models", "detector": "facedetection",
           "face_model": "facerestore_models"}
TASK_NODES = {"GanpostUpscaleImage", "GanpostTranslateImage", "GanpostRestoreFaces", "GanpostDetectFaces"}
LOADER_NODES = {"GanpostLoadUpscaleModel", "GanpostLoadTranslator", "GanpostLoadFaceModel", "GanpostLoadFaceDetector",
                "UpscaleModelLoader"}
LINK_NAME = "ganpost"


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class SoakError(Exception):
    pass


# ------------------------------------------------------------------------------------------- HTTP
def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_json(base: str, path: str, payload: dict, timeout: float = 30.0) -> tuple[int, dict]:
    status, body = http("POST", base + path, json.dumps(payload).encode(),
                        {"Content-Type": "application/json"}, timeout)
    try:
        return status, json.loads(body) if body else {}
    except ValueError:
        return status, {"raw": body[:500].decode(errors="replace")}


def get_json(base: str, path: str, timeout: float = 30.0):
    status, body = http("GET", base + path, timeout=timeout)
    if status != 200:
        raise SoakError(f"GET {path} -> HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def alive(base: str) -> bool:
    try:
        return http("GET", base + "/system_stats", timeout=3)[0] == 200
    except OSError:
        return False


def upload(base: str, path: Path) -> str:
    boundary = "----soak" + uuid.uuid4().hex
    ctype = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
            f'Content-Type: {ctype}\r\n\r\n').encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, resp = http("POST", base + "/upload/image", body,
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 200:
        raise SoakError(f"/upload/image -> HTTP {status}: {resp[:300]!r}")
    up = json.loads(resp)
    return f"{up['subfolder']}/{up['name']}" if up.get("subfolder") else up["name"]


class Events:
    """ComfyUI's websocket (/ws?clientId=...) read on a thread: "executing" events of our prompts.

    A minimal RFC 6455 client (text frames, ping/pong, close), enough to see which node of which
    prompt is running, so an interrupt can be sent once a task node has started.
    """

    def __init__(self, port: int, client_id: str):
        import threading
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise SoakError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise SoakError(f"websocket handshake refused: {head[:200]!r}")
        self.sock.settimeout(None)
        self.cond = threading.Condition()
        self.executing: dict[str, list[tuple[str, float]]] = {}  # prompt id → [(node id, monotonic time)]
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _recv(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _send(self, opcode: int, payload: bytes) -> None:  # client frames are masked
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self) -> None:
        try:
            while True:
                b0, b1 = self._recv(2)
                n = b1 & 0x7F
                if n == 126:
                    n = int.from_bytes(self._recv(2), "big")
                elif n == 127:
                    n = int.from_bytes(self._recv(8), "big")
                mask = self._recv(4) if b1 & 0x80 else None
                data = self._recv(n)
                if mask:
                    data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
                opcode = b0 & 0x0F
                if opcode == 8:
                    break
                if opcode == 9:
                    self._send(10, data[:125])
                elif opcode == 1:
                    self._on_text(data)
        except (OSError, EOFError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _on_text(self, data: bytes) -> None:
        msg = json.loads(data)
        if msg.get("type") == "executing":  # node None: the prompt is over
            d = msg.get("data", {})
            node = "" if d.get("node") is None else str(d["node"])
            with self.cond:
                self.executing.setdefault(d.get("prompt_id"), []).append((node, time.monotonic()))
                self.cond.notify_all()

    def wait_node(self, prompt_id: str, nodes: set[str], timeout: float) -> float | None:
        """Monotonic time at which one of ``nodes`` of ``prompt_id`` started (None: it never did in time)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for node, t in self.executing.get(prompt_id, []):
                    if node in nodes:
                        return t
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.5))

    def take(self, prompt_id: str, timeout: float = 2.0) -> tuple[list[tuple[str, float]], float | None]:
        """The (node id, start) of ``prompt_id``'s executed nodes, and when it ended (waits for the end event)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(n == "" for n, _ in self.executing.get(prompt_id, [])) and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            seen = self.executing.pop(prompt_id, [])
        end = next((t for n, t in seen if n == ""), None)
        return [(n, t) for n, t in seen if n], end

    def close(self) -> None:
        try:
            self._send(8, b"")
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------- process memory
def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SoakError(f"/proc/{pid}/status has no {field}")


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1/0.0.0.0:port (ours only), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                        inodes.add(parts[9])
        except OSError:
            continue
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


# ------------------------------------------------------------------------------------- placement
class Placement:
    """Symlinks made for the run; removed again at the end (only the ones this run made)."""

    def __init__(self):
        self.links: list[Path] = []
        self.dirs: list[Path] = []

    def link(self, src: Path, dst: Path) -> None:
        src = src.resolve()
        if dst.is_symlink() and dst.resolve() == src:
            return
        if os.path.lexists(dst):
            raise SoakError(f"{dst} already exists and is not a link to {src}; move it away or pass --reuse")
        missing = []
        d = dst.parent
        while not d.exists():
            missing.append(d)
            d = d.parent
        for m in reversed(missing):
            m.mkdir()
            self.dirs.append(m)
        dst.symlink_to(src)
        self.links.append(dst)

    def cleanup(self) -> None:
        for p in reversed(self.links):
            try:
                p.unlink()
            except OSError as e:
                log(f"could not remove {p}: {e}")
        for d in reversed(self.dirs):
            try:
                d.rmdir()
            except OSError:
                pass


def free_port(start: int) -> int:
    for port in range(start, start + 200):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SoakError(f"no free port from {start}")


class Server:
    def __init__(self, args, scratch: Path):
        self.args, self.scratch = args, scratch
        self.port = free_port(args.port)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        a = self.args
        cmd = [a.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch"]
        for sub in ("input", "output", "temp", "user"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
            cmd += [f"--{sub}-directory", str(self.scratch / sub)]
        if a.only_this_pack:
            cmd += ["--disable-all-custom-nodes", "--whitelist-custom-nodes", LINK_NAME]
        cmd += a.server_arg
        log(f"starting: {' '.join(cmd)} (log {self.log_path})")
        t0 = time.monotonic()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if a.threads:  # torch's intra-op threads (OpenMP) in the server
            env.update(OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(cmd, cwd=a.comfy_dir, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        while time.monotonic() - t0 < a.start_timeout:
            if self.proc.poll() is not None:
                raise SoakError(f"server exited ({self.proc.returncode}) during startup:\n{self.tail(40)}")
            if alive(self.base):
                return time.monotonic() - t0
            time.sleep(0.5)
        raise SoakError(f"server not up after {a.start_timeout}s:\n{self.tail(40)}")

    def tail(self, n: int) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        log(f"server pid {self.proc.pid} stopped ({self.proc.returncode})")


# ------------------------------------------------------------------------------------ workflows
class Graph:
    """An API-format prompt under construction: ``add`` returns the node id."""

    def __init__(self):
        self.nodes: dict[str, dict] = {}

    def add(self, class_type: str, **inputs) -> str:
        nid = str(len(self.nodes) + 1)
        self.nodes[nid] = {"class_type": class_type, "inputs": inputs}
        return nid


def scaled(g: Graph, image: str, side: int) -> str:
    load = g.add("LoadImage", image=image)
    return g.add("ImageScale", image=[load, 0], upscale_method="bicubic", width=side, height=side, crop="disabled")


def preview(g: Graph, node: str, output: int = 0) -> None:
    g.add("PreviewImage", images=[node, output])


def upscale(g: Graph, model: str, image: str, *, tile=0, outscale=0.0, seed=0, mask=None) -> str:
    inputs = dict(model=[model, 0], image=[image, 0], tile=tile, outscale=outscale, precision="auto",
                  alpha_mode="network", seed=seed)
    if mask:
        inputs["mask"] = [mask, 0]
    return g.add("GanpostUpscaleImage", **inputs)


def detect(g: Graph, detector: str, image: str, *, mask_shape: str, crop_size: int) -> str:
    return g.add("GanpostDetectFaces", image=[image, 0], detector=[detector, 0], threshold=0.5, max_faces=0,
                 only_center_face=False, face_index="", mask_shape=mask_shape, crop_size=crop_size)


def kind_upscale(name: str, side: int):
    """One loader, two consumers (at the model's scale, and to ×2)."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        loader = g.add("GanpostLoadUpscaleModel", model_name=name)
        preview(g, upscale(g, loader, img, seed=i))
        preview(g, upscale(g, loader, img, outscale=2.0, seed=i))
    return build


def kind_upscale_alpha(name: str, side: int):
    """The previous prompt's model again (a consecutive prompt) with a constant alpha through the network."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        mask = g.add("SolidMask", value=0.25, width=side, height=side)
        loader = g.add("GanpostLoadUpscaleModel", model_name=name)
        preview(g, upscale(g, loader, img, seed=i, mask=mask))
    return build


def kind_core_loader(name: str, side: int):
    """Core's 'Load Upscale Model' (spandrel) into our upscale node."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        loader = g.add("UpscaleModelLoader", model_name=name)
        preview(g, upscale(g, loader, img, seed=i))
    return build


def kind_translate(name: str, side: int):
    """One translator, two consumers: the model's default test-time behaviour and eval."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        loader = g.add("GanpostLoadTranslator", model_name=name, unet_dropout=True)
        for test_time in ("model default", "eval"):
            preview(g, g.add("GanpostTranslateImage", translator=[loader, 0], image=[img, 0], direction="AtoB",
                             size_mode="pad", train_size=256, test_time=test_time, seed=i, tile=0,
                             precision="auto"))
    return build


def kind_restore(face: str, detector: str, background: str, side: int):
    """Restore Faces with a background upscaler; the detector also feeds Detect Faces (two consumers)."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        fm = g.add("GanpostLoadFaceModel", model_name=face)
        det = g.add("GanpostLoadFaceDetector", model_name=detector)
        up = g.add("GanpostLoadUpscaleModel", model_name=background)
        restored = g.add("GanpostRestoreFaces", image=[img, 0], face_model=[fm, 0], detector=[det, 0],
                         upscale_model=[up, 0], upscale=2.0, strength=1.0, threshold=0.5, max_faces=0,
                         only_center_face=False, face_index="", color_fix="wavelet", paste="soft", seed=i + 1,
                         precision="auto")
        preview(g, restored, 0)
        preview(g, restored, 1)
        faces = detect(g, det, img, mask_shape="box", crop_size=64)
        preview(g, faces, 1)
    return build


def kind_detect(detector: str, side: int):
    """The previous prompt's detector again (a consecutive prompt), alone."""
    def build(g: Graph, m: dict, i: int) -> None:
        img = scaled(g, m["image"], side)
        det = g.add("GanpostLoadFaceDetector", model_name=detector)
        faces = detect(g, det, img, mask_shape="ellipse", crop_size=128)
        preview(g, faces, 1)
        g.add("PreviewImage", images=[g.add("MaskToImage", mask=[faces, 0]), 0])
    return build


def build_kinds(names: dict, side: int) -> list[tuple[str, object]]:
    ups = names["upscaler"]
    kinds = [(f"upscale[{n}] x2 consumers", kind_upscale(n, side)) for n in ups]
    kinds.insert(1, (f"upscale[{ups[0]}] again, alpha", kind_upscale_alpha(ups[0], side)))
    kinds.append((f"core loader[{ups[-1]}] -> upscale", kind_core_loader(ups[-1], side)))
    if names.get("translator"):
        kinds.append((f"translate[{names['translator']}] x2 consumers", kind_translate(names["translator"], side)))
    if names.get("face_model") and names.get("detector"):
        kinds.append(("restore faces (+ detect, shared detector)",
                      kind_restore(names["face_model"], names["detector"], ups[0], side)))
    if names.get("detector"):
        kinds.append(("detect faces (same detector again)", kind_detect(names["detector"], side)))
    return kinds


# ---------------------------------------------------------------------------------- one prompt
def wait_done(base: str, prompt_id: str, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = get_json(base, f"/history/{prompt_id}").get(prompt_id)
        if entry and (entry.get("status", {}).get("completed")
                      or entry.get("status", {}).get("status_str") in ("success", "error")):
            return entry
        time.sleep(0.02)
    return None


def outcome(entry: dict | None) -> dict:
    if entry is None:
        return {"status": "timeout"}
    st = entry.get("status", {})
    msgs = {ev: data for ev, data in st.get("messages", [])}
    exec_s = None
    if "execution_start" in msgs:
        end = msgs.get("execution_success") or msgs.get("execution_interrupted") or msgs.get("execution_error")
        if end and "timestamp" in end:
            exec_s = (end["timestamp"] - msgs["execution_start"]["timestamp"]) / 1000
    cached = msgs.get("execution_cached", {}).get("nodes", [])
    if "execution_interrupted" in msgs:
        d = msgs["execution_interrupted"]
        return {"status": "interrupted", "node_type": d.get("node_type"), "exec_s": exec_s, "cached": cached}
    if "execution_error" in msgs or st.get("status_str") == "error":
        d = msgs.get("execution_error", {})
        tb = "".join(d.get("traceback") or [])[-1500:]
        return {"status": "error", "node_type": d.get("node_type"), "exec_s": exec_s, "cached": cached,
                "message": f"{d.get('exception_type')}: {str(d.get('exception_message', '')).strip()}",
                "traceback": tb}
    return {"status": "success", "exec_s": exec_s, "cached": cached}


def run_prompt(base: str, events: Events, client_id: str, graph: Graph, interrupt_after: float | None,
               timeout: float) -> dict:
    """Queue ``graph``, optionally interrupt it ``interrupt_after`` s after its first task node starts, wait."""
    t0 = time.monotonic()
    status, resp = post_json(base, "/prompt", {"prompt": graph.nodes, "client_id": client_id})
    if status != 200 or "prompt_id" not in resp:
        return {"status": "rejected", "message": json.dumps(resp)[:2000], "wall_s": time.monotonic() - t0}
    pid = resp["prompt_id"]
    sent = None
    if interrupt_after is not None:
        tasks = {nid for nid, n in graph.nodes.items() if n["class_type"] in TASK_NODES}
        started = events.wait_node(pid, tasks, timeout)
        if started is not None:
            time.sleep(max(0.0, started + interrupt_after - time.monotonic()))
            post_json(base, "/interrupt", {"prompt_id": pid})
            sent = round(time.monotonic() - started, 3)
    entry = wait_done(base, pid, timeout)
    result = {"prompt_id": pid, **outcome(entry), "wall_s": round(time.monotonic() - t0, 3)}
    ran, finished = events.take(pid) if entry is not None else ([], None)
    ran = [(n, t) for n, t in ran if n in graph.nodes]
    result["nodes_started"] = [(graph.nodes[n]["class_type"], round(t - t0, 3)) for n, t in ran]
    # seconds per node type: from its "executing" event to the next one (the last one: to the end)
    ends = [t for _, t in ran[1:]] + [finished or t0 + result["wall_s"]]
    node_s: dict[str, float] = {}
    for (n, t), end in zip(ran, ends):
        kind = graph.nodes[n]["class_type"]
        node_s[kind] = round(node_s.get(kind, 0.0) + end - t, 3)
    result["node_s"] = node_s
    result["loader_s"] = round(sum(v for k, v in node_s.items() if k in LOADER_NODES), 3)
    if interrupt_after is not None:
        result["interrupt_sent_after_task_start_s"] = sent
    if entry is None:  # bounded: drop it and move on
        post_json(base, "/queue", {"delete": [pid]})
        post_json(base, "/interrupt", {"prompt_id": pid})
    return result


# ------------------------------------------------------------------------------------- inputs
def make_tiny_gfpgan(python: str, dst: Path) -> None:
    """A tiny random GFPGANv1Clean through the tests' helper, run by ComfyUI's interpreter (it has torch)."""
    code = (
        "import os, sys, tempfile, torch\n"
        "root = tempfile.mkdtemp(); os.symlink(sys.argv[1], os.path.join(root, 'ganpost'))\n"
        "sys.path[:0] = [root, os.path.join(sys.argv[1], 'tests')]\n"
        "torch.manual_seed(0)\n"
        "from helpers.gfpgan import tiny_gfpgan\n"
        "torch.save({'params_ema': tiny_gfpgan().state_dict()}, sys.argv[2])\n"
    )
    subprocess.run([python, "-c", code, str(PACK), str(dst)], check=True)


def resolve_models(a) -> tuple[dict[str, list[Path] | Path | None], list[str]]:
    """Paths per role, and a line per missing file (what it is, which argument gives it)."""
    wdir = Path(a.weights_dir) if a.weights_dir else None
    missing = []

    def pick(role: str, given: str | None, name: str | None) -> Path | None:
        if given:
            p = Path(given)
        elif wdir and name:
            p = wdir / name
        else:
            missing.append(f"{role}: none given (--{role.replace('_', '-')} PATH, or --weights-dir with {name})")
            return None
        if not p.is_file():
            missing.append(f"{role}: {p} not found (--{role.replace('_', '-')} PATH)")
            return None
        return p

    ups = [Path(u) for u in a.upscaler] if a.upscaler else \
        [EMBEDDED_UPSCALER] + [p for p in (pick("upscaler", None, n) for n in DEFAULT_NAMES["upscaler"]) if p]
    for u in ups:
        if not u.is_file():
            missing.append(f"upscaler: {u} not found (--upscaler PATH)")
    ups = [u for u in ups if u.is_file()]
    face = None
    if a.face_model == "tiny":  # seeded, kept beside the checkout: the same file (and link) on every run
        face = Path(a.comfy_dir).parent / "ganpost_soak" / "GFPGANv1Clean_tiny_random.pth"
        if not face.is_file():
            face.parent.mkdir(parents=True, exist_ok=True)
            make_tiny_gfpgan(a.python, face)
    else:
        face = pick("face_model", a.face_model, None)
    return {"upscaler": ups, "translator": pick("translator", a.translator, DEFAULT_NAMES["translator"]),
            "detector": pick("detector", a.detector, DEFAULT_NAMES["detector"]), "face_model": face}, missing


# --------------------------------------------------------------------------------------- report
def summarise(records: list[dict], n_kinds: int, kinds: list[str], a) -> tuple[dict, bool]:
    failures = [r for r in records
                if r["status"] != "success" and not (r["interrupt"] and r["status"] == "interrupted")]
    after = []
    for r in records:
        if r["interrupt"] and r["index"] + 1 < len(records):
            nxt = records[r["index"] + 1]
            after.append({"interrupted": r["index"], "its_status": r["status"], "next": nxt["index"],
                          "next_status": nxt["status"]})
    after_ok = all(x["next_status"] == "success" for x in after)
    cycles = len(records) // n_kinds
    cycle_end = [records[(c + 1) * n_kinds - 1]["rss_mib"] for c in range(cycles)]
    cycle_s = [round(sum(r["wall_s"] for r in records[c * n_kinds:(c + 1) * n_kinds]), 2) for c in range(cycles)]
    first, last = (cycle_end[0], cycle_end[-1]) if cycles >= 2 else (None, None)
    growth = None if first is None else round(last - first, 1)
    pct = None if first is None else round(100 * (last - first) / first, 2)
    allowed = None if first is None else max(a.rss_tolerance_mib, first * a.rss_tolerance_pct / 100)
    rss_ok = None if growth is None else growth <= allowed  # None: fewer than two full cycles, not judged
    slope = None
    if cycles >= 3:  # least squares over cycles 2..end: MiB per cycle
        xs, ys = list(range(1, cycles)), cycle_end[1:]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs), 2)
    per_kind = {}
    for k, name in enumerate(kinds):
        rs = [r for r in records if r["kind"] == k and not r["interrupt"] and r["status"] == "success"]
        if rs:
            per_kind[name] = {"n": len(rs), "median_wall_s": round(statistics.median(r["wall_s"] for r in rs), 3),
                              "median_exec_s": round(statistics.median(r["exec_s"] or 0 for r in rs), 3),
                              "median_loader_s": round(statistics.median(r.get("loader_s") or 0 for r in rs), 3),
                              "total_loader_s": round(sum(r.get("loader_s") or 0 for r in rs), 2),
                              "max_wall_s": round(max(r["wall_s"] for r in rs), 3)}
    counts = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    interrupts = [r for r in records if r["interrupt"]]
    summary = {
        "prompts": len(records), "kinds_per_cycle": n_kinds, "full_cycles": cycles, "status_counts": counts,
        "interrupts_sent": len(interrupts),
        "interrupts_landed": sum(r["status"] == "interrupted" for r in interrupts),
        "interrupted_in": sorted({str(r.get("node_type")) for r in interrupts if r["status"] == "interrupted"}),
        "failures": [{k: r.get(k) for k in ("index", "kind_name", "status", "node_type", "message", "traceback")}
                     for r in failures],
        "after_interrupt": after,
        "rss_mib": {"before_first": records[0]["rss_before_mib"] if records else None,
                    "after_prompt_1": records[0]["rss_mib"] if records else None,
                    "cycle_end": cycle_end, "end_cycle_1": first, "end_last_cycle": last,
                    "final": records[-1]["rss_mib"] if records else None,
                    "peak_hwm": max(r["hwm_mib"] for r in records) if records else None,
                    "growth_mib": growth, "growth_pct": pct, "allowed_mib": allowed and round(allowed, 1),
                   "cycle_end_range_from_cycle_2": [min(cycle_end[1:]), max(cycle_end[1:])] if cycles >= 2 else None,
                    "slope_mib_per_cycle_from_cycle_2": slope},
        "time_s": {"total_wall": round(sum(r["wall_s"] for r in records), 1), "per_cycle": cycle_s,
                   "median_wall_per_prompt": round(statistics.median(r["wall_s"] for r in records), 3)
                   if records else None,
                   "per_kind": per_kind},
        "checks": {"no_failures_except_interrupted": not failures, "prompt_after_each_interrupt_succeeds": after_ok,
                   "rss_flat_after_cycle_1": rss_ok},
    }
    return summary, (not failures) and after_ok and rss_ok is not False


def print_summary(s: dict, a) -> None:
    r = s["rss_mib"]
    print()
    print(f"ComfyUI soak: {s['prompts']} prompts, {s['kinds_per_cycle']} kinds per cycle, {s['full_cycles']} full "
          f"cycles; statuses {s['status_counts']}")
    print(f"interrupts: {s['interrupts_sent']} sent, {s['interrupts_landed']} landed "
          f"(in {', '.join(s['interrupted_in']) or '-'})")
    print()
    print("| kind | prompts | median wall s | median exec s | max wall s | loaders: median s, total s |")
    print("|---|---|---|---|---|---|")
    for name, k in s["time_s"]["per_kind"].items():
        print(f"| {name} | {k['n']} | {k['median_wall_s']} | {k['median_exec_s']} | {k['max_wall_s']} | "
              f"{k['median_loader_s']}, {k['total_loader_s']} |")
    print()
    ce = r["cycle_end"]
    print("| RSS (MiB) | value |")
    print("|---|---|")
    print(f"| before the first prompt | {r['before_first']} |")
    print(f"| after prompt 1 | {r['after_prompt_1']} |")
    print(f"| end of cycle 1 | {r['end_cycle_1']} |")
    for c in range(1, len(ce)):
        if c < 4 or c % 5 == 4 or c == len(ce) - 1:
            print(f"| end of cycle {c + 1} | {ce[c]} |")
    print(f"| after the last prompt | {r['final']} |")
    print(f"| peak (VmHWM) | {r['peak_hwm']} |")
    print(f"| growth, end of cycle 1 → end of cycle {len(ce)} | {r['growth_mib']} MiB ({r['growth_pct']} %) |")
    print(f"| cycle ends from cycle 2: min, max | {r['cycle_end_range_from_cycle_2']} |")
    print(f"| slope from cycle 2 (least squares) | {r['slope_mib_per_cycle_from_cycle_2']} MiB/cycle |")
    cs = s["time_s"]["per_cycle"]
    if cs:
        print(f"\ntime per cycle ({s['kinds_per_cycle']} prompts): first {cs[0]} s, median {statistics.median(cs)} s, "
              f"last {cs[-1]} s; total {s['time_s']['total_wall']} s, median per prompt "
              f"{s['time_s']['median_wall_per_prompt']} s")
    print()
    for f in s["failures"]:
        print(f"FAILED prompt {f['index']} ({f['kind_name']}): {f['status']} in {f.get('node_type')}: "
              f"{f.get('message')}")
        if f.get("traceback"):
            print("  " + f["traceback"].strip().replace("\n", "\n  ")[-1200:])
    c = s["checks"]
    word = lambda ok: "n/a (fewer than two full cycles)" if ok is None else "PASS" if ok else "FAIL"  # noqa: E731
    print(f"{word(c['no_failures_except_interrupted'])}: no prompt failed except the interrupted ones")
    print(f"{word(c['prompt_after_each_interrupt_succeeds'])}: the prompt after each interrupt succeeded "
          f"({sum(x['next_status'] == 'success' for x in s['after_interrupt'])}/{len(s['after_interrupt'])})")
    print(f"{word(c['rss_flat_after_cycle_1'])}: RSS growth after cycle 1 {r['growth_mib']} MiB ({r['growth_pct']} %) "
          f"<= max({a.rss_tolerance_mib} MiB, {a.rss_tolerance_pct} %) = {r['allowed_mib']} MiB")


# ------------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--comfy-dir", required=True, help="ComfyUI checkout (has main.py)")
    p.add_argument("--python", default=sys.executable, help="ComfyUI's interpreter (its venv)")
    p.add_argument("--weights-dir", help=f"where to find the default files: {DEFAULT_NAMES}")
    p.add_argument("--upscaler", action="append", default=[],
                   help="an upscaler file (repeatable; default: the embedded ganpost-compact-x4 and "
                        "RealESRGAN_x4plus_anime_6B.pth from --weights-dir). The first is also the background "
                        "upscaler of Restore Faces, the last goes through core's loader")
    p.add_argument("--translator", help="a pix2pix/CycleGAN generator file")
    p.add_argument("--detector", help="a RetinaFace detector file")
    p.add_argument("--face-model", default="tiny", help="a GFPGAN file, or 'tiny' (a tiny random GFPGANv1Clean "
                                                         "made with tests/helpers/gfpgan.py; default)")
    p.add_argument("--allow-missing", action="store_true", help="drop the prompt kinds whose files are missing")
    p.add_argument("--image", default=str(FACE_IMAGE), help="input image (a face)")
    p.add_argument("--side", type=int, default=64, help="image side (the input is resized to side × side)")
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--interrupt-every", type=int, default=20, help="interrupt prompts n-1, 2n-1, ... (0 = never)")
    p.add_argument("--interrupt-delay", type=float, default=0.05,
                   help="seconds between the first task node starting (websocket 'executing') and the interrupt")
    p.add_argument("--prompt-timeout", type=float, default=300.0)
    p.add_argument("--max-minutes", type=float, default=90.0, help="stop queueing after this long")
    p.add_argument("--rss-tolerance-mib", type=float, default=50.0)
    p.add_argument("--rss-tolerance-pct", type=float, default=5.0)
    p.add_argument("--port", type=int, default=8190, help="first port to try")
    p.add_argument("--reuse", metavar="URL", help="use this running server (with this pack and the models in "
                                                  "place) instead of starting one; its pid is looked up")
    p.add_argument("--only-this-pack", action="store_true", help="start with only this pack's custom nodes")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the server (default: torch's, one per core). "
                                               "On a CPU shared with other jobs, 1 avoids OpenMP spin-waits")
    p.add_argument("--server-arg", action="append", default=[], help="extra argument for main.py (repeatable)")
    p.add_argument("--start-timeout", type=float, default=300.0)
    p.add_argument("--keep", action="store_true", help="leave the server, links and scratch folder in place")
    p.add_argument("--out", required=True, help="JSON with the raw series and the summary")
    a = p.parse_args(argv)
    a.comfy_dir = os.path.abspath(a.comfy_dir)
    if os.sep in a.python:
        a.python = os.path.abspath(a.python)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if not os.path.isfile(os.path.join(a.comfy_dir, "main.py")):
        log(f"{a.comfy_dir} has no main.py")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="soak_", dir=os.path.dirname(a.comfy_dir)))
    placement, server, events = Placement(), None, None
    try:
        paths, missing = resolve_models(a)
        if missing:
            log("missing model files:\n  " + "\n  ".join(missing))
            if not a.allow_missing or not paths["upscaler"]:
                log("give the files (or --allow-missing to drop the kinds that need them)")
                return 2
        models = Path(a.comfy_dir) / "models"
        names: dict = {"upscaler": []}
        for role, value in paths.items():
            for p in (value if isinstance(value, list) else [value] if value else []):
                placement.link(p, models / FOLDERS[role] / p.name)
                if role == "upscaler":
                    names["upscaler"].append(p.name)
                else:
                    names[role] = p.name
        placement.link(PACK, Path(a.comfy_dir) / "custom_nodes" / LINK_NAME)
        kinds = build_kinds(names, a.side)

        if a.reuse:
            base = a.reuse.rstrip("/")
            if not alive(base):
                raise SoakError(f"no server at {base}")
            pid = listening_pid(int(base.rsplit(":", 1)[1]))
            if pid is None:
                raise SoakError(f"cannot find the pid listening at {base} (not ours?)")
            startup = None
        else:
            server = Server(a, scratch)
            startup = server.start()
            base, pid = server.base, server.proc.pid
            log(f"server pid {pid} up after {startup:.1f}s at {base}")
        info = get_json(base, "/object_info", timeout=120)
        wanted = {n["class_type"] for k in kinds for n in _dry(k[1]).values()}
        lacking = sorted(wanted - set(info))
        if lacking:
            raise SoakError(f"the server lacks nodes {lacking}" + (f"; log:\n{server.tail(60)}" if server else ""))
        image = upload(base, Path(a.image))
        client_id = "ganpost-soak-" + uuid.uuid4().hex
        events = Events(int(base.rsplit(":", 1)[1]), client_id)
        models_info = {role: [str(p) for p in v] if isinstance(v, list) else (str(v) if v else None)
                       for role, v in paths.items()}
        log(f"{len(kinds)} kinds per cycle; models: {json.dumps(models_info)}")
        for k, (name, _) in enumerate(kinds):
            log(f"  kind {k}: {name}")

        records: list[dict] = []
        t_start = time.monotonic()
        for i in range(a.prompts):
            if time.monotonic() - t_start > a.max_minutes * 60:
                log(f"--max-minutes {a.max_minutes} reached after {i} prompts")
                break
            k = i % len(kinds)
            interrupt = bool(a.interrupt_every) and i % a.interrupt_every == a.interrupt_every - 1
            g = Graph()
            kinds[k][1](g, {"image": image}, i)
            rss_before = status_kib(pid, "VmRSS")
            r = run_prompt(base, events, client_id, g, a.interrupt_delay if interrupt else None, a.prompt_timeout)
            r.update(index=i, cycle=i // len(kinds), kind=k, kind_name=kinds[k][0], interrupt=interrupt,
                     side=a.side, load1=round(os.getloadavg()[0], 2), rss_before_mib=mib(rss_before),
                     rss_mib=mib(status_kib(pid, "VmRSS")), hwm_mib=mib(status_kib(pid, "VmHWM")))
            records.append(r)
            flag = (f" (interrupt sent {r.get('interrupt_sent_after_task_start_s')}s after the task node started"
                    f"{', in ' + str(r.get('node_type')) if r['status'] == 'interrupted' else ''})"
                    if interrupt else "")
            failed = r["status"] not in ("success", "interrupted")
            extra = f" {r.get('node_type')}: {r.get('message')}" if failed else ""
            log(f"{i + 1:3d}/{a.prompts} {kinds[k][0]:<45s} {r['status']:<11s} {r['wall_s']:6.2f}s "
                f"RSS {r['rss_mib']:7.1f} MiB{flag}{extra}")

        summary, ok = summarise(records, len(kinds), [n for n, _ in kinds], a)
        env = {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
               "load_avg_end": os.getloadavg(), "comfyui": _comfy_version(a.comfy_dir),
               "server_startup_s": startup and round(startup, 1), "server_pid": pid, "models": models_info,
               "missing": missing, "kinds": [n for n, _ in kinds],
               "args": {k: v for k, v in vars(a).items()}}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "w") as f:
            json.dump({"env": env, "summary": summary, "records": records}, f, indent=1, default=str)
        print_summary(summary, a)
        print(f"\nCPU: {env['cpu']}, {env['cores']} cores; load average at the end {env['load_avg_end']}; "
              f"ComfyUI {env['comfyui']}; raw series in {a.out}")
        return 0 if ok else 1
    except SoakError as err:
        log(f"FAILED: {err}")
        return 2
    finally:
        if events is not None:
            events.close()
        if not a.keep:
            if server is not None:
                server.stop()
            placement.cleanup()
            if server is not None and server.proc and server.proc.poll() is None:
                log(f"server still running; scratch kept at {scratch}")
            else:
                _rmtree(scratch)
        else:
            log(f"kept: server {server and server.base}, scratch {scratch}")


def _dry(build) -> dict:
    g = Graph()
    build(g, {"image": "x.png"}, 0)
    return g.nodes


def _rmtree(path: Path) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _comfy_version(comfy_dir: str) -> str | None:
    try:
        text = Path(comfy_dir, "comfyui_version.py").read_text()
        return text.split('"')[1]
    except (OSError, IndexError):
        return None


if __name__ == "__main__":
    sys.exit(main())
