"""A scikit-learn compatible binary classifier of quantum states with a QCNN.

Follows scikit-learn's estimator contract without importing it (scikit-learn is an optional
dependency, and importing it costs seconds): ``__init__`` only stores hyperparameters, ``fit``
validates its inputs and learns attributes with a trailing underscore, ``get_params`` /
``set_params`` expose the constructor arguments (so ``sklearn.base.clone`` works), and
``__sklearn_tags__`` describes the estimator to scikit-learn >= 1.6 (a binary classifier of
dense 2-D input). Inheriting from ``sklearn.base.BaseEstimator`` would make scikit-learn a hard
dependency; the protocol methods are all that ``cross_val_score``, ``GridSearchCV``,
``Pipeline`` and ``check_estimator`` need.

Model: ``<Z>`` on the QCNN's last qubit, ``e(psi) = <psi| U(theta)^dag Z U(theta) |psi>``;
``P(classes_[1] | psi) = (1 + e)/2`` and the prediction is ``classes_[1]`` iff ``e > 0``.

Inputs. By default each row of ``X`` must already be a normalised state of ``n >= 2`` qubits
(``2**n`` entries). With ``pad_and_normalize=True`` each row is a feature vector of any length
``d >= 1``, embedded as PennyLane's ``AmplitudeEmbedding(pad_with=0, normalize=True)`` does:

    psi = (x_1, ..., x_d, 0, ..., 0) / ||x||_2,   2**n entries,
    n = n_qubits, or the smallest n >= 2 with 2**n >= d.

The embedding discards the norm of ``x``, so ``x`` and ``c x`` (``c > 0``) are the same state.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings

import jax.numpy as jnp
import numpy as np
import scipy.sparse

from qnnlab.engines import check_trainable_engine, make_engine
from qnnlab.engines.validation import resolve_dtype
from qnnlab.models.qcnn import qcnn, qcnn_readout
from qnnlab.training.fit import batch_bucket, evaluate, fit, init_params, predict_expvals
from qnnlab.training.losses import get_loss
from qnnlab.training.splits import train_val_test_split

#: Normalisation tolerance for input states, ``| ||psi||^2 - 1 | <= NORM_TOL``.
NORM_TOL = 1e-4

#: Fewest qubits a QCNN takes (``qcnn(n)`` needs ``n >= 2``), so states have at least 4 entries.
MIN_QUBITS = 2


@functools.lru_cache(maxsize=16)
def _cached_model(n: int, kwargs_items: tuple, dtype: str, engine: str = "statevector"):
    circuit = qcnn(n, **dict(kwargs_items))
    simulator = make_engine(circuit, engine, dtype=dtype)
    return circuit, simulator, simulator.expval_fn(qcnn_readout(circuit))


def _build_model(n: int, kwargs_items: tuple, dtype, engine: str = "statevector"):
    """``(circuit, engine, model_fn)`` for ``qcnn(n, **dict(kwargs_items))`` on the registered
    engine ``engine`` (:data:`qnnlab.engines.ENGINES`).

    Cached when the arguments are hashable, so refits, clones and unpickled estimators reuse the
    compiled step (the circuit object is then shared between estimators: treat ``circuit_`` as
    read-only).
    """
    # complex128 needs JAX's 64-bit mode on whenever the model runs, also when the cache
    # answers without building an engine (which would switch it on)
    resolve_dtype(dtype)
    try:
        hash((kwargs_items, dtype))
    except TypeError:
        return _cached_model.__wrapped__(n, kwargs_items, dtype, engine)
    return _cached_model(n, kwargs_items, dtype, engine)


def _sklearn_exceptions():
    """``sklearn.exceptions`` if scikit-learn is already imported, else ``None`` (never imports
    it: code that catches scikit-learn's exception classes has imported scikit-learn)."""
    return sys.modules.get("sklearn.exceptions")


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before ``fit`` (as scikit-learn's ``NotFittedError``).

    When scikit-learn is imported, the raised error is also an instance of
    ``sklearn.exceptions.NotFittedError``, so ``except`` clauses written for either catch it.
    """


@functools.cache
def _not_fitted_class(sklearn_class: type) -> type:
    return type(
        "NotFittedError",
        (NotFittedError, sklearn_class),
        {
            "__module__": __name__,
            "__doc__": NotFittedError.__doc__,
            "__reduce__": lambda self: (_not_fitted_error, self.args),
        },
    )


def _not_fitted_error(message: str) -> NotFittedError:
    sk = _sklearn_exceptions()
    cls = NotFittedError if sk is None else _not_fitted_class(sk.NotFittedError)
    return cls(message)


def _column_vector_warning(message: str) -> None:
    sk = _sklearn_exceptions()
    warnings.warn(message, UserWarning if sk is None else sk.DataConversionWarning, stacklevel=3)


def _validate_labels(y, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y01)`` for binary labels ``y`` of ``m`` samples.

    Checks: ``y`` is given, holds one label per sample (a column vector is raveled with a
    warning, as in scikit-learn), is not complex, has no NaN/inf and no non-integer floats
    (a regression target), and holds exactly two distinct, sortable labels.
    """
    if y is None:
        raise ValueError(
            "QCNNClassifier requires y to be passed, but the target y is None; pass the labels, "
            "or a qnnlab Dataset as X (its labels are then used)."
        )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape == (m, 1):
        _column_vector_warning(
            "A column-vector y was passed when a 1d array was expected. Please change the shape "
            "of y to (n_samples,), for example using ravel()."
        )
        y = y.ravel()
    if y.shape != (m,):
        raise ValueError(f"y must have shape ({m},) (one label per state), got {y.shape}.")
    if np.iscomplexobj(y):
        raise ValueError(
            f"Complex data not supported for the labels y (dtype {y.dtype}); use integer or "
            "string class labels."
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf; every sample needs a finite class label.")
        if np.any(y != np.round(y)):
            raise ValueError(
                "Unknown label type: continuous (y holds non-integer floats such as "
                f"{y[y != np.round(y)][0]!r}); QCNNClassifier needs discrete class labels, "
                "e.g. threshold a regression target into two classes."
            )
    try:
        classes = np.unique(y)
    except TypeError as exc:
        raise ValueError(
            f"the labels y cannot be sorted ({exc}); use labels of one type (all strings or all "
            "numbers)."
        ) from None
    if len(classes) == 1:
        raise ValueError(
            f"y holds one class ({classes.tolist()[0]!r}); a classifier needs samples of at least "
            "two classes: add samples of the other class to the training set (with "
            "cross-validation, split with a stratified splitter such as StratifiedKFold so that "
            "every fold holds both)."
        )
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported: QCNNClassifier reads one qubit, but y "
            f"holds {len(classes)} classes ({classes[:5].tolist()}); map them to two labels, or "
            "train one classifier per class (e.g. sklearn.multiclass.OneVsRestClassifier)."
        )
    return classes, (y == classes[1]).astype(np.int32)


class QCNNClassifier:
    """Binary classifier of ``n``-qubit pure states by a QCNN (:func:`qnnlab.models.qcnn`).

    Args:
        n_qubits: number of qubits; ``None`` infers it from ``X`` (``2**n`` columns, or with
            ``pad_and_normalize`` the smallest ``n >= 2`` with ``2**n >= n_features``).
        model_kwargs: extra keyword arguments forwarded to ``qcnn(n_qubits, **model_kwargs)``.
        loss: ``"mse"`` or ``"bce"`` (:mod:`qnnlab.training.losses`).
        learning_rate, epochs, batch_size: Adam step size, passes, rows per step.
        validation_fraction: fraction of the training data held out (stratified) to monitor a
            validation loss; needed for ``patience``.
        patience: early stopping on the validation loss (best parameters are restored).
        seed: seeds ``theta0 ~ Uniform[0, 2 pi)``, the validation split and the batch order.
        dtype: ``"complex64"`` or ``"complex128"`` (the engine's precision).
        engine: name of the simulator in :data:`qnnlab.engines.ENGINES` (``"statevector"``,
            ``"density"``, ...); checked in ``fit``. Every engine gives the same model up to
            rounding; they differ in speed and memory.
        pad_and_normalize: treat the rows of ``X`` as classical feature vectors of any length
            and amplitude-embed them (zero-pad to ``2**n`` entries, divide by the L2 norm; module
            docstring) instead of requiring normalised states. Off by default: quantum data
            must arrive as states, and a wrong norm is then an error, not silently fixed.

    Input checks (``fit`` and every prediction method): ``X`` is a dense, non-empty 2-D numeric
    array (a list of rows, or a qnnlab ``Dataset``) with finite entries; its rows are normalised
    states of ``2**n`` entries (or, with ``pad_and_normalize``, non-zero vectors of at most
    ``2**n_qubits`` entries); after ``fit``, ``X`` must have ``n_features_in_`` columns.

    Fitted attributes: ``classes_`` (the two labels, sorted), ``n_features_in_`` (columns of
    ``X``), ``n_qubits_``, ``circuit_``, ``engine_``, ``params_``, ``history_`` (see
    :class:`qnnlab.training.FitResult`), ``fit_result_``.

    Example::

        from sklearn.model_selection import cross_val_score
        cross_val_score(QCNNClassifier(epochs=30), X_states, y, cv=5)
        cross_val_score(QCNNClassifier(pad_and_normalize=True), X_features, y, cv=5)
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
        pad_and_normalize=False,
        engine="statevector",
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
        self.pad_and_normalize = pad_and_normalize
        self.engine = engine

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

    def __sklearn_tags__(self):
        """scikit-learn (>= 1.6) estimator tags: a binary classifier of dense 2-D numeric input
        that rejects NaN and needs ``y``. Only scikit-learn calls this, so importing it is free."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            # poor_score: a QCNN is not a general-purpose classifier of classical features;
            # amplitude embedding keeps only the direction of a feature vector, and the
            # directions of scikit-learn's make_blobs test classes overlap (accuracy ~0.82,
            # below the 0.83 its checks expect of a "reasonable" classifier).
            classifier_tags=ClassifierTags(multi_class=False, poor_score=True),
            input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    def __getstate__(self) -> dict:
        # The compiled model is rebuilt (from the cache) on unpickling; the rest pickles.
        state = self.__dict__.copy()
        for attr in ("circuit_", "engine_", "_model_fn"):
            state.pop(attr, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_model_spec" in state:
            self.circuit_, self.engine_, self._model_fn = _build_model(*state["_model_spec"])

    # ------------------------------------------------------------------ input handling
    def _as_2d(self, X) -> np.ndarray:
        """``X`` as a dense, non-empty, finite 2-D numeric array (rows not yet checked as
        states). A qnnlab ``Dataset`` gives its dense states; sparse input is refused."""
        if hasattr(X, "dense_states"):
            X = X.dense_states()
        if scipy.sparse.issparse(X):
            raise ValueError(
                "X is a sparse matrix, and sparse input is not supported: pass dense rows "
                "(X.toarray())."
            )
        X = np.asarray(X)
        if X.dtype == object:
            # Python numbers (e.g. rows of X.tolist()); anything else raises NumPy's TypeError
            # "float() argument must be a string or a real number, not 'dict'".
            has_complex = any(isinstance(v, complex) for v in X.flat)
            try:
                X = np.asarray(X, dtype=np.complex128 if has_complex else np.float64)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"X must hold numbers; converting it failed: {exc}") from None
        if not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X must hold numeric values, got dtype {X.dtype}.")
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(
                f"X must be a non-empty 2-D array (n_samples, n_features) of {self._rows}, got "
                f"shape {X.shape}. Reshape your data with X.reshape(1, -1) if it is one sample."
            )
        if X.shape[1] == 0:
            raise ValueError(
                f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
            )
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (the number of columns seen in fit)."
            )
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"X contains NaN or inf (first in row {np.flatnonzero(~finite)[0]}); "
                f"{self._rows} must be finite: drop or repair those rows."
            )
        return X

    @property
    def _rows(self) -> str:
        return "feature vectors" if self.pad_and_normalize else "state vectors"

    def _states(self, X, n_qubits) -> np.ndarray:
        """The ``(M, 2**n)`` states of the checked 2-D array ``X`` (of ``n_qubits`` qubits
        unless None): amplitude-embedded with ``pad_and_normalize``, else checked to be
        normalised states of ``2**n`` entries."""
        if self.pad_and_normalize:
            return self._embed(X, n_qubits)
        dim = X.shape[1]
        n = dim.bit_length() - 1
        if dim < 2**MIN_QUBITS or dim != 2**n:
            raise ValueError(
                f"each state must have 2**n entries with n >= {MIN_QUBITS} qubits, got {dim} "
                "columns; for classical feature vectors use pad_and_normalize=True."
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
                f"states must be normalised; row {bad[0]} has squared norm {norms[bad[0]]:.6g}. "
                "To embed unnormalised feature vectors use pad_and_normalize=True."
            )
        return X

    @staticmethod
    def _embed(X: np.ndarray, n_qubits) -> np.ndarray:
        """Amplitude embedding: zero-pad rows to ``2**n`` entries and L2-normalise them."""
        dim = X.shape[1]
        if n_qubits is None:
            n_qubits = max(MIN_QUBITS, (dim - 1).bit_length())
        elif dim > 2**n_qubits:
            raise ValueError(
                f"X has {dim} features, more than the 2**{n_qubits} = {2**n_qubits} amplitudes "
                f"of {n_qubits} qubits; raise n_qubits to at least {(dim - 1).bit_length()} or "
                "leave it None."
            )
        scale = np.max(np.abs(X), axis=1)  # divide by it first: no overflow in the norm
        zero = np.flatnonzero(scale == 0)
        if zero.size:
            raise ValueError(
                f"row {zero[0]} of X is all zeros and cannot be normalised to a state; drop it "
                "or add a constant feature."
            )
        X = X / scale[:, None]
        out = np.zeros((X.shape[0], 2**n_qubits), dtype=np.result_type(X.dtype, np.float64))
        out[:, :dim] = X / np.linalg.norm(X, axis=1)[:, None]
        return out

    def _reset(self) -> None:
        """Forget a previous fit (a refit that fails validation leaves the estimator unfitted)."""
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)
        for attr in ("_model_fn", "_model_spec"):
            self.__dict__.pop(attr, None)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise _not_fitted_error(
                f"this {type(self).__name__} instance is not fitted yet; call fit(X, y) first."
            )

    # ------------------------------------------------------------------ estimator API
    def fit(self, X, y=None) -> QCNNClassifier:
        """Learn ``params_`` on ``X`` (states, or feature vectors with ``pad_and_normalize``;
        an array, a list of rows, or a qnnlab ``Dataset``, whose ``labels`` are used when
        ``y`` is None) with two-class labels ``y`` (any sortable labels: ints, strings, ...)."""
        if y is None and hasattr(X, "labels"):
            y = X.labels
        self._reset()
        n_qubits = self.n_qubits
        if n_qubits is not None and (
            isinstance(n_qubits, bool)
            or not isinstance(n_qubits, int | np.integer)
            or n_qubits < MIN_QUBITS
        ):
            raise ValueError(
                f"n_qubits must be an integer >= {MIN_QUBITS} or None, got {n_qubits!r}."
            )
        check_trainable_engine(self.engine, "training a QCNNClassifier")
        X = self._as_2d(X)
        n_features = X.shape[1]
        X = self._states(X, None if n_qubits is None else int(n_qubits))
        classes, y01 = _validate_labels(y, X.shape[0])
        get_loss(self.loss)
        n = X.shape[1].bit_length() - 1
        spec = (n, tuple(sorted((self.model_kwargs or {}).items())), self.dtype, self.engine)
        circuit, engine, model_fn = _build_model(*spec)
        Xd = np.asarray(X, dtype=engine.dtype)  # batches are cut on the host (no compiles)
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
        self.classes_ = classes
        self.n_features_in_ = n_features
        self.n_qubits_ = n
        self.circuit_ = circuit
        self.engine_ = engine
        self._model_fn = model_fn
        self._model_spec = spec
        # predictions run in chunks of the rows fit compiled for, reusing that program
        self._predict_rows = batch_bucket(Xd.shape[0], self.batch_size)
        self.fit_result_ = result
        self.history_ = result.history
        self.params_ = result.params
        return self

    def _fitted_states(self, X) -> jnp.ndarray:
        self._check_fitted()
        X = self._states(self._as_2d(X), self.n_qubits_)
        return np.asarray(X, dtype=self.engine_.dtype)

    def decision_function(self, X) -> np.ndarray:
        """``<Z>`` per state, in ``[-1, 1]``; positive values predict ``classes_[1]``."""
        X = self._fitted_states(X)
        rows = getattr(self, "_predict_rows", self.batch_size)
        e = predict_expvals(self._model_fn, self.params_, X, batch_size=rows)
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
        X = self._fitted_states(X)
        y = np.asarray(y)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"labels {np.unique(y[unknown])[:5].tolist()} were not seen in fit.")
        y01 = (y == self.classes_[1]).astype(np.int32)
        rows = getattr(self, "_predict_rows", self.batch_size)
        return evaluate(
            self._model_fn,
            self.params_,
            X,
            y01,
            loss=self.loss,
            shots=shots,
            seed=seed,
            batch_size=rows,
        )
