"""Heisenberg-picture Pauli propagation of an observable through a :class:`Circuit`.

``O -> U^dag O U`` step by step from the last gate to the first: a Pauli sum on the output
qubits becomes a Pauli sum on the input qubits, ``<psi| U^dag O U |psi> = sum_j c_j <psi|P_j|psi>``.
Steps (fused blocks or single gates, :mod:`.steps`) on disjoint qubits form layers, each applied
by one compiled pass (:mod:`.kernel`). Discarded qubits need nothing: the observable is the
identity there. A qubit that starts in ``|0>`` (not an input qubit) is evaluated right after the
pass crosses the first gate on it: X and Y there make a string vanish, Z becomes 1.

Truncations (all optional, combined), applied after every step a string passes through:

* ``max_weight``: drop strings with more than ``k`` non-identity letters;
* ``max_freq``: drop strings whose path took more than ``f`` cos/sin branchings (LOWESA,
  Fontana et al., arXiv 2306.05400; merged paths keep the smallest count); needs ``mode="gates"``,
  which is chosen automatically;
* ``min_coeff``: drop strings with ``|c| < epsilon``;
* ``max_terms``: after each layer keep the ``M`` strings of largest ``|c|``.

Every result reports the coefficient mass it dropped (sum of squared coefficients, by cause) and
``error_bound``, a rigorous bound on the normalised Hilbert-Schmidt distance
``||O_exact - O_kept||_2 / sqrt(2^n)`` (triangle inequality over steps; strings dropped in one
stage are orthogonal).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from qnnlab.checks import check_int, check_real
from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.pauli_table import PauliTable, n_words
from qnnlab.circuits.paulis import BasisProjector, PauliSum, as_observable
from qnnlab.engines.pauliprop.steps import StepProgram, backward_layers, build_steps

#: most qubits a BasisProjector observable may have (it expands into 2^k Pauli strings)
MAX_PROJECTOR_QUBITS = 16


class PropagationError(ValueError):
    """A propagation request that cannot be carried out; the message names the fix."""


@dataclass(frozen=True)
class Truncation:
    """Which strings to drop during propagation (module docstring); ``None`` switches a cut off."""

    max_weight: int | None = None
    min_coeff: float | None = None
    max_freq: int | None = None
    max_terms: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_weight", "max_freq", "max_terms"):
            value = getattr(self, name)
            if value is not None:
                check_int(
                    name,
                    value,
                    minimum=0 if name == "max_freq" else 1,
                    hint="Leave it unset for no cut.",
                    error=PropagationError,
                )
        if self.min_coeff is not None:
            check_real("min_coeff", self.min_coeff, minimum=0.0, error=PropagationError)

    @property
    def is_active(self) -> bool:
        return any(
            v is not None for v in (self.max_weight, self.min_coeff, self.max_freq, self.max_terms)
        )


@dataclass(frozen=True)
class PauliOperator:
    """``O = sum_j coeffs[j] P_j`` with the strings ``P_j`` in a packed :class:`PauliTable`."""

    table: PauliTable
    coeffs: np.ndarray

    def __len__(self) -> int:
        return len(self.coeffs)

    @property
    def n_qubits(self) -> int:
        return self.table.n_qubits

    def weight_mass(self, max_weight: int | None = None) -> np.ndarray:
        """Entry ``k``: ``sum_{|P_j| = k} c_j^2``, the coefficient mass on weight-``k`` strings."""
        weights = self.table.weights()
        top = int(weights.max(initial=0)) if max_weight is None else int(max_weight)
        return np.bincount(weights, weights=self.coeffs**2, minlength=top + 1)[: top + 1]

    def expval_zero(self) -> float:
        """``<0..0| O |0..0>``: the sum of the coefficients of strings made of I and Z only."""
        diagonal = ~np.any(self.table.x, axis=1)
        return float(np.sum(self.coeffs[diagonal]))

    def to_pauli_sum(self) -> PauliSum:
        return PauliSum(tuple(zip(self.coeffs.tolist(), self.table.strings(), strict=True)))


@dataclass(frozen=True)
class LayerTrace:
    """The linear map one layer applied (kernel ``record`` output), for the compiled surrogate.

    Output = ``concat(input[pass_src], v_P)`` where ``v_0 = input[active_src]`` and
    ``v_{p+1}[dst] += v_p[src] * R[entry]`` for the edges of stage ``p`` (``entry = -1``:
    factor 1); then, when ``fold_dst`` is set, ``out2[fold_dst[i]] += out[i]`` for
    ``fold_dst[i] >= 0``; then ``keep`` selects strings (``max_terms``) when set.
    """

    pass_src: np.ndarray
    active_src: np.ndarray
    edges: np.ndarray
    stage_sizes: np.ndarray
    fold_dst: np.ndarray | None = None
    fold_size: int = 0
    keep: np.ndarray | None = None


@dataclass(frozen=True)
class PropagationTrace:
    """Everything needed to replay a propagation with other angles (see ``LayerTrace``)."""

    program: StepProgram
    initial_coeffs: np.ndarray
    layers: tuple[LayerTrace, ...]


@dataclass(frozen=True)
class PropagationResult:
    """The propagated observable on the circuit's qubits and what truncation cost."""

    operator: PauliOperator
    frequencies: np.ndarray
    dropped: dict[str, float]
    error_bound: float
    peak_terms: int
    n_steps: int
    n_layers: int
    mode: str
    truncation: Truncation
    seconds: float
    trace: PropagationTrace | None = field(default=None, repr=False)

    @property
    def n_terms(self) -> int:
        return len(self.operator)

    @property
    def dropped_mass(self) -> float:
        """Sum of the squared coefficients of every dropped string."""
        return float(sum(self.dropped.values()))

    def expval_zero(self) -> float:
        return self.operator.expval_zero()

    def weight_mass(self, max_weight: int | None = None) -> np.ndarray:
        return self.operator.weight_mass(max_weight)


def observable_table(observable, n_qubits: int) -> tuple[PauliTable, np.ndarray]:
    """A Pauli sum (or basis projector) as a packed table and coefficients."""
    obs = as_observable(observable)
    if isinstance(obs, BasisProjector):
        k = len(obs.qubits)
        if k > MAX_PROJECTOR_QUBITS:
            raise PropagationError(
                f"a basis projector on {k} qubits expands into 2^{k} Pauli strings; Pauli "
                f"propagation takes projectors on at most {MAX_PROJECTOR_QUBITS} qubits."
            )
        # |b><b| = prod_q (I + (-1)^b_q Z_q) / 2
        subsets = (np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1
        signs = np.where(np.asarray(obs.bits)[None, :] == 1, -1.0, 1.0)
        coeffs = np.prod(np.where(subsets == 1, signs, 1.0), axis=1) / 2**k
        terms, cols = np.nonzero(subsets)
        qubits = np.asarray(obs.qubits, np.int64)[cols]
        table = PauliTable.from_sparse(2**k, n_qubits, terms, qubits, np.full(len(terms), 2))
        return table, coeffs
    strings = [p for _, p in obs.terms]
    return PauliTable.from_strings(strings, n_qubits), np.asarray(
        [c for c, _ in obs.terms], np.float64
    )


def _check_observable(circuit: Circuit, table: PauliTable) -> None:
    _terms, qubits, _codes = table.sparse()
    dead = sorted(set(qubits.tolist()) - set(circuit.alive_qubits))
    if dead:
        raise PropagationError(
            f"the observable acts on discarded qubit(s) {dead}; measure only qubits that are "
            f"still alive at the end: {list(circuit.alive_qubits)}."
        )


def _mask(qubits, n_qubits: int) -> np.ndarray:
    out = np.zeros(n_words(n_qubits), np.uint64)
    for q in qubits:
        out[q // 64] |= np.uint64(1) << np.uint64(q % 64)
    return out


def propagate(
    circuit: Circuit,
    observable,
    theta,
    *,
    max_weight: int | None = None,
    min_coeff: float | None = None,
    max_freq: int | None = None,
    max_terms: int | None = None,
    mode: str | None = None,
    record: bool = False,
    program: StepProgram | None = None,
    angles=None,
) -> PropagationResult:
    """Propagate ``observable`` backwards through ``circuit`` at parameters ``theta`` (float64).

    Args:
        circuit: the circuit; the result acts on its input qubits (other qubits are evaluated
            on ``|0>`` on the way).
        observable: a :class:`PauliSum`, :class:`BasisProjector`, string label or PauliString
            on the circuit's alive qubits.
        theta: ``(n_params,)`` real parameters.
        max_weight, min_coeff, max_freq, max_terms: truncations (module docstring).
        mode: ``"blocks"`` (fused two-qubit blocks, default) or ``"gates"`` (one step per
            rotation; default when ``max_freq`` is set).
        record: keep the linear structure for :mod:`qnnlab.surrogate`-style replays.
        program: a prebuilt :func:`build_steps` result to reuse (its mode wins).
        angles: the angle vector (one entry per angle argument per gate) instead of ``theta``
            (pass ``theta=None``); engines that share the angle table use this.
    """
    from qnnlab.engines.pauliprop import kernel  # Numba loads on first use, not on import

    start = time.perf_counter()
    cut = Truncation(max_weight, min_coeff, max_freq, max_terms)
    if mode is None:
        mode = "gates" if max_freq is not None else "blocks"
    if program is None:
        program = build_steps(circuit, mode)
    mode = program.mode
    if max_freq is not None and mode != "gates":
        raise PropagationError(
            "the frequency cut counts cos/sin branchings of single rotations; use mode='gates' "
            "(the default when max_freq is set)."
        )
    if angles is None:
        theta = np.asarray(theta, np.float64).reshape(-1)
        if theta.shape != (circuit.n_params,):
            raise PropagationError(
                f"theta has {theta.size} entries but the circuit has {circuit.n_params} parameters."
            )
        angles = _angles_numpy(program.angle_table, theta)
    angles = np.asarray(angles, np.float64)
    if not np.all(np.isfinite(angles)):
        raise PropagationError("theta holds NaN or infinite values; give finite angles.")
    ptm = program.ptm_values(angles, np)

    n = circuit.n_qubits
    table, coeffs = observable_table(observable, n)
    _check_observable(circuit, table)
    X, Z, C = table.x, table.z, coeffs
    F = np.zeros(len(C), np.int64)
    WT = table.weights()
    X, Z, C, F, WT, _dst = kernel.merge_duplicates(X, Z, C, F, WT, not record)
    initial = None
    if record:
        initial_dense = np.zeros(len(C))
        np.add.at(initial_dense, _dst, coeffs)
        initial = initial_dense
    if program.untouched_fresh:
        X, Z, C, F, WT, _map = _fold(X, Z, C, F, WT, program.untouched_fresh, n, record)
        if record:
            moved = np.zeros(len(C))
            valid = _map >= 0
            np.add.at(moved, _map[valid], initial[valid])
            initial = moved

    big = np.iinfo(np.int64).max // 4
    w_cut = big if max_weight is None else int(max_weight)
    f_cut = big if max_freq is None else int(max_freq)
    c_cut = 0.0 if min_coeff is None else float(min_coeff)
    dropped = {"weight": 0.0, "frequency": 0.0, "coefficient": 0.0, "terms": 0.0}
    bound = 0.0
    peak = len(C)
    qstep = np.full(n, -1, np.int64)
    traces = []
    layers = backward_layers(program)
    for layer in layers:
        steps = [program.steps[k] for k in layer]
        width = max(len(s.qubits) for s in steps)
        step_q = np.full((len(steps), width), -1, np.int64)
        step_nq = np.zeros(len(steps), np.int64)
        for i, s in enumerate(steps):
            step_q[i, : len(s.qubits)] = s.qubits
            step_nq[i] = len(s.qubits)
            qstep[list(s.qubits)] = i
        all_qubits = [q for s in steps for q in s.qubits]
        out = kernel.propagate_layer(
            X, Z, C, F, WT,
            _mask(all_qubits, n), qstep, step_q, step_nq,
            program.step_entry[layer], program.step_col[layer], program.colptr, program.rows,
            program.inc, ptm, w_cut, c_cut, f_cut, record,
        )  # fmt: skip
        qstep[all_qubits] = -1
        X, Z, C, F, WT, layer_dropped, _n_pass, pass_src, active_src, edges, sizes, err = out
        if err:
            raise PropagationError(
                f"a string touches more than {kernel.MAX_TOUCHED_QUBITS} qubits of one layer; "
                "set max_weight (a weight cut) to propagate this circuit."
            )
        for k, cause in enumerate(("weight", "frequency", "coefficient")):
            dropped[cause] += float(layer_dropped[:, k].sum())
        bound += float(np.sqrt(layer_dropped.sum(axis=1)).sum())
        peak = max(peak, len(C))
        fold_dst, fold_size, keep = None, 0, None
        fold = [q for s in steps for q in s.fold]
        if fold:
            X, Z, C, F, WT, fold_dst = _fold(X, Z, C, F, WT, fold, n, record)
            fold_size = len(C)
            if c_cut > 0:
                small = np.abs(C) < c_cut
                if np.any(small):
                    dropped["coefficient"] += float(np.sum(C[small] ** 2))
                    bound += float(np.sqrt(np.sum(C[small] ** 2)))
                    keep = np.nonzero(~small)[0]
                    X, Z, C, F, WT = X[keep], Z[keep], C[keep], F[keep], WT[keep]
        if max_terms is not None and len(C) > max_terms:
            order = np.argpartition(-np.abs(C), max_terms - 1)[:max_terms]
            order.sort()
            lost = np.ones(len(C), bool)
            lost[order] = False
            mass = float(np.sum(C[lost] ** 2))
            dropped["terms"] += mass
            bound += math.sqrt(mass)
            keep = order if keep is None else keep[order]
            X, Z, C, F, WT = X[order], Z[order], C[order], F[order], WT[order]
        if record:
            traces.append(LayerTrace(pass_src, active_src, edges, sizes, fold_dst, fold_size, keep))
    operator = PauliOperator(PauliTable(n, X, Z), C)
    trace = PropagationTrace(program, initial, tuple(traces)) if record else None
    return PropagationResult(
        operator=operator,
        frequencies=F,
        dropped=dropped,
        error_bound=bound,
        peak_terms=peak,
        n_steps=len(program.steps),
        n_layers=len(layers),
        mode=mode,
        truncation=cut,
        seconds=time.perf_counter() - start,
        trace=trace,
    )


def _fold(X, Z, C, F, WT, qubits, n, record):
    """Evaluate ``qubits`` on ``|0>`` and merge the strings that become equal; returns the new
    arrays and the output index of every input string (``-1``: vanished)."""
    from qnnlab.engines.pauliprop import kernel

    X2, Z2, W2, keep = kernel.fold_zero_qubits(X, Z, C, WT, _mask(qubits, n))
    kept = np.nonzero(keep)[0]
    X3, Z3, C3, F3, W3, dst = kernel.merge_duplicates(
        X2[kept], Z2[kept], C[kept], F[kept], W2[kept], not record
    )
    full = np.full(len(C), -1, np.int64)
    full[kept] = dst
    return X3, Z3, C3, F3, W3, full


def _angles_numpy(table, theta) -> np.ndarray:
    """The angle vector ``a = scale * theta[slot] + offset`` in NumPy (float64)."""
    slots = np.asarray(table.slots, np.int64)
    varying = np.where(
        table.is_parameter, theta[slots] * np.asarray(table.scales) if theta.size else 0.0, 0.0
    )
    return varying + np.asarray(table.offsets, np.float64)
