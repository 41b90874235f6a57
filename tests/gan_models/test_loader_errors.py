"""Bad model files: every one gives our own error, naming the file; nothing in a pickle runs."""

import os
import pickle

import pytest
import torch

from helpers.models import save_official, tiny_compact
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
    (tmp_path / "m.h5").write_bytes(b"123")
    with pytest.raises(ModelFileError, match="unsupported file type"):
        load_model(tmp_path / "m.h5")


# ---------------------------------------------------------------------------- our words, never torch's
TORCH_TEXT = ("weights_only", "file an issue", "Please", "miniz", "pytorch.org")


def _refusal(path) -> str:
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert not any(text in message for text in TORCH_TEXT), message
    return message


def _good_zip(tmp_path) -> bytes:
    return save_official(tiny_compact(), tmp_path / "good.pth").read_bytes()


@pytest.mark.parametrize("content, reason", [
    (b"", "the file is empty"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 123\n", "Git LFS pointer"),
    (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "web page"),
    (b"these are not weights\n", "a text file, not a PyTorch or safetensors model"),
    (b"\0" * 600, "not a PyTorch or safetensors file (it starts with bytes 00 00"),
])
def test_what_the_file_is_is_said_in_our_words(tmp_path, content, reason):
    path = tmp_path / "model.pth"
    path.write_bytes(content)
    message = _refusal(path)
    assert reason in message and "pickle" not in message


def test_truncated_zip_is_called_truncated_in_a_whole_sentence(tmp_path):
    data = _good_zip(tmp_path)
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    message = _refusal(tmp_path / "cut.pth")
    assert "truncated or damaged PyTorch file" in message and message.endswith("again.")


def test_protocol_4_pickle_with_code_is_refused_naming_the_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil4.pth"
    path.write_bytes(pickle.dumps({"params_ema": Payload(marker)}, protocol=4))
    message = _refusal(path)
    assert "refused" in message and "system" in message and "nothing in it was run" in message
    assert not marker.exists()


def test_torch_zip_with_code_is_refused_without_the_unsafe_workaround(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"params_ema": Payload(marker)}, tmp_path / "evil.pth")
    message = _refusal(tmp_path / "evil.pth")
    assert "refused" in message and "system" in message and not marker.exists()


def test_plain_python_pickle_is_not_called_code(tmp_path):
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=4))
    message = _refusal(tmp_path / "plain.pth")
    assert "not written by torch.save" in message and "refused" not in message


def test_formats_swapped_by_their_names(tmp_path):
    from safetensors.torch import save_file

    save_file(tiny_compact().state_dict(), tmp_path / "real.safetensors")
    (tmp_path / "named.pth").write_bytes((tmp_path / "real.safetensors").read_bytes())
    assert "rename it to .safetensors" in _refusal(tmp_path / "named.pth")
    (tmp_path / "named.safetensors").write_bytes(_good_zip(tmp_path))
    assert "rename it to .pth" in _refusal(tmp_path / "named.safetensors")


@pytest.mark.parametrize("make, reason", [
    (lambda good: b"", "the file is empty"),
    (lambda good: good[: len(good) // 3], "truncated or damaged PyTorch file"),
    (lambda good: b"not a state\n", "a text file"),
])
def test_unreadable_training_state_is_one_line_of_ours(tmp_path, make, reason):
    from ganpost.training.engine import ResumeError, RunFiles

    files = RunFiles(tmp_path / "run")
    files.save_state({"step": 3, "net": tiny_compact().state_dict()})
    files.state.write_bytes(make(files.state.read_bytes()))
    with pytest.raises(ResumeError) as err:
        files.load_state()
    message = str(err.value)
    assert reason in message and "()" not in message and "\n" not in message
    assert not any(text in message for text in TORCH_TEXT), message
