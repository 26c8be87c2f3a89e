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


@pytest.mark.parametrize(
    "command", [[], ["variance"], ["audit"], ["propagate"], ["reproduce"], ["dataset", "build"]]
)
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


# ------------------------------------------------------------------------------ qnnlab dataset
def _build_xxx(tmp_path, *extra: str) -> list[str]:
    return [
        "dataset",
        "build",
        "xxx",
        "--qubits",
        "8",
        "--samples",
        "4",
        "--cache-dir",
        str(tmp_path),
        "--workers",
        "1",
        "--no-progress",
        *extra,
    ]


def _printed_folder(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("folder:")]
    assert len(lines) == 1, out
    return lines[0].split(":", 1)[1].strip()


def test_dataset_build_then_info(tmp_path, capsys):
    assert main(_build_xxx(tmp_path)) == 0
    out = capsys.readouterr().out
    folder = _printed_folder(out)
    assert folder.startswith(str(tmp_path / "datasets" / "xxx-n8-"))
    assert "labels:   trivial: 2, topological: 2" in out
    assert "method:   exact" in out

    assert main(["dataset", "info", folder]) == 0
    info = capsys.readouterr().out
    assert "labels:   trivial: 2, topological: 2" in info
    energies = [line for line in info.splitlines() if line.startswith("energies:")]
    assert len(energies) == 1
    lo, hi = (float(x) for x in energies[0].split(":", 1)[1].split(".."))
    assert lo <= hi < 0  # antiferromagnetic ground states have negative energy

    assert main(["dataset", "info", folder, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["samples"] == 4 and summary["folder"] == folder
    assert summary["labels"] == {"trivial": 2, "topological": 2}
    assert summary["energy_range"][0] == pytest.approx(lo, abs=1e-6)
    assert summary["config"]["options"]["ratio_range"] == [0.0, 2.0]


def test_dataset_build_honours_options(tmp_path, capsys):
    assert main(_build_xxx(tmp_path, "--option", "ratio_range=[0.2,1.8]", "--seed", "4")) == 0
    folder = _printed_folder(capsys.readouterr().out)
    assert main(["dataset", "info", folder, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["options"]["ratio_range"] == [0.2, 1.8]
    assert summary["config"]["seed"] == 4
    from qnnlab.data import load_dataset

    ratios = load_dataset(folder).parameters("ratio")
    assert ratios.min() >= 0.2 and ratios.max() <= 1.8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--samples", "3"], "even number"),
        (["--option", "colour=blue"], "Unknown option"),
        (["--option", "ratio_range=[1.5,0.5]"], "low < high"),
        (["--option", "exclusion"], "KEY=VALUE"),
    ],
)
def test_dataset_build_bad_input_is_one_line_and_exit_code_2(argv, message, tmp_path, capsys):
    code = main([*_build_xxx(tmp_path), *argv])  # a repeated flag overrides the earlier one
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("qnnlab dataset: error:")


def test_dataset_build_unknown_name_and_info_on_a_plain_folder(tmp_path, capsys):
    code = main(["dataset", "build", "ising", "--qubits", "8", "--samples", "2", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Unknown dataset 'ising'" in err and len(err.strip().splitlines()) == 1
    assert main(["dataset", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a qnnlab dataset folder" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
