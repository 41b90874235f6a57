"""The task flags are made from the declarations: a family's new forward option and a task's option
reach ``ganpost`` with no CLI edit, parse by the option's own rule and arrive as the task's keywords."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image

from helpers.models import natural_image, save_official, tiny_compact
from ganpost.cli import main, translate_command, upscale_command
from ganpost.cli.task_flags import CLI_DIFFERENCES, add_task_options, cli_options
from ganpost.cli.parser import OneLineErrorParser
from ganpost.gan_models import registry
from ganpost.gan_models.contract import Task
from ganpost.gan_models.options import API, Option, Options
from ganpost.tasks.restore_faces import OPTIONS as RESTORE_FACES
from ganpost.tasks.translate import OPTIONS as TRANSLATE
from ganpost.tasks.upscale import OPTIONS as UPSCALE

FIDELITY = Option("fidelity", float, 0.5, "how close to the input the face stays", minimum=0, maximum=1)


@pytest.fixture
def fidelity_family(monkeypatch):
    """The Compact family, declaring a forward option as a new family (CodeFormer) would."""
    order = tuple(dataclasses.replace(e, task=Task.UPSCALE, forward_options=(FIDELITY,)) if e.architecture == "SRVGGNetCompact" else e
                  for e in registry.DETECTION_ORDER)
    monkeypatch.setattr(registry, "DETECTION_ORDER", order)


@pytest.fixture
def photo(tmp_path):
    Image.fromarray(natural_image(12, 12)).save(tmp_path / "in.png")
    return tmp_path / "in.png"


def _recorder(monkeypatch, module, name):
    """Replace the task ``module.name`` by one that returns its image and records its keywords."""
    calls = []

    def task(image, model, **options):
        calls.append(options)
        return image

    monkeypatch.setattr(module, name, task)
    return calls


def test_a_familys_forward_option_becomes_a_flag_and_reaches_the_task(fidelity_family, photo, tmp_path,
                                                                       monkeypatch, capsys):
    model = save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")
    calls = _recorder(monkeypatch, upscale_command, "upscale")
    assert main(["upscale", str(photo), "-o", str(tmp_path / "o.png"), "-m", str(model), "--fidelity", "0.7"]) == 0
    assert calls[0]["fidelity"] == 0.7
    with pytest.raises(SystemExit) as stop:  # refused by the option's own rule, in the command's terms
        main(["upscale", str(photo), "-o", str(tmp_path / "o2.png"), "--fidelity", "2"])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "--fidelity must be a number from 0 to 1, not 2" in err


def test_the_task_gets_every_option_it_declares_for_the_cli_as_keywords(photo, tmp_path, monkeypatch):
    model = save_official(tiny_compact(scale=2, num_conv=2), tmp_path / "tiny.pth")
    calls = _recorder(monkeypatch, upscale_command, "upscale")
    assert main(["upscale", str(photo), "-o", str(tmp_path / "o.png"), "-m", str(model), "--size", "30x20",
                 "--tile", "0", "--alpha-mode", "resize", "--seed", "4"]) == 0
    given = calls[0]
    assert {o.name for o in cli_options(UPSCALE, Task.UPSCALE)} | {"device", "progress"} == set(given)
    assert (given["size"], given["tile"], given["alpha_mode"], given["seed"]) == ((30, 20), 0, "resize", 4)


def test_translate_passes_direction_and_model_b(tmp_path, photo, monkeypatch):
    from ganpost.gan_models.pix2pix import ResnetGenerator
    import torch

    for name in ("a.pth", "b.pth"):
        torch.save(ResnetGenerator(num_feat=4, num_blocks=1).state_dict(), tmp_path / name)
    calls = _recorder(monkeypatch, translate_command, "translate")
    assert main(["translate", str(photo), "-o", str(tmp_path / "o.png"), "-m", str(tmp_path / "a.pth"),
                 "--model-b", str(tmp_path / "b.pth"), "--direction", "BtoA", "--size-mode", "resize",
                 "--train-size", "32"]) == 0
    given = calls[0]
    assert given["model_b"].source.name == "b.pth"
    assert (given["direction"], given["size_mode"], given["train_size"], given["seed"]) == ("BtoA", "resize", 32, 0)


def _parser(options: Options, task: Task):
    parser = OneLineErrorParser(prog="ganpost test")
    add_task_options(parser, options, task)
    return parser


def test_kinds_of_flag():
    options = Options(Option("gentle", bool, False, "be gentle"), Option("size", tuple, None, "WxH", none="as is",
                                                                          convert=lambda v: v),
                      Option("mode", str, "a", "which", choices=("a", "b")),
                      Option("api_only", int, 1, "not on the command line", front_ends=frozenset((API,))))
    parser = _parser(options, Task.UPSCALE)
    assert vars(parser.parse_args([])) | {"cli_flags": None} == {
        "gentle": False, "size": None, "mode": "a", "cli_flags": None}
    parsed = parser.parse_args(["--gentle", "--size", "3X4", "--mode", "b"])
    assert (parsed.gentle, parsed.size, parsed.mode) == (True, (3, 4), "b")


@pytest.mark.parametrize("argv, says", [
    (["--size", "wide"], "argument --size: --size must look like 1920x1080, not 'wide'"),
    (["--mode", "c"], "argument --mode: --mode must be one of a, b, not 'c'"),
])
def test_bad_values_are_one_line_in_the_commands_terms(argv, says, capsys):
    options = Options(Option("size", tuple, None, "WxH", none="as is", convert=lambda v: v),
                      Option("mode", str, "a", "which", choices=("a", "b")))
    with pytest.raises(SystemExit) as stop:
        _parser(options, Task.UPSCALE).parse_args(argv)
    assert stop.value.code == 1 and says in capsys.readouterr().err


def test_help_names_flags_not_keywords():
    parser = _parser(TRANSLATE, Task.TRANSLATE)
    shown = {a.dest: a.help for a in parser._actions}  # noqa: SLF001
    assert "--size-mode resize" in shown["train_size"] and "size_mode" not in shown["train_size"]
    assert "(default: 256)" in shown["train_size"]


def test_the_cli_differences_are_real_differences():
    """Each exception in the table still differs from the declaration (else it is dead and goes)."""
    declared = {Task.TRANSLATE: TRANSLATE, Task.FACE_RESTORE: RESTORE_FACES, Task.UPSCALE: UPSCALE}
    for (task, name), settings in CLI_DIFFERENCES.items():
        option = declared[task][name]
        assert option.offered_to("cli")
        for key, value in settings.items():
            assert getattr(option, key, None) != value, (task, name, key)
