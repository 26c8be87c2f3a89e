"""Training: losses, splits, the jitted fit loop, shot-based evaluation, QCNNClassifier."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.models.qcnn import qcnn, qcnn_readout
from qnnlab.training import (
    FitResult,
    NotFittedError,
    QCNNClassifier,
    accuracy,
    bce_loss,
    evaluate,
    fit,
    fit_seeds,
    get_loss,
    init_params,
    mse_loss,
    predict_expvals,
    train_val_test_split,
)

N = 4


def product_states(n: int, m: int, seed: int, spread: float = 0.6):
    """Labelled toy data: class 0 near |0...0>, class 1 near |1...1> (RY angles per qubit)."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    states = []
    for label in y:
        angles = rng.uniform(0.0, spread, n)
        if label:
            angles = np.pi - angles
        s = np.ones(1, dtype=np.complex128)
        for a in angles:
            s = np.kron(s, np.array([np.cos(a / 2), np.sin(a / 2)]))
        states.append(s)
    return np.array(states), y


def random_states(n: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=(m, 2**n)) + 1j * rng.normal(size=(m, 2**n))
    return psi / np.linalg.norm(psi, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def model():
    circuit = qcnn(N)
    engine = StatevectorEngine(circuit, kernel="dot")  # fastest to compile
    return circuit, engine.expval_fn(qcnn_readout(circuit))


@pytest.fixture(scope="module")
def toy():
    X, y = product_states(N, 24, seed=0)
    return jnp.asarray(X, dtype=jnp.complex64), y


# ---------------------------------------------------------------------------------- losses
def test_losses_match_hand_computed_values():
    e = np.array([0.5, -1.0, 0.2])
    y = np.array([1, 0, 0])
    # targets +1, -1, -1: squared errors 0.25, 0, 1.44
    assert float(mse_loss(e, y)) == pytest.approx((0.25 + 0.0 + 1.44) / 3, rel=1e-6)
    assert float(mse_loss(e, y, weights=[1.0, 1.0, 0.0])) == pytest.approx(0.125, rel=1e-6)
    # p = 0.75, 0 (squeezed to 1e-6), 0.6; labels 1, 0, 0
    expected = -(math.log(0.75) + math.log(1 - 1e-6) + math.log(0.4)) / 3
    assert float(bce_loss(e, y)) == pytest.approx(expected, rel=1e-5)
    # predictions 1, 0, 1 (sign): two of three correct
    assert float(accuracy(e, y)) == pytest.approx(2 / 3, rel=1e-6)
    assert float(accuracy(np.array([0.0]), np.array([0]))) == 1.0  # tie -> class 0


def test_bce_finite_at_the_boundary_and_loss_lookup():
    e = jnp.array([1.0, -1.0])
    assert np.isfinite(float(bce_loss(e, np.array([0, 1]))))
    grad = np.asarray(jax.grad(lambda v: bce_loss(v, np.array([0, 1])))(e))
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 1.0)  # wrong and confident
    assert get_loss("mse") is mse_loss and get_loss("bce") is bce_loss
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")


# ---------------------------------------------------------------------------------- splits
def test_splits_are_stratified_disjoint_covering_and_deterministic():
    labels = np.array([0] * 30 + [1] * 20)
    tr, va, te = train_val_test_split(50, val=0.2, test=0.2, seed=3, stratify=labels)
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(50))
    assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
    for idx, n0, n1 in ((tr, 18, 12), (va, 6, 4), (te, 6, 4)):
        assert (np.sum(labels[idx] == 0), np.sum(labels[idx] == 1)) == (n0, n1)
    again = train_val_test_split(50, val=0.2, test=0.2, seed=3, stratify=labels)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = train_val_test_split(50, val=0.2, test=0.2, seed=4, stratify=labels)
    assert not np.array_equal(other[1], va)
    tr2, va2, te2 = train_val_test_split(10, val=0.3, test=0.0, seed=0)
    assert (len(tr2), len(va2), len(te2)) == (7, 3, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_samples": 0}, "positive integer"),
        ({"val": 0.6, "test": 0.5}, "val \\+ test"),
        ({"val": -0.1}, "fraction"),
        ({"stratify": np.zeros(3)}, "shape"),
        ({"n_samples": 2, "val": 0.1, "test": 0.0}, "empty val"),
        ({"seed": None}, "seed"),
    ],
)
def test_split_errors(kwargs, match):
    args = {"n_samples": 10, "val": 0.2, "test": 0.2, "seed": 0} | kwargs
    n = args.pop("n_samples")
    with pytest.raises(ValueError, match=match):
        train_val_test_split(n, **args)


# ---------------------------------------------------------------------------------- fit
def _fit_toy(f, circuit, X, y, *, seed, epochs, **kwargs):
    """Adam at learning rate 0.1 in batches of 8, parameters and batch order from ``seed``."""
    theta0 = init_params(circuit.n_params, seed)
    return fit(f, theta0, X, y, learning_rate=0.1, epochs=epochs, batch_size=8, seed=seed, **kwargs)


def test_fit_learns_a_separable_task(model, toy):
    circuit, f = model
    X, y = toy
    res = _fit_toy(f, circuit, X, y, seed=1, epochs=30)  # 24 rows: 3 full batches
    assert isinstance(res, FitResult) and res.epochs_run == 30 and not res.stopped_early
    h = res.history
    assert set(h) == {"train_loss", "train_acc", "val_loss", "val_acc", "time"}
    assert h["train_loss"][-1] < 0.2 * h["train_loss"][0]
    assert h["train_acc"][-1] == 1.0
    assert all(math.isnan(v) for v in h["val_loss"])
    assert res.params.shape == (circuit.n_params,)
    exact = evaluate(f, res.params, X, y)
    assert exact["accuracy"] == 1.0
    assert exact["loss"] == pytest.approx(h["train_loss"][-1], rel=1e-5)


def test_early_stopping_restores_the_best_validation_epoch(model, toy):
    circuit, f = model
    X, y = toy
    # validation labels are flipped: learning the training task makes validation worse
    res = _fit_toy(f, circuit, X, y, seed=0, epochs=50, X_val=X, y_val=1 - y, patience=3)
    val = res.history["val_loss"]
    assert res.stopped_early and res.epochs_run < 50
    assert res.best_epoch == int(np.argmin(val)) and res.epochs_run == res.best_epoch + 4
    assert res.metrics["val_loss"] == val[res.best_epoch]
    restored = evaluate(f, res.params, X, 1 - y)
    assert restored["loss"] == pytest.approx(val[res.best_epoch], rel=1e-5)
    with pytest.raises(ValueError, match="validation set"):
        fit(f, init_params(circuit.n_params, 0), X, y, patience=2)


def test_same_seed_same_history_different_seeds_differ(model, toy):
    circuit, f = model
    X, y = toy
    kw = {"learning_rate": 0.05, "epochs": 3, "batch_size": 8, "X_val": X[:8], "y_val": y[:8]}
    runs = [fit(f, init_params(circuit.n_params, s), X, y, seed=s, **kw) for s in (5, 5, 6)]
    a, b, c = ({k: v for k, v in r.history.items() if k != "time"} for r in runs)
    assert a == b and np.array_equal(runs[0].params, runs[1].params)
    assert a["train_loss"] != c["train_loss"]
    # same theta0, different batch order only
    theta0 = init_params(circuit.n_params, 5)
    d = fit(f, theta0, X, y, seed=7, **kw)
    assert d.history["train_loss"] != a["train_loss"]


def test_fit_seeds_summary(model, toy):
    circuit, f = model
    X, y = toy
    out = fit_seeds(
        f, circuit.n_params, X, y, seeds=(0, 1), epochs=2, batch_size=8, X_val=X[:8], y_val=y[:8]
    )
    assert out.seeds == [0, 1] and len(out.results) == 2
    losses = [r.metrics["train_loss"] for r in out.results]
    assert losses[0] != losses[1]
    assert out.summary["train_loss"] == pytest.approx((np.mean(losses), np.std(losses)))
    with pytest.raises(ValueError, match="seeds"):
        fit_seeds(f, circuit.n_params, X, y, seed=1)


def test_fit_input_errors_and_progress_bar(model, toy, capsys):
    circuit, f = model
    X, y = toy
    theta0 = init_params(circuit.n_params, 0)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        fit(f, theta0, X, y + 1)
    with pytest.raises(ValueError, match="shape"):
        fit(f, theta0, X, y[:-1])
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(f, theta0, X, y, X_val=X)
    with pytest.raises(ValueError, match="epochs"):
        fit(f, theta0, X, y, epochs=0)
    res = fit(f, theta0, X, y, epochs=1, batch_size=8, progress=True)
    assert res.epochs_run == 1


# ---------------------------------------------------------------------------------- shots
def test_shot_estimates_converge_to_exact(model):
    circuit, f = model
    X = jnp.asarray(random_states(N, 16, seed=2), dtype=jnp.complex64)
    theta = init_params(circuit.n_params, 3)
    exact = np.asarray(predict_expvals(f, theta, X), dtype=float)
    errors = []
    for shots in (100, 10_000, 1_000_000):
        est = np.asarray(predict_expvals(f, theta, X, shots=shots, seed=11), dtype=float)
        sigma = np.sqrt(np.maximum(1 - exact**2, 1e-12) / shots)
        assert np.all(np.abs(est - exact) <= 5 * sigma + 1e-5)  # 5 sigma (+ float32 rounding)
        errors.append(np.max(np.abs(est - exact)))
    assert errors[2] < errors[0]
    again = predict_expvals(f, theta, X, shots=100, seed=11)
    assert np.array_equal(
        np.asarray(again), np.asarray(predict_expvals(f, theta, X, shots=100, seed=11))
    )
    y = (exact > 0).astype(int)
    assert evaluate(f, theta, X, y, shots=10**6, seed=1)["accuracy"] == pytest.approx(
        evaluate(f, theta, X, y)["accuracy"], abs=1 / 16 + 1e-9
    )
    with pytest.raises(ValueError, match="seed"):
        predict_expvals(f, theta, X, shots=10)


def test_fit_with_eval_shots_uses_noisy_validation(model, toy):
    circuit, f = model
    X, y = toy
    kw = {"epochs": 2, "batch_size": 8, "X_val": X, "y_val": y}
    exact = fit(f, init_params(circuit.n_params, 0), X, y, **kw)
    noisy = fit(f, init_params(circuit.n_params, 0), X, y, eval_shots=50, **kw)
    assert noisy.history["train_loss"] == exact.history["train_loss"]  # training is exact
    assert noisy.history["val_loss"] != exact.history["val_loss"]


# ---------------------------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def labelled():
    X, y01 = product_states(N, 16, seed=4)
    return X, np.where(y01 == 1, "b", "a")


@pytest.fixture(scope="module")
def fitted(labelled):
    X, y = labelled
    return QCNNClassifier(learning_rate=0.1, epochs=25, batch_size=8, seed=1).fit(X, y)


def test_classifier_fit_predict_proba_score(fitted, labelled):
    X, y = labelled
    est = fitted
    assert list(est.classes_) == ["a", "b"] and est.n_qubits_ == N
    assert est.params_.shape == (est.circuit_.n_params,)
    assert len(est.history_["train_loss"]) == 25
    pred = est.predict(X)
    assert set(pred) <= {"a", "b"} and est.score(X, y) == 1.0
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(proba[:, 1] > 0.5, pred == "b")
    d = est.decision_function(X)
    np.testing.assert_allclose(proba[:, 1], (1 + d) / 2, rtol=1e-6)
    np.testing.assert_allclose(est.predict_proba(list(X)), proba)  # list of states accepted
    assert est.evaluate(X, y, shots=1000, seed=0)["accuracy"] >= 0.9


def test_classifier_accepts_a_dataset_like_object(labelled):
    X, y = labelled

    class FakeDataset:
        labels = (y == "b").astype(int)

        def dense_states(self):
            return X

    est = QCNNClassifier(learning_rate=0.1, epochs=2, batch_size=8).fit(FakeDataset())
    assert list(est.classes_) == [0, 1] and est.predict(FakeDataset()).shape == (len(X),)


def test_classifier_params_round_trip_and_clone(fitted):
    est = QCNNClassifier(n_qubits=4, model_kwargs={}, loss="bce", epochs=3, seed=7)
    params = est.get_params()
    assert params == est.get_params(deep=False)
    assert params["loss"] == "bce" and params["seed"] == 7 and params["n_qubits"] == 4
    clone = type(est)(**est.get_params())
    assert clone.get_params() == params and clone is not est
    assert est.set_params(learning_rate=0.2, epochs=4) is est
    assert est.learning_rate == 0.2 and est.epochs == 4
    with pytest.raises(ValueError, match="invalid parameter"):
        est.set_params(lr=1.0)
    refit = type(fitted)(**fitted.get_params())
    assert not hasattr(refit, "params_")
    assert "QCNNClassifier(" in repr(est)


def test_classifier_validation_split_and_early_stopping(labelled):
    X, y = labelled
    est = QCNNClassifier(
        learning_rate=0.1, epochs=10, batch_size=8, validation_fraction=0.25, patience=2, seed=0
    ).fit(X, y)
    assert not any(math.isnan(v) for v in est.history_["val_loss"])
    assert est.fit_result_.best_epoch < len(est.history_["val_loss"])


def test_classifier_errors(fitted, labelled):
    X, y = labelled
    est = QCNNClassifier()
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(X)
    assert not hasattr(est, "params_")
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        QCNNClassifier(epochs=1).fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match=r"one class .* at least two classes"):
        QCNNClassifier(epochs=1).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="2\\*\\*n entries"):
        QCNNClassifier(epochs=1).fit(np.ones((4, 12)) / np.sqrt(12), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="expected states of 5 qubits"):
        QCNNClassifier(n_qubits=5, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="normalised"):
        QCNNClassifier(epochs=1).fit(2 * X, y)
    with pytest.raises(ValueError, match="shape"):
        QCNNClassifier(epochs=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="X has 32 features, but QCNNClassifier is expecting 16"):
        fitted.predict(random_states(5, 3, seed=0))


def test_sklearn_clone(fitted):
    from sklearn.base import clone  # a runtime dependency

    cloned = clone(fitted)
    assert cloned.get_params() == fitted.get_params() and not hasattr(cloned, "params_")


# ---------------------------------------------------------------------------------- gradient
def test_loss_gradient_matches_finite_differences():
    """complex128: central differences with h = 1e-5 have truncation error O(h^2 |f'''|) ~ 1e-10
    and rounding error O(eps / h) ~ 1e-11, far below the 1e-6 relative tolerance used here."""
    circuit = qcnn(N)
    f = StatevectorEngine(circuit, dtype="complex128", kernel="dot").expval_fn(
        qcnn_readout(circuit)
    )
    X = jnp.asarray(random_states(N, 5, seed=9))
    y = np.array([0, 1, 1, 0, 1])
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, circuit.n_params)
    value = jax.jit(lambda t: jnp.stack([mse_loss(f(t, X), y), bce_loss(f(t, X), y)]))
    grad = np.asarray(jax.jit(jax.jacrev(value))(jnp.asarray(theta)))  # (2, n_params)
    h = 1e-5
    fd = np.empty_like(grad)
    for k in range(len(theta)):
        e = np.zeros_like(theta)
        e[k] = h
        fd[:, k] = (np.asarray(value(theta + e)) - np.asarray(value(theta - e))) / (2 * h)
    for g_row, fd_row in zip(grad, fd, strict=True):
        np.testing.assert_allclose(g_row, fd_row, rtol=1e-6, atol=1e-6 * np.max(np.abs(fd_row)))
