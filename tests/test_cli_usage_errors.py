"""Option errors: one line naming the command, the problem and its --help, exit status 1 (README's promise)."""

from __future__ import annotations

import pytest

from ganpost.cli import main


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
