"""Locality spectrum of a QCNN readout operator: how its coefficient mass spreads over Pauli weight.

Back-propagated through a QCNN, the measured observable becomes ``U^dag O U = sum_P c_P(theta) P``
on the input qubits (:func:`qnnlab.engines.pauliprop.propagate`). For random parameters
``theta ~ U[0, 2 pi)^P`` the first moment ``E[c_P]`` vanishes whenever the blocks form a 1-design,
so locality is read through second moments (qcnn-simulability, Result 1):

* ``W_k = sum_{|P| = k} E_theta[c_P(theta)^2]``, the mean coefficient mass on weight-``k`` strings;
  untruncated, unitary conjugation preserves ``sum_P c_P^2``, so ``sum_k W_k`` equals the
  observable's own mass (1 for one Pauli string) in every draw;
* ``m_k = W_k / N_k`` with ``N_k = binom(n, k) 3^k``, the mean mass per weight-``k`` string on the
  ``n`` input qubits (the QCNN's backward light cone covers all of them);
* a decay base from a log-linear fit: ``y_k ~ A b^-k`` (``b > 1``: decay), with its standard
  error (:func:`fit_decay`). For ``m_k`` the root-mean-square coefficient per string decays as
  ``b^(-k/2)``.

Standard errors are over the independent parameter draws (``std / sqrt(draws)``). With a weight
cut ``max_weight = K`` the propagation drops every string that grows past ``K`` on the way, even
if it would have come back below ``K`` later, so ``W_k`` (``k <= K``) is biased; every draw
reports the dropped mass, and ``sum_k W_k + dropped = 1`` holds exactly.

:func:`haar_chain_spectrum` computes ``W_k`` *exactly* (no sampling) for a QCNN whose convolution
blocks are independent Haar-random two-qubit unitaries (:func:`haar_qcnn`): a Haar block maps the
second moments of any non-identity Pauli on its pair uniformly onto the 15 non-identity Paulis
(letter blind), so the mass follows a Markov chain on per-qubit support patterns (``2^n`` states).
Other blocks (the pooling's controlled rotations, which are not 2-designs) enter through their
exact second-moment transfer ``E_theta[R_QP^2]`` (``R`` the Pauli transfer matrix), integrated by
Gauss-Legendre quadrature over their angles; the chain assumes their input letters are uniform
given the support, which holds when a Haar block twirled those qubits last (checked: otherwise a
:class:`LocalityError`), or known (the readout string itself). Exact for unshared parameters.

:func:`truncation_accuracy` is Result 2's table for one trained model: the mass fraction of the
trained readout operator at weight ``<= k`` and the accuracy of its weight-``k`` truncations on
test states.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qnnlab.analysis.fits import weighted_line_fit
from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.gates import gate_matrix_numpy
from qnnlab.circuits.haar import haar_unitary
from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.circuits.paulis import PauliSum, as_observable
from qnnlab.engines.pauliprop import PauliOperator, build_steps, observable_table, propagate
from qnnlab.engines.pauliprop.evaluate import operator_expval
from qnnlab.models.qcnn import qcnn

#: Most qubits of the exact support chain (a vector of ``2^n`` floats).
MAX_CHAIN_QUBITS = 22
#: Gauss-Legendre nodes per angle for the second-moment transfer of a non-Haar block.
QUADRATURE_NODES = 20
#: Most distinct angles in one non-Haar block of the chain (quadrature on ``nodes^p`` points).
MAX_BLOCK_ANGLES = 3
#: Bytes of ``<P_j>`` values one dense evaluation batch may hold.
EVAL_BUDGET_BYTES = 256 * 2**20


class LocalityError(ValueError):
    """A locality analysis that cannot be carried out as asked; the message names the fix."""


def weight_counts(n_qubits: int, max_weight: int) -> np.ndarray:
    """``N_k = binom(n, k) 3^k`` for ``k = 0..max_weight`` (float64): weight-``k`` strings."""
    return np.asarray(
        [float(math.comb(n_qubits, k)) * 3.0**k for k in range(max_weight + 1)], np.float64
    )


def _mean_stderr(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = samples.mean(axis=0)
    if len(samples) < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, samples.std(axis=0, ddof=1) / math.sqrt(len(samples))


@dataclass(frozen=True)
class DecayFit:
    """``y_k ~ A b^-k`` fitted on ``ln y_k`` over ``k_min..k_max`` (weighted by ``stderr / y``
    when error bars are given, unweighted otherwise); ``b_err`` is 1 sigma, scaled by the
    reduced chi^2 when the scatter exceeds the error bars (:func:`weighted_line_fit`)."""

    b: float
    b_err: float
    amplitude: float
    chi2: float
    dof: int
    r2: float
    k_min: int
    k_max: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def fit_decay(values, stderr=None, *, k_min: int = 1, k_max: int | None = None) -> DecayFit | None:
    """Decay base of ``values[k]`` over ``k_min <= k <= k_max``; ``None`` when fewer than 3
    points are positive (nothing to fit)."""
    y = np.asarray(values, np.float64)
    k = np.arange(len(y))
    top = len(y) - 1 if k_max is None else min(int(k_max), len(y) - 1)
    use = (k >= k_min) & (k <= top) & (y > 0) & np.isfinite(y)
    if stderr is not None:
        se = np.asarray(stderr, np.float64)
        weighted = bool(np.all(np.isfinite(se[use]) & (se[use] > 0)))
    else:
        weighted = False
    if use.sum() < 3:
        return None
    sigma = se[use] / y[use] if weighted else np.ones(int(use.sum()))
    fit = weighted_line_fit("exponential", k[use], np.log(y[use]), sigma)
    b = float(np.exp(-fit.slope))
    return DecayFit(
        b=b,
        b_err=b * fit.slope_err,
        amplitude=float(np.exp(fit.intercept)),
        chi2=fit.chi2,
        dof=fit.dof,
        r2=fit.r2,
        k_min=int(k[use][0]),
        k_max=int(k[use][-1]),
    )


# ------------------------------------------------------------------------------------ sampling
@dataclass(frozen=True)
class LocalitySpectrum:
    """``W_k`` and ``m_k`` (``k = 0..K``) over ``draws`` parameter draws, with standard errors.

    ``dropped`` is the mean mass the weight cut removed (0 untruncated); ``mass_error`` the
    largest ``|sum_k W_k(draw) + dropped(draw) - ||O||^2|`` over draws (rounding only).
    ``bias_bound[k]`` bounds ``|W_k - W_k(untruncated)|`` for the same draws: with ``eps`` the
    propagation's ``error_bound`` (a bound on the normalised Hilbert-Schmidt distance to the
    exact operator, hence on the distance of their weight-``k`` parts), ``|sqrt(W_k) -
    sqrt(W_k^exact)| <= eps`` per draw, so ``|W_k - W_k^exact| <= eps (2 sqrt(W_k) + eps)``,
    averaged over draws (0 untruncated).
    """

    n_qubits: int
    draws: int
    seed: int
    max_weight: int | None
    mass: np.ndarray
    mass_stderr: np.ndarray
    per_string: np.ndarray
    per_string_stderr: np.ndarray
    dropped: float
    dropped_stderr: float
    bias_bound: np.ndarray
    mass_error: float
    mean_terms: float
    seconds_per_draw: float

    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


def locality_spectrum(
    circuit: Circuit,
    observable,
    *,
    draws: int,
    seed: int,
    max_weight: int | None = None,
    min_coeff: float | None = None,
    on_draw: Callable[[int], None] | None = None,
) -> LocalitySpectrum:
    """``W_k`` of ``observable`` propagated through ``circuit`` at ``draws`` parameter vectors
    ``theta ~ U[0, 2 pi)^P`` drawn from ``numpy.random.default_rng(seed)`` (one vector per draw,
    in order). Untruncated (no cut) the result is exact per draw; ``max_weight`` / ``min_coeff``
    are passed to :func:`propagate`. ``on_draw(i)`` is called after each draw (progress)."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise LocalityError(f"draws must be an integer >= 1, got {draws!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise LocalityError(f"seed must be an integer >= 0 (explicit seeds), got {seed!r}.")
    n = circuit.n_qubits
    top = n if max_weight is None else min(int(max_weight), n)
    _table, coeffs = observable_table(observable, n)
    norm = float(np.sum(coeffs**2))
    rng = np.random.default_rng(seed)
    program = build_steps(circuit, "blocks")
    masses = np.zeros((draws, top + 1))
    dropped = np.zeros(draws)
    bound = np.zeros((draws, top + 1))
    terms = np.zeros(draws)
    start = time.perf_counter()
    for i in range(draws):
        theta = rng.uniform(0.0, 2.0 * np.pi, circuit.n_params)
        r = propagate(
            circuit, observable, theta, max_weight=max_weight, min_coeff=min_coeff, program=program
        )
        masses[i] = r.weight_mass(top)
        dropped[i] = r.dropped_mass
        eps = r.error_bound
        bound[i] = eps * (2.0 * np.sqrt(masses[i]) + eps)
        terms[i] = r.n_terms
        if on_draw is not None:
            on_draw(i)
    seconds = (time.perf_counter() - start) / draws
    mass, mass_se = _mean_stderr(masses)
    counts = weight_counts(n, top)
    d_mean, d_se = _mean_stderr(dropped[:, None])
    return LocalitySpectrum(
        n_qubits=n,
        draws=draws,
        seed=seed,
        max_weight=max_weight,
        mass=mass,
        mass_stderr=mass_se,
        per_string=mass / counts,
        per_string_stderr=mass_se / counts,
        dropped=float(d_mean[0]),
        dropped_stderr=float(d_se[0]),
        bias_bound=bound.mean(axis=0),
        mass_error=float(np.max(np.abs(masses.sum(axis=1) + dropped - norm))),
        mean_terms=float(terms.mean()),
        seconds_per_draw=seconds,
    )


# ------------------------------------------------------------------------- exact Haar chain
def _haar_block(circuit: Circuit, a: int, b: int, params, rng) -> None:
    matrix = np.eye(4, dtype=np.complex128) if rng is None else haar_unitary(4, rng)
    circuit.unitary(matrix, (a, b))


def haar_qcnn(n_qubits: int, rng: np.random.Generator | None = None, **options) -> Circuit:
    """:func:`qcnn` with every convolution block an independent Haar-random two-qubit
    ``unitary`` gate drawn from ``rng`` (``None``: identity blocks, enough for
    :func:`haar_chain_spectrum`, which reads only the layout). Pooling parameters are not
    shared (``share_weights=False``); ``options`` go to :func:`qcnn` (``pool``, ``periodic``,
    ``final_qubits``, ``layers_per_scale``)."""
    if "conv_block" in options or "share_weights" in options:
        raise LocalityError("haar_qcnn fixes conv_block (Haar) and share_weights (False).")

    def block(circuit, a, b, params):
        _haar_block(circuit, a, b, params, rng)

    return qcnn(n_qubits, conv_block=block, n_block_params=0, share_weights=False, **options)


_PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], np.complex128),
    "Z": np.array([[1, 0], [0, -1]], np.complex128),
}
_LETTERS = "IXYZ"


def _embed(matrix: np.ndarray, gate_qubits: tuple[int, ...], block: tuple[int, ...]) -> np.ndarray:
    """A 1- or 2-qubit gate matrix on ``gate_qubits`` as a matrix on ``block`` (big-endian)."""
    if len(block) == 1:
        return matrix
    if len(gate_qubits) == 1:
        eye = np.eye(2, dtype=np.complex128)
        return np.kron(matrix, eye) if gate_qubits[0] == block[0] else np.kron(eye, matrix)
    if tuple(gate_qubits) == tuple(block):
        return matrix
    swap = np.eye(4)[[0, 2, 1, 3]]
    return swap @ matrix @ swap


def _second_moments(gates, qubits: tuple[int, ...], slots: list[int]) -> np.ndarray:
    """``T[Q, P] = E[R_QP^2]`` of a block of ``gates`` on ``qubits`` with its angle ``slots``
    independent and uniform on ``[0, 2 pi)`` (Gauss-Legendre, ``QUADRATURE_NODES`` per angle);
    ``U^dag P U = sum_Q R_QP Q``, Paulis indexed base 4 in ``_LETTERS`` order, qubit 0 first."""
    k = len(qubits)
    basis = [_PAULI[c] for c in _LETTERS]
    paulis = basis if k == 1 else [np.kron(p, q) for p in basis for q in basis]
    nodes, weights = np.polynomial.legendre.leggauss(QUADRATURE_NODES)
    angles = np.pi * (nodes + 1.0)
    weights = weights / 2.0
    grids = np.meshgrid(*([angles] * len(slots)), indexing="ij")
    wgrid = np.prod(np.meshgrid(*([weights] * len(slots)), indexing="ij"), axis=0).ravel()
    points = np.stack([g.ravel() for g in grids], axis=1) if slots else np.zeros((1, 0))
    wgrid = wgrid if slots else np.ones(1)
    index = {s: i for i, s in enumerate(slots)}
    U = np.broadcast_to(np.eye(2**k, dtype=np.complex128), (len(points), 2**k, 2**k)).copy()
    for gate in gates:
        mats = np.stack(
            [
                _embed(
                    gate_matrix_numpy(
                        gate,
                        [
                            a.offset if a.is_constant else a.scale * pt[index[a.slot]] + a.offset
                            for a in gate.angles
                        ],
                    ),
                    gate.qubits,
                    qubits,
                )
                for pt in points
            ]
        )
        U = mats @ U
    P = np.stack(paulis)
    heis = np.einsum("nba,pbc,ncd->npad", U.conj(), P, U)  # U^dag P U per point and P
    R = np.real(np.einsum("qda,npad->nqp", P, heis)) / 2**k
    return np.einsum("n,nqp->qp", wgrid, R**2)


def _support(index: int, k: int) -> tuple[int, ...]:
    return tuple(int((index // 4 ** (k - 1 - j)) % 4 != 0) for j in range(k))


def _pattern_transfer(T: np.ndarray, k: int, letters: list[str | None]) -> np.ndarray:
    """``M[out, in]`` over support patterns (``2^k``) of a block with letter-level transfer
    ``T``; input letters uniform on non-identity qubits, or fixed by ``letters[j]``."""
    M = np.zeros((2**k, 2**k))
    for p in range(4**k):
        codes = [(p // 4 ** (k - 1 - j)) % 4 for j in range(k)]
        weight = 1.0
        for j, c in enumerate(codes):
            if c and letters[j] is not None:
                weight *= float(_LETTERS[c] == letters[j])
            elif c:
                weight /= 3.0
        if weight == 0.0:
            continue
        src = int("".join(str(int(c != 0)) for c in codes), 2)
        for q in range(4**k):
            dst = int("".join(map(str, _support(q, k))), 2)
            M[dst, src] += weight * T[q, p]
    return M


_HAAR_PAIR = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.2, 0.2, 0.2], [0.0, 0.2, 0.2, 0.2], [0.0, 0.6, 0.6, 0.6]]
)  # patterns (00, 01, 10, 11): a non-identity pair goes to 3/15, 3/15, 9/15


def _blocks(circuit: Circuit) -> list[tuple[str, tuple[int, ...], list]]:
    """Forward-order blocks: ``("haar", (a, b), [gate])`` for two-qubit ``unitary`` gates and
    ``("exact", qubits, gates)`` for runs of other gates on the same one or two qubits."""
    blocks: list[tuple[str, tuple[int, ...], list]] = []
    for gate in circuit.gates:
        qubits = tuple(gate.qubits)
        if len(qubits) > 2:
            raise LocalityError(f"the support chain takes 1- and 2-qubit gates, got {gate.name}.")
        if gate.name == "unitary" and len(qubits) == 2:
            blocks.append(("haar", qubits, [gate]))
            continue
        if blocks and blocks[-1][0] == "exact" and set(qubits) <= set(blocks[-1][1]):
            blocks[-1][2].append(gate)
        elif blocks and blocks[-1][0] == "exact" and len(qubits) == 2 > len(blocks[-1][1]):
            if set(blocks[-1][1]) <= set(qubits):
                blocks[-1] = ("exact", qubits, [*blocks[-1][2], gate])
            else:
                blocks.append(("exact", qubits, [gate]))
        else:
            blocks.append(("exact", qubits, [gate]))
    return blocks


def _block_key(gates, qubits: tuple[int, ...], slots: list[int]) -> tuple:
    """What the block's transfer depends on: gates relative to its qubits and its slot order."""
    where = {q: i for i, q in enumerate(qubits)}
    return tuple(
        (
            g.name,
            tuple(where[q] for q in g.qubits),
            g.paulis,
            g.matrix_digest,
            tuple(
                (None, a.offset) if a.is_constant else (slots.index(a.slot), a.scale, a.offset)
                for a in g.angles
            ),
        )
        for g in gates
    )


def haar_chain_spectrum(circuit: Circuit, observable) -> np.ndarray:
    """Exact ``W_k`` (``k = 0..n``) for the Haar-block circuit ``circuit`` (module docstring):
    every two-qubit ``unitary`` gate stands for an independent Haar-random unitary, every other
    run of gates on one or two qubits for its exact second-moment transfer over independent
    uniform angles. ``observable`` must be one Pauli string.

    Raises:
        LocalityError: more than ``MAX_CHAIN_QUBITS`` qubits, an observable that is not one
            Pauli string, angles shared between blocks, or a non-Haar block whose input letters
            were set by another non-Haar block (no Haar twirl in between: not exact).
    """
    n = circuit.n_qubits
    if n > MAX_CHAIN_QUBITS:
        raise LocalityError(
            f"the support chain holds 2^n numbers; n = {n} exceeds {MAX_CHAIN_QUBITS}. Use "
            "locality_spectrum (sampling) at this size."
        )
    obs = as_observable(observable)
    if not isinstance(obs, PauliSum) or len(obs.terms) != 1:
        raise LocalityError("the support chain takes one Pauli string as observable.")
    coeff, string = obs.terms[0]
    letters: list[str | None] = [None] * n  # None: uniform given support
    dirty = [False] * n
    v = np.zeros((2,) * n)
    pattern = [0] * n
    for q, letter in string.ops:
        pattern[q] = 1
        letters[q] = letter
    v[tuple(pattern)] = float(np.real(coeff)) ** 2
    blocks = _blocks(circuit)
    owner: dict[int, int] = {}
    for i, (_kind, _qubits, gates) in enumerate(blocks):
        for gate in gates:
            for a in gate.angles:
                if not a.is_constant:
                    if owner.setdefault(a.slot, i) != i:
                        raise LocalityError(
                            "parameter slots are shared between blocks; the chain needs "
                            "independent angles (build with share_weights=False)."
                        )
    cache: dict = {}
    for kind, qubits, gates in reversed(blocks):
        k = len(qubits)
        if kind == "haar":
            M = _HAAR_PAIR
            for q in qubits:
                letters[q], dirty[q] = None, False
        else:
            if any(dirty[q] for q in qubits):
                raise LocalityError(
                    f"the block on qubits {qubits} gets its input from another non-Haar block "
                    "with no Haar block in between; the support chain is not exact there."
                )
            slots = sorted({a.slot for g in gates for a in g.angles if not a.is_constant})
            if len(slots) > MAX_BLOCK_ANGLES:
                raise LocalityError(
                    f"a non-Haar block with {len(slots)} angles (at most {MAX_BLOCK_ANGLES})."
                )
            key = (_block_key(gates, qubits, slots), tuple(letters[q] for q in qubits))
            if key not in cache:
                T = _second_moments(gates, qubits, slots)
                cache[key] = _pattern_transfer(T, k, [letters[q] for q in qubits])
            M = cache[key]
            for q in qubits:
                letters[q], dirty[q] = None, True
        axes = list(qubits)
        moved = np.moveaxis(v, axes, list(range(k)))
        shape = moved.shape
        v = np.moveaxis((M @ moved.reshape(2**k, -1)).reshape(shape), list(range(k)), axes)
    flat = np.ascontiguousarray(v).ravel()
    popcount = np.bitwise_count(np.arange(flat.size, dtype=np.uint64)).astype(np.int64)
    return np.bincount(popcount, weights=flat, minlength=n + 1)


# --------------------------------------------------------------------------- trained models
def _operator_values(operator, states: np.ndarray, input_qubits) -> np.ndarray:
    """``<psi|O|psi>`` per state, in state batches that keep ``(B, T)`` values in budget."""
    per_state = max(1, len(operator)) * 16
    batch = max(1, EVAL_BUDGET_BYTES // per_state)
    out = [
        np.atleast_1d(operator_expval(operator, states[i : i + batch], input_qubits))
        for i in range(0, len(states), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def _accuracy(values: np.ndarray, labels: np.ndarray) -> float:
    """Fraction with ``[<O> > 0] == label`` (:func:`qnnlab.training.losses.accuracy`)."""
    return float(np.mean((values > 0).astype(int) == labels.astype(int)))


def truncation_accuracy(
    circuit: Circuit,
    observable,
    theta,
    states,
    labels,
    *,
    weights: Sequence[int] = (1, 2, 3, 4, 5, 6),
    fractions_at: Sequence[int] = (2, 4, 6),
    reference_values=None,
    exact_max_qubits: int = 10,
) -> dict:
    """Result 2 for one trained model: locality of ``U(theta)^dag O U(theta)`` and accuracy of
    its weight-``k`` truncations on ``states`` (dense, ``(B, 2**n_in)``, qubit 0 first).

    Up to ``exact_max_qubits`` qubits the operator is propagated exactly (``source = "exact"``):
    ``weight_mass`` is its ``W_k``, ``mass_below[k] = sum_{j <= k} W_j / sum_j W_j`` for ``k``
    in ``fractions_at``, ``full_accuracy`` its accuracy, ``max_full_error`` the largest
    ``|value - reference_values|`` (the model's own outputs, a check of the propagation), and
    per ``k`` in ``weights`` the ``projected`` accuracy (the exact operator restricted to weight
    ``<= k``). Beyond that (``source = "truncated"``) ``weight_mass`` and ``mass_below`` come
    from the largest weight cut (the mass of paths that never left weight ``<= max(weights)``,
    a lower bound) and ``full_accuracy`` from ``reference_values`` (required). Per ``k`` always:
    the ``truncated`` model (propagated with ``max_weight = k``, the LOWESA surrogate): its
    accuracy, dropped mass and term count.
    """
    states = np.asarray(states)
    labels = np.asarray(labels).astype(int)
    if states.ndim != 2 or len(states) != len(labels):
        raise LocalityError(
            f"states must be (B, 2**n) with one label each, got {states.shape} and "
            f"{labels.shape} labels."
        )
    if not weights:
        raise LocalityError("weights must list at least one weight cut.")
    theta = np.asarray(theta, np.float64)
    inputs = circuit.input_qubits
    exact_run = circuit.n_qubits <= exact_max_qubits
    if not exact_run and reference_values is None:
        raise LocalityError(
            f"{circuit.n_qubits} qubits is beyond exact_max_qubits={exact_max_qubits}; pass the "
            "model's own outputs as reference_values for the full accuracy."
        )
    ref = None if reference_values is None else np.asarray(reference_values, np.float64)
    cuts = {int(k): propagate(circuit, observable, theta, max_weight=int(k)) for k in weights}
    if exact_run:
        exact = propagate(circuit, observable, theta)
        W = exact.weight_mass(circuit.n_qubits)
        full = _operator_values(exact.operator, states, inputs)
        table_weights = exact.operator.table.weights()
    else:
        widest = cuts[max(cuts)]
        W = widest.weight_mass(max(cuts))
        full = ref
    total = float(np.sum(_observable_mass(observable, circuit.n_qubits)))
    out = {
        "source": "exact" if exact_run else "truncated",
        "weight_mass": W.tolist(),
        "mass_below": {str(k): float(W[: k + 1].sum() / total) for k in fractions_at},
        "full_accuracy": _accuracy(full, labels),
        "max_full_error": None
        if ref is None or not exact_run
        else float(np.max(np.abs(full - ref))),
        "by_weight": [],
    }
    for k, cut in cuts.items():
        values = _operator_values(cut.operator, states, inputs)
        row = {
            "k": k,
            "truncated_accuracy": _accuracy(values, labels),
            "truncated_dropped_mass": cut.dropped_mass,
            "truncated_terms": cut.n_terms,
            "max_truncation_error": float(np.max(np.abs(values - full))),
            "projected_accuracy": None,
            "projected_mass": None,
        }
        if exact_run:
            keep = table_weights <= k
            projected = PauliOperator(
                _select(exact.operator.table, keep), exact.operator.coeffs[keep]
            )
            row["projected_accuracy"] = _accuracy(
                _operator_values(projected, states, inputs), labels
            )
            row["projected_mass"] = float(np.sum(exact.operator.coeffs[keep] ** 2) / total)
        out["by_weight"].append(row)
    return out


def _observable_mass(observable, n_qubits: int) -> np.ndarray:
    return observable_table(observable, n_qubits)[1] ** 2


def _select(table: PauliTable, keep: np.ndarray) -> PauliTable:
    return PauliTable(table.n_qubits, table.x[keep], table.z[keep])
