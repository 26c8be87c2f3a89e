"""Estimators of Pauli observables from a classical shadow, with rigorous and empirical errors.

Single-snapshot estimator (Huang, Kueng, Preskill, Nat. Phys. 16, 1050 (2020),
arXiv:2002.08953). For a Pauli string ``P`` with support ``S`` (weight ``w = |S|``), the
snapshot ``t`` with bases ``recipes[t]`` and outcomes ``bits[t]`` gives

    x_t(P) = tr(P rho_hat_t) = prod_{q in S} 3 [recipes[t, q] == P_q] (1 - 2 bits[t, q]),

which is unbiased, ``E x_t(P) = <P>``. It is ``+-3^w`` when all ``w`` bases match (probability
exactly ``3^-w``, whatever the state) and ``0`` otherwise, so ``E x_t^2 = 3^w`` and
``Var x_t = 3^w - <P>^2``: the squared shadow norm of a Pauli string is
``||P||^2_shadow = 3^w``. For a real sum ``O = sum_k c_k P_k`` the snapshot estimate is
``sum_k c_k x_t(P_k)`` and, by the triangle inequality,
``||O - tr(O)/2^n||_shadow <= sum_{k: w_k > 0} |c_k| 3^(w_k / 2)`` (identity terms are
constants and add no variance).

Median of means. The ``T`` snapshots are cut into ``K`` contiguous groups (``numpy.array_split``
order: the first ``T mod K`` groups hold one extra snapshot); the estimate is the median of the
``K`` group means. Huang et al. Theorem S1 (Eq. S13 of the supplement): if ``Var x <= sigma^2``,
``K`` groups of ``N = 34 sigma^2 / eps^2`` snapshots give
``Pr[|median of means - E x| >= eps] <= 2 exp(-K/2)``; their Theorem 1 takes
``sigma^2 = ||O - tr(O)/2^n||^2_shadow``. Solved for ``eps`` with the smallest group
``N = floor(T/K)``:

    error = sqrt(34 ||O||^2_shadow / floor(T/K)),  valid with probability >= 1 - 2 exp(-K/2).

The default ``K = ceil(2 ln(2/delta))`` makes that probability ``>= 1 - delta`` (clipped to ``T``
groups). The bound is loose (the constant 34 is worst case); ``std_error``, the sample standard
deviation of the ``x_t`` over ``sqrt(T)``, is the honest empirical error of the plain mean (the
median of means spreads a little more, up to ``sqrt(pi/2) ~ 1.25`` times for many groups).

Exactness: every ``x_t`` of a Pauli string is an integer times ``3^w``, so group sums are exact
in floating point and :func:`local_pauli_features` reproduces :func:`estimate` bit for bit.
:func:`estimate_table` and :func:`estimate_tables` get the integer group sums either letter by
letter (NumPy) or from support histograms (:mod:`qnnlab.shadows.histogram`, Numba, loaded on
first use): the same integers, so the same estimates bit for bit.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qnnlab.checks import check_int
from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.circuits.paulis import PauliString, PauliSum, as_observable
from qnnlab.shadows.snapshots import ClassicalShadow

#: Constant of the median-of-means bound, Huang et al. Theorem S1 (Eq. S13).
MOM_CONSTANT = 34.0
#: Letter codes of the compact feature table: index in ``"IXYZ"``.
TABLE_LETTERS = "IXYZ"
#: Shadow recipe (0, 1, 2 = X, Y, Z basis) of each :class:`PauliTable` code (I, X, Z, Y).
CODE_RECIPE = np.array([-1, 0, 2, 1], dtype=np.int8)
#: Memory (bytes) one block of snapshots may use in :func:`estimate_table`.
TABLE_MEMORY_BUDGET = 64 * 2**20
#: Memory (bytes) one block of :func:`local_pauli_features` may use.
FEATURE_MEMORY_BUDGET = 64 * 2**20
#: Most entries ``n_qubits * 3 * 4^(max_weight - 1)`` of a local Pauli table (the feature sums
#: hold this many float64 per median-of-means group).
MAX_FEATURES = 2**22


# ---------------------------------------------------------------------------------------------
# median of means and error bounds


def _check_groups(groups, n_values: int) -> int:
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"groups must be a positive integer, got {groups!r}.")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}.")
    if groups > n_values:
        raise ValueError(
            f"median of means with {groups} groups needs at least {groups} values, got "
            f"{n_values}; use fewer groups or more snapshots."
        )
    return int(groups)


def _group_layout(n_values: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and sizes of the ``array_split`` groups."""
    sizes = np.full(groups, n_values // groups, dtype=np.int64)
    sizes[: n_values % groups] += 1
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return starts, sizes


def _median_of_group_sums(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Median over axis 0 of ``sums[g] / sizes[g]`` (group sums to median of means)."""
    means = sums / sizes.reshape((-1,) + (1,) * (sums.ndim - 1))
    return np.median(means, axis=0)


def median_of_means(values, groups: int) -> np.ndarray | float:
    """Median over ``groups`` contiguous groups of the means along axis 0.

    ``values`` has shape ``(T, ...)``; groups follow ``numpy.array_split`` (sizes differ by at
    most one). ``groups=1`` is the plain mean. Returns a float for 1-D input, else an array of
    shape ``values.shape[1:]``.
    """
    values = np.asarray(values)
    if values.ndim == 0:
        raise ValueError("median_of_means needs values of shape (T, ...), got a scalar.")
    groups = _check_groups(groups, values.shape[0])
    starts, sizes = _group_layout(values.shape[0], groups)
    sums = np.add.reduceat(values, starts, axis=0, dtype=np.float64)
    out = _median_of_group_sums(sums, sizes)
    return float(out) if values.ndim == 1 else out


def default_groups(delta: float, n_snapshots: int) -> int:
    """``K = ceil(2 ln(2/delta))``, so that ``2 exp(-K/2) <= delta``; at most ``n_snapshots``."""
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must lie in (0, 1), got {delta}.")
    return max(1, min(n_snapshots, math.ceil(2.0 * math.log(2.0 / delta))))


def mom_error_bound(shadow_norm_sq, n_snapshots: int, groups: int):
    """Huang et al. Theorem S1 solved for eps: ``sqrt(34 ||O||^2_shadow / floor(T/K))``."""
    return np.sqrt(MOM_CONSTANT * np.asarray(shadow_norm_sq) / (n_snapshots // groups))


def mom_confidence(groups: int) -> float:
    """Probability ``1 - 2 exp(-K/2)`` (floored at 0) with which :func:`mom_error_bound` holds."""
    return max(0.0, 1.0 - 2.0 * math.exp(-groups / 2.0))


@dataclass(frozen=True)
class Estimate:
    """A shadow estimate of ``<O>``.

    Attributes:
        value: the median-of-means estimate.
        error: the shadow-norm bound ``sqrt(34 ||O||^2_shadow / floor(T/K))`` (Huang et al.
            Theorem S1); ``|value - <O>| <= error`` with probability ``>= confidence``.
        std_error: sample standard deviation of the snapshot estimates over ``sqrt(T)``.
        groups: ``K``, the number of median-of-means groups.
        n_snapshots: ``T``.
        confidence: ``1 - 2 exp(-K/2)`` (0 if that is negative).
        shadow_norm: the bound ``sum_k |c_k| 3^(w_k/2)`` on ``||O - tr(O)/2^n||_shadow``.
    """

    value: float
    error: float
    std_error: float
    groups: int
    n_snapshots: int
    confidence: float
    shadow_norm: float


# ---------------------------------------------------------------------------------------------
# single observables


def _terms(observable) -> tuple[tuple[float, PauliString], ...]:
    if isinstance(observable, PauliString):
        return ((1.0, observable),)
    obs = as_observable(observable)
    if not isinstance(obs, PauliSum):
        raise TypeError(
            f"shadow estimates take a Pauli string or a real PauliSum, got {type(obs).__name__}; "
            "write the observable as a sum of Pauli strings."
        )
    return obs.terms


def _check_table(shadow: ClassicalShadow, table: PauliTable) -> None:
    if not isinstance(shadow, ClassicalShadow):
        raise TypeError(f"expected a ClassicalShadow, got {type(shadow).__name__}.")
    if not isinstance(table, PauliTable):
        raise TypeError(f"expected a PauliTable, got {type(table).__name__}.")
    if table.n_qubits != shadow.n_qubits:
        raise ValueError(
            f"the Pauli table is on {table.n_qubits} qubits but the shadow has "
            f"{shadow.n_qubits}; build the table on the shadow's qubits (PauliTable.remap)."
        )


def _letter_layout(table: PauliTable):
    """Sparse letters of ``table`` with their recipe codes, and the first letter of every
    non-identity string (for ``reduceat``)."""
    terms, qubits, codes = table.sparse()
    recipes = CODE_RECIPE[codes]
    starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if len(terms) else terms
    return qubits, recipes, starts, terms[starts]


def _snapshot_signs(shadow: ClassicalShadow, layout, n_strings: int, lo: int, hi: int):
    """``prod_{q in P} [recipes[t, q] == P_q] (1 - 2 bits[t, q])`` for snapshots ``lo:hi`` and
    every string of the table, int8 ``(hi - lo, n_strings)`` in ``{-1, 0, 1}`` (``1`` for the
    identity). Times ``3^weight`` it is the single-snapshot estimate ``x_t(P)``."""
    qubits, recipes, starts, nonempty = layout
    out = np.ones((hi - lo, n_strings), dtype=np.int8)
    if len(qubits):
        factor = np.where(
            shadow.recipes[lo:hi][:, qubits] == recipes, 1 - 2 * shadow.bits[lo:hi][:, qubits], 0
        ).astype(np.int8)
        out[:, nonempty] = np.multiply.reduceat(factor, starts, axis=1)
    return out


def _snapshot_block(table: PauliTable) -> int:
    """Snapshots per block so that one block of letters stays within the memory budget."""
    letters = max(1, int(table.weights().sum()) + len(table))
    return max(1, TABLE_MEMORY_BUDGET // (4 * letters))


def snapshot_values(shadow: ClassicalShadow, table: PauliTable, coeffs=None) -> np.ndarray:
    """Single-snapshot estimates ``x_t(P_j)`` of every string, float64 ``(T, n_strings)``; with
    ``coeffs`` the snapshot estimates ``sum_j coeffs[j] x_t(P_j)`` of the sum, ``(T,)``."""
    _check_table(shadow, table)
    layout = _letter_layout(table)
    scale = 3.0 ** table.weights()
    weights = scale if coeffs is None else scale * np.asarray(coeffs, np.float64)
    t_total = shadow.n_snapshots
    out = np.zeros((t_total, len(table)) if coeffs is None else t_total)
    block = _snapshot_block(table)
    for lo in range(0, t_total, block):
        hi = min(lo + block, t_total)
        signs = _snapshot_signs(shadow, layout, len(table), lo, hi)
        out[lo:hi] = signs * weights if coeffs is None else signs @ weights
    return out


def pauli_snapshot_values(shadow: ClassicalShadow, string: PauliString) -> np.ndarray:
    """The single-snapshot estimates ``x_t(P)`` of one Pauli string, float64 ``(T,)``."""
    if string.ops and string.qubits[-1] >= shadow.n_qubits:
        raise ValueError(
            f"Pauli string {string} acts on qubit {string.qubits[-1]} but the shadow has "
            f"{shadow.n_qubits} qubits."
        )
    return snapshot_values(shadow, PauliTable.from_strings([string], shadow.n_qubits))[:, 0]


@dataclass(frozen=True, eq=False)
class TableEstimates:
    """Median-of-means estimates of every string of a :class:`PauliTable` (same order).

    ``values``, ``errors`` (the shadow-norm bound ``sqrt(34 * 3^w / floor(T/K))``, which holds
    per string with probability ``>= confidence``; 0 for the identity), ``std_errors`` and
    ``weights`` are ``(n_strings,)`` arrays; ``estimates[j]`` is string ``j`` as an
    :class:`Estimate`.
    """

    values: np.ndarray
    errors: np.ndarray
    std_errors: np.ndarray
    weights: np.ndarray
    groups: int
    n_snapshots: int
    confidence: float

    def __len__(self) -> int:
        return self.values.shape[0]

    def __getitem__(self, j: int) -> Estimate:
        w = int(self.weights[j])
        return Estimate(
            value=float(self.values[j]),
            error=float(self.errors[j]),
            std_error=float(self.std_errors[j]),
            groups=self.groups,
            n_snapshots=self.n_snapshots,
            confidence=self.confidence,
            shadow_norm=3.0 ** (w / 2) if w else 0.0,
        )


@dataclass(frozen=True, eq=False)
class BatchTableEstimates:
    """Estimates of every string of a :class:`PauliTable` in each of ``B`` states.

    ``values`` and ``std_errors`` are ``(B, n_strings)``; every state uses the same number of
    snapshots ``n_snapshots`` and groups, so the shadow-norm bound ``errors`` and ``weights``
    are ``(n_strings,)`` and shared. ``estimates[i]`` is state ``i`` as a
    :class:`TableEstimates`.
    """

    values: np.ndarray
    errors: np.ndarray
    std_errors: np.ndarray
    weights: np.ndarray
    groups: int
    n_snapshots: int
    confidence: float

    @property
    def n_states(self) -> int:
        return self.values.shape[0]

    def __len__(self) -> int:
        return self.n_states

    def __getitem__(self, i: int) -> TableEstimates:
        return TableEstimates(
            values=self.values[i],
            errors=self.errors,
            std_errors=self.std_errors[i],
            weights=self.weights,
            groups=self.groups,
            n_snapshots=self.n_snapshots,
            confidence=self.confidence,
        )


#: ``estimate_table(..., method="auto")`` compares letters with NumPy when the work
#: ``T x (letters + strings)`` is at most this (a few milliseconds, and no compiled kernel to
#: load), and uses support histograms above.
LETTER_PATH_MAX_WORK = 2**18
#: Strings per chunk when group sums become estimates (bounds the float temporaries).
STATISTICS_CHUNK = 2**16
#: The ways :func:`estimate_table` can sum snapshots.
TABLE_METHODS = ("auto", "histogram", "letters")


def _letter_sums(shadow: ClassicalShadow, table: PauliTable, starts, sizes):
    """Per-group sums of the signs ``x_t(P) / 3^w`` (``(K, n_strings)`` int64) and the number
    of snapshots matching each string (``(n_strings,)`` int64), letter by letter in NumPy:
    ``O(T x total letters)``."""
    layout = _letter_layout(table)
    sums = np.zeros((len(starts), len(table)), dtype=np.int64)
    matches = np.zeros(len(table), dtype=np.int64)
    block = _snapshot_block(table)
    for g, (g0, size) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
        for lo in range(g0, g0 + size, block):
            signs = _snapshot_signs(shadow, layout, len(table), lo, min(lo + block, g0 + size))
            sums[g] += signs.sum(axis=0, dtype=np.int64)
            matches += np.count_nonzero(signs, axis=0)
    return sums, matches


def _median_of_group_sums_by_rows(group_sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`_median_of_group_sums` of a ``(K, m)`` array, bit for bit, a few times faster
    for many columns: each column's ``K`` means are sorted as one contiguous row and the
    middle one (odd ``K``) or the mean of the middle two (even ``K``) is taken, the slice
    ``numpy.median`` averages after its partition."""
    means = np.ascontiguousarray((group_sums / sizes[:, None]).T)
    means.sort(axis=1)
    k = means.shape[1]
    return np.mean(means[:, (k - 1) // 2 : k // 2 + 1], axis=1)


def _table_statistics(sums, matches, weights, sizes, t_total: int):
    """Median of means and std errors from integer group sums ``(K, m)`` and match counts."""
    scale = 3.0**weights
    group_sums = sums * scale  # exact: integers times powers of 3
    values = _median_of_group_sums_by_rows(group_sums, sizes)
    if t_total > 1:
        mean = group_sums.sum(axis=0) / t_total
        var = np.maximum(matches * scale**2 - t_total * mean**2, 0.0) / (t_total - 1)
        std_errors = np.sqrt(var / t_total)
    else:
        std_errors = np.full(sums.shape[1], math.nan)
    return values, std_errors


def _histogram_statistics(plan, shadow, n_snapshots: int, starts, sizes, threads: int):
    """``(values, std_errors)`` of every string of ``plan`` from the first ``n_snapshots``."""
    from qnnlab.shadows import histogram  # Numba loads on first use, not on import

    obs = histogram.outcome_codes(shadow.bits[:n_snapshots], shadow.recipes[:n_snapshots])
    bounds = np.append(starts, n_snapshots)
    hist, slot_matches = histogram.accumulate(plan, obs, bounds, threads)
    values = np.empty(plan.n_strings)
    std_errors = np.empty(plan.n_strings)
    for lo in range(0, plan.n_strings, STATISTICS_CHUNK):
        part = slice(lo, lo + STATISTICS_CHUNK)
        slots = plan.slot_of[part]
        values[part], std_errors[part] = _table_statistics(
            np.ascontiguousarray(hist[slots].T),
            slot_matches[slots],
            plan.weights[part],
            sizes,
            n_snapshots,
        )
    return values, std_errors


def _check_workers(workers) -> int:
    if workers is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return check_int("workers", workers, minimum=1, hint="It is the number of threads.")


def _use_letters(method: str, table: PauliTable, n_snapshots: int) -> bool:
    if method not in TABLE_METHODS:
        raise ValueError(f"method must be one of {TABLE_METHODS}, got {method!r}.")
    if method != "auto":
        return method == "letters"
    if n_snapshots * len(table) > LETTER_PATH_MAX_WORK:  # no need to count the letters
        return False
    return n_snapshots * (int(table.weights().sum()) + len(table)) <= LETTER_PATH_MAX_WORK


def estimate_table(
    shadow: ClassicalShadow,
    table: PauliTable,
    *,
    groups: int | None = None,
    delta: float = 0.01,
    method: str = "auto",
    workers: int | None = None,
) -> TableEstimates:
    """Median-of-means estimates of all strings of ``table`` at once (same numbers as
    :func:`estimate` on each string with the same ``groups``).

    Two ways to the same integer group sums (so the same estimates, bit for bit):

    - ``"histogram"``: strings are grouped by support and each snapshot adds ``+-1`` to the
      one string of each support that it matches (:mod:`qnnlab.shadows.histogram`, compiled
      with Numba), ``O(T x sum of the distinct supports' sizes)``, on ``workers`` threads
      (default: every core this process may use);
    - ``"letters"``: per block of snapshots the letters of every string are gathered, compared
      with the measured bases and multiplied per string (NumPy ``reduceat``),
      ``O(T x total letters)``, within :data:`TABLE_MEMORY_BUDGET`;
    - ``"auto"`` (default): letters when ``T x (letters + strings) <=``
      :data:`LETTER_PATH_MAX_WORK`, histograms above.

    ``delta`` and the errors are per string (for all at once pass ``delta / n_strings``, union
    bound).
    """
    _check_table(shadow, table)
    batch = estimate_tables(
        [shadow], table, groups=groups, delta=delta, method=method, workers=workers
    )
    return batch[0]


def estimate_tables(
    shadows: Sequence[ClassicalShadow],
    table: PauliTable,
    *,
    groups: int | None = None,
    delta: float = 0.01,
    n_snapshots: int | None = None,
    workers: int | None = None,
    method: str = "auto",
) -> BatchTableEstimates:
    """:func:`estimate_table` for one shadow per state, with the strings grouped once.

    Args:
        shadows: a sequence of :class:`ClassicalShadow` on ``table.n_qubits`` qubits.
        table: the strings.
        groups: median-of-means groups ``K`` (default ``ceil(2 ln(2/delta))``).
        delta: failure probability per string that sets the default ``K``.
        n_snapshots: use the first ``n_snapshots`` snapshots of every shadow (a prefix);
            default: all, which must then be as many in every shadow.
        workers: threads (default: every core this process may use); states run in parallel,
            and a state's supports are split when there are fewer states than threads. The
            sums are integers, so the numbers do not depend on ``workers``.
        method: ``"auto"``, ``"histogram"`` or ``"letters"``, as in :func:`estimate_table`.

    Returns:
        :class:`BatchTableEstimates` with ``(B, n_strings)`` values and std errors.
    """
    if isinstance(shadows, ClassicalShadow) or not isinstance(shadows, Sequence):
        raise TypeError(
            "estimate_tables takes a sequence of ClassicalShadow (one per state), got "
            f"{type(shadows).__name__}; for one shadow use estimate_table or pass [shadow]."
        )
    if len(shadows) == 0:
        raise ValueError("estimate_tables needs at least one shadow.")
    for shadow in shadows:
        _check_table(shadow, table)
    lengths = [s.n_snapshots for s in shadows]
    if n_snapshots is None:
        if min(lengths) != max(lengths):
            raise ValueError(
                f"the shadows hold {min(lengths)} to {max(lengths)} snapshots; pass "
                f"n_snapshots={min(lengths)} to use the first {min(lengths)} of each."
            )
        t_total = lengths[0]
    else:
        t_total = check_int("n_snapshots", n_snapshots, minimum=1)
        short = int(np.argmin(lengths))
        if t_total > lengths[short]:
            raise ValueError(
                f"n_snapshots={t_total} but shadow {short} has only {lengths[short]} "
                f"snapshots; pass n_snapshots <= {lengths[short]}."
            )
    if t_total == 0:
        raise ValueError("the shadow has no snapshots.")
    kk = default_groups(delta, t_total) if groups is None else _check_groups(groups, t_total)
    workers = _check_workers(workers)
    starts, sizes = _group_layout(t_total, kk)
    n_states, n_strings = len(shadows), len(table)
    values = np.empty((n_states, n_strings))
    std_errors = np.empty((n_states, n_strings))
    if _use_letters(method, table, t_total):
        weights = table.weights()

        def one_state(i: int) -> None:
            shadow = shadows[i] if lengths[i] == t_total else shadows[i][:t_total]
            sums, matches = _letter_sums(shadow, table, starts, sizes)
            values[i], std_errors[i] = _table_statistics(sums, matches, weights, sizes, t_total)

        parallel = 1
    else:
        from qnnlab.shadows import histogram  # Numba loads on first use, not on import

        plan = histogram.support_plan(table, kk / t_total)
        weights = plan.weights
        parallel = min(workers, n_states)
        threads = max(1, workers // parallel)

        def one_state(i: int) -> None:
            values[i], std_errors[i] = _histogram_statistics(
                plan, shadows[i], t_total, starts, sizes, threads
            )

    if parallel == 1:
        for i in range(n_states):
            one_state(i)
    else:
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(one_state, range(n_states)))
    scale = 3.0**weights
    return BatchTableEstimates(
        values=values,
        errors=mom_error_bound(np.where(weights > 0, scale, 0.0), t_total, kk),
        std_errors=std_errors,
        weights=weights,
        groups=kk,
        n_snapshots=t_total,
        confidence=mom_confidence(kk),
    )


def shadow_norm_bound(observable) -> float:
    """``sum_k |c_k| 3^(w_k/2)`` over non-identity terms, a bound on ``||O_0||_shadow``."""
    return float(sum(abs(c) * 3.0 ** (p.weight / 2) for c, p in _terms(observable) if p.ops))


def estimate(
    shadow: ClassicalShadow, observable, *, groups: int | None = None, delta: float = 0.01
) -> Estimate:
    """Median-of-means estimate of ``<O>`` for a Pauli string or real Pauli sum.

    Args:
        shadow: the snapshots.
        observable: a :class:`PauliString`, a label (``"X0 Z3"``) or a :class:`PauliSum`.
        groups: number ``K`` of median-of-means groups; default ``ceil(2 ln(2/delta))``.
        delta: failure probability that sets the default ``K`` (see the module docstring).
    """
    if not isinstance(shadow, ClassicalShadow):
        raise TypeError(f"estimate needs a ClassicalShadow, got {type(shadow).__name__}.")
    terms = _terms(observable)
    t_total = shadow.n_snapshots
    if t_total == 0:
        raise ValueError("the shadow has no snapshots.")
    for _, string in terms:
        if string.ops and string.qubits[-1] >= shadow.n_qubits:
            raise ValueError(
                f"Pauli string {string} acts on qubit {string.qubits[-1]} but the shadow has "
                f"{shadow.n_qubits} qubits."
            )
    table = PauliTable.from_strings([p for _, p in terms], shadow.n_qubits)
    values = snapshot_values(shadow, table, [c for c, _ in terms])
    k = default_groups(delta, t_total) if groups is None else _check_groups(groups, t_total)
    norm = shadow_norm_bound(observable)
    std_error = float(np.std(values, ddof=1) / np.sqrt(t_total)) if t_total > 1 else math.nan
    return Estimate(
        value=median_of_means(values, k),
        error=float(mom_error_bound(norm**2, t_total, k)),
        std_error=std_error,
        groups=k,
        n_snapshots=t_total,
        confidence=mom_confidence(k),
        shadow_norm=norm,
    )


# ---------------------------------------------------------------------------------------------
# all geometrically local Pauli strings at once


def _check_window(n_qubits: int, max_weight: int, periodic: bool) -> int:
    """The window width: ``max_weight >= 1``, clamped to ``n_qubits`` on an open chain (a
    window wider than the chain holds the same strings); a ring needs
    ``n >= 2 max_weight - 1``; the table may hold at most :data:`MAX_FEATURES` entries. All
    checked from the arguments, before anything is allocated."""
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, numbers.Integral) or n_qubits < 1:
        raise ValueError(f"n_qubits must be a positive integer, got {n_qubits!r}.")
    if isinstance(max_weight, bool) or not isinstance(max_weight, numbers.Integral):
        raise TypeError(f"max_weight must be a positive integer, got {max_weight!r}.")
    if max_weight < 1:
        raise ValueError(f"max_weight must be >= 1, got {max_weight}.")
    if not periodic:
        max_weight = min(max_weight, n_qubits)
    if periodic and n_qubits < 2 * max_weight - 1:
        raise ValueError(
            f"periodic windows of {max_weight} qubits on a ring of {n_qubits} overlap "
            f"themselves, which would count strings twice (need n >= 2 max_weight - 1 = "
            f"{2 * max_weight - 1}); use periodic=False (for n <= max_weight it already lists "
            "every Pauli string)."
        )
    entries = n_qubits * 3 * 4 ** (max_weight - 1)
    if entries > MAX_FEATURES:
        raise ValueError(
            f"windows of {max_weight} qubits on {n_qubits} qubits make a table of "
            f"{entries:.2e} entries (limit {MAX_FEATURES:.2e}, MAX_FEATURES); use a smaller "
            "max_weight."
        )
    return int(max_weight)


def local_pauli_table(
    n_qubits: int, max_weight: int = 3, periodic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The compact table ``(starts, letters)`` of all Pauli strings in windows of ``max_weight``.

    Row ``f`` is the string with letter ``TABLE_LETTERS[letters[f, j]]`` (``I, X, Y, Z`` =
    ``0..3``) on qubit ``starts[f] + j`` (mod ``n`` if ``periodic``), ``j < max_weight``.
    Each string whose support fits in ``max_weight`` consecutive qubits appears once, under
    its first non-identity qubit (``letters[f, 0] != 0``). Order: by ``start``, then
    lexicographically by the letter codes. An open chain has
    ``sum_i 3 * 4^(min(k, n - i) - 1)`` rows (windows are cut at the end); a ``max_weight``
    above ``n_qubits`` is clamped to it there (same strings). Tables beyond
    :data:`MAX_FEATURES` entries ``n * 3 * 4^(k-1)`` are refused with a ``ValueError``.
    """
    k = _check_window(n_qubits, max_weight, periodic)
    codes, keep = _window_codes(k), _window_keep(n_qubits, k, periodic)
    rows, cols = np.nonzero(keep)  # row-major: by start, then by letter codes
    return rows.astype(np.int64), codes[cols]


def _window_codes(k: int) -> np.ndarray:
    """Letter codes ``(c_0, ..., c_{k-1})`` with ``c_0 != 0`` in lexicographic order."""
    ranges = [range(1, 4)] + [range(4)] * (k - 1)
    return np.array(list(itertools.product(*ranges)), dtype=np.int8).reshape(-1, k)


def _window_keep(n_qubits: int, k: int, periodic: bool) -> np.ndarray:
    """``(n, 3 4^(k-1))`` mask of the codes each window start keeps: an open chain cuts the
    windows at its end (only identities beyond qubit ``n - 1``)."""
    codes = _window_codes(k)
    keep = np.ones((n_qubits, codes.shape[0]), dtype=bool)
    if not periodic:
        for i in range(max(0, n_qubits - k + 1), n_qubits):
            keep[i] = np.all(codes[:, n_qubits - i :] == 0, axis=1)
    return keep


def _table_strings(starts: np.ndarray, letters: np.ndarray, n_qubits: int) -> list[PauliString]:
    out = []
    for start, row in zip(starts.tolist(), letters.tolist(), strict=True):
        ops = tuple(((start + j) % n_qubits, TABLE_LETTERS[c]) for j, c in enumerate(row) if c != 0)
        out.append(PauliString(ops))
    return out


def local_pauli_strings(
    n_qubits: int, max_weight: int = 3, periodic: bool = False
) -> list[PauliString]:
    """The strings of :func:`local_pauli_table` as :class:`PauliString` objects, same order."""
    starts, letters = local_pauli_table(n_qubits, max_weight, periodic)
    return _table_strings(starts, letters, n_qubits)


@dataclass(frozen=True, eq=False)
class LocalPauliFeatures:
    """Estimates of every Pauli string in windows of ``max_weight`` consecutive qubits.

    ``starts``/``letters`` is the table of :func:`local_pauli_table` (row ``f`` is feature
    ``f``); ``values``, ``errors`` (shadow-norm bound, holds per feature with probability
    ``>= confidence``), ``std_errors`` and ``weights`` are ``(F,)`` arrays in that order.
    """

    n_qubits: int
    max_weight: int
    periodic: bool
    starts: np.ndarray
    letters: np.ndarray
    values: np.ndarray
    errors: np.ndarray
    std_errors: np.ndarray
    weights: np.ndarray
    groups: int
    n_snapshots: int
    confidence: float

    def __len__(self) -> int:
        return self.values.shape[0]

    @cached_property
    def strings(self) -> list[PauliString]:
        """The features as :class:`PauliString` objects (same order as ``values``)."""
        return _table_strings(self.starts, self.letters, self.n_qubits)

    @cached_property
    def labels(self) -> list[str]:
        """Sparse labels such as ``"X3 Z5"``."""
        return [str(s) for s in self.strings]


def _window_factors(shadow: ClassicalShadow, k: int, periodic: bool, dtype) -> np.ndarray:
    """``F[q, c, t]``: per-qubit factor of letter ``c`` (I, X, Y, Z) in snapshot ``t``, without
    the 3s: ``1`` for I, ``[recipe == c - 1] (1 - 2 bit)`` otherwise; ``k - 1`` extra qubits
    (identity only for an open chain, the first qubits again for a ring) close the windows."""
    n, t_total = shadow.n_qubits, shadow.n_snapshots
    sign = (1 - 2 * shadow.bits.T).astype(dtype)  # (n, T)
    recipes = shadow.recipes.T
    factors = np.zeros((n + k - 1, 4, t_total), dtype=dtype)
    factors[:, 0] = 1.0
    for c in range(3):
        factors[:n, c + 1] = np.where(recipes == c, sign, 0)
    if periodic:
        factors[n:] = factors[: k - 1]
    return factors


def _window_sums(factors: np.ndarray, n: int, k: int, lo: int, hi: int) -> np.ndarray:
    """``S[i, c_0, ..., c_{k-1}] = sum_{t in lo:hi} prod_j F[i + j, c_j, t]`` for ``c_0 >= 1``,
    flattened to ``(n, 3 * 4^(k-1))``."""
    prod = factors[:n, 1:, lo:hi]  # (n, 3, t): first letter non-identity
    for j in range(1, k - 1):
        nxt = factors[j : j + n, :, lo:hi]
        prod = (prod[:, :, None, :] * nxt[:, None, :, :]).reshape(n, -1, hi - lo)
    if k == 1:
        return prod.sum(axis=2, dtype=np.float64)
    last = factors[k - 1 : k - 1 + n, :, lo:hi]  # (n, 4, t)
    out = np.matmul(prod, last.transpose(0, 2, 1))  # (n, 3 * 4^(k-2), 4)
    return out.reshape(n, -1).astype(np.float64)


def local_pauli_features(
    shadow: ClassicalShadow,
    max_weight: int = 3,
    *,
    groups: int | None = None,
    delta: float = 0.01,
    periodic: bool = False,
) -> LocalPauliFeatures:
    """Median-of-means estimates of all Pauli strings on ``max_weight`` consecutive qubits.

    Same numbers as :func:`estimate` on each string with the same ``groups``, computed together:
    per group, the sums ``sum_t prod_j F[i + j, c_j, t]`` of products of per-qubit factors
    (``1`` for I, ``[recipe == letter] (1 - 2 bit)`` otherwise) for every window start ``i`` and
    letters ``c``, as outer products over the first ``k - 1`` qubits and one batched matrix
    product with the last; multiplying by ``3^weight`` gives the sums of ``x_t(P)``. The
    factors are integers, so float32 products and sums are exact (float64 is used where a
    group could exceed ``2^24`` snapshots).

    ``delta`` and the errors are per feature; for all ``F`` features at once with probability
    ``1 - delta`` pass ``delta / F`` (union bound, Huang et al. Theorem 1). The order is that
    of :func:`local_pauli_table` / :func:`local_pauli_strings`.
    """
    if not isinstance(shadow, ClassicalShadow):
        raise TypeError(f"expected a ClassicalShadow, got {type(shadow).__name__}.")
    n, t_total = shadow.n_qubits, shadow.n_snapshots
    k = _check_window(n, max_weight, periodic)
    if t_total == 0:
        raise ValueError("the shadow has no snapshots.")
    kk = default_groups(delta, t_total) if groups is None else _check_groups(groups, t_total)
    starts, letters = local_pauli_table(n, k, periodic)
    g_starts, sizes = _group_layout(t_total, kk)
    dtype = np.float32 if sizes.max() < 2**24 else np.float64
    factors = _window_factors(shadow, k, periodic, dtype)
    # Blocks of snapshots inside each group bound the memory of the outer products.
    per_snapshot = n * 3 * 4 ** max(k - 2, 0) * np.dtype(dtype).itemsize * 3
    block = max(1, FEATURE_MEMORY_BUDGET // per_snapshot)
    width = 3 * 4 ** (k - 1)
    sums = np.zeros((kk, n, width))
    for g, (g0, size) in enumerate(zip(g_starts.tolist(), sizes.tolist(), strict=True)):
        for lo in range(g0, g0 + size, block):
            sums[g] += _window_sums(factors, n, k, lo, min(lo + block, g0 + size))
    keep = _window_keep(n, k, periodic)  # the table's rows, in the table's order
    weights = np.count_nonzero(letters, axis=1)
    scale = 3.0**weights
    group_sums = sums[:, keep] * scale  # (K, F) sums of x_t, exact
    values = _median_of_group_sums(group_sums, sizes)
    plain_mean = group_sums.sum(axis=0) / t_total
    # Sample variance of x_t: sum_t x_t^2 is 3^(2w) times the number of snapshots whose bases
    # match the string (a histogram of each window's basis patterns).
    matches = _match_counts(shadow, k, periodic, starts, letters)
    second = matches * scale**2
    if t_total > 1:
        var = np.maximum(second - t_total * plain_mean**2, 0.0) / (t_total - 1)
        std_errors = np.sqrt(var / t_total)
    else:
        std_errors = np.full(values.shape, math.nan)
    return LocalPauliFeatures(
        n_qubits=n,
        max_weight=k,
        periodic=bool(periodic),
        starts=starts,
        letters=letters,
        values=values,
        errors=mom_error_bound(scale, t_total, kk),
        std_errors=std_errors,
        weights=weights,
        groups=kk,
        n_snapshots=t_total,
        confidence=mom_confidence(kk),
    )


def _match_counts(
    shadow: ClassicalShadow, k: int, periodic: bool, starts: np.ndarray, letters: np.ndarray
) -> np.ndarray:
    """Number of snapshots whose bases match each table row on its support.

    A histogram of the ``3^k`` basis patterns of every window, summed over the positions where
    the row has the identity.
    """
    n, t_total = shadow.n_qubits, shadow.n_snapshots
    rec = shadow.recipes.astype(np.int64)
    pad = rec[:, : k - 1] if periodic else np.zeros((t_total, k - 1), dtype=np.int64)
    rec = np.concatenate([rec, pad], axis=1)
    code = np.zeros((t_total, n), dtype=np.int64)
    for j in range(k):
        code = code * 3 + rec[:, j : j + n]
    code += np.arange(n) * 3**k
    counts = np.bincount(code.ravel(), minlength=n * 3**k).reshape((n,) + (3,) * k)
    for axis in range(1, k + 1):  # index 0 on an axis: identity there (sum over the bases)
        counts = np.concatenate([counts.sum(axis=axis, keepdims=True), counts], axis=axis)
    return counts[(starts, *letters.T.astype(np.intp))].astype(np.float64)
