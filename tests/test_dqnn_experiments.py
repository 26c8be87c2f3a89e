"""The two DQNN experiments end to end at toy size: outputs, physics sanity, resume, CLI."""

import json

import numpy as np
import pytest

from qnnlab.cli import main
from qnnlab.experiments.dqnn_learning import DQNNLearningConfig, run_dqnn_learning
from qnnlab.experiments.dqnn_trainability import DQNNTrainabilityConfig, run_dqnn_trainability

TINY_LEARNING = DQNNLearningConfig(
    networks=((1, 2, 1),),
    rounds=40,
    seeds=2,
    n_test=10,
    gen_network=(1, 2, 1),
    train_sizes=(1, 3),
    gen_rounds=40,
    noisy_pairs=4,
    noisy_counts=(0, 4),
    gradient_network=(1, 2, 1),
    gradient_depth=1,
    gradient_steps=3,
)
TINY_TRAINABILITY = DQNNTrainabilityConfig(
    theorem1_qubits=(1, 2, 3),
    perceptron_qubits=(2, 3),
    theorem2_qubits=(1, 2),
    haar_draws=60,
    fig3a_qubits=(2, 3),
    fig3b_qubits=(2, 3),
    circuit_draws=100,
)


def test_learning_outputs_physics_and_resume(tmp_path):
    run = run_dqnn_learning(TINY_LEARNING, tmp_path / "run", progress=False)
    for name in ("config.json", "results.json", "curves.csv", "generalisation.csv", "noisy.csv"):
        assert (run.directory / name).exists(), name
    assert (run.directory / "learning.png").stat().st_size > 10_000
    r = json.loads((run.directory / "results.json").read_text())
    net = r["networks"][0]
    assert len(net["train_mean"]) == 41
    assert net["final_train"]["mean"] > 0.95  # [1,2,1] learns within 40 rounds
    gen = {e["pairs"]: e["test"]["mean"] for e in r["generalisation"]}
    assert gen[3] > gen[1]  # one pair does not determine a qubit unitary, three do
    noisy = {e["noisy"]: e["test"]["mean"] for e in r["noisy"]}
    assert noisy[0] > noisy[4]  # all-noise pairs teach nothing
    g = {x["method"]: x["train"] for x in r["gradient"]}
    np.testing.assert_allclose(g["autodiff"], g["parameter-shift"], atol=1e-9)
    # resume: every fit is checkpointed, a rerun recomputes nothing and gives the same numbers
    again = run_dqnn_learning(TINY_LEARNING, tmp_path / "run", progress=False)
    assert again.results["networks"][0]["train_mean"] == net["train_mean"]


def test_trainability_outputs_and_fig3_checks(tmp_path):
    run = run_dqnn_trainability(TINY_TRAINABILITY, tmp_path / "t", progress=False)
    r = run.results
    assert r["fig3b_equivalence"]["max_abs_difference"] < 1e-10
    names = {s["name"] for s in r["scans"]}
    assert {"thm1-square-global", "thm2-local", "fig3a-global", "fig3b-local"} <= names
    fig3a = next(s for s in r["scans"] if s["name"] == "fig3a-global")
    for v, se, t in zip(
        fig3a["variance"], fig3a["stderr"], fig3a["theory"]["variance"], strict=True
    ):
        assert abs(v - t) < 5 * se  # (1/8)(3/8)^(n-1)
    assert (run.directory / "trainability.png").stat().st_size > 10_000
    assert (run.directory / "variance.csv").read_text().startswith("scan,n,variance")


def test_cli_variance_dqnn_haar_and_reproduce_listing(tmp_path, capsys):
    out = tmp_path / "v"
    code = main(
        [
            "variance",
            "--ansatz",
            "dqnn-haar",
            "--mode",
            "theorem2",
            "--qubits",
            "1..3",
            "--draws",
            "40",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "n=3" in printed and (out / "variance.png").exists()
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "dqnn-learning" in listing and "dqnn-trainability" in listing


@pytest.mark.parametrize(
    "override,match",
    [({"networks": [[2, 3, 1]]}, "as many output"), ({"noisy_counts": [20]}, "noisy_counts")],
)
def test_learning_config_errors(override, match):
    with pytest.raises(ValueError, match=match):
        DQNNLearningConfig().with_overrides(override)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--ansatz", "hea", "--mode", "theorem2"], "only for --ansatz dqnn-haar"),
        (["--ansatz", "dqnn-haar", "--layers", "3"], "not used by --ansatz dqnn-haar"),
    ],
)
def test_cli_variance_rejects_flags_of_the_other_kind(argv, match, tmp_path, capsys):
    assert main(["variance", *argv, "--out", str(tmp_path / "x")]) == 2
    assert match in capsys.readouterr().err
