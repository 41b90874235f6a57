"""Loading ONNX files that ganpost cannot run: one line each, naming the file and the fix."""

from __future__ import annotations

import builtins

import pytest
import torch

from helpers.models import tiny_compact
from helpers.onnx_models import require_onnx
from ganpost.gan_models.errors import InvalidOptionError, ModelFileError, UnsupportedModelError
from ganpost.gan_models.loader import describe_state_dict, load_model

require_onnx()
import onnx  # noqa: E402

from ganpost import export_onnx  # noqa: E402


@pytest.fixture
def exported(tmp_path):
    path = tmp_path / "ours.onnx"
    export_onnx(describe_state_dict(tiny_compact().state_dict()), path, check=False)
    return path


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's exporter, writing the foreign file
def test_a_foreign_onnx_file_says_it_has_no_ganpost_metadata(tmp_path):
    path = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 3, 3), (torch.rand(1, 3, 8, 8),), str(path), dynamo=False)
    with pytest.raises(UnsupportedModelError) as err:
        load_model(path)
    assert str(path) in _one_line(err) and "without ganpost's metadata" in str(err.value)
    assert "ganpost export MODEL -o FILE.onnx" in str(err.value)


def test_a_truncated_file_is_a_model_file_error(exported):
    data = exported.read_bytes()
    exported.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError) as err:
        load_model(exported)
    assert str(exported) in _one_line(err) and ("truncated" in str(err.value) or "damaged" in str(err.value))


def test_an_opset_onnxruntime_cannot_run_names_it_and_the_fix(exported):
    proto = onnx.load(str(exported))
    proto.opset_import[0].version = 99
    onnx.save(proto, str(exported))
    with pytest.raises(ModelFileError) as err:
        load_model(exported)
    assert "opset 99" in _one_line(err) and "--opset" in str(err.value)


def test_load_options_are_refused(exported):
    with pytest.raises(InvalidOptionError, match="takes no load options"):
        load_model(exported, act_type="relu")


def test_without_onnxruntime_the_error_says_which_extra(exported, monkeypatch):
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name.split(".")[0] == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.delitem(__import__("sys").modules, "onnxruntime", raising=False)
    with pytest.raises(ModelFileError, match=r"pip install 'ganpost\[onnx\]'"):
        load_model(exported)


def test_a_window_the_graph_cannot_take_is_one_line(tmp_path):
    from ganpost.gan_models.errors import ImageInputError

    path = tmp_path / "static.onnx"
    export_onnx(describe_state_dict(tiny_compact().state_dict()), path, dynamic=False, side=48, check=False)
    module = load_model(path).module
    assert module(torch.rand(1, 3, 48, 48)).shape == (1, 3, 192, 192)
    for wrong in ((1, 3, 40, 48), (1, 4, 48, 48)):
        with pytest.raises(ImageInputError) as err:
            module(torch.rand(wrong))
        assert "static.onnx takes N×3×48×48 windows" in _one_line(err) and "tasks" in str(err.value)


def test_a_graph_past_the_protobuf_limit_keeps_its_weights_beside_it(tmp_path, monkeypatch):
    from ganpost.gan_models import onnx_export

    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 0)  # what a 2.5 GB AuraSR takes, on a tiny network
    path = tmp_path / "large.onnx"
    check = export_onnx(describe_state_dict(tiny_compact().state_dict()), path)
    data = tmp_path / "large.onnx.data"
    assert data.is_file() and data.stat().st_size > path.stat().st_size and check.max_error <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.onnx", "large.onnx.data"]  # no scratch left
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 2**40)
    export_onnx(describe_state_dict(tiny_compact().state_dict()), path, check=False)
    assert not data.exists()  # a small graph over it: the old weights go
    monkeypatch.setattr(onnx_export, "EXTERNAL_DATA_BYTES", 0)
    export_onnx(describe_state_dict(tiny_compact().state_dict()), path, check=False)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert str(path) in _one_line(err) and "large.onnx.data is truncated" in str(err.value)
    data.unlink()
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert str(path) in _one_line(err) and "large.onnx.data is missing" in str(err.value)
