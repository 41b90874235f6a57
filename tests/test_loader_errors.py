"""Bad model files: every one gives our own error, naming the file; nothing in a pickle runs."""

import os
import pickle

import pytest
import torch

from conftest import save_official, tiny_compact
from ganpost import load_model
from ganpost.gan_models import ModelFileError, ModelNotFoundError, UnsupportedModelError


class Payload:
    """Unpickling this would create a marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"params_ema": Payload(marker)}, f)
    with pytest.raises(ModelFileError, match="evil.pth.*refused"):
        load_model(path)
    assert not marker.exists()


def test_malicious_torch_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    path = tmp_path / "evil2.pth"
    torch.save({"params_ema": Payload(marker)}, path)
    with pytest.raises(ModelFileError, match="refused"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [10, 100, 1000, -50])
def test_truncated_files(tmp_path, cut):
    good = save_official(tiny_compact(), tmp_path / "good.pth")
    data = good.read_bytes()
    bad = tmp_path / "cut.pth"
    bad.write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match="cut.pth"):
        load_model(bad)


def test_truncated_safetensors(tmp_path):
    from safetensors.torch import save_file

    save_file(tiny_compact().state_dict(), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.safetensors"):
        load_model(tmp_path / "cut.safetensors")


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / f"noise{seed}.pth"
    path.write_bytes(os.urandom(64 + seed * 997))
    with pytest.raises(ModelFileError, match=f"noise{seed}.pth"):
        load_model(path)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_model(tmp_path / "empty.pth")
    with pytest.raises(ModelNotFoundError, match="nope.pth"):
        load_model(tmp_path / "nope.pth")
    with pytest.raises(ModelNotFoundError, match="Known names"):
        load_model("not-a-model-name", download=False)


def test_unsupported_architecture_message(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, path)
    with pytest.raises(UnsupportedModelError) as err:
        load_model(path)
    message = str(err.value)
    assert "other.pth" in message and "2 tensors" in message and "encoder.weight" in message
    assert "RRDBNet" in message and "SRVGGNetCompact" in message


def test_lora_and_diffusion_hints(tmp_path):
    torch.save({"lora_unet_down.lora_up.weight": torch.zeros(2, 2)}, tmp_path / "lora.pth")
    with pytest.raises(UnsupportedModelError, match="LoRA"):
        load_model(tmp_path / "lora.pth")
    torch.save({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)}, tmp_path / "sd.ckpt")
    with pytest.raises(UnsupportedModelError, match="diffusion model"):
        load_model(tmp_path / "sd.ckpt")


def test_right_keys_wrong_shapes(tmp_path):
    sd = tiny_compact().state_dict()
    sd["body.2.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(UnsupportedModelError, match="broken.pth.*SRVGGNetCompact"):
        load_model(tmp_path / "broken.pth")


def test_whole_module_pickle_is_refused(tmp_path):
    torch.save(tiny_compact(), tmp_path / "module.pth")
    with pytest.raises(ModelFileError, match="module.pth"):
        load_model(tmp_path / "module.pth")


def test_unsupported_extension(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"123")
    with pytest.raises(ModelFileError, match="unsupported file type"):
        load_model(tmp_path / "m.onnx")
