"""Classical learners on surrogate features: the QCNN's own surrogate, and a plain baseline.

:class:`SurrogateClassifier` is the classical algorithm of qcnn-simulability (Result 2 and
Fig. 1): a model ``U(theta)`` read out by ``O`` is replaced by its compiled Pauli propagation
(a weight cut ``k`` keeps the strings of at most ``k`` qubits, LOWESA's truncation),

    f_theta(rho) = sum_j c_j(theta) <P_j>_rho,

and ``theta`` is trained with :func:`qnnlab.training.fit` on feature vectors
``(<P_j>_rho)_j`` (exact, or estimated once from classical shadows of the inputs); no state
vector is touched. Labels follow the engines' convention: class 1 <-> ``f > 0``.

:func:`baseline_classifier` is what a sceptical reviewer tries first on the same features: a
scikit-learn pipeline (standardisation + L2 logistic regression, or an RBF support vector
machine) with its regularisation chosen by stratified cross-validation on the training set.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit
from qnnlab.surrogate.compiled import CompiledSurrogate, compile_surrogate
from qnnlab.surrogate.features import FeatureMatrix, surrogate_features
from qnnlab.training.fit import FitResult, fit, init_params, predict_expvals
from qnnlab.training.losses import accuracy

BASELINES = ("logistic", "svm")
#: Regularisation grids searched by cross-validation (inverse strengths ``C``).
LOGISTIC_CS = tuple(float(c) for c in np.logspace(-4, 2, 7))
SVM_CS = (0.1, 1.0, 10.0, 100.0)


class LearnerError(ValueError):
    """A learner request that cannot be carried out; the message names the fix."""


def _rows(X) -> np.ndarray:
    values = X.values if isinstance(X, FeatureMatrix) else np.asarray(X, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise LearnerError(f"features must be a non-empty (B, T) matrix, got {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise LearnerError("features hold NaN or infinite values; recompute them from the data.")
    return values


def _labels(y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.all((y == 0) | (y == 1)):
        raise LearnerError(f"y must hold {n} labels 0/1 (one per row of the features).")
    return y.astype(np.int32)


@dataclass
class SurrogateClassifier:
    """A quantum model trained as a classical model of its inputs' Pauli features.

    Build it with :meth:`from_circuit` (compiles the surrogate) or from a
    :class:`CompiledSurrogate`. :meth:`features` turns states, MPS or shadows into the feature
    matrix; :meth:`fit` trains ``theta`` (Adam, MSE by default; ``fit`` keyword arguments pass
    through); :meth:`decision_function` is ``f_theta``, :meth:`predict` its sign as 0/1.
    """

    surrogate: CompiledSurrogate
    params_: np.ndarray | None = None
    fit_result_: FitResult | None = None

    @classmethod
    def from_circuit(
        cls,
        circuit: Circuit,
        observable,
        *,
        max_weight: int | None = None,
        max_freq: int | None = None,
        dtype: str = "float32",
    ) -> SurrogateClassifier:
        """Compile ``observable`` propagated through ``circuit`` with the given cuts."""
        surrogate = compile_surrogate(
            circuit, observable, max_weight=max_weight, max_freq=max_freq, dtype=dtype
        )
        return cls(surrogate)

    @property
    def n_terms(self) -> int:
        return self.surrogate.n_terms

    def features(self, data, *, n_snapshots: int | None = None, groups: int | None = None):
        """:func:`~qnnlab.surrogate.features.surrogate_features` for this surrogate's table."""
        return surrogate_features(
            self.surrogate.table, data, n_snapshots=n_snapshots, groups=groups
        )

    def _real(self):
        return jnp.float64 if self.surrogate.dtype == "float64" else jnp.float32

    def fit(
        self,
        X,
        y,
        *,
        seed: int = 0,
        theta0=None,
        epochs: int = 100,
        learning_rate: float = 0.05,
        batch_size: int = 32,
        loss: str = "mse",
        X_val=None,
        y_val=None,
        patience: int | None = None,
    ) -> SurrogateClassifier:
        """Train ``theta`` from ``theta0`` (default ``init_params(n_params, seed)``, the
        engines' uniform initialisation) on features ``X`` with labels ``y``."""
        values = _rows(X)
        y = _labels(y, values.shape[0])
        if theta0 is None:
            theta0 = init_params(self.surrogate.n_params, seed, self._real())
        X_val = None if X_val is None else _rows(X_val)
        self.fit_result_ = fit(
            self.surrogate.expval_fn(),
            jnp.asarray(theta0, self._real()),
            values,
            y,
            loss=loss,
            learning_rate=learning_rate,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            X_val=X_val,
            y_val=y_val,
            patience=patience,
        )
        self.params_ = np.asarray(self.fit_result_.params)
        return self

    def _theta(self, theta):
        if theta is not None:
            return jnp.asarray(theta, self._real())
        if self.params_ is None:
            raise LearnerError("the classifier is not fitted; call fit(X, y) or pass theta.")
        return jnp.asarray(self.params_, self._real())

    def decision_function(self, X, theta=None) -> np.ndarray:
        """``f_theta(rho_i) = sum_j c_j(theta) x_ij`` for every row (fitted ``theta`` by
        default)."""
        values = _rows(X)
        out = predict_expvals(self.surrogate.expval_fn(), self._theta(theta), values)
        return np.asarray(out, dtype=np.float64)

    def predict(self, X, theta=None) -> np.ndarray:
        """Class 1 where ``f_theta > 0``, else 0."""
        return (self.decision_function(X, theta) > 0).astype(np.int32)

    def score(self, X, y, theta=None) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        scores = self.decision_function(X, theta)
        return float(accuracy(scores, _labels(y, scores.shape[0])))


def row_space_projection():
    """A scikit-learn transformer ``X -> X V`` with ``V`` an orthonormal basis of the training
    rows' span (``rank <= n_train``).

    For an L2-penalised linear model the optimal weights lie in the span of the training rows
    (representer theorem), so ``w = V a`` and ``x . w = (x V) . a``: fitting on the projected
    rows gives the same decision function as on the raw ``T``-dimensional features, at the cost
    of an ``n_train``-dimensional fit. Used when ``T >> n_train`` (tens of thousands of Pauli
    features, a few dozen training states).
    """
    from sklearn.base import BaseEstimator, TransformerMixin

    class RowSpaceProjection(TransformerMixin, BaseEstimator):
        def fit(self, X, y=None):
            # eigenvectors of the small Gram matrix X X^T (n x n) instead of an SVD of the
            # wide X: V = X^T U Lambda^{-1/2} over the nonzero eigenvalues
            X = np.asarray(X, dtype=np.float64)
            lam, u = np.linalg.eigh(X @ X.T)
            keep = lam > max(lam.max(initial=0.0), 1e-300) * 1e-10
            if not keep.any():
                keep[-1] = True
            self.components_ = (X.T @ (u[:, keep] / np.sqrt(np.maximum(lam[keep], 1e-300)))).T
            return self

        def transform(self, X):
            return np.asarray(X, dtype=np.float64) @ self.components_.T

    return RowSpaceProjection()


def _cv_folds(y: np.ndarray, max_folds: int = 5) -> int:
    return int(min(max_folds, np.bincount(y, minlength=2).min()))


def baseline_classifier(kind: str = "logistic", *, y=None, seed: int = 0):
    """An unfitted scikit-learn pipeline for features of shape ``(B, T)``.

    ``"logistic"``: ``StandardScaler`` + L2 ``LogisticRegression`` with ``C`` chosen from
    :data:`LOGISTIC_CS` by ``GridSearchCV`` (accuracy), fitted in the span of the training
    rows (:func:`row_space_projection`, exact for an L2 penalty); ``"svm"``:
    ``StandardScaler`` + an RBF ``SVC`` (``gamma = "scale"``) with ``C`` from :data:`SVM_CS`.
    The whole pipeline (scaler and projection included) is refitted in every fold of the
    search, so a held-out fold never shapes the features that choose ``C``. The number of
    stratified folds is ``min(5, smallest class count of y)``; with fewer than two states of a
    class no cross-validation is possible and ``C = 1`` is used.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if kind not in BASELINES:
        raise LearnerError(f"unknown baseline {kind!r}; choose one of {BASELINES}.")
    folds = 0 if y is None else _cv_folds(np.asarray(y, dtype=np.int64))
    if kind == "logistic":
        steps = [StandardScaler(), row_space_projection()]
        estimator, cs = LogisticRegression(solver="newton-cholesky", max_iter=200), LOGISTIC_CS
    else:
        steps, estimator, cs = [StandardScaler()], SVC(kernel="rbf", gamma="scale"), SVM_CS
    pipeline = make_pipeline(*steps, estimator)
    if folds < 2:
        return pipeline.set_params(**{f"{pipeline.steps[-1][0]}__C": 1.0})
    # the scaler and the projection are refitted inside every fold: the held-out fold never
    # shapes the features that choose C
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    grid = {f"{pipeline.steps[-1][0]}__C": list(cs)}
    return GridSearchCV(pipeline, grid, cv=cv, scoring="accuracy")


def baseline_search(kind: str = "logistic", *, y=None, seed: int = 0):
    """The last stage of :func:`baseline_classifier` alone, for features that are already
    standardised (or for precomputed kernels): the estimator with ``C`` chosen by the same
    stratified ``GridSearchCV`` (``C = 1`` without enough states for two folds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    if kind not in BASELINES:
        raise LearnerError(f"unknown baseline {kind!r}; choose one of {BASELINES}.")
    if kind == "logistic":
        estimator, cs = LogisticRegression(solver="newton-cholesky", max_iter=200), LOGISTIC_CS
    else:
        estimator, cs = SVC(kernel="rbf", gamma="scale"), SVM_CS
    folds = 0 if y is None else _cv_folds(np.asarray(y, dtype=np.int64))
    if folds < 2:
        return estimator.set_params(C=1.0)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return GridSearchCV(estimator, {"C": list(cs)}, cv=cv, scoring="accuracy")


def fit_baseline(X, y, kind: str = "logistic", *, seed: int = 0):
    """:func:`baseline_classifier` fitted on ``(X, y)`` (features, 0/1 labels)."""
    values = _rows(X)
    y = _labels(y, values.shape[0])
    if np.unique(y).size < 2:
        raise LearnerError("the training set holds one class only; both labels are needed.")
    return baseline_classifier(kind, y=y, seed=seed).fit(values, y)


def baseline_score(model, X, y) -> float:
    """Accuracy of a fitted baseline on ``(X, y)``."""
    values = _rows(X)
    return float(model.score(values, _labels(y, values.shape[0])))
