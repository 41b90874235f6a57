"""Bad and hostile inputs through the ``ganpost`` command line, one child process each.

    python bench/hostile_inputs.py [--only WORD] [--keep DIR]

Every case is made here (no downloads, no shared weights): missing, empty, truncated and disguised
files, decompression bombs, a FIFO and /dev/zero, a pickle that would run a command, checkpoints of
the wrong kind, absurd options and sizes, training folders that hold other work. Each child runs
under a 12 GiB address-space limit (a missed size check fails fast instead of taking the machine)
and a time limit.

A case passes when the command does what a user should get:
- refused: exit status 1, exactly one ``ganpost: error:`` line (a batch: one per failed file), no
  traceback, no output file left, nothing that was there before changed, no payload run;
- ok: exit status 0 and its output written (edge cases that must work, not be refused).
Prints one row per case and the totals; exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 180
ADDRESS_SPACE = 12 << 30


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str = "refused"  # or "ok"
    outputs: list[Path] = field(default_factory=list)
    """Files that must exist afterwards (ok) or must not (refused)."""
    untouched: list[Path] = field(default_factory=list)
    """Folders whose files must be byte-identical before and after."""
    marker: Path | None = None
    """A file a malicious payload would create."""
    errors: int = 1


# ------------------------------------------------------------------------------ making the inputs
def png(path: Path, size=(24, 20), mode="RGB") -> Path:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = (size[1], size[0], channels) if channels else (size[1], size[0])
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(path)
    return path


def png_bomb(path: Path, side: int) -> Path:
    """A whole, valid RGB PNG of ``side``×``side`` black pixels: about 3 MB for 30000 px, 2.7 GB once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer, row, parts = zlib.compressobj(9), b"\0" * (1 + 3 * side), []
    for _ in range(side):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) +
                     chunk(b"IEND", b""))
    return path


def png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width``×``height`` (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + 3 * min(width, 4096)) * 8)  # a few rows; the rest would inflate from zeros
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


class Payload:
    """Unpickling this runs ``touch <marker>``: what a malicious .pth would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious_pth(path: Path, marker: Path) -> Path:
    buffer = io.BytesIO()
    torch.save({"params": {"conv.weight": torch.zeros(1)}, "x": Payload(marker)}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def translator_file(path: Path) -> Path:
    from ganpost.gan_models.pix2pix.resnet import ResnetGenerator

    torch.save(ResnetGenerator(num_feat=8, num_blocks=1).state_dict(), path)
    return path


def upscaler_file(path: Path) -> Path:
    from ganpost.gan_models.realesrgan.srvgg import SRVGGNetCompact

    torch.save({"params_ema": SRVGGNetCompact(3, 3, num_feat=8, num_conv=2, upscale=2).state_dict()}, path)
    return path


def training_run(folder: Path, photos: Path) -> Path:
    """A finished 1-step run, made once and copied where a case needs one."""
    _ganpost(["train", "realesrgan", "--data", str(photos), "--preset", "compact-x4-clean", "--output", str(folder),
              "--steps", "1", "--batch-size", "2", "--gt-size", "32", "--set", "generator.num_feat=8",
              "--set", "generator.num_conv=2"])
    return folder


def make_cases(work: Path) -> list[Case]:
    w = work
    (w / "out").mkdir()
    photo = png(w / "photo.png")
    photos = w / "photos"
    photos.mkdir()
    for i in range(3):
        png(photos / f"{i}.png", (48, 48))
    empty_dir = w / "empty_dir"
    empty_dir.mkdir()
    (w / "zero.png").write_bytes(b"")
    (w / "text.png").write_text("this is not an image\n")
    whole = photo.read_bytes()
    (w / "truncated.png").write_bytes(whole[: len(whole) // 2])
    Image.open(photo).save(w / "photo.jpg", quality=90)
    jpeg = (w / "photo.jpg").read_bytes()
    (w / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    png_bomb(w / "bomb_30k.png", 30000)
    png_header(w / "bomb_100k.png", 100000, 100000)
    png(w / "wide.png", (12000, 12000 // 12000))  # 12000×1 works
    png(w / "one.png", (1, 1))
    fifo = w / "fifo.png"
    os.mkfifo(fifo)
    mixed = w / "mixed"
    mixed.mkdir()
    png(mixed / "a.png")
    (mixed / "b.png").write_text("broken")
    png(mixed / "c.png")
    marker = w / "PAYLOAD_RAN"
    malicious_pth(w / "evil.pth", marker)
    (w / "zero.pth").write_bytes(b"")
    (w / "text.pth").write_text("not a checkpoint")
    good = upscaler_file(w / "good.pth")
    (w / "truncated.pth").write_bytes(good.read_bytes()[:300])
    translator = translator_file(w / "translator.pth")
    header = b'{"x": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}'
    (w / "lying.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    (w / "existing.png").write_bytes(b"keep")
    run = training_run(w / "saved_run", photos)
    foreign = w / "foreign"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("years of work")
    (w / "bad.toml").write_text("[data\ntrain_dir = ")
    corrupt_run = w / "corrupt_run"
    training_run(corrupt_run, photos)
    state = corrupt_run / "state/latest.state"
    state.write_bytes(state.read_bytes()[:1000])
    empty_run = w / "empty_state_run"
    training_run(empty_run, photos)
    (empty_run / "state/latest.state").write_bytes(b"")
    bad_photos = w / "bad_photos"
    bad_photos.mkdir()
    (bad_photos / "a.png").write_text("nope")
    (bad_photos / "b.jpg").write_bytes(b"")

    out = w / "out"
    shared_detector = ROOT.parent / "shared/weights/retinaface_mobilenet0.25.pth"
    detector = ["--detector", str(shared_detector)] if shared_detector.is_file() else []

    def up(name, *args, expect="refused", output=None, **kw):
        target = output or out / f"{name}.png"
        return Case(f"upscale: {name}", ["upscale", *map(str, args), "-o", str(target)], expect,
                    outputs=[target] if not str(target).endswith("/") else [], **kw)

    train = ["train", "realesrgan", "--preset", "compact-x4-clean", "--steps", "1", "--batch-size", "2",
             "--gt-size", "32", "--set", "generator.num_feat=8", "--set", "generator.num_conv=2"]

    def tr(name, *args, untouched=(), **kw):
        return Case(f"train: {name}", [*train, *map(str, args)], untouched=list(untouched), **kw)

    return [
        up("missing file", w / "nope.png"),
        up("folder without images", empty_dir, output=out / "from_empty"),
        up("zero-byte png", w / "zero.png"),
        up("text named .png", w / "text.png"),
        up("truncated png", w / "truncated.png"),
        up("truncated jpeg", w / "truncated.jpg"),
        up("30000x30000 png bomb", w / "bomb_30k.png"),
        up("100000x100000 png bomb", w / "bomb_100k.png"),
        up("/dev/zero", "/dev/zero"),
        up("a FIFO", fifo),
        up("a 1x1 image", w / "one.png", expect="ok"),
        up("a 12000x1 image", w / "wide.png", expect="ok"),
        Case("upscale: one bad file in a folder", ["upscale", str(mixed), "-o", str(out / "mixed_out")], "refused",
             outputs=[], errors=1),
        Case("upscale: output exists", ["upscale", str(photo), "-o", str(w / "existing.png")],
             untouched=[w / "existing.png"]),
        up("gif output", photo, output=out / "x.gif"),
        up("output in /proc", photo, output=Path("/proc/ganpost_out.png")),
        up("--ext bogus", photo, "--ext", "xyz", output=out / "extdir"),
        up("--model missing", photo, "--model", w / "missing.pth"),
        up("--model zero bytes", photo, "--model", w / "zero.pth"),
        up("--model text file", photo, "--model", w / "text.pth"),
        up("--model malicious pickle", photo, "--model", w / "evil.pth", marker=marker),
        up("--model truncated zip", photo, "--model", w / "truncated.pth"),
        up("--model lying safetensors", photo, "--model", w / "lying.safetensors"),
        up("--model a translator", photo, "--model", translator),
        up("--model unknown name offline", photo, "--model", "NoSuchModel_x4", "--offline"),
        up("--tile 1", photo, "--tile", "1"),
        up("--tile -5", photo, "--tile", "-5"),
        up("--tile abc", photo, "--tile", "abc"),
        up("--outscale 0", photo, "--outscale", "0"),
        up("--outscale nan", photo, "--outscale", "nan"),
        up("--outscale 1e9", photo, "--outscale", "1e9"),
        up("--size 0x0", photo, "--size", "0x0"),
        up("--size 99999999x99999999", photo, "--size", "99999999x99999999"),
        up("--size 40000x40000", photo, "--size", "40000x40000"),
        up("--precision fp8", photo, "--precision", "fp8"),
        up("--device cuda", photo, "--device", "cuda"),
        up("--device tpu", photo, "--device", "tpu"),
        up("--max-pixels -1", photo, "--max-pixels", "-1"),
        up("--seed abc", photo, "--seed", "abc"),
        up("--denoise-strength 2", photo, "--denoise-strength", "2"),
        Case("restore-faces: an upscaler as restorer", ["restore-faces", str(photo), "-o", str(out / "rf1.png"),
                                                         "--model", str(good), *detector], outputs=[out / "rf1.png"]),
        Case("restore-faces: default models, no network", ["restore-faces", str(photo), "-o", str(out / "rf2.png"),
                                                            "--detector", str(w / "missing.pth")],
             outputs=[out / "rf2.png"]),
        Case("restore-faces: --threshold 2", ["restore-faces", str(photo), "-o", str(out / "rf3.png"),
                                              "--threshold", "2"], outputs=[out / "rf3.png"]),
        Case("restore-faces: --model missing", ["restore-faces", str(photo), "-o", str(out / "rf4.png"),
                                                "--model", str(w / "missing.pth"), *detector],
             outputs=[out / "rf4.png"]),
        Case("translate: an upscaler as translator", ["translate", str(photo), "-o", str(out / "t1.png"),
                                                      "--model", str(good)], outputs=[out / "t1.png"]),
        Case("translate: BtoA without --model-b", ["translate", str(photo), "-o", str(out / "t2.png"),
                                                   "--model", str(translator), "--direction", "BtoA"],
             outputs=[out / "t2.png"]),
        Case("translate: malicious pickle", ["translate", str(photo), "-o", str(out / "t3.png"),
                                             "--model", str(w / "evil.pth")], outputs=[out / "t3.png"], marker=marker),
        tr("--data missing", "--data", w / "nope", "--output", out / "r1", outputs=[out / "r1"]),
        tr("--data empty", "--data", empty_dir, "--output", out / "r2", outputs=[out / "r2"]),
        tr("--data only broken images", "--data", bad_photos, "--output", out / "r3", outputs=[out / "r3"]),
        tr("--output is --data", "--data", photos, "--output", photos, untouched=[photos]),
        tr("--output inside --data", "--data", photos, "--output", photos / "run", untouched=[photos]),
        tr("new run over a saved run", "--data", photos, "--output", run, untouched=[run]),
        tr("new run into someone's folder", "--data", photos, "--output", foreign, untouched=[foreign]),
        tr("--resume without a state", "--data", photos, "--output", out / "r4", "--resume", outputs=[out / "r4"]),
        tr("--resume a truncated state", "--output", corrupt_run, "--resume", untouched=[corrupt_run]),
        tr("--resume an empty state", "--output", empty_run, "--resume", untouched=[empty_run]),
        tr("--device cuda", "--data", photos, "--output", out / "r5", "--device", "cuda", outputs=[out / "r5"]),
        tr("--set unknown.key=1", "--data", photos, "--output", out / "r6", "--set", "unknown.key=1",
           outputs=[out / "r6"]),
        tr("--set optim.lr_g=-1", "--data", photos, "--output", out / "r7", "--set", "optim.lr_g=-1",
           outputs=[out / "r7"]),
        tr("--steps 0", "--data", photos, "--output", out / "r8", "--steps", "0", outputs=[out / "r8"]),
        tr("--config malformed toml", "--data", photos, "--output", out / "r9", "--config", w / "bad.toml",
           outputs=[out / "r9"]),
        tr("--config missing", "--data", photos, "--output", out / "r10", "--config", w / "nope.toml",
           outputs=[out / "r10"]),
        tr("--pretrained malicious pickle", "--data", photos, "--output", out / "r11", "--pretrained",
           w / "evil.pth", outputs=[out / "r11"], marker=marker),
        tr("--preset bogus", "--data", photos, "--output", out / "r12", "--preset", "bogus", outputs=[out / "r12"]),
        tr("--batch-size 0", "--data", photos, "--output", out / "r13", "--batch-size", "0", outputs=[out / "r13"]),
    ]


# ------------------------------------------------------------------------------ running them
def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _ganpost(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganpost", *argv], capture_output=True, text=True,
                          timeout=TIMEOUT_S, preexec_fn=_limits, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          stdin=subprocess.DEVNULL)


def _snapshot(folders: list[Path]) -> dict:
    files = [p for f in folders for p in ([f] if f.is_file() else sorted(f.rglob("*")))]
    return {p: p.read_bytes() for p in files if p.is_file() and p.name != ".ganpost-run.lock"}


def judge(case: Case) -> tuple[bool, str, float]:
    before = _snapshot(case.untouched)
    started = time.perf_counter()
    try:
        done = _ganpost(case.argv)
    except subprocess.TimeoutExpired:
        return False, f"no answer in {TIMEOUT_S} s", TIMEOUT_S
    seconds = time.perf_counter() - started
    err = done.stderr
    errors = [line for line in err.splitlines() if line.startswith("ganpost: error:") or ": error:" in line]
    problems = []
    if "Traceback" in err:
        problems.append("traceback")
    if case.marker is not None and case.marker.exists():
        problems.append("PAYLOAD RAN")
    if _snapshot(case.untouched) != before:
        problems.append("changed files that were there before")
    if case.expect == "ok":
        if done.returncode != 0:
            problems.append(f"exit {done.returncode}")
        problems += [f"missing {p.name}" for p in case.outputs if not p.exists()]
    else:
        if done.returncode != 1:
            problems.append(f"exit {done.returncode}")
        if len(errors) != case.errors:
            problems.append(f"{len(errors)} error lines")
        problems += [f"left {p}" for p in case.outputs if p.exists()]
    shown = errors[0] if errors else (err.strip().splitlines() or ["(nothing printed)"])[-1]
    return not problems, "; ".join(problems) or shown, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument("--keep", type=Path, help="make the inputs in this folder and keep them")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ganpost-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = [c for c in make_cases(work) if not args.only or args.only in c.name]
    passed = 0
    for case in cases:
        ok, detail, seconds = judge(case)
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'}  {seconds:5.1f} s  {case.name:40s} {detail[:150]}", flush=True)
    print(f"\n{passed} of {len(cases)} cases handled as a user should get "
          f"({sum(c.expect == 'refused' for c in cases)} refusals, {sum(c.expect == 'ok' for c in cases)} edge cases "
          f"that must work); inputs in {work}")
    return 0 if passed == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
