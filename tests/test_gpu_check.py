"""bench/gpu_check.py --dry-run: every section of the GPU check runs on the CPU with tiny models."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("precision", "overflow", "oom", "throughput")


def run_dry(tmp_path: Path, extra_path: str | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)  # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_dry_run_exercises_every_section_for_every_family(tmp_path):
    if importlib.util.find_spec("spandrel") is None:
        pytest.skip("spandrel is not installed (pip install --no-deps spandrel==0.4.2)")
    proc, report = run_dry(tmp_path)
    for name in SECTIONS:
        assert f"== {name}:" in proc.stdout
    assert "== folders:" in proc.stdout and [row["way"] for row in report["folders"]] == [
        "1 CPU worker(s)", "2 CPU worker(s)"]
    assert all(row["byte_identical_to_first"] for row in report["folders"])
    assert "== video:" in proc.stdout
    if importlib.util.find_spec("av") is not None:  # the video extra: the clip job ran both ways, same bytes
        assert report["video"]["frames"] == 8 and report["video"]["same_file"] is True, report["video"]
        assert report["video"]["frames_per_s_in_turns"] > 0 and report["video"]["frames_per_s_overlapped"] > 0
    else:
        assert "PyAV is not installed" in report["video"]["skipped"]
    from ganpost.gan_models.registry import DETECTION_ORDER

    checked = {m["architecture"] for m in report["models"]}
    assert {"RRDBNet", "SRVGGNetCompact"} <= checked
    for entry in DETECTION_ORDER:  # every entry is either checked or named in a note (not image-to-image)
        assert entry.architecture in checked or any(entry.architecture in n for n in report["notes"])
    assert not any(n.startswith("FAILED") for n in report["notes"])
    for model in report["models"]:
        s = model["sections"]
        assert all("error" not in s[name] for name in SECTIONS), s
        if "skipped" in s["precision"]["bf16"]:  # the contract rules bf16 out (AuraSR), and fp16 is CUDA's
            assert "skipped" in s["overflow"], s
        else:
            assert s["precision"]["bf16"]["max_255"] < 5  # a tiny random net in bf16 stays close to fp32
            assert s["overflow"]["fp32_fallbacks"] == 1 and s["overflow"]["finite"]
        if model["task"] != "upscale":  # fixed-window face models: no tiling to exercise, no core path to race
            assert "skipped" in s["throughput"] and ("skipped" in s["oom"] or s["oom"]["oom_exercised"])
            continue
        assert "ours_over_core" in s["throughput"]  # core's path ran through spandrel
        if "fixed" in s["oom"].get("skipped", ""):  # AuraSR's 64 px windows: smaller tiles would not help
            continue
        assert s["oom"]["oom_exercised"] and s["oom"]["tiles_tried"][0] > s["oom"]["tiles_tried"][-1]
        assert s["oom"]["tile_counts"][-1] > 1


def test_dry_run_without_spandrel_says_so_and_still_passes(tmp_path):
    hidden = tmp_path / "hide" / "spandrel"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    proc, report = run_dry(tmp_path, str(hidden.parent))
    assert "spandrel is not importable" in proc.stdout
    for model in [m for m in report["models"] if m["task"] == "upscale"]:  # the others have no core path
        assert "skipped" in model["sections"]["throughput"]["core"]
        assert model["sections"]["throughput"]["ours"]["median_s"] > 0


def test_dry_run_builds_engines_from_exported_files(tmp_path):
    """The tensorrt section's code path on the CPU: export, build (onnxruntime's CPU provider standing in for
    TensorRT), compare with PyTorch, and a size outside the engine's profile refused in one line."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "engines.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--sections", "tensorrt",
                           "--out", str(out)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "== tensorrt:" in proc.stdout and "== precision:" not in proc.stdout
    report = json.loads(out.read_text())
    built = {m["architecture"]: m["sections"]["tensorrt"] for m in report["models"]
             if "kind" in m["sections"]["tensorrt"]}
    assert set(built) == {"RRDBNet", "SRVGGNetCompact", "ResnetGenerator", "GFPGANv1Clean"}
    for architecture, result in built.items():
        assert result["kind"] == "ort:CPUExecutionProvider"
        assert "outside the engine's profile" in result["outside_profile"] and "\n" not in result["outside_profile"]
        for size in result["sizes"]:
            assert size["max"] <= 1e-4 and size["engine_s"] > 0 and size["torch_s"] > 0, (architecture, size)
        assert len(result["sizes"]) == (1 if architecture == "GFPGANv1Clean" else 2)  # a fixed window: one size


@pytest.mark.filterwarnings("ignore:Specified provider")  # the unknown provider, on purpose
def test_an_engine_refuses_what_its_profile_does_not_hold(tmp_path):
    pytest.importorskip("onnxruntime")
    sys.path.insert(0, str(REPO / "bench"))
    import torch

    import onnx_engines
    from helpers.models import tiny_compact
    from ganpost import export_onnx
    from ganpost.gan_models.loader import describe_state_dict

    model = describe_state_dict(tiny_compact().state_dict())
    export_onnx(model, tmp_path / "m.onnx", check=False)
    profile = onnx_engines.profile_for(model, [16, 32], batch=2)
    engine = onnx_engines.build_engine(tmp_path / "m.onnx", "ort:CPUExecutionProvider", torch.device("cpu"), profile)
    assert engine(torch.rand(2, 3, 24, 24)).shape == (2, 3, 96, 96)
    for shape in ((3, 3, 16, 16), (1, 3, 40, 16), (1, 4, 16, 16)):
        with pytest.raises(onnx_engines.EngineError, match=r"m.onnx \(ort:CPUExecutionProvider\): a .* is outside"):
            engine(torch.rand(shape))
    result = onnx_engines.check_engine(model, engine, [16, 32], repeats=1)
    assert [s["side"] for s in result["sizes"]] == [16, 32] and max(s["max"] for s in result["sizes"]) <= 1e-4
    with pytest.raises(onnx_engines.EngineError, match="did not take|could not build"):
        onnx_engines.build_engine(tmp_path / "m.onnx", "ort:NoSuchExecutionProvider", torch.device("cpu"), profile)
