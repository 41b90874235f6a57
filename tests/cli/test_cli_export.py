"""``ganpost export``: ONNX by the target's suffix, the older weights form unchanged, real weights round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers.models import natural_image, save_official, shared_weight, tiny_compact
from helpers.onnx_models import require_onnx
from ganpost.cli.main import main
from ganpost.gan_models.loader import load_model


@pytest.fixture
def run_model(tmp_path):
    return save_official(tiny_compact(), tmp_path / "net_g_latest.pth")


def _errors(text: str) -> tuple[float, float]:
    found = re.search(r"\|ONNX − PyTorch\| on .*: max ([0-9.e+-]+), mean ([0-9.e+-]+)", text)
    assert found, text
    return float(found[1]), float(found[2])


def test_the_older_positional_form_still_writes_weights(tmp_path, run_model, capsys):
    target = tmp_path / "exported.safetensors"
    assert main(["export", str(run_model), str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    assert load_model(target).architecture == "SRVGGNetCompact"
    assert main(["export", str(run_model), "-o", str(tmp_path / "again.pth")]) == 0


def test_dash_o_onnx_exports_loads_back_and_reports_the_difference(tmp_path, run_model, capsys):
    require_onnx()
    target = tmp_path / "model.onnx"
    assert main(["export", str(run_model), "-o", str(target), "--opset", "17"]) == 0
    biggest, _ = _errors(capsys.readouterr().out)
    assert biggest <= 1e-4 and load_model(target).scale == 4


@pytest.mark.parametrize("argv, message", [
    (["--fp16"], "--fp16 apply to an .onnx target only"),
    (["-o", "{tmp}/m.bin"], "the target's suffix picks the format"),
    (["{tmp}/b.onnx", "-o", "{tmp}/a.onnx"], "two targets"),
])
def test_mistakes_are_one_line(tmp_path, run_model, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    target = [] if any(a.startswith(("-o", str(tmp_path))) for a in argv) else [str(tmp_path / "w.safetensors")]
    assert main(["export", str(run_model), *target, *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganpost: error:") and message in err and "\n" not in err


@pytest.mark.parametrize("name, task", [
    ("realesr-animevideov3.pth", "upscale"),
    ("RealESRGAN_x4plus.pth", "upscale"),
    ("retinaface_mobilenet0.25.pth", "face_detect"),
    ("cyclegan_modern2vintage_net_G.pth", "translate"),
])
def test_real_weights_round_trip_through_the_cli(tmp_path, capsys, name, task):
    require_onnx()
    source = shared_weight(name)
    target = tmp_path / f"{source.stem}.onnx"
    assert main(["export", str(source), "-o", str(target)]) == 0
    biggest, mean = _errors(capsys.readouterr().out)
    assert biggest <= (1e-3 if task == "face_detect" else 1e-4) and mean <= 1e-5
    assert load_model(target).task == task
    if name.startswith("realesr-"):  # and through the image command, tiles and all (the compact one: quick)
        from PIL import Image

        Image.fromarray(natural_image(48, 40)).save(tmp_path / "in.png")
        for model, out in ((source, "pt.png"), (target, "onnx.png")):
            assert main(["upscale", str(tmp_path / "in.png"), "-m", str(model), "-o", str(tmp_path / out),
                         "--tile", "32", "--precision", "fp32"]) == 0
        a, b = (np.asarray(Image.open(tmp_path / f), dtype=int) for f in ("pt.png", "onnx.png"))
        assert a.shape == b.shape and np.abs(a - b).max() <= 1
