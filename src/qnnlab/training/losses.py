"""Classification losses on a measured expectation value ``e = <O>`` in ``[-1, 1]``.

Labels arrive as ``y in {0, 1}`` (:class:`qnnlab.data.Dataset` convention). Two readings of the
same measurement are used:

* as a signed score with target ``s = 2 y - 1 in {-1, +1}`` (class 1 <-> ``<O> = +1``);
* as a probability of class 1, ``p = (1 + <O>) / 2`` (the probability of the ``+1`` outcome when
  ``O`` is a single Pauli string).

Every function takes optional per-sample ``weights`` ``w_i >= 0`` and returns the weighted mean
``sum_i w_i l_i / sum_i w_i``; the fit loop uses zero weights to pad the last mini-batch to a
static shape. All functions are pure ``jax.numpy`` and differentiable in ``expvals``.
"""

from __future__ import annotations

import jax.numpy as jnp

#: Probabilities are squeezed into ``[EPS, 1 - EPS]`` before taking logarithms (finite in float32).
BCE_EPS = 1e-6


def _weighted_mean(values, weights):
    if weights is None:
        return jnp.mean(values)
    weights = jnp.asarray(weights, dtype=values.dtype)
    return jnp.sum(weights * values) / jnp.sum(weights)


def signs(y01):
    """``s = 2 y - 1``: labels ``{0, 1}`` as targets ``{-1, +1}``."""
    return 2.0 * jnp.asarray(y01) - 1.0


def probabilities(expvals):
    """``p = (1 + <O>) / 2``, the model's probability of class 1 (not clipped)."""
    return (1.0 + jnp.asarray(expvals)) / 2.0


def mse_loss(expvals, y01, weights=None):
    """Mean squared error against ``+-1`` targets: ``L = mean_i (<O>_i - (2 y_i - 1))^2``.

    Ranges over ``[0, 4]``; equals ``4 mean_i (p_i - y_i)^2`` in terms of ``p = (1 + <O>)/2``.
    """
    expvals = jnp.asarray(expvals)
    target = signs(y01).astype(expvals.dtype)
    return _weighted_mean((expvals - target) ** 2, weights)


def bce_loss(expvals, y01, weights=None, eps: float = BCE_EPS):
    """Binary cross-entropy on ``p = (1 + <O>)/2``, squeezed into ``[eps, 1 - eps]``:

        p_i = eps + (1 - 2 eps) (1 + <O>_i) / 2,
        L = -mean_i [ y_i log p_i + (1 - y_i) log(1 - p_i) ].

    The affine squeeze (rather than a clip) keeps ``L`` finite at ``<O> = +-1`` while the
    gradient stays nonzero there, so a confidently wrong prediction is still corrected.
    """
    expvals = jnp.asarray(expvals)
    y = jnp.asarray(y01).astype(expvals.dtype)
    p = eps + (1.0 - 2.0 * eps) * probabilities(expvals)
    return _weighted_mean(-(y * jnp.log(p) + (1.0 - y) * jnp.log1p(-p)), weights)


def accuracy(expvals, y01, weights=None):
    """Fraction of correct predictions, ``yhat_i = [<O>_i > 0] = [p_i > 1/2]``.

    A tie ``<O> = 0`` is predicted as class 0.
    """
    expvals = jnp.asarray(expvals)
    correct = ((expvals > 0).astype(jnp.int32) == jnp.asarray(y01).astype(jnp.int32)).astype(
        expvals.dtype
    )
    return _weighted_mean(correct, weights)


LOSSES = {"mse": mse_loss, "bce": bce_loss}


def get_loss(name):
    """The loss function for ``"mse"`` or ``"bce"`` (a callable is returned unchanged)."""
    if callable(name):
        return name
    if name not in LOSSES:
        raise ValueError(
            f"unknown loss {name!r}; choose one of {sorted(LOSSES)} or pass a callable."
        )
    return LOSSES[name]
