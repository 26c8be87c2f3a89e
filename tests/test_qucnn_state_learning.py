"""``qucnn-state-learning`` (QuCNN paper Sec. V-C, Fig. 6) end to end at quick size, and its
pieces against independent references."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import CNOT_REF, PAULI, apply_gate_np, rot
from qnnlab.experiments.qucnn_state_learning import (
    CIRCUIT_TOLERANCE,
    QuCNNStateLearningConfig,
    filter_fidelity,
    haar_real_unit_vector,
    learn_filter_state,
    run_qucnn_state_learning,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, mnist_dir):
    config = QuCNNStateLearningConfig.quick().with_overrides({"mnist_dir": str(mnist_dir)})
    folder = tmp_path_factory.mktemp("state-learning")
    run = run_qucnn_state_learning(
        config, folder / "run", progress=False, cache_dir=folder / "cache"
    )
    return config, folder, run


def test_quick_run_writes_the_contract(quick_run):
    config, _, run = quick_run
    for name in ("config.json", "results.json", "state_learning.csv", "curves.csv"):
        assert (run.directory / name).exists(), name
    assert (run.directory / "state_learning.png").stat().st_size > 10_000
    r = json.loads((run.directory / "results.json").read_text())
    assert r["experiment"] == "qucnn-state-learning"
    n_targets = config.learned_targets + config.random_targets
    assert [t["kind"] for t in r["targets"]] == ["learned", "random"]
    for t in r["targets"]:
        assert abs(np.linalg.norm(t["vector"]) - 1) < 1e-12 and len(t["vector"]) == 16
    assert r["classical"]["train_images"] == config.classical_train
    assert len(r["runs"]) == len(config.layers) * n_targets
    grid = list(range(0, config.iterations + 1, config.record_every))
    for rec in r["runs"]:
        assert rec["iterations"] == grid  # 120 is a multiple of 4: the last point is on the grid
        assert np.asarray(rec["curves"]).shape == (config.seeds, len(grid))
        assert set(rec["reach"]) == {"0.9", "0.99"}
        # curves[:, -1] is the stored final fidelity (the last recorded point is the last step)
        np.testing.assert_array_equal(np.asarray(rec["curves"])[:, -1], rec["final_fidelity"])
        assert all(0 <= f <= 1 + 1e-6 for f in rec["final_fidelity"])
    assert [row["layers"] for row in r["summary"]] == list(config.layers)
    for row in r["summary"]:
        assert row["runs"] == n_targets * config.seeds
        assert {"final", "final_learned", "final_random", "shot_final", "reach", "curve"} <= set(
            row
        )
    csv = (run.directory / "state_learning.csv").read_text().splitlines()
    assert csv[0].startswith("layers,target,kind,seed,initial_fidelity,final_fidelity")
    assert len(csv) == 1 + len(config.layers) * n_targets * config.seeds


def test_fidelity_rises_and_three_layers_beat_one(quick_run):
    _, _, run = quick_run
    r = run.results
    for rec in r["runs"]:
        # every start is a poor guess (a random 4-qubit state has E F = 1/16) and every run
        # climbs: Adam on 1 - F never ends below its start in 120 steps here
        assert all(
            f > i for f, i in zip(rec["final_fidelity"], rec["initial_fidelity"], strict=True)
        )
    by_layers = {row["layers"]: row for row in r["summary"]}
    for row in by_layers.values():
        assert row["final"]["mean"] - row["initial"]["mean"] > 0.25
    # 24 angles vs 8: three layers reach at least one layer's fidelity on average (measured
    # 0.97 vs 0.48 at quick size) and reach F >= 0.9 more often (measured 6 of 6 runs vs 0)
    assert by_layers[3]["final"]["mean"] >= by_layers[1]["final"]["mean"]
    assert by_layers[3]["reach"]["0.9"]["fraction"] > by_layers[1]["reach"]["0.9"]["fraction"]


def test_swap_test_circuit_agrees_with_the_fast_path(quick_run):
    config, _, run = quick_run
    check = run.results["circuit_check"]
    # first and last angles of circuit_checks seeds per (layers, target) task
    n_tasks = len(config.layers) * (config.learned_targets + config.random_targets)
    assert check["points"] == 2 * config.circuit_checks * n_tasks
    assert check["max_abs_difference"] < CIRCUIT_TOLERANCE and check["passed"]


def test_shot_estimates_follow_the_binomial_model(quick_run):
    config, _, run = quick_run
    for rec in run.results["runs"]:
        for exact, shot, se in zip(
            rec["final_fidelity"], rec["shot_fidelity"], rec["shot_stderr"], strict=True
        ):
            # 2 n0/S - 1 has standard error sqrt((1 - F^2)/S); 5 sigma (or one shot's step
            # 2/S near F = 1, where the error vanishes) bounds all 18 draws with room
            assert abs(shot - exact) <= 5 * se + 2 / config.shots


def test_rerun_resumes_from_checkpoints(quick_run):
    config, folder, run = quick_run
    again = run_qucnn_state_learning(
        config, folder / "run", progress=False, cache_dir=folder / "cache"
    )
    assert again.results["runs"] == run.results["runs"]
    assert again.results["targets"] == run.results["targets"]
    log = (run.directory / "log.txt").read_text()
    assert "resuming: 1 of 1 tasks already done" in log
    n_tasks = len(config.layers) * (config.learned_targets + config.random_targets)
    assert f"resuming: {n_tasks} of {n_tasks} tasks already done" in log


def _textbook_ansatz_state(theta, layers, k=4):
    """RX then RZ on every qubit, then CNOT(q, q+1) and CNOT(k-1, 0), per layer (paper Fig. 1),
    from expm-built rotations on |0000>."""
    psi = np.zeros((2,) * k, complex)
    psi[(0,) * k] = 1
    for layer in range(layers):
        for q in range(k):
            psi = apply_gate_np(psi, rot(PAULI["X"], theta[2 * (layer * k + q)]), [q])
            psi = apply_gate_np(psi, rot(PAULI["Z"], theta[2 * (layer * k + q) + 1]), [q])
        for q in range(k):
            psi = apply_gate_np(psi, CNOT_REF, [q, (q + 1) % k])
    return psi.reshape(-1)


def test_fast_path_fidelity_matches_a_textbook_simulation(rng):
    layers = 2
    theta = rng.uniform(0, 2 * np.pi, (3, 16))
    target = haar_real_unit_vector(7, 0)
    got = np.asarray(filter_fidelity(layers, jnp.asarray(theta, jnp.float32), jnp.asarray(target)))
    want = [abs(target @ _textbook_ansatz_state(t, layers)) ** 2 for t in theta]
    np.testing.assert_allclose(got, want, atol=2e-6)  # complex64 engine, F <= 1


def test_joint_seeds_follow_their_single_trajectories():
    """Adam is elementwise and the loss sums per-seed terms, so seed s optimised among others
    follows the trajectory it has alone (float32 rounding apart)."""
    target = haar_real_unit_vector(3, 1)
    options = {"iterations": 25, "learning_rate": 0.1, "seed": 5}
    joint, start, end = learn_filter_state(target, 1, seeds=3, **options)
    alone, start1, end1 = learn_filter_state(target, 1, seeds=1, **options)
    np.testing.assert_array_equal(start[:1], start1)
    np.testing.assert_allclose(joint[:1], alone, atol=1e-5)
    np.testing.assert_allclose(end[:1], end1, atol=1e-4)
    assert np.all(np.diff(joint[:, [0, -1]], axis=1) > 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learned_targets": 5}, "learned_targets"),
        ({"learned_targets": 0, "random_targets": 0}, "at least 1"),
        ({"layers": []}, "layers"),
        ({"layers": [1, 1]}, "distinct"),
        ({"thresholds": [1.5]}, "thresholds"),
        ({"circuit_checks": 9}, "circuit_checks"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"classical_train": 9000}, "at most 10000"),
        ({"classical_train": 50}, "batches of 100"),
    ],
)
def test_bad_settings_are_refused_before_any_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        QuCNNStateLearningConfig().with_overrides(overrides)
