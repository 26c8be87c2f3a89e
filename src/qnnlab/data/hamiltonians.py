"""The spin-chain Hamiltonians of the phase datasets, as Pauli sums, and exact diagonalization.

Two models (qubit ``q`` is spin ``q`` of an open chain, ``S = sigma / 2``, ``|0> = spin up``):

* Bond-alternating XXX Heisenberg chain,
  ``H = J1 sum_{i even} S_i . S_{i+1} + J2 sum_{i odd} S_i . S_{i+1}``, with
  ``S_i . S_j = (X_i X_j + Y_i Y_j + Z_i Z_j) / 4``. For ``J2 / J1 < 1`` the strong bonds pair
  ``(0, 1), (2, 3), ...`` into singlets (trivial phase); for ``J2 / J1 > 1`` they pair
  ``(1, 2), (3, 4), ...`` and leave a free spin at each end (topological phase).
* Cluster-Ising chain of Cong, Choi and Lukin (Nat. Phys. 15, 1273 (2019), Eq. 2),
  ``H = -J sum_i Z_i X_{i+1} Z_{i+2} - h1 sum_i X_i - h2 sum_i X_i X_{i+1}``, whose
  ``Z2 x Z2``-symmetric cluster phase is symmetry-protected topological (SPT).

These Pauli sums are the independent reference for the TeNPy models in
:mod:`qnnlab.data.tenpy_models`: DMRG energies are tested against :func:`exact_ground_state`.

Exact diagonalization groups the Pauli terms by their flip mask ``x`` (each string maps basis
state ``b`` to ``b XOR x`` with the phase ``i^{#Y} (-1)^{popcount(b AND z)}``), so a Hamiltonian
with ``T`` terms costs one permutation per distinct mask. A symmetry sector (a list of basis
states closed under ``H``, e.g. fixed total ``S^z``) shrinks the problem further.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from qnnlab.checks import check_real
from qnnlab.circuits.paulis import PauliString, PauliSum

#: Exact diagonalization is refused beyond this size (memory grows as 2^n times the term count).
EXACT_MAX_QUBITS = 22


class HamiltonianError(ValueError):
    """A model parameter or size is out of range; the message names the fix."""


def _check_chain(n_qubits: int, minimum: int, model: str) -> None:
    if not isinstance(n_qubits, int | np.integer) or n_qubits < minimum:
        raise HamiltonianError(
            f"The {model} chain needs at least {minimum} qubits, got {n_qubits}."
        )


def heisenberg_bond(i: int, j: int, coupling: float = 1.0) -> PauliSum:
    """``coupling * S_i . S_j = coupling * (X_i X_j + Y_i Y_j + Z_i Z_j) / 4``."""
    return PauliSum(tuple((coupling / 4.0, PauliString(((i, a), (j, a)))) for a in "XYZ"))


def _coupling(name: str, value) -> float:
    return check_real(name, value, error=HamiltonianError)


def bond_alternating_xxx(n_qubits: int, j1: float, j2: float) -> PauliSum:
    """``J1 sum_{i even} S_i.S_{i+1} + J2 sum_{i odd} S_i.S_{i+1}`` on an open chain.

    Any finite couplings (``HamiltonianError`` for ``NaN``/``inf``); the phase datasets
    restrict them further (:mod:`qnnlab.data.phases`).
    """
    _check_chain(n_qubits, 2, "bond-alternating XXX")
    j1, j2 = _coupling("j1", j1), _coupling("j2", j2)
    terms: tuple = ()
    for i in range(n_qubits - 1):
        terms += heisenberg_bond(i, i + 1, j1 if i % 2 == 0 else j2).terms
    return PauliSum(terms)


def cluster_ising(n_qubits: int, h1: float, h2: float, j: float = 1.0) -> PauliSum:
    """``-J sum Z_i X_{i+1} Z_{i+2} - h1 sum X_i - h2 sum X_i X_{i+1}`` on an open chain.

    Any finite couplings (``HamiltonianError`` for ``NaN``/``inf``).
    """
    _check_chain(n_qubits, 3, "cluster-Ising")
    h1, h2, j = _coupling("h1", h1), _coupling("h2", h2), _coupling("j", j)
    terms = []
    for i in range(n_qubits - 2):
        terms.append((-j, PauliString(((i, "Z"), (i + 1, "X"), (i + 2, "Z")))))
    for i in range(n_qubits):
        terms.append((-h1, PauliString(((i, "X"),))))
    for i in range(n_qubits - 1):
        terms.append((-h2, PauliString(((i, "X"), (i + 1, "X")))))
    return PauliSum(tuple((float(c), p) for c, p in terms))


def hadamard_rotated(observable: PauliSum) -> PauliSum:
    """``H^{(x)n} O H^{(x)n}``: swaps ``X`` and ``Z`` on every qubit and flips the sign of ``Y``."""
    swap = {"X": "Z", "Z": "X", "Y": "Y"}
    terms = []
    for coeff, string in observable.terms:
        sign = (-1) ** sum(letter == "Y" for _, letter in string.ops)
        terms.append((sign * coeff, PauliString(tuple((q, swap[a]) for q, a in string.ops))))
    return PauliSum(tuple(terms))


def _masks(string: PauliString, n_qubits: int) -> tuple[int, int, int]:
    """``(x mask, z mask, number of Y)`` with qubit 0 as the most significant bit."""
    x = z = 0
    n_y = 0
    if string.ops and string.qubits[-1] >= n_qubits:
        raise HamiltonianError(
            f"Pauli string {string} acts on qubit {string.qubits[-1]}, outside a chain of "
            f"{n_qubits} qubits."
        )
    for qubit, letter in string.ops:
        bit = 1 << (n_qubits - 1 - qubit)
        if letter in "XY":
            x |= bit
        if letter in "ZY":
            z |= bit
        n_y += letter == "Y"
    return x, z, n_y


def _popcount(values: np.ndarray) -> np.ndarray:
    """Bit counts of non-negative int64 values."""
    values = values.astype(np.uint64)
    count = np.zeros(values.shape, dtype=np.int64)
    while np.any(values):
        count += (values & np.uint64(1)).astype(np.int64)
        values >>= np.uint64(1)
    return count


def _check_exact_size(n_qubits: int) -> None:
    if n_qubits > EXACT_MAX_QUBITS:
        raise HamiltonianError(
            f"Exact diagonalization of {n_qubits} qubits is out of reach (limit "
            f"{EXACT_MAX_QUBITS}); use method='dmrg'."
        )


def sector_basis(n_qubits: int, kind: str | None, value: int | None = None) -> np.ndarray | None:
    """Sorted basis states of a symmetry sector, or ``None`` for the full space.

    ``kind="ones"``: states with exactly ``value`` qubits in ``|1>`` (fixed total ``S^z``);
    ``kind="parity"``: states whose number of ``|1>`` has parity ``value`` (0 even, 1 odd).
    """
    if kind is None:
        return None
    _check_exact_size(n_qubits)
    states = np.arange(2**n_qubits, dtype=np.int64)
    ones = _popcount(states)
    if kind == "ones":
        return states[ones == value]
    if kind == "parity":
        return states[ones % 2 == value]
    raise HamiltonianError(f"Unknown sector kind {kind!r}; use 'ones', 'parity' or None.")


def sparse_hamiltonian(
    observable: PauliSum, n_qubits: int, basis: np.ndarray | None = None
) -> sp.csr_matrix:
    """The matrix of a Pauli sum, optionally restricted to the sorted basis states ``basis``.

    Raises if ``basis`` is not closed under the Hamiltonian (it must be a symmetry sector).
    """
    _check_exact_size(n_qubits)
    states = np.arange(2**n_qubits, dtype=np.int64) if basis is None else np.asarray(basis)
    dim = states.size
    grouped: dict[int, np.ndarray] = {}
    for coeff, string in observable.terms:
        x, z, n_y = _masks(string, n_qubits)
        sign = 1.0 - 2.0 * (_popcount(states & z) % 2)
        phase = coeff * (1j**n_y) * sign
        grouped[x] = grouped.get(x, 0) + phase
    rows, cols, vals = [], [], []
    for x, phase in grouped.items():
        phase = np.broadcast_to(phase, (dim,))
        keep = np.abs(phase) > 1e-15
        targets = states[keep] ^ x
        positions = np.minimum(np.searchsorted(states, targets), dim - 1)
        if basis is not None and not np.array_equal(states[positions], targets):
            raise HamiltonianError(
                "The Hamiltonian leaves the requested symmetry sector; pick a sector it conserves."
            )
        rows.append(positions)
        cols.append(np.arange(dim)[keep])
        vals.append(phase[keep])
    data = np.concatenate(vals)
    if np.allclose(data.imag, 0.0):
        data = data.real
    return sp.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(dim, dim))


@dataclass(frozen=True)
class ExactGroundState:
    """Lowest eigenpair of a Hamiltonian (within a sector) and the gap to the next level."""

    energy: float
    vector: np.ndarray  # full 2^n vector, qubit 0 most significant
    gap: float


#: Lanczos (Krylov) vectors kept by :func:`exact_ground_state`'s ``eigsh``.
LANCZOS_NCV = 40


def exact_ground_state(
    observable: PauliSum,
    n_qubits: int,
    *,
    sector: tuple[str, int] | None = None,
) -> ExactGroundState:
    """Ground state by sparse Lanczos (``eigsh``), dense ``eigh`` below 2^10 states.

    The returned vector lives in the full space (zeros outside the sector) with a fixed sign
    convention: its largest-magnitude amplitude is real and positive.
    """
    _check_exact_size(n_qubits)
    basis = sector_basis(n_qubits, *sector) if sector else None
    matrix = sparse_hamiltonian(observable, n_qubits, basis)
    dim = matrix.shape[0]
    if dim <= 1024:
        values, vectors = np.linalg.eigh(matrix.toarray())
        values, vectors = values[:2], vectors[:, :2]
    else:
        start = np.random.default_rng(0).normal(size=dim)
        # A Krylov space of LANCZOS_NCV vectors, not ARPACK's default 20: with (near-)degenerate
        # ground states (the 4 edge states of an open SPT chain, split by ~1e-9 at 16 sites)
        # the default restarted Lanczos for k = 2 does not converge in any practical time.
        values, vectors = spla.eigsh(
            matrix, k=2, which="SA", v0=start, tol=1e-12, ncv=min(dim - 1, LANCZOS_NCV)
        )
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
    ground = vectors[:, 0]
    ground = ground * np.exp(-1j * np.angle(ground[np.argmax(np.abs(ground))]))
    if np.allclose(ground.imag, 0.0):
        ground = ground.real
    full = np.zeros(2**n_qubits, dtype=ground.dtype)
    full[basis if basis is not None else slice(None)] = ground
    gap = float(values[1] - values[0]) if values.size > 1 else float("nan")
    return ExactGroundState(float(values[0]), full / np.linalg.norm(full), gap)


def walsh_hadamard(vector: np.ndarray) -> np.ndarray:
    """``H^{(x)n} |v>`` by the fast Walsh-Hadamard transform (``n 2^n`` operations)."""
    out = np.array(vector, dtype=np.result_type(vector, np.float64), copy=True)
    n = round(float(np.log2(out.size)))
    out = out.reshape((2,) * n)
    for axis in range(n):
        a = np.take(out, 0, axis=axis)
        b = np.take(out, 1, axis=axis)
        out = np.stack([(a + b), (a - b)], axis=axis) / np.sqrt(2.0)
    return out.reshape(-1)


def dense_expectation(
    vector: np.ndarray, observable: PauliSum | PauliString, n_qubits: int
) -> float:
    """``<v|O|v>`` of a Pauli string or real Pauli sum on a dense vector, in ``O(2^n)`` per term."""
    terms = observable.terms if isinstance(observable, PauliSum) else ((1.0, observable),)
    states = np.arange(2**n_qubits, dtype=np.int64)
    total = 0.0
    for coeff, string in terms:
        x, z, n_y = _masks(string, n_qubits)
        sign = 1.0 - 2.0 * (_popcount(states & z) % 2)
        total += coeff * np.real((1j**n_y) * np.vdot(vector[states ^ x], sign * vector))
    return float(total)
