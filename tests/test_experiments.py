"""The QCNN experiments (``qnnlab reproduce``): configs, splits, outputs, resume, determinism.

The runs here are tiny (two-parameter ``ry-cnot`` blocks, a few epochs) so that they check the
plumbing and the physics references, not the scientific result; the full sweeps are
``qnnlab reproduce qcnn-phases`` / ``qcnn-topological``.
"""

import csv
import json

import numpy as np
import pytest

from qnnlab.cli import main
from qnnlab.data import build_dataset, load_dataset
from qnnlab.experiments import classification, qcnn_phases, qcnn_topological
from qnnlab.experiments.qcnn_phases import QCNNPhasesConfig, run_qcnn_phases
from qnnlab.experiments.qcnn_topological import (
    QCNNTopologicalConfig,
    run_qcnn_topological,
    split_for,
)
from qnnlab.experiments.registry import experiment_names, get_experiment

TINY_TOPOLOGICAL = QCNNTopologicalConfig(
    n_samples=20, train_sizes=(8,), runs=2, epochs=3, conv_block="ry-cnot", batch_size=8
)
TINY_PHASES = QCNNPhasesConfig(
    families=("xxx",),
    qubits=(6,),
    n_samples=20,
    dataset_options={"xxx": {"exclusion": 0.3}},
    seeds=2,
    epochs=4,
    patience=2,
    conv_block="ry-cnot",
    batch_size=8,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def topological_run(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("topological")
    return run_qcnn_topological(TINY_TOPOLOGICAL, out, progress=False, cache_dir=cache)


# ------------------------------------------------------------------------------ configs
def test_registry_lists_both_qcnn_experiments():
    assert {"qcnn-phases", "qcnn-topological"} <= set(experiment_names())
    with pytest.raises(ValueError, match="unknown experiment 'nope'; known: dqnn-learning"):
        get_experiment("nope")


def test_defaults_are_the_papers_figure_2():
    config = QCNNTopologicalConfig().validate()
    assert (config.n_samples, config.runs) == (500, 5)
    assert max(config.train_sizes) < config.n_samples


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train_sizes": [7]}, "even integers >= 2"),
        ({"train_sizes": [500]}, "fewer than 2 of 500 samples"),
        ({"train_sizes": []}, "at least one"),
        ({"conv_block": "cnn"}, "conv_block must be one of"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"learning_rate": -1}, "learning_rate must be a positive number"),
        ({"strength": -0.1}, "strength must be a number >= 0"),
        ({"n_samples": 51}, "must be even"),
        ({"colour": 1}, "unknown setting 'colour'.*valid: n_samples"),
    ],
)
def test_topological_config_errors_name_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        QCNNTopologicalConfig().with_overrides(overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"families": ["toric-vs-semion"]}, "local-order families"),
        ({"families": ["xxx", "xxx"]}, "repeated"),
        ({"families": ["ising"]}, "Unknown dataset 'ising'"),
        ({"qubits": [3]}, "4..20"),
        ({"qubits": [8, 8]}, "repeated"),
        ({"test_fraction": 0.0}, "test_fraction must be > 0"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
        ({"val_fraction": 0.0}, "patience"),
        ({"seeds": 0}, "seeds must be an integer >= 1"),
        ({"dataset_options": {"xxx": 0.2}}, "must map family names to option dicts"),
        ({"dataset_options": {"haldane": {}}}, r"names families \['haldane'\] that are not"),
    ],
)
def test_phases_config_errors_name_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        QCNNPhasesConfig().with_overrides(overrides)


def test_overrides_turn_lists_into_tuples_and_scalars_into_one_tuples():
    config = QCNNTopologicalConfig().with_overrides({"train_sizes": [20, 100], "runs": 3})
    assert config.train_sizes == (20, 100) and config.runs == 3
    assert QCNNPhasesConfig().with_overrides({"qubits": 12}).qubits == (12,)
    assert QCNNPhasesConfig().with_overrides({"families": ["haldane"]}).validate()


# ------------------------------------------------------------------------------ building blocks
def test_split_for_is_stratified_disjoint_and_complete():
    labels = np.repeat([0, 1], 50)[np.random.default_rng(3).permutation(100)]
    train, test = split_for(labels, 20, run=4)
    assert len(train) == 20 and np.sum(labels[train]) == 10
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    again, _ = split_for(labels, 20, run=4)
    other, _ = split_for(labels, 20, run=5)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_pearson_matches_numpy_and_is_null_for_constant_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert qcnn_topological.pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert qcnn_topological.pearson(a, -2 * a + 1) == pytest.approx(-1.0)
    assert qcnn_topological.pearson(np.ones(5), b[:5]) is None


def test_mean_std_uses_the_sample_standard_deviation():
    stats = classification.mean_std([0.5, 0.7, 0.9, None])
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(0.7)
    assert stats["std"] == pytest.approx(0.2)  # ddof = 1
    assert stats["stderr"] == pytest.approx(0.2 / np.sqrt(3))
    assert classification.mean_std([0.4])["std"] == 0.0


def test_mean_plaquette_is_one_for_toric_code_and_minus_quarter_for_double_semion(cache):
    # Exact values on unperturbed ground-space states (qnnlab.data.topological docstring).
    dataset = build_dataset(
        "toric-vs-semion", 12, 8, seed=1, strength=0.0, cache_dir=cache, workers=1, progress=False
    )
    values = qcnn_topological._mean_plaquettes(str(dataset.folder))
    expected = np.where(dataset.labels == 0, 1.0, -0.25)
    np.testing.assert_allclose(values, expected, atol=1e-10)


# ------------------------------------------------------------------------------ topological run
def test_topological_run_writes_every_output(topological_run):
    folder = topological_run.directory
    for name in ("config.json", "results.json", "accuracy.csv", "runs.csv", "accuracy.png"):
        assert (folder / name).stat().st_size > 0, name
    results = json.loads((folder / "results.json").read_text())
    assert results["experiment"] == "qcnn-topological"
    assert len(results["runs"]) == 2
    config = json.loads((folder / "config.json").read_text())["config"]
    assert config["train_sizes"] == [8] and config["experiment"] == "qcnn-topological"
    with open(folder / "accuracy.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["train_size"]) for r in rows] == [8]
    assert float(rows[0]["test_acc_mean"]) == pytest.approx(
        np.mean([r["test_acc"] for r in results["runs"]])
    )


def test_topological_records_are_consistent(topological_run):
    for record in topological_run.runs:
        assert record["n_train"] == 8 and record["n_train"] + record["n_test"] == 20
        assert record["epochs_run"] == 3 and len(record["history"]["train_loss"]) == 3
        for key in ("train_acc", "test_acc", "init_test_acc"):
            assert 0.0 <= record[key] <= 1.0
        assert record["plaquette_corr"] is None or -1.0 <= record["plaquette_corr"] <= 1.0
        assert record["val_acc"] is None  # no validation split: JSON null, not NaN
    assert {r["run"] for r in topological_run.runs} == {0, 1}
    # The single 6-body observable separates the classes perfectly at strength 0.1.
    assert topological_run.plaquette_accuracy == 1.0


def test_topological_run_resumes_from_checkpoints(topological_run, cache, monkeypatch):
    calls = []
    original = qcnn_topological.fit_and_score

    def counting(*args, **kwargs):
        calls.append(kwargs["seed"])
        return original(*args, **kwargs)

    monkeypatch.setattr(qcnn_topological, "fit_and_score", counting)
    folder = topological_run.directory
    again = run_qcnn_topological(TINY_TOPOLOGICAL, folder, progress=False, cache_dir=cache)
    assert calls == []  # everything came from the checkpoints
    assert again.runs == topological_run.runs
    # Lose one finished fit: only that one is recomputed, with the same result.
    checkpoints = sorted((folder / "checkpoints").glob("*run1.json"))
    assert len(checkpoints) == 1
    checkpoints[0].unlink()
    resumed = run_qcnn_topological(TINY_TOPOLOGICAL, folder, progress=False, cache_dir=cache)
    assert calls == [1]
    for old, new in zip(topological_run.runs, resumed.runs, strict=True):
        assert new["test_acc"] == old["test_acc"]
        assert new["history"]["train_loss"] == pytest.approx(old["history"]["train_loss"])


# ------------------------------------------------------------------------------ phases run
def test_phases_run_is_reproducible_and_complete(tmp_path, cache):
    first = run_qcnn_phases(TINY_PHASES, tmp_path / "a", progress=False, workers=1, cache_dir=cache)
    second = run_qcnn_phases(
        TINY_PHASES, tmp_path / "b", progress=False, workers=1, cache_dir=cache
    )
    assert len(first.runs) == 2
    for a, b in zip(first.runs, second.runs, strict=True):
        assert a["family"] == "xxx" and a["n_qubits"] == 6
        assert a["n_train"] + a["n_val"] + a["n_test"] == 20 and a["n_test"] == 4
        assert 1 <= a["epochs_run"] <= 4
        assert a["stopped_early"] == (a["epochs_run"] < 4)
        assert a["test_acc"] == b["test_acc"]
        assert a["history"]["val_loss"] == pytest.approx(b["history"]["val_loss"], rel=1e-6)
    row = first.summary[0]
    assert row["runs"] == 2
    assert row["test_acc"]["mean"] == pytest.approx(np.mean([r["test_acc"] for r in first.runs]))
    for name in ("results.json", "accuracy.csv", "runs.csv", "accuracy.png"):
        assert (first.directory / name).stat().st_size > 0
    assert qcnn_phases.report(first)[1].startswith("xxx")
    # The family's dataset options reach the dataset: no sample within 0.3 of J2/J1 = 1.
    results = json.loads((first.directory / "results.json").read_text())
    dataset = load_dataset(results["datasets"]["xxx-n6"])
    ratios = dataset.parameters("J2") / dataset.parameters("J1")
    assert np.all(np.abs(ratios - 1.0) >= 0.3)


# ------------------------------------------------------------------------------ command line
def test_reproduce_list_and_dry_run(capsys):
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "qcnn-topological" in listing and "Fig. 2" in listing
    code = main(["reproduce", "qcnn-topological", "--dry-run", "--set", "train_sizes=[20,100]"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train_sizes"] == [20, 100] and printed["n_samples"] == 500


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "qcnn-topological", "--set", "runs=0"], "runs must be an integer >= 1"),
        (["reproduce", "qcnn-topological", "--set", "size=3"], "unknown setting 'size'"),
        (["reproduce", "fig-9"], "unknown experiment 'fig-9'"),
    ],
)
def test_reproduce_bad_input_is_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_reproduce_runs_and_prints_the_table(tmp_path, cache, capsys):
    out = tmp_path / "run"
    # The shapes of TINY_TOPOLOGICAL, so the compiled steps are reused.
    settings = ["--set", "n_samples=20", "--set", "train_sizes=[8]", "--set", "runs=1"]
    settings += ["--set", "epochs=2", "--set", 'conv_block="ry-cnot"', "--set", "batch_size=8"]
    argv = ["reproduce", "qcnn-topological", "--out", str(out), "--cache-dir", str(cache)]
    assert main([*argv, *settings, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "plaquette reference" in printed and str(out) in printed
    assert json.loads((out / "config.json").read_text())["command"].startswith("qnnlab ")


# ------------------------------------------------------------------------------ the science
@pytest.mark.slow
@pytest.mark.parametrize(
    ("strength", "generalizes"),
    [(0.1, True), (3.0, False)],
    ids=["weak-perturbation", "strong-perturbation"],
)
def test_qcnn_on_toric_vs_semion_learns_the_plaquette_only_if_it_survives(
    tmp_path, cache, strength, generalizes
):
    # Weak on-site perturbations: every sample keeps <X_p> near +1 (toric code) or -1/4 (double
    # semion), a trained QCNN measures it and generalizes (README, Fig. 2). Strong ones scramble
    # every fixed observable: the QCNN fits its training set and tests at chance (the paper).
    config = QCNNTopologicalConfig(strength=strength, train_sizes=(100,), runs=2)
    result = run_qcnn_topological(config, tmp_path, progress=False, cache_dir=cache)
    row = result.summary[0]
    # 400 test states per run: the binomial std of a chance-level accuracy is 0.025.
    if generalizes:
        assert row["test_acc"]["mean"] > 0.95
        assert abs(row["plaquette_corr"]["mean"]) > 0.9
        assert result.plaquette_accuracy == 1.0
    else:
        assert row["train_acc"]["mean"] > 0.6
        assert abs(row["test_acc"]["mean"] - 0.5) < 0.1
        assert abs(result.plaquette_accuracy - 0.5) < 0.1


def test_importing_experiments_keeps_the_users_matplotlib_backend():
    """No module switches the matplotlib backend on import (a notebook's backend survives)."""
    import os
    import subprocess
    import sys

    code = (
        "import matplotlib, qnnlab, qnnlab.cli, qnnlab.demo\n"
        "from qnnlab.experiments.registry import _registry\n"
        "_registry()\n"
        "import qnnlab.experiments.audit, qnnlab.analysis.plotting\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().lower() == "svg"
