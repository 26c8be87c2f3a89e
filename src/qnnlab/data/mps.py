"""Matrix product states of qubit chains, in plain NumPy, independent of the code that made them.

A state of ``n`` qubits is stored in right-canonical form

    |psi> = sum_{s} S_0 B_0[s_0] B_1[s_1] ... B_{n-1}[s_{n-1}] |s_0 ... s_{n-1}>,

with tensors ``B_i`` of shape ``(chi_i, 2, chi_{i+1})`` (legs ``vL, p, vR``; ``chi_0 = chi_n = 1``)
obeying ``sum_{s, r} B_i[l, s, r] conj(B_i[l', s, r]) = delta_{l l'}``, and the Schmidt values
``S_i`` of every bond ``i = 0 .. n`` (``S_0 = S_n = [1]``). The physical index is the qubit's
computational basis, ``0 = |0> = spin up`` (``Z = +1``), qubit 0 is the leftmost site, as in
``docs/conventions.md``. This is TeNPy's ``'B'`` form; :meth:`MPS.from_tenpy` converts symmetric
(charge-conserving) TeNPy tensors to dense arrays, so nothing downstream needs TeNPy.

Because every tensor right of a bond is right-canonical, the reduced state of sites ``i ..``
starts from ``diag(S_i^2)`` on the left bond; local expectations therefore touch only the sites
in the operator's support (:meth:`MPS.expectation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qnnlab.circuits.paulis import PAULI_MATRICES, PauliString, PauliSum, as_observable

#: Largest qubit count for which :meth:`MPS.to_dense` builds the full vector.
DENSE_MAX_QUBITS = 24


class MPSError(ValueError):
    """An MPS is malformed (shapes, canonical form); the message names the problem."""


@dataclass
class MPS:
    """A right-canonical matrix product state of qubits (see the module docstring)."""

    tensors: list[np.ndarray]
    schmidt: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.tensors:
            raise MPSError("An MPS needs at least one site tensor.")
        tensors = []
        for i, b in enumerate(self.tensors):
            b = np.asarray(b)
            if b.ndim != 3 or b.shape[1] != 2:
                raise MPSError(
                    f"Site tensor {i} has shape {b.shape}; expected (chi_left, 2, chi_right)."
                )
            tensors.append(b)
        for i in range(len(tensors) - 1):
            if tensors[i].shape[2] != tensors[i + 1].shape[0]:
                raise MPSError(
                    f"Bond {i + 1}: site {i} has right dimension {tensors[i].shape[2]} but site "
                    f"{i + 1} has left dimension {tensors[i + 1].shape[0]}."
                )
        if tensors[0].shape[0] != 1 or tensors[-1].shape[2] != 1:
            raise MPSError("The outer bonds of a finite MPS must have dimension 1.")
        self.tensors = tensors
        if not self.schmidt:
            tensors, self.schmidt = _schmidt_gauge(tensors)
            self.tensors = tensors
        if len(self.schmidt) != len(tensors) + 1:
            raise MPSError(
                f"Expected {len(tensors) + 1} Schmidt-value arrays (one per bond), "
                f"got {len(self.schmidt)}."
            )
        self.schmidt = [np.asarray(s, dtype=np.float64) for s in self.schmidt]

    # ------------------------------------------------------------------ basic properties
    @property
    def n_qubits(self) -> int:
        return len(self.tensors)

    @property
    def bond_dims(self) -> list[int]:
        """Dimensions of the ``n - 1`` inner bonds."""
        return [b.shape[2] for b in self.tensors[:-1]]

    @property
    def max_bond_dim(self) -> int:
        return max(self.bond_dims, default=1)

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*self.tensors)

    def entanglement_entropy(self) -> np.ndarray:
        """Von Neumann entropies ``-sum S^2 log S^2`` of the inner bonds (natural log)."""
        out = []
        for s in self.schmidt[1:-1]:
            p = s[s > 0] ** 2
            out.append(float(-(p * np.log(p)).sum()))
        return np.array(out)

    # ------------------------------------------------------------------ conversions
    def to_dense(self) -> np.ndarray:
        """The full state vector ``(2**n,)`` (qubit 0 most significant); ``n <= 24`` only."""
        if self.n_qubits > DENSE_MAX_QUBITS:
            raise MPSError(
                f"to_dense() of {self.n_qubits} qubits would need 2^{self.n_qubits} amplitudes; "
                f"it is limited to {DENSE_MAX_QUBITS} qubits. Use expectation() or shadows."
            )
        vec = self.schmidt[0][:, None] * self.tensors[0].reshape(self.tensors[0].shape[0], -1)
        vec = vec.reshape(-1, self.tensors[0].shape[2])
        for b in self.tensors[1:]:
            vec = (vec @ b.reshape(b.shape[0], -1)).reshape(-1, b.shape[2])
        return vec.reshape(-1)

    @classmethod
    def from_dense(cls, vector, *, cutoff: float = 1e-14) -> MPS:
        """Exact right-canonical MPS of a normalised state vector (successive SVDs from the right).

        Singular values below ``cutoff`` (relative to the largest) are dropped, which is exact up
        to that tolerance.
        """
        psi = np.asarray(vector)
        n = round(float(np.log2(psi.size)))
        if psi.ndim != 1 or 2**n != psi.size:
            raise MPSError(f"A state vector needs 2**n entries, got shape {psi.shape}.")
        if not np.all(np.isfinite(psi)) or np.linalg.norm(psi) == 0:
            raise MPSError("A state vector must be finite and nonzero.")
        tensors: list[np.ndarray] = [None] * n  # type: ignore[list-item]
        schmidt: list[np.ndarray] = [None] * (n + 1)  # type: ignore[list-item]
        schmidt[n] = np.ones(1)
        rest = psi.reshape(-1, 1)  # (left part, right bond)
        for i in range(n - 1, 0, -1):
            chi_r = rest.shape[1]
            mat = rest.reshape(-1, 2 * chi_r)
            u, s, vh = np.linalg.svd(mat, full_matrices=False)
            keep = max(1, int(np.sum(s > cutoff * s[0])))
            u, s, vh = u[:, :keep], s[:keep], vh[:keep]
            tensors[i] = vh.reshape(keep, 2, chi_r)
            norm = np.linalg.norm(s)
            schmidt[i] = s / norm
            rest = u * s
        first = rest.reshape(1, 2, -1)
        norm = np.linalg.norm(first)
        tensors[0] = first / norm
        schmidt[0] = np.ones(1)
        return cls(tensors, schmidt)

    @classmethod
    def from_tenpy(cls, psi, *, basis_change: np.ndarray | None = None) -> MPS:
        """Dense right-canonical copy of a finite TeNPy ``MPS`` of spin-1/2 sites.

        TeNPy's spin up is the qubit's ``|0>`` and spin down ``|1>``; sites that conserve a
        charge may store them in the other order, which is undone here.
        ``basis_change`` (a 2x2 unitary ``U``) maps the tensors' physical basis to the qubit
        basis, ``|s>_qubit = sum_t U[s, t] |t>_tenpy``, e.g. a Hadamard when a model was run in
        the X basis to conserve a parity.
        """
        if psi.bc != "finite":
            raise MPSError(f"Only finite MPS convert; got boundary condition {psi.bc!r}.")
        tensors = []
        for i in range(psi.L):
            b = psi.get_B(i, "B").transpose(["vL", "p", "vR"]).to_ndarray()
            if b.shape[1] != 2:
                raise MPSError(f"Site {i} has local dimension {b.shape[1]}; qubits need 2.")
            # Charge-conserving sites sort their basis by charge, which can put 'down' first.
            labels = psi.sites[i].state_labels
            b = b[:, [labels["up"], labels["down"]], :]
            if basis_change is not None:
                b = np.einsum("st,ltr->lsr", basis_change, b)
            tensors.append(b)
        schmidt = [np.asarray(psi.get_SL(0))]
        schmidt += [np.asarray(psi.get_SR(i)) for i in range(psi.L)]
        # TeNPy orders a bond's Schmidt values like the indices of that leg, as to_ndarray does.
        return cls(tensors, schmidt)

    # ------------------------------------------------------------------ expectations
    def norm(self) -> float:
        """``<psi|psi>^(1/2)``, 1 for a canonical state."""
        env = np.ones((1, 1))
        env = env * (self.schmidt[0][:, None] * self.schmidt[0][None, :])
        for b in self.tensors:
            env = np.einsum("ab,asr,bsq->rq", env, b, b.conj(), optimize=True)
        return float(np.sqrt(abs(env[0, 0])))

    def expectation(self, observable) -> float:
        """``<psi|O|psi>`` of a Pauli string or real Pauli sum, touching only its support."""
        obs = observable if isinstance(observable, PauliString) else as_observable(observable)
        if isinstance(obs, PauliString):
            return self._pauli_expectation(obs)
        if not isinstance(obs, PauliSum):
            raise TypeError(f"MPS.expectation needs a Pauli string or Pauli sum, got {obs!r}.")
        return float(sum(c * self._pauli_expectation(p) for c, p in obs.terms))

    def _pauli_expectation(self, string: PauliString) -> float:
        if not string.ops:
            return 1.0
        qubits = string.qubits
        if qubits[-1] >= self.n_qubits:
            raise MPSError(
                f"Pauli string {string} acts on qubit {qubits[-1]} but the MPS has "
                f"{self.n_qubits} qubits."
            )
        letters = dict(string.ops)
        start, stop = qubits[0], qubits[-1]
        s = self.schmidt[start]
        env = np.diag((s**2).astype(np.result_type(self.dtype, np.complex128)))
        for site in range(start, stop + 1):
            b = self.tensors[site]
            if site in letters:
                ob = np.einsum("st,ltr->lsr", PAULI_MATRICES[letters[site]], b)
            else:
                ob = b
            env = np.einsum("ab,asr,bsq->rq", env, ob, b.conj(), optimize=True)
        return float(np.real(np.trace(env)))


def _schmidt_gauge(tensors: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rotate every bond of a right-canonical chain into its Schmidt basis.

    A left-to-right sweep of SVDs gives, at each bond ``i``, the Schmidt values ``S_i`` and the
    rows ``Vh_i`` of the right Schmidt vectors in the chain's current bond basis; the tensors
    ``B_i <- Vh_i B_i Vh_{i+1}^dagger`` stay right-canonical and now start from ``diag(S_i^2)``
    on their left bond, which :meth:`MPS.expectation` relies on.
    """
    n = len(tensors)
    schmidt = [np.ones(1)]
    rotations = [np.ones((1, 1))]
    carry = np.ones((1, 1))
    for i in range(n - 1):
        a = np.einsum("ab,bsr->asr", carry, tensors[i])
        chi_l, _, chi_r = a.shape
        _, s, vh = np.linalg.svd(a.reshape(chi_l * 2, chi_r), full_matrices=False)
        schmidt.append(s)
        rotations.append(vh)
        carry = s[:, None] * vh
    schmidt.append(np.ones(1))
    rotations.append(np.ones((1, 1)))
    gauged = [
        np.einsum("ab,bsc,dc->asd", rotations[i], b, rotations[i + 1].conj(), optimize=True)
        for i, b in enumerate(tensors)
    ]
    return gauged, schmidt


def random_mps(n_qubits: int, bond_dim: int, *, seed: int, dtype=np.complex128) -> MPS:
    """A random normalised right-canonical MPS with bond dimensions ``min(bond_dim, 2^i, 2^(n-i))``.

    Each tensor is a random isometry (QR of a Gaussian matrix), so the state is exactly
    normalised and right-canonical; useful for tests and benchmarks at any size.
    """
    if n_qubits < 1 or bond_dim < 1:
        raise MPSError("random_mps needs n_qubits >= 1 and bond_dim >= 1.")
    rng = np.random.default_rng(seed)
    complex_ = np.issubdtype(np.dtype(dtype), np.complexfloating)
    dims = [min(bond_dim, 2**i, 2 ** (n_qubits - i)) for i in range(n_qubits + 1)]
    tensors = []
    for i in range(n_qubits):
        chi_l, chi_r = dims[i], dims[i + 1]
        g = rng.normal(size=(2 * chi_r, chi_l))
        if complex_:
            g = g + 1j * rng.normal(size=(2 * chi_r, chi_l))
        q, _ = np.linalg.qr(g)  # (2 chi_r, chi_l) with orthonormal columns
        tensors.append(q.T.reshape(chi_l, 2, chi_r).astype(dtype))
    return MPS(tensors)
