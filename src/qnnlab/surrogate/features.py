"""Feature matrices of a surrogate: expectation values of its Pauli strings on input states.

A compiled surrogate (:class:`~qnnlab.surrogate.CompiledSurrogate`) writes a model's output on
an input state ``rho`` as ``f_theta(rho) = sum_j c_j(theta) <P_j>_rho`` over a fixed list of
``T`` input-side strings ``P_j`` (its :attr:`~qnnlab.surrogate.CompiledSurrogate.table`). A
state enters only through the vector ``x(rho) = (<P_1>, ..., <P_T>)``, its *features*. They are
either exact (dense state vectors, MPS) or estimated from a classical shadow of ``rho``: the
median of means over ``K`` groups of the single-snapshot estimates
``x_t(P) = 3^{|P|} prod_{q in P} [b_{t,q} = P_q] s_{t,q}`` (Huang, Kueng, Preskill 2020), whose
variance is ``3^{|P|} - <P>^2`` per snapshot, so the estimate of a weight-``w`` string from
``N`` snapshots has standard error ``~ sqrt(3^w / N)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.engines.pauliprop.evaluate import expvals
from qnnlab.shadows import ClassicalShadow, estimate_tables


class FeatureError(ValueError):
    """Features that cannot be computed as asked; the message names the fix."""


@dataclass(frozen=True, eq=False)
class FeatureMatrix:
    """Per-state expectation values of a surrogate's strings.

    Attributes:
        values: ``(B, T)`` float64, row ``i`` the features of state ``i``.
        std_errors: ``(B, T)`` standard errors of shadow estimates; ``None`` for exact values.
        n_snapshots: snapshots per state behind each estimate; ``None`` for exact values.
        groups: median-of-means groups; ``None`` for exact values.
    """

    values: np.ndarray
    std_errors: np.ndarray | None = None
    n_snapshots: int | None = None
    groups: int | None = None

    @property
    def exact(self) -> bool:
        return self.n_snapshots is None

    def __len__(self) -> int:
        return self.values.shape[0]

    def take(self, rows) -> FeatureMatrix:
        """The features of the states ``rows`` (an index array or a boolean mask)."""
        errors = None if self.std_errors is None else self.std_errors[rows]
        return FeatureMatrix(self.values[rows], errors, self.n_snapshots, self.groups)


def _is_shadow_list(data) -> bool:
    return (
        isinstance(data, Sequence)
        and not isinstance(data, str | bytes)
        and len(data) > 0
        and all(isinstance(d, ClassicalShadow) for d in data)
    )


def surrogate_features(
    table: PauliTable,
    data,
    *,
    n_snapshots: int | None = None,
    groups: int | None = None,
    delta: float = 0.01,
) -> FeatureMatrix:
    """The features of every state in ``data`` for the strings of ``table`` (module doc).

    Args:
        table: the surrogate's input-side strings (``CompiledSurrogate.table``).
        data: a ``(B, 2**n)`` array of pure states, an MPS or a list of MPS (exact values), a
            :class:`ClassicalShadow` or a list of shadows (one per state; median-of-means
            estimates with standard errors).
        n_snapshots: with shadows, use only each shadow's first ``n_snapshots`` snapshots (the
            nested subsamples of a snapshot sweep); default all.
        groups, delta: median-of-means groups (default from ``delta``, as in
            :func:`qnnlab.shadows.estimate_table`).
    """
    if isinstance(data, ClassicalShadow):
        data = [data]
    if (
        isinstance(data, Sequence)
        and any(isinstance(d, ClassicalShadow) for d in data)
        and not _is_shadow_list(data)
    ):
        raise FeatureError(
            "data mixes classical shadows with other objects; pass a list of shadows (one per "
            "state) or the states themselves, not both."
        )
    if _is_shadow_list(data):
        est = estimate_tables(data, table, groups=groups, delta=delta, n_snapshots=n_snapshots)
        return FeatureMatrix(est.values, est.std_errors, est.n_snapshots, est.groups)
    if n_snapshots is not None:
        raise FeatureError(
            "n_snapshots applies to classical shadows only; the data are exact states (pass "
            "their shadows, e.g. Dataset.shadows(T, seed=...), to estimate features)."
        )
    values = np.asarray(expvals(table, data), dtype=np.float64)
    return FeatureMatrix(np.atleast_2d(values))
