"""Mini-batch training of a pure JAX model ``model_fn(theta, psi_batch) -> <O> (B,)``.

The model is any pure, differentiable function of a real parameter vector and a batch of input
states, e.g. ``StatevectorEngine(circuit).expval_fn(qcnn_readout(circuit))``. One optimisation
step is ``jax.jit``-compiled once:

    L(theta) = sum_i w_i l(<O>_theta(psi_i), y_i) / sum_i w_i,
    (L, g) = value_and_grad(L)(theta),   theta <- theta + optax_update(g)

with ``l`` a loss of :mod:`qnnlab.training.losses`.

Mini-batches. Each epoch draws a permutation of the training indices from
``numpy.random.default_rng(seed)`` (one generator per fit, so the batch order is reproducible)
and cuts it into ``ceil(M / B)`` batches of exactly ``B = batch_bucket(M, batch_size)`` rows
(``batch_size``, or the next power of two ``>= M`` when that is smaller); the last one is
**padded** with the first indices of the permutation at weight ``w = 0``. Every sample is used
once per epoch and the padded rows do not change the loss or its gradient. A ``batch_size >= M``
gives full-batch gradient descent. Shapes depend only on the bucket, so fits on datasets of
other sizes reuse the compiled step; batches are gathered on the host (NumPy), so no per-shape
indexing programs are compiled either.

Metrics. After each epoch the whole training set (and the validation set, if given) is
evaluated with the current parameters, in chunks of ``B`` rows by one compiled program that
returns the weighted loss and accuracy sums; ``history`` holds these epoch-end values, not running
means over the batches. With ``eval_shots`` the validation metrics use finite-shot estimates
(:func:`evaluate`); training metrics stay exact.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qnnlab.circuits.paulis import PauliSum
from qnnlab.engines.shots import as_key, check_shots, sample_from_exact
from qnnlab.runtime.caches import default_compilation_cache
from qnnlab.training.losses import accuracy, get_loss

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "time")

#: The finite-shot model of the readout: one Pauli string with eigenvalues +-1.
_SINGLE_PAULI = PauliSum.single("Z0")


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    Attributes:
        params: the returned parameters (the best validation epoch's if early stopping is on).
        history: per-epoch lists ``train_loss, train_acc, val_loss, val_acc, time`` (wall-clock
            seconds of the epoch, including compilation in the first); ``val_*`` are ``nan``
            without validation data.
        best_epoch: 0-based epoch of the lowest validation loss (of the lowest training loss
            without validation data).
        stopped_early: whether ``patience`` ended the run before ``epochs``.
        metrics: the history entries of the epoch that ``params`` come from.
    """

    params: np.ndarray
    history: dict[str, list[float]]
    best_epoch: int
    stopped_early: bool
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.history["train_loss"])


@dataclass
class SeedsResult:
    """Outcome of :func:`fit_seeds`: one :class:`FitResult` per seed, and ``summary[metric] =
    (mean, std)`` over seeds of ``FitResult.metrics`` (population std, ``ddof = 0``)."""

    seeds: list[int]
    results: list[FitResult]
    summary: dict[str, tuple[float, float]]


def init_params(n_params: int, seed: int, dtype=jnp.float32):
    """``theta ~ Uniform[0, 2 pi)^n_params`` from ``jax.random.key(seed)``."""
    key = as_key(int(seed))
    return jax.random.uniform(key, (int(n_params),), dtype=dtype, minval=0.0, maxval=2 * jnp.pi)


def shot_estimate(expvals, shots: int, key):
    """Finite-shot estimate of single-Pauli expectations: ``2 n^+ / shots - 1`` with
    ``n^+ ~ Binomial(shots, (1 + <P>)/2)`` (mean ``<P>``, variance ``(1 - <P>^2) / shots``)."""
    expvals = jnp.asarray(expvals)
    return sample_from_exact(_SINGLE_PAULI, expvals[None, :], check_shots(shots), as_key(key))


#: ``optax.adam`` with the learning rate kept in the optimiser state (``inject_hyperparams``),
#: so one object (and one compiled step) serves every learning rate.
_DEFAULT_OPTIMIZER = optax.inject_hyperparams(optax.adam)(learning_rate=0.01)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _train_step(model_fn, loss_fn, optimizer, theta, opt_state, X, y, weights):
    """One optimiser step on the batch ``(X, y)`` with per-row ``weights``.

    ``model_fn``, ``loss_fn`` and ``optimizer`` are static (hashed by identity), so repeated fits
    with the same objects and batch shape reuse one compilation, whatever the dataset size.
    """

    def batch_loss(t):
        return loss_fn(model_fn(t, X), y, weights)

    value, grad = jax.value_and_grad(batch_loss)(theta)
    updates, opt_state = optimizer.update(grad, opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state, value


@functools.partial(jax.jit, static_argnums=0)
def _apply_model(model_fn, theta, X):
    return model_fn(theta, X)


@functools.partial(jax.jit, static_argnums=0)
def _chunk_scores(loss_fn, e, y, weights):
    """``(sum_i w_i l_i, sum_i w_i [correct_i])`` over one padded chunk of outputs ``e``."""
    total = jnp.sum(weights)
    return loss_fn(e, y, weights) * total, accuracy(e, y, weights) * total


def _as_labels(y, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one label per state), got {y.shape}.")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name} must hold labels 0 and 1 only; got {np.unique(y)[:5]}.")
    return y.astype(np.int32)


def _as_states(X, name: str):
    """``X`` as an array (a JAX array stays one; anything else becomes a NumPy array)."""
    X = X if isinstance(X, jax.Array) else np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (M, 2**k) batch of states, got {X.shape}.")
    return X


def batch_bucket(m: int, batch_size: int) -> int:
    """Rows per compiled batch for ``m`` samples: ``batch_size``, or the smallest power of two
    ``>= m`` when that is smaller (so datasets of nearby sizes share one compiled program)."""
    return min(batch_size, 1 << max(m - 1, 0).bit_length())


def _padded_chunks(m: int, chunk: int):
    """``(row indices, weights)`` of ``ceil(m / chunk)`` chunks of exactly ``chunk`` rows; the
    last chunk is padded with row 0 at weight 0."""
    n_chunks = math.ceil(m / chunk)
    rows = np.zeros(n_chunks * chunk, dtype=np.int64)
    rows[:m] = np.arange(m)
    weights = np.zeros(n_chunks * chunk, dtype=np.float32)
    weights[:m] = 1.0
    return rows.reshape(n_chunks, chunk), weights.reshape(n_chunks, chunk)


def _chunked(fn, X, chunk: int):
    """``fn`` over rows of ``X`` in chunks of exactly ``chunk`` rows (the last one padded with
    copies of row 0, dropped from the output), so ``fn`` compiles for one shape only. Chunks
    are cut on the host."""
    m = X.shape[0]
    X_host = np.asarray(X)
    rows, _ = _padded_chunks(m, chunk)
    outs = [np.asarray(fn(X_host[r])) for r in rows]
    return jnp.asarray(np.concatenate(outs)[:m])


def _scores(model_fn, loss_fn, theta, X_host, y_host, chunk: int) -> tuple[float, float]:
    """Loss and accuracy of the whole set ``(X_host, y_host)``, chunk by chunk (the model runs
    the same compiled program as :func:`predict_expvals` with ``batch_size=chunk``)."""
    rows, weights = _padded_chunks(X_host.shape[0], chunk)
    loss_sum = correct = 0.0
    for r, w in zip(rows, weights, strict=True):
        e = _apply_model(model_fn, theta, X_host[r])
        l_sum, c_sum = _chunk_scores(loss_fn, e, y_host[r], w.astype(e.dtype))
        loss_sum += float(l_sum)
        correct += float(c_sum)
    return loss_sum / X_host.shape[0], correct / X_host.shape[0]


def predict_expvals(model_fn, theta, X, *, batch_size: int = 64, shots=None, seed=None):
    """``<O>`` for every row of ``X``, exact or (``shots``) estimated with the given ``seed``."""
    X = _as_states(X, "X")
    theta = jnp.asarray(theta)
    exact = _chunked(lambda xb: _apply_model(model_fn, theta, xb), X, batch_size)
    if shots is None:
        return exact
    return shot_estimate(exact, shots, seed)


def evaluate(
    model_fn, theta, X, y, *, loss="mse", shots=None, seed=None, batch_size: int = 64
) -> dict[str, float]:
    """``{"loss", "accuracy"}`` of ``model_fn`` at ``theta`` on states ``X`` with labels ``y``.

    With ``shots``, each ``<O>_i`` is replaced by its finite-shot estimate (binomial per Pauli
    term, :mod:`qnnlab.engines.shots`; exact when the readout is one Pauli string such as the
    QCNN's ``Z``), drawn from the explicit ``seed``. The estimates are unbiased, so the
    accuracy and MSE converge to the exact ones as ``shots -> inf`` (MSE is biased upward by
    ``mean_i (1 - <O>_i^2) / shots``).
    """
    X = _as_states(X, "X")
    y = _as_labels(y, X.shape[0], "y")
    e = predict_expvals(model_fn, theta, X, batch_size=batch_size, shots=shots, seed=seed)
    return {"loss": float(get_loss(loss)(e, y)), "accuracy": float(accuracy(e, y))}


def fit(
    model_fn: Callable,
    theta0,
    X,
    y,
    *,
    loss: str | Callable = "mse",
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 0.01,
    epochs: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    X_val=None,
    y_val=None,
    patience: int | None = None,
    progress: bool = False,
    eval_shots: int | None = None,
) -> FitResult:
    """Train ``theta`` to classify states ``X`` with labels ``y in {0, 1}`` (module docstring).

    Args:
        model_fn: pure JAX ``f(theta, psi_batch (B, 2**k)) -> (B,)`` expectation values.
        theta0: initial real parameter vector (its dtype is kept, e.g. ``float32``).
        X, y: training states ``(M, 2**k)`` (in the model's complex dtype) and labels.
        loss: ``"mse"`` or ``"bce"`` (:mod:`qnnlab.training.losses`) or ``f(e, y, weights)``.
        optimizer: an optax transformation (``learning_rate`` is then ignored); default Adam
            with ``learning_rate`` (``optax.adam``, step size held in the optimiser state).
        epochs, batch_size: passes over the data and rows per step.
        seed: seeds the batch order (and the shot noise of the validation metrics).
        X_val, y_val: optional validation set, evaluated after every epoch.
        patience: stop after this many epochs without a strictly lower validation loss and
            return the parameters of the best epoch (needs a validation set).
        progress: show a ``tqdm`` progress bar.
        eval_shots: estimate validation metrics with this many shots (seeded by
            ``fold_in(key(seed), epoch)``); ``None`` for exact values.
    """
    default_compilation_cache()
    loss_fn = get_loss(loss)
    X = _as_states(X, "X")
    m = X.shape[0]
    y_np = _as_labels(y, m, "y")
    has_val = X_val is not None or y_val is not None
    if has_val:
        if X_val is None or y_val is None:
            raise ValueError("give both X_val and y_val, or neither.")
        X_val = _as_states(X_val, "X_val")
        y_val = _as_labels(y_val, X_val.shape[0], "y_val")
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer or None, got {patience!r}.")
        if not has_val:
            raise ValueError("early stopping (patience) needs a validation set X_val, y_val.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if eval_shots is not None:
        check_shots(eval_shots)
    default_optimizer = optimizer is None
    if default_optimizer:
        optimizer = _DEFAULT_OPTIMIZER

    theta = jnp.asarray(theta0)
    if theta.ndim != 1 or jnp.iscomplexobj(theta):
        raise ValueError(f"theta0 must be a real 1-D vector, got {theta.dtype} {theta.shape}.")
    opt_state = optimizer.init(theta)
    if default_optimizer:
        opt_state.hyperparams["learning_rate"] = jnp.asarray(learning_rate, dtype=theta.dtype)
    X_host = np.asarray(X)
    batch = batch_bucket(m, batch_size)
    n_batches = math.ceil(m / batch)
    pad = n_batches * batch - m
    weights = np.ones(n_batches * batch, dtype=np.asarray(theta).dtype)
    if pad:
        weights[m:] = 0.0
    weights = weights.reshape(n_batches, batch)
    if has_val:
        X_val_host, y_val_host = np.asarray(X_val), np.asarray(y_val)

    def metrics(t, Xs, ys, key=None):
        if key is None:
            return _scores(model_fn, loss_fn, t, Xs, ys, batch)
        e = _chunked(lambda xb: _apply_model(model_fn, t, xb), Xs, batch)
        e = shot_estimate(e, eval_shots, key)
        return float(loss_fn(e, ys, None)), float(accuracy(e, ys))

    # The metrics program compiles on a second thread while the first step compiles here
    # (XLA compiles one program on one core), so a fresh process waits for the longer one only.
    warm_up = threading.Thread(
        target=_scores, args=(model_fn, loss_fn, theta, X_host[:1], y_np[:1], batch), daemon=True
    )
    warm_up.start()
    rng = np.random.default_rng(seed)
    base_key = as_key(int(seed))
    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    best_loss, best_epoch, best_theta, since_best = math.inf, 0, theta, 0
    stopped_early = False
    bar = None
    epoch_iter: Sequence[int] | object = range(epochs)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(range(epochs), desc="fit", leave=False)
        epoch_iter = bar
    for epoch in epoch_iter:
        start = time.perf_counter()
        perm = rng.permutation(m)
        if pad:
            perm = np.concatenate([perm, perm[:pad]])
        idx_all = perm.reshape(n_batches, batch)
        for b in range(n_batches):
            idx = idx_all[b]
            theta, opt_state, _ = _train_step(
                model_fn, loss_fn, optimizer, theta, opt_state, X_host[idx], y_np[idx], weights[b]
            )
        warm_up.join()
        train_loss, train_acc = metrics(theta, X_host, y_np)
        val_loss = val_acc = math.nan
        if has_val:
            key = jax.random.fold_in(base_key, epoch) if eval_shots is not None else None
            val_loss, val_acc = metrics(theta, X_val_host, y_val_host, key)
        history["train_loss"].append(train_loss)
        history["train_acc"].append(train_acc)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        history["time"].append(time.perf_counter() - start)
        if bar is not None:
            bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.3f}")
        monitored = val_loss if has_val else train_loss
        if monitored < best_loss:
            best_loss, best_epoch, best_theta, since_best = monitored, epoch, theta, 0
        else:
            since_best += 1
        if patience is not None and since_best >= patience:
            stopped_early = epoch + 1 < epochs
            break
    if bar is not None:
        bar.close()
    params_epoch = best_epoch if patience is not None else len(history["train_loss"]) - 1
    params = best_theta if patience is not None else theta
    return FitResult(
        params=np.asarray(params),
        history=history,
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        metrics={k: history[k][params_epoch] for k in HISTORY_KEYS if k != "time"},
    )


def fit_seeds(
    model_fn: Callable,
    n_params: int,
    X,
    y,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    dtype=None,
    **fit_kwargs,
) -> SeedsResult:
    """Independent runs of :func:`fit`, one per seed: ``theta0 = init_params(n_params, seed)``
    and batch order (and shot noise) from the same ``seed``. ``fit_kwargs`` go to :func:`fit`.

    Returns every :class:`FitResult` and ``summary[metric] = (mean, std)`` over seeds of the
    metrics of the returned parameters (``train_loss, train_acc, val_loss, val_acc``).
    """
    if "seed" in fit_kwargs or "theta0" in fit_kwargs:
        raise ValueError("fit_seeds sets seed and theta0 itself; pass seeds=... instead.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("fit_seeds needs at least one seed.")
    dtype = jnp.float32 if dtype is None else dtype
    results = [
        fit(model_fn, init_params(n_params, s, dtype), X, y, seed=s, **fit_kwargs) for s in seeds
    ]
    summary = {}
    for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
        vals = np.array([r.metrics[k] for r in results], dtype=float)
        summary[k] = (float(np.mean(vals)), float(np.std(vals)))
    return SeedsResult(seeds=seeds, results=results, summary=summary)
