import json

import pytest

from qnnlab import __version__
from qnnlab.analysis import parse_qubits
from qnnlab.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["variance"]])
def test_help_on_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_variance_command_writes_config_results_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "variance",
            "--ansatz",
            "toy-ry",
            "--cost",
            "local",
            "--qubits",
            "2..4",
            "--draws",
            "200",
            "--seed",
            "0",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["qubits"] == [2, 3, 4]
    assert len(results["variance"]) == len(results["stderr"]) == 3
    assert results["fits"]["better"] in ("exponential", "power_law")
    assert results["theory"]["formula"] == "1/(8 n^2)"
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["draws"] == 200
    lines = (out / "variance.csv").read_text().splitlines()
    assert lines[0].startswith("qubits,") and len(lines) == 4
    assert (out / "variance.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert str(out / "results.json") in printed and "variance.png" in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--qubits", "2,x"], "cannot read qubit counts"),
        (["--qubits", "0..3"], "distinct positive"),
        (["--ansatz", "toy-ry", "--layers", "2", "--qubits", "2"], "one layer"),
    ],
)
def test_bad_input_gives_a_clear_error_and_exit_code_2(args, message, tmp_path, capsys):
    code = main(["variance", *args, "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_parse_qubits_forms():
    assert parse_qubits("2,4,8") == [2, 4, 8]
    assert parse_qubits("2..5") == [2, 3, 4, 5]
    assert parse_qubits("2..12:5") == [2, 7, 12]
    with pytest.raises(ValueError):
        parse_qubits("")
