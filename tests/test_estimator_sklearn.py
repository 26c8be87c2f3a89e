"""QCNNClassifier in scikit-learn's ecosystem, and its input checks.

scikit-learn's own estimator checks run on a feature-vector classifier
(``pad_and_normalize=True``: the checks feed random real matrices, which are not states); the
ecosystem tools (``cross_val_score``, ``GridSearchCV``, ``Pipeline``, ``clone``, pickling) run
on 2-qubit states, the estimator's default input. Every model here has 2 qubits and
``batch_size=8`` so that one compiled training step serves almost every test (the checks that
need 3- and 4-qubit models are marked slow).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import estimator_checks_generator
from sklearn.utils.validation import check_is_fitted

from qnnlab.training import NotFittedError, QCNNClassifier

#: Tiny training runs: 2 epochs of 8-row Adam steps (every training set here has >= 8 rows).
FAST = {"epochs": 2, "batch_size": 8, "learning_rate": 0.1}

#: Checks that cannot pass, with the reason (``xfail(strict=True)``: a pass is reported).
EXPECTED_FAILED_CHECKS = {
    "check_estimators_dtypes": (
        "casts random features to integers, which makes one row all zeros; a zero vector has "
        "no direction to amplitude-embed, so fit raises a clear ValueError (float32 and integer "
        "features are tested in test_embedding_accepts_float32_and_integer_features)"
    ),
}

#: Checks whose data have 5 or 10 features (3- and 4-qubit models, one compilation each).
SLOW_CHECKS = {"check_estimators_dtypes", "check_dtype_object"}


def _check_id(check) -> str:
    kwargs = ",".join(f"{k}={v}" for k, v in check.keywords.items())
    return f"{check.func.__name__}({kwargs})" if kwargs else check.func.__name__


def _sklearn_checks(estimator):
    """``pytest.param(estimator, check)`` for each of scikit-learn's checks, expected failures
    marked xfail and the slow ones marked slow."""
    params = []
    with warnings.catch_warnings():
        # scikit-learn warns that the estimator does not inherit from BaseEstimator: on
        # purpose, scikit-learn is an optional dependency (estimator.py docstring).
        warnings.filterwarnings("ignore", "Estimator .* does not inherit", UserWarning)
        for item in estimator_checks_generator(
            estimator,
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            mark="xfail",
            xfail_strict=True,
        ):
            # a pytest.param (a marked expected failure) or an (estimator, check) pair
            values, marks = (item.values, item.marks) if hasattr(item, "marks") else (item, ())
            check = values[1]
            if check.func.__name__ in SLOW_CHECKS:
                marks = (*marks, pytest.mark.slow)
            params.append(pytest.param(*values, marks=marks, id=_check_id(check)))
    return params


@pytest.mark.parametrize(
    "estimator, check", _sklearn_checks(QCNNClassifier(pad_and_normalize=True, **FAST))
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_real_check_names():
    names = {p.values[1].func.__name__ for p in _sklearn_checks(QCNNClassifier(**FAST))}
    assert set(EXPECTED_FAILED_CHECKS) <= names and SLOW_CHECKS <= names


# ---------------------------------------------------------------------------------- data
def product_states(m: int, seed: int, spread: float = 0.6):
    """2-qubit states: label "down" near |00>, "up" near |11> (RY angles per qubit)."""
    rng = np.random.default_rng(seed)
    up = np.arange(m) % 2 == 1
    angles = rng.uniform(0.0, spread, (m, 2))
    angles[up] = np.pi - angles[up]
    qubit = np.stack([np.cos(angles / 2), np.sin(angles / 2)], axis=-1)  # (m, 2, 2)
    states = np.einsum("ma,mb->mab", qubit[:, 0], qubit[:, 1]).reshape(m, 4)
    return states.astype(np.complex128), np.where(up, "up", "down")


@pytest.fixture(scope="module")
def states():
    return product_states(24, seed=0)


@pytest.fixture(scope="module")
def fitted(states):
    X, y = states
    return QCNNClassifier(**{**FAST, "epochs": 5}).fit(X, y)


# ---------------------------------------------------------------------------------- protocol
def test_tags_and_fitted_protocol(states):
    est = QCNNClassifier()
    tags = get_tags(est)
    assert is_classifier(est) and tags.estimator_type == "classifier"
    assert tags.classifier_tags.multi_class is False and tags.target_tags.required
    assert not tags.input_tags.allow_nan and not tags.input_tags.sparse
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(est)
    est.set_params(**FAST).fit(*states)
    check_is_fitted(est)


def test_not_fitted_error_is_also_sklearns(states):
    with pytest.raises(SklearnNotFittedError, match="not fitted") as info:
        QCNNClassifier().predict(states[0])
    err = info.value
    assert isinstance(err, NotFittedError) and isinstance(err, ValueError | AttributeError)
    back = pickle.loads(pickle.dumps(err))  # e.g. sent back from a joblib worker
    assert isinstance(back, NotFittedError) and isinstance(back, SklearnNotFittedError)
    assert back.args == err.args


def test_fitted_attributes_and_string_labels(fitted, states):
    X, y = states
    assert list(fitted.classes_) == ["down", "up"]
    assert fitted.n_features_in_ == 4 and fitted.n_qubits_ == 2
    assert fitted.score(X, y) == 1.0 and set(fitted.predict(X)) == {"down", "up"}
    with pytest.raises(ValueError, match="X has 8 features, but QCNNClassifier is expecting 4"):
        fitted.predict(np.eye(8)[:3])


def test_clone_and_pickle_a_fitted_estimator(fitted, states):
    X, _ = states
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params() and not hasattr(fresh, "params_")
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    assert back.circuit_ is fitted.circuit_  # the compiled model comes back from the cache
    assert back.n_features_in_ == 4 and list(back.classes_) == ["down", "up"]


# ---------------------------------------------------------------------------------- ecosystem
def test_cross_val_score_on_states(states):
    X, y = states
    scores = cross_val_score(QCNNClassifier(**{**FAST, "epochs": 5}), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores == 1.0)


def test_grid_search_over_epochs(states):
    X, y = states
    search = GridSearchCV(QCNNClassifier(**FAST), {"epochs": [1, 4]}, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_params_ == {"epochs": 4}  # one epoch leaves it at chance (0.5)
    best = search.best_estimator_
    assert best.epochs == 4 and len(best.history_["train_loss"]) == 4
    assert search.score(X, y) == 1.0


def test_pipeline_with_a_scaler_before_the_embedding():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 3)) + np.array([5.0, 0.0, 0.0])  # scaling changes the directions
    y = (X[:, 1] > 0).astype(int)
    pipe = Pipeline(
        [("scale", StandardScaler()), ("qcnn", QCNNClassifier(pad_and_normalize=True, **FAST))]
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (24,) and list(pipe.classes_) == [0, 1]
    qcnn = pipe.named_steps["qcnn"]
    assert qcnn.n_features_in_ == 3 and qcnn.n_qubits_ == 2
    np.testing.assert_allclose(
        pipe.decision_function(X), qcnn.decision_function(StandardScaler().fit_transform(X))
    )
    assert cross_val_score(clone(pipe), X, y, cv=2).shape == (2,)
    assert "QCNNClassifier" in pipe._repr_html_()


# ---------------------------------------------------------------------------------- embedding
def test_pad_and_normalize_is_amplitude_embedding():
    """Fitting on features equals fitting on their zero-padded, L2-normalised states."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 3))
    y = np.arange(12) % 2
    states = np.zeros((12, 4))
    states[:, :3] = X / np.linalg.norm(X, axis=1, keepdims=True)
    on_features = QCNNClassifier(pad_and_normalize=True, **FAST).fit(X, y)
    on_states = QCNNClassifier(**FAST).fit(states, y)
    np.testing.assert_allclose(
        on_features.decision_function(X), on_states.decision_function(states), atol=1e-6
    )
    # only the direction of a feature vector matters
    np.testing.assert_allclose(
        on_features.decision_function(1e150 * X), on_features.decision_function(X), atol=1e-6
    )
    assert on_features.n_features_in_ == 3 and on_states.n_features_in_ == 4


def test_pad_and_normalize_widths():
    y = np.arange(8) % 2
    one = QCNNClassifier(pad_and_normalize=True, **FAST).fit(np.arange(1.0, 9.0)[:, None], y)
    assert one.n_qubits_ == 2 and one.n_features_in_ == 1  # at least 2 qubits
    with pytest.raises(ValueError, match="X has 5 features, more than the 2\\*\\*2 = 4"):
        QCNNClassifier(n_qubits=2, pad_and_normalize=True).fit(np.ones((8, 5)), y)
    X = np.ones((8, 3))
    X[5] = 0.0
    with pytest.raises(ValueError, match="row 5 of X is all zeros"):
        QCNNClassifier(pad_and_normalize=True).fit(X, y)


@pytest.mark.slow  # a 3-qubit model: one more compilation
def test_pad_and_normalize_to_a_given_number_of_qubits():
    est = QCNNClassifier(n_qubits=3, pad_and_normalize=True, **FAST)
    X = np.random.default_rng(4).normal(size=(8, 3))
    est.fit(X, np.arange(8) % 2)
    assert est.n_qubits_ == 3 and est.n_features_in_ == 3
    states = np.zeros((8, 8))
    states[:, :3] = X / np.linalg.norm(X, axis=1, keepdims=True)
    on_states = QCNNClassifier(**FAST).fit(states, np.arange(8) % 2)
    np.testing.assert_allclose(
        est.decision_function(X), on_states.decision_function(states), atol=1e-6
    )


def test_embedding_accepts_float32_and_integer_features():
    rng = np.random.default_rng(3)
    X = rng.integers(1, 4, size=(12, 3))
    y = np.arange(12) % 2
    ref = QCNNClassifier(pad_and_normalize=True, **FAST).fit(X.astype(np.float64), y)
    for dtype in (np.float32, np.int32, np.int64, object):
        est = QCNNClassifier(pad_and_normalize=True, **FAST).fit(X.astype(dtype), y)
        # not params_: Adam moves a parameter whose gradient is ~0 by +-learning_rate, so
        # float32 rounding of the input may flip it; the model's outputs agree
        d = est.decision_function(X.astype(dtype))
        np.testing.assert_allclose(d, ref.decision_function(X), atol=1e-4)


def test_default_input_must_already_be_states(states):
    X, y = states
    with pytest.raises(ValueError, match=r"normalised.*use pad_and_normalize=True"):
        QCNNClassifier().fit(2 * X, y)
    with pytest.raises(ValueError, match=r"2\*\*n entries.*use pad_and_normalize=True"):
        QCNNClassifier().fit(np.ones((4, 3)) / np.sqrt(3), [0, 1, 0, 1])


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_states_are_rejected_before_training(states, fitted, bad):
    X, y = states
    all_bad = np.full_like(X, bad)  # all-NaN states used to pass the norm check
    est = QCNNClassifier(**FAST)
    with pytest.raises(ValueError, match="X contains NaN or inf \\(first in row 0\\)"):
        est.fit(all_bad, y)
    assert not hasattr(est, "params_")
    one_bad = X.copy()
    one_bad[3, 1] = bad
    with pytest.raises(ValueError, match="first in row 3"):
        QCNNClassifier(pad_and_normalize=True, **FAST).fit(one_bad, y)
    with pytest.raises(ValueError, match="NaN or inf"):
        fitted.predict(one_bad)


def test_one_class_says_what_to_do(states):
    X, _ = states
    with pytest.raises(ValueError, match="y holds one class \\('a'\\); a classifier needs") as e:
        QCNNClassifier(**FAST).fit(X, ["a"] * len(X))
    assert "StratifiedKFold" in str(e.value)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.arange(24) % 3, "Only binary classification is supported.*3 classes"),
        (np.linspace(0.0, 1.0, 24), "Unknown label type: continuous"),
        (np.arange(24) % 2 + 1j, "Complex data not supported"),
        (np.where(np.arange(24) % 2, 1.0, np.nan), "y contains NaN or inf"),
        (np.array([1, "a"] * 12, dtype=object), "cannot be sorted"),
        (None, "requires y to be passed"),
        (np.arange(23) % 2, "y must have shape \\(24,\\)"),
    ],
    ids=["three-classes", "continuous", "complex", "nan", "mixed-types", "none", "length"],
)
def test_label_errors(states, y, match):
    with pytest.raises(ValueError, match=match):
        QCNNClassifier(**FAST).fit(states[0], y)


def test_column_vector_y_is_raveled_with_a_warning(states, fitted):
    X, y = states
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        est = QCNNClassifier(**{**FAST, "epochs": 5}).fit(X, y[:, None])
    np.testing.assert_array_equal(est.params_, fitted.params_)


def test_array_errors(states, fitted):
    X, y = states
    import scipy.sparse as scipy_sparse

    with pytest.raises(ValueError, match="sparse input is not supported"):
        QCNNClassifier().fit(scipy_sparse.csr_array(X.real), y)
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.predict(X[0])
    with pytest.raises(ValueError, match="0 feature\\(s\\)"):
        QCNNClassifier().fit(np.empty((24, 0)), y)
    for rows in (X, X.real):  # complex or real numbers, and one dict
        bad = rows.astype(object)
        bad[0, 0] = {"not": "a number"}
        with pytest.raises(TypeError, match=r"X must hold numbers; converting .* not '?dict"):
            QCNNClassifier().fit(bad, y)
    for n_qubits in (1, 2.0, True):
        with pytest.raises(ValueError, match="n_qubits must be an integer >= 2"):
            QCNNClassifier(n_qubits=n_qubits).fit(X, y)


def test_a_failed_refit_leaves_the_estimator_unfitted(states):
    X, y = states
    est = QCNNClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        est.fit(X, ["a"] * len(X))
    assert not any(k.endswith("_") for k in vars(est))
    with pytest.raises(NotFittedError):
        est.predict(X)
