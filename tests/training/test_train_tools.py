"""``ganpost sample-data``, ``ganpost export`` and ``ganpost evaluate``, and their old ``python -m`` forms."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers.models import natural_image, save_official, tiny_compact


@pytest.fixture
def run_model(tmp_path):
    torch_file = tmp_path / "net_g_latest.pth"
    save_official(tiny_compact(), torch_file)
    return torch_file


def test_export_then_evaluate(tmp_path, run_model, capsys):
    from PIL import Image

    from ganpost.cli.main import main

    target = tmp_path / "exported.safetensors"
    assert main(["export", str(run_model), str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    val = tmp_path / "val"
    val.mkdir()
    Image.fromarray(natural_image(32, 32, seed=0)).save(val / "a.png")
    assert main(["evaluate", "--model", str(target), "--data", str(val)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["image", "PSNR", "model"] and table[1].startswith("a ") and table[-1].startswith("mean")


@pytest.mark.parametrize("tool, flag", [("sample_data", "target"), ("export", "source"), ("evaluate", "--model")])
def test_the_python_m_forms_still_run(tool, flag):
    result = subprocess.run([sys.executable, "-m", f"ganpost.training.{tool}", "--help"], capture_output=True,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert f"usage: ganpost {tool.replace('_', '-')}" in result.stdout and flag in result.stdout
