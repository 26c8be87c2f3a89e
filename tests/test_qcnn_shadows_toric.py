"""``qcnn-shadows-toric``: config checks, the exact Gram-matrix baselines, the plaquette
reference, a tiny end-to-end run and its resumption from checkpoints."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from qnnlab.experiments import qcnn_shadows_toric as toric
from qnnlab.experiments.qcnn_shadows import family_surrogate
from qnnlab.experiments.qcnn_shadows_toric import (
    QCNNShadowsToricConfig,
    fit_threshold,
    gram_baseline,
    loop_table,
    pauli_strings_up_to,
    plaquette_table,
    predicted_plaquette_accuracy,
    run_qcnn_shadows_toric,
    span_coordinates,
    standardized_grams,
    table_columns,
    weight_bounds,
)
from qnnlab.surrogate.learners import baseline_score, fit_baseline

TINY = QCNNShadowsToricConfig(
    strengths=(0.1,),
    sweep_strengths=(0.1,),
    n_samples=24,
    test_size=12,
    train_size=12,
    seeds=2,
    max_weight=2,
    k_snapshots=200,
    snapshots=(50, 200),
    surrogate_max_weight=2,
    epochs=5,
)


# ------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strengths": ()}, "at least one"),
        ({"strengths": (0.1, 0.1)}, "repeated"),
        ({"strengths": (-0.5,), "sweep_strengths": ()}, ">= 0"),
        ({"sweep_strengths": (0.5,)}, "not in strengths"),
        ({"n_samples": 25}, "even"),
        ({"test_size": 20, "train_size": 20}, "exceeds n_samples"),
        ({"max_weight": 7}, "at most 6"),
        ({"surrogate_max_weight": 3}, "at most max_weight"),
        ({"snapshots": (200, 50)}, "increasing"),
        ({"groups": 100}, "exceeds the smallest snapshot count 50"),
        ({"baselines": ("forest",)}, "baselines must be"),
        ({"learning_rate": 0.0}, "positive"),
        ({"loss": "hinge"}, "loss must be"),
        ({"seeds": 0}, "seeds"),
    ],
)
def test_config_refuses_bad_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **overrides).validate()


def test_config_presets_validate_and_unknown_names_are_refused():
    QCNNShadowsToricConfig().validate()
    QCNNShadowsToricConfig.quick().validate()
    with pytest.raises(ValueError, match="unknown setting 'weight'"):
        TINY.with_overrides({"weight": 3})
    assert TINY.points(0.1) == [None, 50, 200]
    assert dataclasses.replace(TINY, strengths=(0.1, 3.0)).points(3.0) == [None, 200]


# ------------------------------------------------------------------------------ strings


def test_all_strings_up_to_a_weight_and_their_columns():
    table = pauli_strings_up_to(12, 3)
    weights = table.weights()
    bounds = weight_bounds(12, 3)
    assert len(table) == bounds[-1] == 36 + 594 + 5940
    assert np.all(np.diff(weights) >= 0)  # ordered by weight
    for w in (1, 2, 3):
        assert np.all(weights[bounds[w - 1] : bounds[w]] == w)
    keys = table.x[:, 0] | (table.z[:, 0] << np.uint64(12))
    assert len(np.unique(keys)) == len(table)
    # The weight-2 surrogate reaches every string of weight <= 2, each found at its own column.
    surrogate = family_surrogate(12, "su4", 2)
    columns = table_columns(table, surrogate.table)
    assert len(columns) == surrogate.n_terms == 630
    assert sorted(columns.tolist()) == list(range(630))
    np.testing.assert_array_equal(table.x[columns], surrogate.table.x)
    np.testing.assert_array_equal(table.z[columns], surrogate.table.z)
    with pytest.raises(ValueError, match="not in the table"):
        table_columns(pauli_strings_up_to(12, 1), table)


def _edge_cover(table):
    return sum(np.unpackbits(row.view(np.uint8), bitorder="little")[:12] for row in table.x)


def test_plaquettes_and_loops_are_x_strings_covering_every_edge_twice():
    plaquettes, loops = plaquette_table(), loop_table()
    assert plaquettes.weights().tolist() == [6] * 4
    assert loops.weights().tolist() == [4] * 6  # the torus' six non-contractible 4-cycles
    for table in (plaquettes, loops):
        assert np.all(table.z == 0)
        assert _edge_cover(table).tolist() == [2] * 12
    # a 4-cycle is not a product of hexagons (it winds around the torus): no plaquette subset
    # has it as its boundary sum
    for loop in loops.x[:, 0]:
        sums = {
            int(np.bitwise_xor.reduce(plaquettes.x[list(s), 0]))
            for r in range(1, 5)
            for s in itertools.combinations(range(4), r)
        }
        assert int(loop) not in sums


# ------------------------------------------------------------------------------ baselines


def _features(rng, n_states=40, n_features=24):
    """Noisy features with a weak signal, a constant column and one constant on training rows
    only (zero variance there, sklearn keeps scale 1)."""
    y = np.repeat([0, 1], n_states // 2)
    X = rng.standard_normal((n_states, n_features))
    X[:, :3] += 0.8 * y[:, None]
    X[:, 5] = 2.5
    train = np.arange(0, n_states, 2)
    test = np.arange(1, n_states, 2)
    X[train, 7] = -1.0
    return X, y, train, test


def test_gram_matrices_are_the_standardised_ones(rng):
    X, _, train, _ = _features(rng)
    bounds = np.array([0, 10, 24])
    grams, train_sq = standardized_grams(X.astype(np.float32), bounds, [train])
    scaler = StandardScaler().fit(X.astype(np.float32)[train].astype(np.float64))
    Z = scaler.transform(X.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(grams[0, 0], Z[:, :10] @ Z[:, :10].T, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grams[0].sum(axis=0), Z @ Z.T, rtol=1e-10, atol=1e-10)
    # sum of z^2 over training rows: n_train per non-constant column (columns 5 and 7 are not)
    assert train_sq.sum() == pytest.approx(len(train) * 22, rel=1e-12)


def test_logistic_in_span_coordinates_equals_logistic_on_the_features(rng):
    X, y, train, test = _features(rng)
    Z = StandardScaler().fit(X[train]).transform(X)
    coords_train, coords_test = span_coordinates(Z @ Z.T, train, test)
    for c in (0.01, 1.0, 100.0):
        full = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(Z[train], y[train])
        span = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(coords_train, y[train])
        # L2 weights lie in the span of the training rows: the same model, to rounding
        np.testing.assert_allclose(
            span.decision_function(coords_test), full.decision_function(Z[test]), atol=1e-7
        )


@pytest.mark.parametrize("kind", ["logistic", "svm"])
def test_gram_baselines_equal_the_scikit_learn_pipelines(rng, kind):
    X, y, train, test = _features(rng)
    grams, train_sq = standardized_grams(X, np.array([0, 24]), [train])
    out = gram_baseline(kind, grams[0, 0], float(train_sq[0, 0]), y, train, test, seed=3)
    model = fit_baseline(X[train], y[train], kind, seed=3)
    assert out["test_accuracy"] == baseline_score(model, X[test], y[test])
    assert out["train_accuracy"] == baseline_score(model, X[train], y[train])


# ------------------------------------------------------------------------------ plaquette


def test_threshold_is_fitted_midway_on_the_right_side():
    x = np.array([1.0, 0.98, 0.99, -0.25, -0.24, -0.26])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert fit_threshold(x, y) == (pytest.approx((0.98 - 0.24) / 2), -1)
    assert fit_threshold(x, 1 - y) == (pytest.approx((0.98 - 0.24) / 2), 1)


def test_predicted_plaquette_accuracy_is_the_gaussian_tail():
    sigma = math.sqrt(729 / (4 * 400))
    expected = 0.5 * (1 + math.erf(0.625 / sigma / math.sqrt(2)))
    xbar, labels = np.array([1.0, -0.25]), np.array([0, 1])
    assert predicted_plaquette_accuracy(xbar, labels, 400) == pytest.approx(expected)
    assert predicted_plaquette_accuracy(xbar, labels, 10**7) == pytest.approx(1.0)
    # a state on the wrong side of 3/8 is predicted wrong once the noise is small
    assert predicted_plaquette_accuracy(xbar, 1 - labels, 10**7) == pytest.approx(0.0)


# ------------------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("toric")
    return run_qcnn_shadows_toric(TINY, out, progress=False, workers=1, cache_dir=cache)


def test_tiny_run_writes_every_cell(tiny_run):
    cells = tiny_run.cells
    keys = {(c["snapshots"], c["learner"], c["k"]) for c in cells}
    expected = {
        (t, learner, k) for t in (None, 200) for learner in toric.LEARNERS[:3] for k in (1, 2)
    }
    expected |= {
        (t, learner, k) for t in (None, 50, 200) for learner, k in toric.REFERENCES.items()
    }
    expected |= {(50, learner, 2) for learner in ("logistic", "svm")}  # sweep: top cut only
    assert keys == expected
    assert all(c["seeds"] == 2 and c["family"] == "toric-vs-semion" for c in cells)
    folder = tiny_run.directory
    results = json.loads((folder / "results.json").read_text())
    assert results["experiment"] == "qcnn-shadows-toric"
    assert len(results["cells"]) == len(cells)
    assert {"1", "2"} == set(results["surrogates"])
    for name in ("cells.csv", "accuracy_vs_weight.png", "accuracy_vs_snapshots.png"):
        assert (folder / name).stat().st_size > 0
    assert len(list((folder / "shadows" / "strength0.1").glob("state-*.npz"))) == 24
    assert not list((folder / "features" / "strength0.1").glob("*-rows"))  # rows cleaned up
    assert any("features" in line or "plaquette" in line for line in toric.report(tiny_run))


def test_tiny_run_learners_are_at_chance_below_weight_six(tiny_run):
    for c in tiny_run.cells:
        if c["learner"] in toric.REFERENCES:
            continue
        if c["snapshots"] is None:
            # Local unitaries fix I/d: every 1- and 2-qubit marginal stays maximally mixed at
            # any strength, so these features are exactly 0 for every state and each learner
            # predicts one class on the balanced test set: exactly chance.
            assert c["test_accuracy_mean"] == 0.5
            assert c["test_accuracy_std"] == 0.0
        else:
            # Shadow noise only: each seed's accuracy on 12 test states is Binomial(12, 1/2)/12
            # (sd 0.144); the mean of two seeds stays within 3 sd of 1/2.
            assert abs(c["test_accuracy_mean"] - 0.5) <= 3 * math.sqrt(0.25 / 12)


def test_tiny_run_plaquette_reference(tiny_run):
    exact = [c for c in tiny_run.cells if c["learner"] == "plaquette" and c["snapshots"] is None]
    # <X_p> is +1 (toric code) vs -1/4 (double semion) to within 1% at strength 0.1
    assert exact[0]["test_accuracy_mean"] == 1.0
    predicted = {p["snapshots"]: p["plaquette_predicted_accuracy"] for p in tiny_run.predictions}
    assert 0.5 < predicted[50] < predicted[200] < 1.0


def test_tiny_run_resumes_from_checkpoints(tiny_run, cache, monkeypatch):
    calls = []
    original = toric.gram_baseline

    def counting(kind, *args, **kwargs):
        calls.append(kind)
        return original(kind, *args, **kwargs)

    monkeypatch.setattr(toric, "gram_baseline", counting)
    folder = tiny_run.directory
    again = run_qcnn_shadows_toric(TINY, folder, progress=False, workers=1, cache_dir=cache)
    assert calls == []  # every fit came from its checkpoint
    assert again.cells == tiny_run.cells
    # Lose one fit and one feature point: the point is rebuilt from the saved shadows (not
    # resampled) and only that fit reruns, with the same result.
    shadow = folder / "shadows" / "strength0.1" / "state-00000.npz"
    stamp = shadow.stat().st_mtime_ns
    (folder / "features" / "strength0.1" / "T50.npz").unlink()
    [checkpoint] = (folder / "checkpoints").glob("*baselines-strength0.1-T50-seed1.json")
    checkpoint.unlink()
    resumed = run_qcnn_shadows_toric(TINY, folder, progress=False, workers=1, cache_dir=cache)
    assert calls == ["logistic", "svm"]
    assert shadow.stat().st_mtime_ns == stamp
    assert resumed.cells == tiny_run.cells
