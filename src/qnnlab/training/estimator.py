"""A scikit-learn style binary classifier of quantum states with a QCNN.

Follows scikit-learn's estimator conventions without importing it: ``__init__`` only stores
hyperparameters, ``fit`` learns attributes with a trailing underscore, ``get_params`` /
``set_params`` expose the constructor arguments (so ``sklearn.base.clone`` and
``type(est)(**est.get_params())`` work).

Model: ``<Z>`` on the QCNN's last qubit, ``e(psi) = <psi| U(theta)^dag Z U(theta) |psi>``;
``P(classes_[1] | psi) = (1 + e)/2`` and the prediction is ``classes_[1]`` iff ``e > 0``.
"""

from __future__ import annotations

import functools
import inspect

import jax.numpy as jnp
import numpy as np

from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.models.qcnn import qcnn, qcnn_readout
from qnnlab.training.fit import evaluate, fit, init_params, predict_expvals
from qnnlab.training.losses import get_loss
from qnnlab.training.splits import train_val_test_split

#: Normalisation tolerance for input states, ``| ||psi||^2 - 1 | <= NORM_TOL``.
NORM_TOL = 1e-4


@functools.lru_cache(maxsize=16)
def _cached_model(n: int, kwargs_items: tuple, dtype: str):
    circuit = qcnn(n, **dict(kwargs_items))
    engine = StatevectorEngine(circuit, dtype=dtype)
    return circuit, engine, engine.expval_fn(qcnn_readout(circuit))


def _build_model(n: int, model_kwargs, dtype):
    """``(circuit, engine, model_fn)`` for ``qcnn(n, **model_kwargs)``.

    Cached when the arguments are hashable, so refits and clones reuse the compiled step (the
    circuit object is then shared between estimators: treat ``circuit_`` as read-only).
    """
    items = tuple(sorted((model_kwargs or {}).items()))
    try:
        hash((items, dtype))
    except TypeError:
        return _cached_model.__wrapped__(n, items, dtype)
    return _cached_model(n, items, dtype)


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before ``fit`` (as scikit-learn's ``NotFittedError``)."""


class QCNNClassifier:
    """Binary classifier of ``n``-qubit pure states by a QCNN (:func:`qnnlab.models.qcnn`).

    Args:
        n_qubits: number of qubits; ``None`` infers it from ``X`` (``2**n`` columns).
        model_kwargs: extra keyword arguments forwarded to ``qcnn(n_qubits, **model_kwargs)``.
        loss: ``"mse"`` or ``"bce"`` (:mod:`qnnlab.training.losses`).
        learning_rate, epochs, batch_size: Adam step size, passes, rows per step.
        validation_fraction: fraction of the training data held out (stratified) to monitor a
            validation loss; needed for ``patience``.
        patience: early stopping on the validation loss (best parameters are restored).
        seed: seeds ``theta0 ~ Uniform[0, 2 pi)``, the validation split and the batch order.
        dtype: ``"complex64"`` or ``"complex128"`` (the engine's precision).

    Fitted attributes: ``classes_`` (the two labels, sorted), ``n_qubits_``, ``circuit_``,
    ``params_``, ``history_`` (see :class:`qnnlab.training.FitResult`), ``fit_result_``.
    """

    def __init__(
        self,
        n_qubits=None,
        *,
        model_kwargs=None,
        loss="mse",
        learning_rate=0.05,
        epochs=50,
        batch_size=32,
        validation_fraction=0.0,
        patience=None,
        seed=0,
        dtype="complex64",
    ):
        self.n_qubits = n_qubits
        self.model_kwargs = model_kwargs
        self.loss = loss
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.dtype = dtype

    # ------------------------------------------------------------------ scikit-learn protocol
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments by name (values are returned as stored, not copied)."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params) -> QCNNClassifier:
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ input handling
    def _states(self, X, n_qubits=None) -> np.ndarray:
        if hasattr(X, "dense_states"):
            X = X.dense_states()
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must hold numeric state vectors, got dtype {X.dtype}.")
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(
                f"X must be a non-empty (M, 2**n) array (or list) of state vectors, got shape "
                f"{X.shape}."
            )
        dim = X.shape[1]
        n = dim.bit_length() - 1
        if dim < 4 or dim != 2**n:
            raise ValueError(
                f"each state must have 2**n entries with n >= 2 qubits, got {dim} columns."
            )
        if n_qubits is not None and n != n_qubits:
            raise ValueError(
                f"expected states of {n_qubits} qubits ({2**n_qubits} entries), got {dim} "
                f"entries ({n} qubits)."
            )
        norms = np.sum(np.abs(X) ** 2, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOL)
        if bad.size:
            raise ValueError(
                f"states must be normalised; row {bad[0]} has squared norm {norms[bad[0]]:.6g}."
            )
        return X

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"this {type(self).__name__} instance is not fitted yet; call fit(X, y) first."
            )

    def _encode_labels(self, y, m: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (m,):
            raise ValueError(f"y must have shape ({m},) (one label per state), got {y.shape}.")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(
                f"QCNNClassifier is a binary classifier: y must hold exactly 2 distinct labels, "
                f"got {len(classes)} ({classes[:5].tolist()})."
            )
        self.classes_ = classes
        return (y == classes[1]).astype(np.int32)

    # ------------------------------------------------------------------ estimator API
    def fit(self, X, y=None) -> QCNNClassifier:
        """Learn ``params_`` on states ``X`` (array, list of states, or a qnnlab ``Dataset``,
        whose ``labels`` are used when ``y`` is None) with binary labels ``y``."""
        if y is None:
            if not hasattr(X, "labels"):
                raise ValueError("y is required unless X is a qnnlab Dataset with labels.")
            y = X.labels
        X = self._states(X, self.n_qubits)
        get_loss(self.loss)
        for attr in ("params_", "history_", "fit_result_"):
            self.__dict__.pop(attr, None)
        y01 = self._encode_labels(y, X.shape[0])
        n = X.shape[1].bit_length() - 1
        circuit, engine, model_fn = _build_model(n, self.model_kwargs, self.dtype)
        Xd = jnp.asarray(X, dtype=engine.dtype)
        fit_kwargs = {}
        if self.validation_fraction:
            train, val, _ = train_val_test_split(
                X.shape[0], val=self.validation_fraction, test=0.0, seed=self.seed, stratify=y01
            )
            fit_kwargs = {"X_val": Xd[val], "y_val": y01[val]}
            Xd, y01 = Xd[train], y01[train]
        theta0 = init_params(circuit.n_params, self.seed, engine.real_dtype)
        result = fit(
            model_fn,
            theta0,
            Xd,
            y01,
            loss=self.loss,
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=self.seed,
            patience=self.patience,
            **fit_kwargs,
        )
        self.n_qubits_ = n
        self.circuit_ = circuit
        self.engine_ = engine
        self._model_fn = model_fn
        self.fit_result_ = result
        self.history_ = result.history
        self.params_ = result.params
        return self

    def decision_function(self, X) -> np.ndarray:
        """``<Z>`` per state, in ``[-1, 1]``; positive values predict ``classes_[1]``."""
        self._check_fitted()
        X = jnp.asarray(self._states(X, self.n_qubits_), dtype=self.engine_.dtype)
        e = predict_expvals(self._model_fn, self.params_, X, batch_size=max(self.batch_size, 1))
        return np.asarray(e, dtype=np.float64)

    def predict_proba(self, X) -> np.ndarray:
        """``(M, 2)``: columns ``[1 - p, p]`` in ``classes_`` order, ``p = (1 + <Z>)/2``."""
        p = np.clip((1.0 + self.decision_function(X)) / 2.0, 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1)

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where ``<Z> > 0``, else ``classes_[0]``."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.int64)]

    def score(self, X, y) -> float:
        """Mean accuracy of :meth:`predict` against the labels ``y``."""
        y = np.asarray(y)
        pred = self.predict(X)
        if y.shape != pred.shape:
            raise ValueError(f"y must have shape {pred.shape}, got {y.shape}.")
        return float(np.mean(pred == y))

    def evaluate(self, X, y, *, shots=None, seed=None) -> dict[str, float]:
        """Loss and accuracy on ``(X, y)``, optionally from ``shots``-shot estimates."""
        self._check_fitted()
        y = np.asarray(y)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"labels {np.unique(y[unknown])[:5].tolist()} were not seen in fit.")
        X = jnp.asarray(self._states(X, self.n_qubits_), dtype=self.engine_.dtype)
        y01 = (y == self.classes_[1]).astype(np.int32)
        return evaluate(
            self._model_fn, self.params_, X, y01, loss=self.loss, shots=shots, seed=seed
        )
