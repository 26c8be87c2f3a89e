"""The gate alphabet: what each gate *is* (qubits, angles, matrix, shift rule), not how it runs.

Conventions (``docs/conventions.md``):

* Rotations are ``R_P(theta) = exp(-i theta P / 2) = cos(theta/2) I - i sin(theta/2) P`` for a
  Pauli string ``P``; ``RX, RY, RZ`` are the single-qubit cases.
* ``U3(theta, phi, lam) = [[cos(theta/2), -e^{i lam} sin(theta/2)],
  [e^{i phi} sin(theta/2), e^{i(phi+lam)} cos(theta/2)]]
  = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam)``
  (the OpenQASM ``U`` gate).
* Controlled gates list the control(s) first:
  ``CR_P(theta) = |0><0| (x) I + |1><1| (x) R_P(theta)``.
* A gate matrix on qubits ``(q_0, ..., q_{k-1})`` is indexed big-endian: ``q_0`` is the most
  significant bit of the row and column index.

Every gate matrix is written once, as a product of one-angle factors
``F(a) = A + cos(a/2) B + sin(a/2) C`` (:func:`gate_factors`); :func:`gate_matrix` (JAX,
differentiable) and :func:`gate_matrix_numpy` (NumPy ``complex128``) multiply them out, and the
fusing compiler vectorises over them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import PAULI_MATRICES

#: Shift rules for parameter-shift gradients.
#: ``two_term``: generator with eigenvalues +-1/2: ``df = [f(+pi/2) - f(-pi/2)] / 2``.
#: ``four_term``: generator with eigenvalues {0, +-1/2} (controlled rotations), Anselmetti et al.,
#: New J. Phys. 23, 113010 (2021), Eq. (13).
SHIFT_RULES: dict[str, tuple[tuple[float, float], ...]] = {
    "two_term": ((0.5, math.pi / 2), (-0.5, -math.pi / 2)),
    "four_term": (
        ((math.sqrt(2) + 1) / (4 * math.sqrt(2)), math.pi / 2),
        (-(math.sqrt(2) + 1) / (4 * math.sqrt(2)), -math.pi / 2),
        (-(math.sqrt(2) - 1) / (4 * math.sqrt(2)), 3 * math.pi / 2),
        ((math.sqrt(2) - 1) / (4 * math.sqrt(2)), -3 * math.pi / 2),
    ),
}


@dataclass(frozen=True)
class Angle:
    """One angle argument: ``scale * theta[slot] + offset``, or a constant when ``slot`` is None."""

    slot: int | None
    scale: float = 1.0
    offset: float = 0.0

    @property
    def is_constant(self) -> bool:
        return self.slot is None


@dataclass(frozen=True)
class GateSpec:
    """Static description of one gate type."""

    name: str
    n_qubits: int | None  # None: variable (Pauli rotations, fixed unitaries)
    n_angles: int
    shift_rule: str | None  # key of SHIFT_RULES, None for fixed gates
    qasm: str | None = None  # OpenQASM 3 stdgates name, if any


GATE_SPECS: dict[str, GateSpec] = {
    spec.name: spec
    for spec in (
        GateSpec("rx", 1, 1, "two_term", "rx"),
        GateSpec("ry", 1, 1, "two_term", "ry"),
        GateSpec("rz", 1, 1, "two_term", "rz"),
        GateSpec("pauli_rot", None, 1, "two_term"),
        GateSpec("u3", 1, 3, "two_term", "U"),
        GateSpec("crx", 2, 1, "four_term", "crx"),
        GateSpec("cry", 2, 1, "four_term", "cry"),
        GateSpec("crz", 2, 1, "four_term", "crz"),
        GateSpec("h", 1, 0, None, "h"),
        GateSpec("x", 1, 0, None, "x"),
        GateSpec("cnot", 2, 0, None, "cx"),
        GateSpec("cz", 2, 0, None, "cz"),
        GateSpec("swap", 2, 0, None, "swap"),
        GateSpec("cswap", 3, 0, None, "cswap"),
        GateSpec("unitary", None, 0, None),
    )
}


@dataclass(frozen=True)
class Gate:
    """One gate instance in a circuit.

    Attributes:
        name: key of :data:`GATE_SPECS`.
        qubits: the qubits it acts on, in matrix order (controls first).
        angles: one :class:`Angle` per angle argument.
        paulis: for ``pauli_rot``, the letters of ``P`` on ``qubits`` in order (e.g. ``"XX"``).
        matrix: for ``unitary``, the fixed ``2**k x 2**k`` complex matrix.
    """

    name: str
    qubits: tuple[int, ...]
    angles: tuple[Angle, ...] = ()
    paulis: str | None = None
    matrix: np.ndarray | None = field(default=None, compare=False)
    #: content hash of ``matrix``, so two ``unitary`` gates compare equal only if their matrices do
    matrix_digest: str | None = None

    @property
    def spec(self) -> GateSpec:
        return GATE_SPECS[self.name]

    @property
    def is_parametrized(self) -> bool:
        return any(not a.is_constant for a in self.angles)


def _pauli_word_matrix(letters: str) -> np.ndarray:
    out = np.eye(1, dtype=np.complex128)
    for letter in letters:
        out = np.kron(out, PAULI_MATRICES[letter])
    return out


def _blockdiag_controlled(target: np.ndarray) -> np.ndarray:
    dim = target.shape[0]
    out = np.zeros((2 * dim, 2 * dim), dtype=np.complex128)
    out[dim:, dim:] = target
    return out


def rotation_terms(gate: Gate) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(A, B, C)`` with ``U(a) = A + cos(a/2) B + sin(a/2) C`` for one-angle rotation gates.

    ``R_P(a) = cos(a/2) I - i sin(a/2) P`` gives ``(0, I, -iP)``; a controlled rotation adds the
    untouched ``|0><0| (x) I`` block to ``A``. Returns None for other gates. Engines use this to
    build the matrices of all rotations in one vectorised expression.
    """
    name = gate.name
    if name in ("rx", "ry", "rz", "pauli_rot"):
        letters = gate.paulis if name == "pauli_rot" else name[1].upper()
        p = _pauli_word_matrix(letters)
        return np.zeros_like(p), np.eye(p.shape[0], dtype=np.complex128), -1j * p
    if name in ("crx", "cry", "crz"):
        p = PAULI_MATRICES[name[2].upper()]
        a = np.zeros((4, 4), dtype=np.complex128)
        a[:2, :2] = np.eye(2)
        return a, _blockdiag_controlled(np.eye(2)), _blockdiag_controlled(-1j * p)
    return None


_FIXED = {
    "h": np.array([[1, 1], [1, -1]]) / np.sqrt(2),
    "x": PAULI_MATRICES["X"],
    "cnot": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]),
    "cz": np.diag([1, 1, 1, -1]),
    "swap": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]),
    "cswap": np.eye(8)[[0, 1, 2, 3, 4, 6, 5, 7]],
}


def fixed_matrix(gate: Gate) -> np.ndarray | None:
    """The constant matrix of an angle-free gate (``complex128``), else None."""
    if gate.name in _FIXED:
        return np.asarray(_FIXED[gate.name], dtype=np.complex128)
    if gate.name == "unitary":
        return np.asarray(gate.matrix, dtype=np.complex128)
    return None


#: The one-angle factors of ``u3(theta, phi, lam) = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam)``,
#: in the order they act: ``(angle position, A, B, C)`` with ``F(a) = A + cos(a/2) B +
#: sin(a/2) C``; ``RZ(a) = (0, I, -iZ)``, ``RY(a) = (0, I, -iY)`` and ``e^{i a/2} = (0, I, iI)``.
_I2 = np.eye(2, dtype=np.complex128)
_ZERO2 = np.zeros((2, 2), dtype=np.complex128)
_U3_FACTORS = (
    (2, _ZERO2, _I2, -1j * PAULI_MATRICES["Z"]),  # RZ(lam)
    (2, _ZERO2, _I2, 1j * _I2),  # e^{i lam / 2}
    (0, _ZERO2, _I2, -1j * PAULI_MATRICES["Y"]),  # RY(theta)
    (1, _ZERO2, _I2, -1j * PAULI_MATRICES["Z"]),  # RZ(phi)
    (1, _ZERO2, _I2, 1j * _I2),  # e^{i phi / 2}
)

Factor = tuple[int | None, np.ndarray, np.ndarray, np.ndarray]


def gate_factors(gate: Gate) -> tuple[Factor, ...]:
    """The gate as a product of one-angle factors ``F(a) = A + cos(a/2) B + sin(a/2) C``.

    This is the one source of truth for gate matrices: :func:`gate_matrix`,
    :func:`gate_matrix_numpy` and the fusing compiler (:mod:`qnnlab.engines.plan`) all read it.
    Returns ``(angle position in the gate or None, A, B, C)`` per factor (``complex128``), in
    the order they act, so ``U = F_{last} ... F_1 F_0``. One-angle rotations are one factor
    (:func:`rotation_terms`), fixed gates one constant factor ``(None, U, 0, 0)``, and ``u3``
    five (``_U3_FACTORS``). In this form a fused block's matrix is one vectorised expression
    plus a log-depth product, which XLA compiles quickly.
    """
    terms = rotation_terms(gate)
    if terms is not None:
        return ((0, *terms),)
    if gate.name == "u3":
        return _U3_FACTORS
    fixed = fixed_matrix(gate)
    if fixed is None:
        raise KeyError(f"no matrix rule for gate {gate.name!r}")
    zero = np.zeros_like(fixed)
    return ((None, fixed, zero, zero),)


def gate_matrix(gate: Gate, angles, dtype=jnp.complex64):
    """The gate's unitary as a JAX array, given its evaluated angles (a 1-D array): the product
    of its :func:`gate_factors` (differentiable in ``angles``)."""
    out = None
    for position, a, b, c in gate_factors(gate):
        if position is None:
            factor = jnp.asarray(a, dtype=dtype)
        else:
            half = angles[position] / 2
            factor = (
                jnp.asarray(a, dtype=dtype)
                + jnp.cos(half).astype(dtype) * jnp.asarray(b, dtype=dtype)
                + jnp.sin(half).astype(dtype) * jnp.asarray(c, dtype=dtype)
            )
        out = factor if out is None else factor @ out
    return out


def gate_matrix_numpy(gate: Gate, angles) -> np.ndarray:
    """The gate's unitary in NumPy ``complex128`` from its evaluated angles: the product of
    its :func:`gate_factors` (for references and host-side code)."""
    angles = np.asarray(angles, dtype=np.float64).reshape(-1)
    out = None
    for position, a, b, c in gate_factors(gate):
        if position is None:
            factor = a
        else:
            half = angles[position] / 2
            factor = a + np.cos(half) * b + np.sin(half) * c
        out = factor if out is None else factor @ out
    return np.asarray(out, dtype=np.complex128)
