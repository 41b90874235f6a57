"""What the CLI says when options are wrong: one line naming the command and its --help, exit status 1
(README's promise), and every message in the front-end's own terms: the CLI names its flags and
commands, the Python API its keyword arguments and functions (one message each, rewritten by the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.models import natural_image, save_official, tiny_compact
from ganpost import load_model, restore_faces, translate, upscale
from ganpost.cli import main
from ganpost.cli.flag_names import in_cli_terms
from ganpost.gan_models.contract import ModelContract, ModelDescriptor, SizeRule, Task, TilingPolicy
from ganpost.gan_models.errors import GanpostError


@pytest.mark.parametrize("argv, command", [
    ([], "ganpost"),
    (["bogus"], "ganpost"),
    (["upscale"], "ganpost upscale"),
    (["upscale", "in.png", "-o", "out", "--tile", "7"], "ganpost upscale"),
    (["upscale", "in.png", "-o", "out", "--no-such-flag"], "ganpost upscale"),
    (["restore-faces", "in.png", "-o", "out", "--strength", "2"], "ganpost restore-faces"),
    (["translate", "in.png", "-o", "out"], "ganpost translate"),
    (["models", "--what"], "ganpost models"),
    (["train"], "ganpost train"),
    (["train", "realesrgan", "--steps", "many"], "ganpost train realesrgan"),
    (["train", "gfpgan", "--no-such-flag"], "ganpost train gfpgan"),
    (["train", "pix2pix", "--precision", "fp8"], "ganpost train pix2pix"),
])
def test_option_errors_are_one_line_and_exit_1(argv, command, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith(f"{command}: error: ") and err.rstrip().endswith(f"see {command} --help")


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["upscale", "--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out


# ---------------------------------------------------------------------------- the CLI's terms, the API's terms
def _stand_in(name: str, task: Task) -> ModelDescriptor:
    """A model of ``task`` that is refused before it would run (only its contract is read)."""
    contract = ModelContract(task=task, scale=1, in_channels=3, out_channels=3, value_range=(0.0, 1.0),
                             size=SizeRule(fixed=512 if task == Task.FACE_RESTORE else None),
                             tiling=TilingPolicy(margin=0), activation_elements=8, fp16_safe=False, bf16_safe=False)
    return ModelDescriptor("Toy", contract, 0, Path(f"{name}.pth"), nn.Identity())


def _translator(tmp_path) -> ModelDescriptor:
    from ganpost.gan_models.pix2pix import ResnetGenerator

    torch.save(ResnetGenerator(num_feat=4, num_blocks=1).state_dict(), tmp_path / "g.pth")
    return load_model(tmp_path / "g.pth")


STAND_INS = {"face": Task.FACE_RESTORE, "finder": Task.FACE_DETECT, "upper": Task.UPSCALE}


@pytest.fixture
def face_cli(monkeypatch, tmp_path, capsys):
    """``ganpost restore-faces`` where the model names face / finder / upper load stand-ins; returns its stderr."""
    from ganpost.cli import restore_faces_command

    monkeypatch.setattr(restore_faces_command, "load_model", lambda name, **kw: _stand_in(name, STAND_INS[name]))
    Image.fromarray(natural_image(16, 16)).save(tmp_path / "in.png")

    def run(*options) -> str:
        assert main(["restore-faces", str(tmp_path / "in.png"), "-o", str(tmp_path / "out"), *options]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err

    return run


def test_swapped_face_models_name_the_flags_in_the_cli(face_cli):
    err = face_cli("-m", "finder", "--detector", "finder")
    assert "--model finder is a face detector, not a face restorer (GFPGAN and the like); pass it as --detector." in err
    err = face_cli("-m", "face", "--detector", "face")
    assert "--detector face is a face restorer, not a face detector; pass it as --model." in err
    err = face_cli("-m", "face", "--detector", "finder", "--background-model", "finder", "--upscale", "2")
    assert "--background-model finder is a face detector, not an upscaler." in err
    err = face_cli("-m", "upper", "--detector", "finder")
    assert "pass it as --background-model to upscale the background, or use `ganpost upscale` for it" in err
    assert "=" not in err


def test_swapped_face_models_name_the_keywords_in_the_api():
    image = np.zeros((16, 16, 3), np.uint8)
    face, finder, upper = (_stand_in(name, task) for name, task in STAND_INS.items())
    with pytest.raises(GanpostError, match=r"^model='finder' is a face detector, not a face restorer .*detector=\.$"):
        restore_faces(image, finder, detector=finder)
    with pytest.raises(GanpostError, match=r"or use ganpost\.upscale for it\.$"):
        restore_faces(image, upper, detector=finder)
    with pytest.raises(GanpostError, match=r"^upscaler='finder' is a face detector, not an upscaler\.$"):
        restore_faces(image, face, detector=finder, upscaler=finder, upscale=2)
    with pytest.raises(GanpostError, match=r"^model='face' is a face restorer, not an upscaler; use "
                                           r"ganpost\.restore_faces for it\.$"):
        upscale(face, image)


def test_translate_names_commands_in_the_cli_and_functions_in_the_api(tmp_path, capsys):
    upscaler = save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "up.pth")
    Image.fromarray(natural_image(16, 16)).save(tmp_path / "in.png")
    assert main(["translate", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(upscaler)]) == 1
    assert "--model up is an upscaler, not an image-to-image translator; use `ganpost upscale` for it." in (
        capsys.readouterr().err)
    with pytest.raises(GanpostError, match=r"^model_b='up' is an upscaler.*use ganpost\.upscale for it\.$"):
        translate(np.zeros((16, 16, 3), np.uint8), _translator(tmp_path), model_b=load_model(upscaler),
                  direction="BtoA")


def test_save_faces_folder_errors_name_save_faces_not_o(face_cli, tmp_path):
    (tmp_path / "a_file").write_text("")
    err = face_cli("-m", "face", "--detector", "finder", "--save-faces", str(tmp_path / "a_file" / "crops"))
    assert "choose another --save-faces" in err and " -o" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA exists here")
def test_a_missing_device_names_device_in_each_front_end(tmp_path, capsys):
    with pytest.raises(GanpostError, match="Use device='cpu'"):
        upscale(load_model(save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "t.pth")),
                np.zeros((8, 8, 3), np.uint8), device="cuda")
    Image.fromarray(natural_image(16, 16)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "Use --device cpu" in err and "device=" not in err


@pytest.mark.parametrize("call, option", [
    (lambda m, image: upscale(m, image, outscale="2"), "outscale"),
    (lambda m, image: upscale(m, image, size=(1920,)), "size"),
    (lambda m, image: upscale(m, image, size="1920x1080"), "size"),
    (lambda m, image: upscale(m, image, device=0), "device"),
    (lambda m, image: upscale(m, image, progress=3), "progress"),
    (lambda m, image: translate(image, m, seed="x"), "seed"),
])
def test_wrong_types_in_the_api_name_the_keyword(tmp_path, call, option):
    model = _translator(tmp_path) if option == "seed" else load_model(
        save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "t.pth"))
    with pytest.raises(GanpostError, match=rf"^{option} must be"):
        call(model, np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("options, option", [
    ({"threshold": "0.5"}, "threshold"), ({"threshold": None}, "threshold"), ({"nms_threshold": "x"}, "nms_threshold"),
    ({"min_face_size": "2"}, "min_face_size"), ({"face_index": 1.5}, "face_index"),
])
def test_wrong_detection_option_types_name_the_keyword(options, option):
    from ganpost.tasks.detect_faces import check_detect_options

    with pytest.raises(GanpostError, match=option):
        check_detect_options(**options)


def test_smoothing_and_single_face_index():
    from ganpost.runtime.faces import check_smoothing
    from ganpost.tasks.detect_faces import parse_face_index

    with pytest.raises(GanpostError, match="^smooth_landmarks must be"):
        check_smoothing("2")
    assert parse_face_index(2) == [2]


def test_option_errors_from_the_core_name_the_flag_in_the_cli(tmp_path, capsys):
    model = save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "t.pth")
    Image.fromarray(natural_image(16, 16)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(model),
                 "--denoise-strength", "2"]) == 1
    assert "error: --denoise-strength must be between 0 and 1" in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "-m", str(tmp_path)]) == 1
    assert "(or give a folder of models as --models-dir)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["restore-faces", str(tmp_path / "in.png"), "-o", str(tmp_path / "o"), "--face-index", "x"])
    err = capsys.readouterr().err
    assert "argument --face-index: --face-index lists faces" in err and "face_index" not in err


@pytest.mark.parametrize("message, cli", [
    ("pass it as detector=.", "pass it as --detector."),
    ("Use device='cpu', or install", "Use --device cpu, or install"),
    ("train_size applies to size_mode='resize' only.", "--train-size applies to --size-mode resize only."),
    ("tile must be 'auto'", "--tile must be 'auto'"),
    ("use ganpost.restore_faces for it.", "use `ganpost restore-faces` for it."),
    # left alone: names of other things, options this command lacks, prose
    ("save model.state_dict() as params_ema in latest_net_G.pth", None),
    ("GANPOST_MAX_PIXELS=12, or --set losses.gan_weight=0.05", None),
    ("the tile must be whole; seed= is not ours", "the tile must be whole; seed= is not ours"),
])
def test_in_cli_terms(message, cli):
    flags = {"detector": "--detector", "device": "--device", "train_size": "--train-size", "size_mode": "--size-mode",
             "tile": "--tile", "state_dict": "--no"}
    assert in_cli_terms(message, flags) == (message if cli is None else cli)
