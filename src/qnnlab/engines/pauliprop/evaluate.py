"""Expectation values of every string of a :class:`PauliTable` on input data, all at once.

A propagated observable ``O = sum_j c_j P_j`` (:func:`.propagate`) is only useful once the
``<P_j>`` are known on the data. Each route is vectorized over strings (no Python loop per
string) and bounds its memory by chunking:

* :func:`pauli_expvals_zero` / :func:`pauli_expvals_product`: ``|0..0>`` and product states
  given by Bloch vectors ``(B, n, 3)`` (:class:`ProductStates`): ``<P> = prod_q r_q[P_q]``.
* :func:`pauli_expvals_dense`: pure states ``(B, 2**n)`` (qubit 0 most significant). With
  ``P = i^{|x & z|} X^x Z^z``, ``<psi|P|psi> = i^{|x & z|} sum_b (-1)^{z.b} conj(psi[b ^ x])
  psi[b]``: strings sharing an x-pattern share ``f_x(b) = conj(psi[b ^ x]) psi[b]``. A pattern
  with many strings takes a fast Walsh-Hadamard transform of ``f_x`` (``n 2^n``, then one
  gather per string); one with few strings contracts ``f_x`` with the sign vectors directly, as
  two small matrix products over the high and low halves of the index (``2^n`` per string).
* :func:`pauli_expvals_mps`: a right-canonical :class:`MPS`. One left-to-right sweep carries a
  stack of environments, one per string open at the site; a string opens at its first letter
  from ``diag(S^2)`` (the Schmidt values of that bond), is multiplied site by site with the
  transfer matrix of its letter (strings grouped by letter: two matrix products per letter and
  site for the whole stack) and closes with a trace at its last letter (the right environment
  is the identity by right-canonical form). Cost ``O(chi^3)`` per string and site of its span.
* :func:`pauli_expvals_shadow`: median-of-means estimates and their error bars from a
  :class:`ClassicalShadow` (:func:`qnnlab.shadows.estimate_table`).

:func:`expvals` picks the route from the data type; :func:`operator_expval` evaluates a
:class:`PauliOperator` on the circuit's input qubits, ``sum_j c_j <P_j>`` per state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.data.mps import MPS
from qnnlab.engines.pauliprop.propagate import PauliOperator, PropagationResult
from qnnlab.shadows.estimators import estimate_table
from qnnlab.shadows.snapshots import ClassicalShadow

#: Memory (bytes) one chunk of a dense or MPS evaluation may use for its work arrays.
MEMORY_BUDGET = 64 * 2**20
#: Most qubits a dense state may have here (the index masks are int64).
DENSE_MAX_QUBITS = 30
#: ``method="auto"`` transforms an x-pattern with more than ``WHT_MIN_STRINGS * n`` strings
#: (the transform costs ``n 2^n`` elementwise passes, the direct route ``2^n`` BLAS work per
#: string; measured crossover on 12 and 16 qubits)
WHT_MIN_STRINGS = 3.0
#: Bloch-vector component (r_x, r_y, r_z) read by each table code (I, X, Z, Y).
_CODE_COMPONENT = np.array([0, 0, 2, 1])


class EvaluationError(ValueError):
    """Data that the strings cannot be evaluated on; the message names the fix."""


def _check_table(table) -> PauliTable:
    if not isinstance(table, PauliTable):
        raise EvaluationError(
            f"expected a PauliTable, got {type(table).__name__}; pass operator.table."
        )
    return table


def _check_qubits(table: PauliTable, n_qubits: int, what: str) -> None:
    if table.n_qubits != n_qubits:
        raise EvaluationError(
            f"the Pauli table is on {table.n_qubits} qubits but the {what} has {n_qubits}; "
            "map the strings onto the data's qubits first (table.remap or operator_expval)."
        )


_CONTROLLER = None


def _blas_single_thread():
    """Context limiting BLAS to one thread: the dense and MPS routes multiply many small
    matrices, where threading costs more than it gains (10x slower measured on a loaded 2-core
    machine)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _letter_starts(terms: np.ndarray) -> np.ndarray:
    """Index of the first letter of every string in sparse ``terms`` (sorted by term)."""
    if len(terms) == 0:
        return terms
    return np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]])


# ---------------------------------------------------------------------------------------------
# product states


@dataclass(frozen=True)
class ProductStates:
    """A batch of product states as Bloch vectors ``bloch[b, q] = (r_x, r_y, r_z)``,
    ``|r| <= 1`` (mixed qubits allowed), shape ``(B, n, 3)``."""

    bloch: np.ndarray

    def __post_init__(self) -> None:
        b = np.asarray(self.bloch, dtype=np.float64)
        if b.ndim != 3 or b.shape[2] != 3:
            raise EvaluationError(
                f"Bloch vectors must have shape (B, n, 3), got {b.shape}; for one state use "
                "bloch[None]."
            )
        if not np.all(np.isfinite(b)):
            raise EvaluationError("Bloch vectors hold NaN or infinite values.")
        if np.any(np.linalg.norm(b, axis=2) > 1.0 + 1e-9):
            raise EvaluationError("Bloch vectors must have length <= 1 (physical states).")
        object.__setattr__(self, "bloch", b)

    @property
    def n_qubits(self) -> int:
        return self.bloch.shape[1]

    def __len__(self) -> int:
        return self.bloch.shape[0]

    @classmethod
    def zeros(cls, n_qubits: int, batch: int = 1) -> ProductStates:
        """``batch`` copies of ``|0..0>`` (all ``r_z = 1``)."""
        bloch = np.zeros((batch, n_qubits, 3))
        bloch[..., 2] = 1.0
        return cls(bloch)

    @classmethod
    def from_amplitudes(cls, amplitudes) -> ProductStates:
        """From single-qubit state vectors ``(B, n, 2)`` (``a|0> + b|1>``, normalised here)."""
        a = np.asarray(amplitudes, dtype=np.complex128)
        if a.ndim != 3 or a.shape[2] != 2:
            raise EvaluationError(f"qubit amplitudes must have shape (B, n, 2), got {a.shape}.")
        norm = np.linalg.norm(a, axis=2, keepdims=True)
        if np.any(norm == 0) or not np.all(np.isfinite(a)):
            raise EvaluationError("every qubit amplitude pair must be finite and nonzero.")
        a = a / norm
        cross = np.conj(a[..., 0]) * a[..., 1]
        return cls(
            np.stack(
                [2 * cross.real, 2 * cross.imag, abs(a[..., 0]) ** 2 - abs(a[..., 1]) ** 2], -1
            )
        )


def pauli_expvals_zero(table: PauliTable) -> np.ndarray:
    """``<0..0|P_j|0..0>`` for every string, ``(T,)``: 1 for strings of I and Z only, else 0."""
    return (~np.any(_check_table(table).x, axis=1)).astype(np.float64)


def pauli_expvals_product(table: PauliTable, bloch) -> np.ndarray:
    """``<P_j> = prod_{q in P_j} r_q[P_j, q]`` on product states; ``bloch`` is a
    :class:`ProductStates` or an array ``(B, n, 3)`` (``(B, T)`` out) or ``(n, 3)`` (``(T,)``)."""
    table = _check_table(table)
    single = False
    if not isinstance(bloch, ProductStates):
        arr = np.asarray(bloch, dtype=np.float64)
        single = arr.ndim == 2
        bloch = ProductStates(arr[None] if single else arr)
    _check_qubits(table, bloch.n_qubits, "product state")
    terms, qubits, codes = table.sparse()
    starts = _letter_starts(terms)
    comp = _CODE_COMPONENT[codes]
    r = bloch.bloch
    out = np.ones((len(bloch), len(table)))
    if len(terms):
        rows = max(1, MEMORY_BUDGET // (8 * len(terms)))
        for lo in range(0, len(bloch), rows):
            factors = r[lo : lo + rows][:, qubits, comp]  # (b, letters)
            out[lo : lo + rows, terms[starts]] = np.multiply.reduceat(factors, starts, axis=1)
    return out[0] if single else out


# ---------------------------------------------------------------------------------------------
# dense pure states


def _index_masks(table: PauliTable) -> tuple[np.ndarray, np.ndarray]:
    """x and z of every string as basis-index bit masks (qubit ``q`` is bit ``n - 1 - q``)."""
    n = table.n_qubits
    codes = table.codes().astype(np.int64)  # (T, n)
    place = np.left_shift(1, n - 1 - np.arange(n, dtype=np.int64))
    return (codes & 1) @ place, (codes >> 1) @ place


def _fwht(a: np.ndarray) -> np.ndarray:
    """Fast Walsh-Hadamard transform along the last axis (length ``2^n``), in place when ``a``
    is C-contiguous: ``a[..., z] <- sum_b (-1)^{popcount(z & b)} a[..., b]``."""
    a = np.ascontiguousarray(a)  # the reshapes below must be views
    m, size = int(np.prod(a.shape[:-1])), a.shape[-1]
    h = 1
    while h < size:
        v = a.reshape(m, size // (2 * h), 2, h)
        u, w = v[:, :, 0, :], v[:, :, 1, :]
        total = u + w
        np.subtract(u, w, out=w)
        u[...] = total
        h *= 2
    return a


def _signs(bits: int, masks: np.ndarray) -> np.ndarray:
    """``(-1)^{popcount(i & mask_j)}`` as float64 ``(len(masks), 2^bits)``."""
    index = np.arange(2**bits, dtype=np.int64)
    parity = np.bitwise_count(index[None, :] & masks[:, None]) & 1
    return 1.0 - 2.0 * parity


def _phase_real(values: np.ndarray, y_count: np.ndarray) -> np.ndarray:
    """Real part of ``i^y * values`` (the Y phases of ``P = i^y X^x Z^z``)."""
    ph = y_count % 4
    return np.select(
        [ph == 0, ph == 1, ph == 2], [values.real, -values.imag, -values.real], values.imag
    )


def _as_state_batch(psi, n_qubits: int) -> tuple[np.ndarray, bool]:
    arr = np.asarray(psi)
    if not (np.issubdtype(arr.dtype, np.number) and arr.ndim in (1, 2)):
        raise EvaluationError(
            f"dense states must be a numeric array (2**n,) or (B, 2**n), got {arr.dtype} "
            f"{arr.shape}."
        )
    if arr.shape[-1] != 2**n_qubits:
        raise EvaluationError(
            f"dense states of length {arr.shape[-1]} do not match the table's {n_qubits} qubits "
            f"(2**{n_qubits} = {2**n_qubits} amplitudes); map the strings onto the state's "
            "qubits first (table.remap or operator_expval)."
        )
    if not np.all(np.isfinite(arr)):
        raise EvaluationError("dense states hold NaN or infinite amplitudes.")
    single = arr.ndim == 1
    return np.ascontiguousarray(arr[None] if single else arr, dtype=np.complex128), single


def pauli_expvals_dense(table: PauliTable, psi, *, method: str = "auto") -> np.ndarray:
    """``<psi|P_j|psi>`` of every string on pure states ``(B, 2**n)`` -> ``(B, T)`` (or
    ``(2**n,)`` -> ``(T,)``), real, float64.

    ``method``: ``"wht"`` (a Walsh-Hadamard transform per x-pattern), ``"direct"`` (sign
    contractions per string) or ``"auto"`` (per x-pattern, whichever costs less: the transform
    when the pattern has more than ``WHT_MIN_STRINGS * n`` strings).
    """
    table = _check_table(table)
    n = table.n_qubits
    if n > DENSE_MAX_QUBITS:
        raise EvaluationError(
            f"dense evaluation is limited to {DENSE_MAX_QUBITS} qubits, got {n}; use an MPS."
        )
    if method not in ("auto", "wht", "direct"):
        raise EvaluationError(f"method must be 'auto', 'wht' or 'direct', got {method!r}.")
    states, single = _as_state_batch(psi, n)
    xm, zm = _index_masks(table)
    y_count = np.bitwise_count(xm & zm).astype(np.int64)
    patterns, group, counts = np.unique(xm, return_inverse=True, return_counts=True)
    if method == "auto":
        use_wht = counts > WHT_MIN_STRINGS * n
    else:
        use_wht = np.full(len(patterns), method == "wht")
    size = 2**n
    budget = max(1, MEMORY_BUDGET // (16 * 4))  # complex entries per chunk, a few temporaries
    rows = max(1, min(len(states), budget // size))
    out = np.empty((len(states), len(table)), dtype=np.complex128)
    order = np.argsort(group, kind="stable")  # strings grouped by x-pattern
    first = np.searchsorted(group[order], np.arange(len(patterns) + 1))
    members = [order[first[g] : first[g + 1]] for g in range(len(patterns))]
    # direct pieces: at most 2^(n/2) strings each (bounds the partial products), sorted by size
    cap = 2 ** (n // 2)
    pieces = [
        (g, members[g][i : i + cap])
        for g in np.flatnonzero(~use_wht).tolist()
        for i in range(0, counts[g], cap)
    ]
    pieces.sort(key=lambda piece: len(piece[1]))
    wht = [(g, members[g]) for g in np.flatnonzero(use_wht).tolist()]
    with _blas_single_thread():
        _dense_blocks(states, rows, budget, patterns, (wht, pieces), zm, n, out)
    values = _phase_real(out, y_count)
    return values[0] if single else values


def _dense_blocks(states, rows, budget, patterns, work_lists, zm, n, out) -> None:
    """Run the transform and direct chunks over blocks of states."""
    size = 2**n
    wht, pieces = work_lists
    for lo in range(0, len(states), rows):
        block = states[lo : lo + rows]
        per_chunk = max(1, budget // (len(block) * size))
        for run, work in ((_wht_chunk, wht), (_direct_chunk, pieces)):
            for c in range(0, len(work), per_chunk):
                chunk = work[c : c + per_chunk]
                run(
                    block,
                    patterns[[g for g, _ in chunk]],
                    [m for _, m in chunk],
                    zm,
                    n,
                    out[lo : lo + rows],
                )


def _pattern_products(block: np.ndarray, patterns: np.ndarray, n: int) -> np.ndarray:
    """``f[b, g, i] = conj(psi_b[i ^ x_g]) psi_b[i]``, ``(B, G, 2^n)``."""
    index = np.arange(2**n, dtype=np.int64)
    return np.conj(block[:, index[None, :] ^ patterns[:, None]]) * block[:, None, :]


def _wht_chunk(block, patterns, strings, zm, n, out) -> None:
    f = _fwht(_pattern_products(block, patterns, n))
    pos = np.concatenate([np.full(len(s), g) for g, s in enumerate(strings)])
    ids = np.concatenate(strings)
    out[:, ids] = f[:, pos, zm[ids]]


def _direct_chunk(block, patterns, strings, zm, n, out) -> None:
    """Per pattern ``sum_{h, l} f[h, l] s_h(h) s_l(l)`` as ``(f @ S_l) . S_h`` (index split into
    high and low bit halves), batched over the chunk's patterns with strings padded to the
    chunk's largest count."""
    low = n // 2
    high = n - low
    g_count, k_max = len(patterns), max(len(s) for s in strings)
    ids = np.zeros((g_count, k_max), dtype=np.int64)
    valid = np.zeros((g_count, k_max), dtype=bool)
    for g, s in enumerate(strings):
        ids[g, : len(s)] = s
        valid[g, : len(s)] = True
    z = zm[ids]
    s_low = _signs(low, (z & (2**low - 1)).ravel()).reshape(g_count, k_max, -1)
    s_high = _signs(high, (z >> low).ravel()).reshape(g_count, k_max, -1)
    f = _pattern_products(block, patterns, n).reshape(len(block), g_count, 2**high, 2**low)
    partial = np.matmul(f, s_low.transpose(0, 2, 1))  # (B, G, 2^high, K)
    values = np.einsum("bghk,gkh->bgk", partial, s_high)
    out[:, ids[valid]] = values[:, valid]


# ---------------------------------------------------------------------------------------------
# matrix product states


def _letter_tensors(b: np.ndarray) -> list[np.ndarray]:
    """``C_P[l, t, r] = sum_s P[s, t] conj(B[l, s, r])`` for the table codes I, X, Z, Y."""
    cb = np.conj(b)
    swap = cb[:, ::-1]
    return [
        cb,
        np.ascontiguousarray(swap),
        cb * np.array([1.0, -1.0])[:, None],
        swap * np.array([1j, -1j])[:, None],  # Y: P[0, 1] = -i, P[1, 0] = i
    ]


def _transfer(env: np.ndarray, b_t: np.ndarray, c_p: np.ndarray) -> np.ndarray:
    """``E'[m] = sum_{s, t} P[s, t] B_t^T E[m] conj(B_s)`` for the stack ``env (m, a, a)``:
    one matrix product with ``C_P (a, 2, r)`` for the whole stack, then ``B^T (r, 2a)`` times
    each ``(2a, r)`` slice."""
    m, a, _ = env.shape
    r = c_p.shape[2]
    half = (env.reshape(m * a, a) @ c_p.reshape(a, 2 * r)).reshape(m, 2 * a, r)
    return np.matmul(b_t, half)


@dataclass(frozen=True)
class _SiteStep:
    """What one site of a sweep does, independent of the tensors (shared by a dataset).

    New environments: ``keys[i] = 4 e + c`` transfers environment ``e`` with letter ``c``;
    then one per letter in ``opened`` from ``diag(S^2)``. Strings ``closing_ids`` close on new
    environments ``closing_env``; the new environments ``used`` are kept, in that order.
    """

    site: int
    keys: np.ndarray
    opened: np.ndarray
    closing_ids: np.ndarray
    closing_env: np.ndarray
    used: np.ndarray


def _sweep_plan(layout, strings: np.ndarray, n_strings: int) -> list[_SiteStep]:
    """The prefix tree of ``strings`` (sorted by first letter) as per-site steps: strings that
    agree up to a site share one environment there."""
    terms, _qubits, codes, first, last, site_ptr, site_order = layout
    code_at = np.zeros(n_strings, dtype=np.int64)
    open_ids = np.zeros(0, dtype=np.int64)
    open_env = np.zeros(0, dtype=np.int64)
    starts = first[strings]
    begin, end = int(starts[0]), int(last[strings].max())
    opening = np.searchsorted(starts, np.arange(begin, end + 2))
    plan = []
    for site in range(begin, end + 1):
        new = strings[opening[site - begin] : opening[site - begin + 1]]
        if len(open_ids) == 0 and len(new) == 0:
            continue
        here = site_order[site_ptr[site] : site_ptr[site + 1]]
        code_at[terms[here]] = codes[here]
        keys, pointer = np.unique(open_env * 4 + code_at[open_ids], return_inverse=True)
        new_letter = code_at[new]
        opened = np.unique(new_letter)
        code_at[terms[here]] = 0
        open_ids = np.concatenate([open_ids, new])
        open_env = np.concatenate([pointer, len(keys) + np.searchsorted(opened, new_letter)])
        closing = last[open_ids] == site
        closing_ids, closing_env = open_ids[closing], open_env[closing]
        open_ids, open_env = open_ids[~closing], open_env[~closing]
        used, open_env = np.unique(open_env, return_inverse=True)
        plan.append(_SiteStep(site, keys, opened, closing_ids, closing_env, used))
    return plan


def _plan_bytes(plan: list[_SiteStep], mps: MPS) -> int:
    """Peak memory of running ``plan`` on ``mps``: new environments and transfer temporaries."""
    peak = 0
    for step in plan:
        chi = mps.tensors[step.site].shape[2]
        peak = max(peak, (len(step.keys) + len(step.opened)) * chi * chi * 16 * 6)
    return peak


def _mps_sweep(mps: MPS, plan: list[_SiteStep], out: np.ndarray) -> None:
    """Run a sweep plan on ``mps``: transfer every distinct (environment, letter) pair once per
    site, grouped by letter, and close strings with a trace."""
    env = np.zeros((0, 1, 1), dtype=np.complex128)
    for step in plan:
        b = mps.tensors[step.site].astype(np.complex128, copy=False)
        chi_l, _, chi_r = b.shape
        b_t = b.reshape(2 * chi_l, chi_r).T
        c_p = _letter_tensors(b)
        keys = step.keys
        nxt = np.empty((len(keys) + len(step.opened), chi_r, chi_r), dtype=np.complex128)
        for c in range(4):
            sel = np.flatnonzero(keys % 4 == c)
            if len(sel):
                nxt[sel] = _transfer(env[keys[sel] // 4], b_t, c_p[c])
        if len(step.opened):  # strings opening here start from diag(S^2) of this bond
            start = np.diag((mps.schmidt[step.site] ** 2).astype(np.complex128))[None]
            for k, c in enumerate(step.opened.tolist()):
                nxt[len(keys) + k] = _transfer(start, b_t, c_p[c])[0]
        if len(step.closing_ids):
            out[step.closing_ids] = np.trace(nxt[step.closing_env], axis1=1, axis2=2).real
        env = nxt[step.used]


def _mps_layout(table: PauliTable):
    terms, qubits, codes = table.sparse()
    first = np.full(len(table), -1, dtype=np.int64)
    last = np.full(len(table), -1, dtype=np.int64)
    starts = _letter_starts(terms)
    if len(terms):
        first[terms[starts]] = qubits[starts]
        ends = np.r_[starts[1:], len(terms)] - 1
        last[terms[ends]] = qubits[ends]
    site_order = np.argsort(qubits, kind="stable")
    site_ptr = np.searchsorted(qubits[site_order], np.arange(table.n_qubits + 1))
    return terms, qubits, codes, first, last, site_ptr, site_order


def pauli_expvals_mps(table: PauliTable, mps) -> np.ndarray:
    """``<P_j>`` of every string on a right-canonical :class:`MPS` -> ``(T,)``, or on a list of
    MPS (a dataset) -> ``(B, T)`` (module docstring for the sweep).

    The sweep plan (which environments exist at each site) depends only on the strings and is
    built once for a dataset. When its environments would exceed :data:`MEMORY_BUDGET`, the
    strings are split, in order of their first letter, into sweeps of at most
    ``MEMORY_BUDGET / (96 chi^2)`` strings.
    """
    table = _check_table(table)
    single = isinstance(mps, MPS)
    states = [mps] if single else list(mps)
    if not states or not all(isinstance(s, MPS) for s in states):
        raise EvaluationError("pauli_expvals_mps needs an MPS or a non-empty list of MPS.")
    for state in states:
        _check_qubits(table, state.n_qubits, "MPS")
    layout = _mps_layout(table)
    first = layout[3]
    active = np.flatnonzero(first >= 0)
    active = active[np.argsort(first[active], kind="stable")]
    plans: dict[int, list[list[_SiteStep]]] = {}
    out = np.ones((len(states), len(table)))
    with _blas_single_thread():
        for i, state in enumerate(states):
            chunk = len(active)
            if chunk and chunk not in plans:
                plans[chunk] = [_sweep_plan(layout, active, len(table))]
            if chunk and _plan_bytes(plans[chunk][0], state) > MEMORY_BUDGET:
                chi = max(b.shape[2] for b in state.tensors)
                chunk = max(1, MEMORY_BUDGET // (96 * chi * chi))
                if chunk not in plans:
                    plans[chunk] = [
                        _sweep_plan(layout, active[lo : lo + chunk], len(table))
                        for lo in range(0, len(active), chunk)
                    ]
            for plan in plans.get(chunk, []):
                _mps_sweep(state, plan, out[i])
    return out[0] if single else out


# ---------------------------------------------------------------------------------------------
# classical shadows


def pauli_expvals_shadow(
    table: PauliTable, shadow, *, groups: int | None = None, delta: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Median-of-means estimates and their shadow-norm error bars (each holds per string with
    probability ``>= 1 - 2 exp(-K/2)``, :func:`qnnlab.shadows.estimate_table`): ``(T,)`` each
    for a :class:`ClassicalShadow`, ``(B, T)`` each for a list of shadows."""
    table = _check_table(table)
    if isinstance(shadow, ClassicalShadow):
        _check_qubits(table, shadow.n_qubits, "shadow")
        est = estimate_table(shadow, table, groups=groups, delta=delta)
        return est.values, est.errors
    shadows = list(shadow)
    if not shadows or not all(isinstance(s, ClassicalShadow) for s in shadows):
        raise EvaluationError(
            "pauli_expvals_shadow needs a ClassicalShadow or a non-empty list of them."
        )
    pairs = [pauli_expvals_shadow(table, s, groups=groups, delta=delta) for s in shadows]
    return np.stack([v for v, _ in pairs]), np.stack([e for _, e in pairs])


# ---------------------------------------------------------------------------------------------
# dispatch


def expvals(table: PauliTable, data) -> np.ndarray:
    """``<P_j>`` of every string on ``data``, routed by its type:

    * NumPy array of pure states ``(2**n,)`` / ``(B, 2**n)``: :func:`pauli_expvals_dense`;
    * :class:`ProductStates` (Bloch vectors): :func:`pauli_expvals_product`;
    * :class:`MPS` or a list of MPS: :func:`pauli_expvals_mps`;
    * :class:`ClassicalShadow` or a list of them: the estimates of
      :func:`pauli_expvals_shadow` (call it directly for the error bars).

    One state gives ``(T,)``, a batch ``(B, T)``.
    """
    table = _check_table(table)
    if isinstance(data, ProductStates):
        return pauli_expvals_product(table, data)
    if isinstance(data, MPS):
        return pauli_expvals_mps(table, data)
    if isinstance(data, ClassicalShadow):
        return pauli_expvals_shadow(table, data)[0]
    if isinstance(data, (list, tuple)) and data:
        if all(isinstance(d, MPS) for d in data):
            return pauli_expvals_mps(table, data)
        if all(isinstance(d, ClassicalShadow) for d in data):
            return pauli_expvals_shadow(table, data)[0]
    if isinstance(data, np.ndarray) or (
        hasattr(data, "__array__") and hasattr(data, "shape") and hasattr(data, "dtype")
    ):
        return pauli_expvals_dense(table, data)
    raise EvaluationError(
        f"cannot evaluate Pauli strings on {type(data).__name__}; pass a NumPy array of pure "
        "states (B, 2**n), ProductStates (Bloch vectors), an MPS, a ClassicalShadow, or a "
        "non-empty list of MPS or of shadows."
    )


def operator_expval(operator, data, input_qubits: Sequence[int]) -> np.ndarray | float:
    """``sum_j c_j <P_j>`` of a propagated :class:`PauliOperator` (or a
    :class:`PropagationResult`) on ``data`` whose qubit ``k`` is circuit qubit
    ``input_qubits[k]`` (``circuit.input_qubits``): a float for one state, ``(B,)`` for a
    batch."""
    if isinstance(operator, PropagationResult):
        operator = operator.operator
    if not isinstance(operator, PauliOperator):
        raise EvaluationError(
            f"expected a PauliOperator or PropagationResult, got {type(operator).__name__}."
        )
    qubits = [int(q) for q in input_qubits]
    try:
        table = operator.table.remap(qubits, len(qubits))
    except ValueError as exc:
        raise EvaluationError(
            f"{exc} The operator must act only on the circuit's input qubits; pass "
            "circuit.input_qubits."
        ) from exc
    values = expvals(table, data) @ operator.coeffs
    return float(values) if np.ndim(values) == 0 else values
