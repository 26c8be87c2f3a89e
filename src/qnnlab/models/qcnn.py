"""Quantum convolutional neural network (Cong, Choi & Lukin, Nat. Phys. 15, 1273 (2019)).

Structure, repeated until one qubit is left (any ``n``, not only powers of two):

* **Convolution**: two-qubit blocks in a brick pattern over the active qubits, first on pairs
  ``(a_0, a_1), (a_2, a_3), ...`` then on ``(a_1, a_2), (a_3, a_4), ...`` (open chain). All blocks
  of one layer share their parameters (translation invariance). The default block is the general
  ``SU(4)`` element in KAK form (15 Pauli rotations, :meth:`Circuit.su4`).
* **Pooling**: pairs ``(c, t) = (a_0, a_1), (a_2, a_3), ...``: measuring ``c`` and applying a
  rotation to ``t`` conditioned on the outcome is, by the principle of deferred measurement, the
  controlled rotations ``CRZ(c -> t) CRX(c -> t)`` followed by discarding ``c``. An unpaired last
  qubit stays. Parameters are shared within the layer.
* **Readout**: ``Z`` on the last remaining qubit (:func:`qcnn_readout`).
"""

from __future__ import annotations

from qnnlab.circuits.circuit import Circuit, CircuitError
from qnnlab.circuits.paulis import PauliSum


def brick_pairs(active: list[int]) -> list[tuple[int, int]]:
    """Pairs of a brick layer on an open chain: even bonds, then odd bonds."""
    even = [(active[i], active[i + 1]) for i in range(0, len(active) - 1, 2)]
    odd = [(active[i], active[i + 1]) for i in range(1, len(active) - 1, 2)]
    return even + odd


def qcnn(n_qubits: int) -> Circuit:
    """QCNN with shared-weight SU(4) convolutions and CRZ/CRX pooling down to one qubit."""
    if not isinstance(n_qubits, int) or n_qubits < 2:
        raise CircuitError(f"a QCNN needs at least 2 qubits, got {n_qubits!r}.")
    circuit = Circuit(n_qubits, name=f"qcnn-{n_qubits}")
    active = list(range(n_qubits))
    layer = 0
    while len(active) > 1:
        conv = circuit.parameters(15, f"conv{layer}")
        for a, b in brick_pairs(active):
            circuit.su4(a, b, conv)
        pool = circuit.parameters(2, f"pool{layer}")
        kept = []
        for i in range(0, len(active) - 1, 2):
            control, target = active[i], active[i + 1]
            circuit.crz(control, target, pool[0]).crx(control, target, pool[1])
            circuit.discard(control)
            kept.append(target)
        if len(active) % 2:
            kept.append(active[-1])
        active = kept
        layer += 1
    return circuit


def qcnn_readout(circuit: Circuit) -> PauliSum:
    """``Z`` on the single qubit left alive by :func:`qcnn`."""
    alive = circuit.alive_qubits
    if len(alive) != 1:
        raise CircuitError(f"expected one alive qubit at the end of the QCNN, found {alive}.")
    return PauliSum.single(f"Z{alive[0]}")
