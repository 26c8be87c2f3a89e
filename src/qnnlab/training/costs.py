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
