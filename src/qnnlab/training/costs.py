"""Fidelity costs of Sharma et al., PRL 128, 180505 (2022) (arXiv:2005.12458).

A cost is affine in one measured observable, ``C = offset + scale * <O>``, so any engine that
returns ``<O>`` (exactly, with shots, or by parameter shift) evaluates it.

* Global, Eq. (3): ``O_G = 1 - |phi><phi|``; for the target ``|0...0>`` on the output qubits,
  ``C_G = 1 - <P_0>`` with ``P_0`` the all-zeros projector.
* Local, Eq. (4): ``O_L = 1 - (1/n) sum_j |0><0|_j``; with ``|0><0| = (1 + Z)/2``,
  ``C_L = 1/2 - (1/(2n)) sum_j <Z_j>``.

Both vanish exactly when the output is ``|0...0>``. Other product targets
``|phi> = W|0...0>`` reduce to these by appending ``W^dag`` to the circuit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.paulis import BasisProjector, Observable, PauliString, PauliSum


@dataclass(frozen=True)
class AffineCost:
    """``C = offset + scale * <observable>``."""

    name: str
    observable: Observable
    offset: float
    scale: float

    def __call__(self, expval):
        return self.offset + self.scale * expval


def global_fidelity_cost(qubits: Iterable[int]) -> AffineCost:
    """Eq. (3) with target ``|0...0>`` on ``qubits``: ``C_G = 1 - <P_0>``."""
    return AffineCost("global", BasisProjector.zeros(qubits), 1.0, -1.0)


def local_fidelity_cost(qubits: Iterable[int]) -> AffineCost:
    """Eq. (4) with target ``|0...0>`` on ``qubits``: ``C_L = 1/2 - (1/2n) sum_j <Z_j>``."""
    qubits = tuple(qubits)
    n = len(qubits)
    obs = PauliSum(tuple((-1.0 / (2 * n), PauliString(((q, "Z"),))) for q in qubits))
    return AffineCost("local", obs, 0.5, 1.0)


COSTS = {"global": global_fidelity_cost, "local": local_fidelity_cost}


def build_cost(name: str, qubits: Iterable[int]) -> AffineCost:
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; choose one of {sorted(COSTS)}.")
    return COSTS[name](qubits)


# ------------------------------------------------------------------ per-pair target operators
# Score ``Tr[sigma_x rho_x]`` (to maximise); the cost is ``1 - score`` for Eqs. (3)-(4).
def fidelity_targets(states) -> np.ndarray:
    """Eq. (3): ``sigma_x = |phi_x><phi_x|`` for ``(N, d)`` target states."""
    states = np.asarray(states, dtype=np.complex128)
    if states.ndim != 2:
        raise ValueError(f"target states must have shape (N, d), got {states.shape}.")
    return np.einsum("xi,xj->xij", states, states.conj())


def local_targets(factors) -> np.ndarray:
    """Eq. (4): ``sigma_x = (1/n) sum_j |t_{x,j}><t_{x,j}| (x) 1_rest`` for product targets given
    as ``(N, n, 2)`` single-qubit factors (qubit 0 most significant)."""
    factors = np.asarray(factors, dtype=np.complex128)
    if factors.ndim != 3 or factors.shape[2] != 2:
        raise ValueError(f"local targets need (N, n_out, 2) qubit factors, got {factors.shape}.")
    norms = np.linalg.norm(factors, axis=2)
    if not np.allclose(norms, 1.0, atol=1e-6):
        raise ValueError("local target factors must be normalised single-qubit states.")
    n_pairs, n = factors.shape[:2]
    out = np.zeros((n_pairs, 2**n, 2**n), dtype=np.complex128)
    for j in range(n):
        proj = np.einsum("xi,xj->xij", factors[:, j], factors[:, j].conj())
        left, right = np.eye(2**j), np.eye(2 ** (n - j - 1))
        out += np.stack([np.kron(np.kron(left, p), right) for p in proj]) / n
    return out


def label_targets(labels, n_out: int) -> np.ndarray:
    """Supervised data ``{|phi_x>, y_x}`` with ``y = +-1``: ``sigma_x = (1 + y_x Z_0)/2`` on the
    first output qubit (score = probability of reading the label there)."""
    labels = np.asarray(labels, dtype=float)
    if not np.all(np.isin(labels, (-1.0, 1.0))):
        raise ValueError("labels must be +1 or -1.")
    z0 = np.kron(np.diag([1.0, -1.0]), np.eye(2 ** (n_out - 1)))
    eye = np.eye(2**n_out)
    return np.stack([(eye + y * z0) / 2 for y in labels]).astype(np.complex128)
