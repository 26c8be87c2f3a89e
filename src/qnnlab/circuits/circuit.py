"""The one circuit description every engine evaluates.

A :class:`Circuit` acts on ``n_qubits`` qubits. Gates take angles that are constants or
*parameter slots*: entries of one flat vector ``theta`` of length ``n_params``. A slot may feed
several gates (weight sharing, as QCNN layers need), optionally as ``scale * theta[slot] + offset``.
Qubits can be *discarded* (traced out) from a point on: no gate may touch them afterwards, and the
density-matrix engine takes the partial trace there (pooling in QCNNs, Eq. 1 of arXiv:2005.12458
for dissipative QNNs).

The input state enters on ``input_qubits`` (all qubits by default); every other qubit starts in
``|0>``.

Example:
    >>> c = Circuit(2)
    >>> c.ry(0, "a").ry(1, "a").cz(0, 1)      # slot "a" shared by two gates
    Circuit(n_qubits=2, gates=3, params=1)
    >>> c.n_params
    1
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.gates import GATE_SPECS, Angle, Gate
from qnnlab.circuits.paulis import PauliString, pauli


@dataclass(frozen=True)
class Param:
    """Handle on a parameter slot; ``2 * p``, ``-p``, ``p + 0.1``, ``0.5 - p`` give affine angles.

    ``owner`` identifies the circuit that created the slot, so a handle cannot be used by mistake
    in another circuit.
    """

    slot: int
    scale: float = 1.0
    offset: float = 0.0
    owner: int | None = None

    def __mul__(self, k: float) -> Param:
        return Param(self.slot, self.scale * float(k), self.offset * float(k), self.owner)

    __rmul__ = __mul__

    def __neg__(self) -> Param:
        return self * -1.0

    def __add__(self, c: float) -> Param:
        return Param(self.slot, self.scale, self.offset + float(c), self.owner)

    __radd__ = __add__

    def __sub__(self, c: float) -> Param:
        return self + (-float(c))

    def __rsub__(self, c: float) -> Param:
        return (-self) + float(c)


AngleLike = Param | float | int | str


@dataclass(frozen=True)
class Discard:
    """Marker: ``qubit`` is traced out after everything before this point in the gate list."""

    qubit: int


Operation = Gate | Discard


class CircuitError(ValueError):
    """A circuit was built or used in a way that has no meaning; the message says how to fix it."""


#: Most qubits a :class:`Circuit` describes. The description itself is cheap (Pauli propagation
#: and shadows reach thousands of qubits); the dense engines stop far earlier.
MAX_QUBITS = 2**16
#: Most operations (gates and discards) a :class:`Circuit` holds: about a minute of building and
#: a few hundred MiB of gate records.
MAX_OPERATIONS = 10**6


def check_circuit_size(n_qubits: int, n_operations: int, what: str) -> None:
    """Refuse, before building anything, a circuit beyond :data:`MAX_QUBITS` qubits or
    :data:`MAX_OPERATIONS` operations; model builders call this with their predicted sizes.

    Raises:
        CircuitError: naming ``what`` (e.g. ``"hea on 10 qubits with 10**8 layers"``) and the
            limit.
    """
    if n_qubits > MAX_QUBITS:
        raise CircuitError(f"{what} needs {n_qubits} qubits; a circuit holds at most {MAX_QUBITS}.")
    if n_operations > MAX_OPERATIONS:
        raise CircuitError(
            f"{what} needs {n_operations} operations; a circuit holds at most "
            f"{MAX_OPERATIONS}: use fewer layers or qubits."
        )


class Circuit:
    """A quantum circuit with named parameter slots and discard markers.

    Args:
        n_qubits: number of qubits, indexed ``0 .. n_qubits - 1`` (qubit 0 most significant).
        input_qubits: qubits that receive the input state, in order; default all. The rest start
            in ``|0>``.
        name: optional label used in exports and reports.
    """

    def __init__(
        self, n_qubits: int, *, input_qubits: Sequence[int] | None = None, name: str = "circuit"
    ):
        if (
            isinstance(n_qubits, bool)
            or not isinstance(n_qubits, int | np.integer)
            or not 1 <= n_qubits <= MAX_QUBITS
        ):
            raise CircuitError(
                f"n_qubits must be a positive integer at most {MAX_QUBITS} (MAX_QUBITS), got "
                f"{n_qubits!r}."
            )
        self.n_qubits = int(n_qubits)
        self.name = name
        self.operations: list[Operation] = []
        self.param_names: list[str] = []
        self._slot_by_name: dict[str, int] = {}
        self._discarded: set[int] = set()
        if input_qubits is None:
            input_qubits = range(self.n_qubits)
        self.input_qubits = tuple(self._check_qubits(input_qubits, "input_qubits"))

    # ------------------------------------------------------------------ parameters
    def parameter(self, name: str | None = None) -> Param:
        """The slot called ``name``, created if needed (anonymous when ``name`` is None)."""
        if name is not None and name in self._slot_by_name:
            return Param(self._slot_by_name[name], owner=id(self))
        slot = len(self.param_names)
        name = f"theta_{slot}" if name is None else name
        if name in self._slot_by_name:
            raise CircuitError(f"a parameter called {name!r} already exists; pick another name.")
        self.param_names.append(name)
        self._slot_by_name[name] = slot
        return Param(slot, owner=id(self))

    def parameters(self, count: int, prefix: str | None = None) -> list[Param]:
        """``count`` new slots named ``prefix[0] .. prefix[count-1]`` (anonymous if no prefix)."""
        return [self.parameter(None if prefix is None else f"{prefix}[{k}]") for k in range(count)]

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def _angle(self, value: AngleLike) -> Angle:
        if isinstance(value, str):
            value = self.parameter(value)
        if isinstance(value, Param):
            if value.owner is not None and value.owner != id(self):
                raise CircuitError(
                    f"parameter slot {value.slot} was created by another circuit; create slots "
                    "with this circuit's parameter() (or pass a parameter name)."
                )
            if not (math.isfinite(value.scale) and math.isfinite(value.offset)):
                raise CircuitError(f"affine parameter {value} has a non-finite scale or offset.")
            if not 0 <= value.slot < self.n_params:
                raise CircuitError(
                    f"parameter slot {value.slot} does not belong to this circuit "
                    f"(it has {self.n_params}); create slots with circuit.parameter()."
                )
            return Angle(value.slot, value.scale, value.offset)
        if isinstance(value, int | float | np.floating | np.integer) and not isinstance(
            value, bool
        ):
            if not math.isfinite(float(value)):
                raise CircuitError(f"constant angle {value!r} is not finite.")
            return Angle(None, 0.0, float(value))
        raise CircuitError(
            f"an angle must be a Param, a parameter name or a number, got {type(value).__name__}."
        )

    # ------------------------------------------------------------------ validation
    def _check_qubits(self, qubits: Iterable[int], what: str) -> list[int]:
        out = []
        for q in qubits:
            if not isinstance(q, int | np.integer) or isinstance(q, bool):
                raise CircuitError(f"{what}: qubit index {q!r} is not an integer.")
            if not 0 <= q < self.n_qubits:
                raise CircuitError(
                    f"{what}: qubit index {q} is out of range for a circuit on {self.n_qubits} "
                    f"qubits (valid: 0..{self.n_qubits - 1})."
                )
            out.append(int(q))
        if len(set(out)) != len(out):
            raise CircuitError(
                f"{what}: qubit list {tuple(out)} names the same qubit twice; a gate acts on "
                "distinct qubits."
            )
        return out

    def append(self, gate: Gate) -> Circuit:
        """Append a validated gate (the typed helpers below are the usual way in)."""
        spec = GATE_SPECS.get(gate.name)
        if spec is None:
            raise CircuitError(f"unknown gate {gate.name!r}; known: {sorted(GATE_SPECS)}.")
        qubits = self._check_qubits(gate.qubits, f"gate {gate.name}")
        if spec.n_qubits is not None and len(qubits) != spec.n_qubits:
            raise CircuitError(
                f"gate {gate.name} acts on {spec.n_qubits} qubit(s), got {len(qubits)}: {qubits}."
            )
        if len(gate.angles) != spec.n_angles:
            raise CircuitError(
                f"gate {gate.name} takes {spec.n_angles} angle(s), got {len(gate.angles)}."
            )
        if gate.name == "pauli_rot" and (
            not gate.paulis or len(gate.paulis) != len(qubits) or set(gate.paulis) - set("XYZ")
        ):
            raise CircuitError(
                f"pauli_rot needs one letter X, Y or Z per qubit; got {gate.paulis!r} on "
                f"{len(qubits)} qubit(s)."
            )
        if gate.name == "unitary":
            m = None if gate.matrix is None else np.asarray(gate.matrix)
            dim = 2 ** len(qubits)
            if m is None or m.shape != (dim, dim):
                raise CircuitError(f"unitary on {len(qubits)} qubit(s) needs a {dim}x{dim} matrix.")
            if not np.allclose(m.conj().T @ m, np.eye(dim), atol=1e-8):
                raise CircuitError("matrix of a unitary gate is not unitary (U^dag U != I).")
        gone = [q for q in qubits if q in self._discarded]
        if gone:
            raise CircuitError(
                f"gate {gate.name} on qubits {tuple(qubits)} touches discarded qubit(s) {gone}; "
                "a qubit cannot be used after circuit.discard()."
            )
        self._check_room()
        self.operations.append(gate)
        return self

    def _check_room(self) -> None:
        if len(self.operations) >= MAX_OPERATIONS:
            raise CircuitError(
                f"{self!r} is full: a circuit holds at most {MAX_OPERATIONS} operations "
                "(MAX_OPERATIONS); use fewer layers or qubits."
            )

    def _check_usable(self, qubits: Sequence[int], what: str) -> list[int]:
        """Qubits in range, distinct and not discarded (checked before anything is created)."""
        qubits = self._check_qubits(qubits, what)
        gone = [q for q in qubits if q in self._discarded]
        if gone:
            raise CircuitError(
                f"{what} on qubits {tuple(qubits)} touches discarded qubit(s) {gone}; "
                "a qubit cannot be used after circuit.discard()."
            )
        return qubits

    def _gate(self, name: str, qubits: Sequence[int], angles: Sequence[AngleLike] = ()) -> Circuit:
        self._check_usable(qubits, f"gate {name}")
        return self.append(Gate(name, tuple(qubits), tuple(self._angle(a) for a in angles)))

    # ------------------------------------------------------------------ gates
    def rx(self, qubit: int, theta: AngleLike) -> Circuit:
        return self._gate("rx", (qubit,), (theta,))

    def ry(self, qubit: int, theta: AngleLike) -> Circuit:
        return self._gate("ry", (qubit,), (theta,))

    def rz(self, qubit: int, theta: AngleLike) -> Circuit:
        return self._gate("rz", (qubit,), (theta,))

    def u3(self, qubit: int, theta: AngleLike, phi: AngleLike, lam: AngleLike) -> Circuit:
        return self._gate("u3", (qubit,), (theta, phi, lam))

    def pauli_rot(self, pauli_string: str | PauliString, theta: AngleLike) -> Circuit:
        """``exp(-i theta P / 2)`` for a Pauli string such as ``"X0 X1"`` or ``"XZ"``."""
        p = pauli(pauli_string)
        if p.weight == 0:
            raise CircuitError("pauli_rot needs a non-identity Pauli string (identity is a phase).")
        self._check_usable(p.qubits, "pauli_rot")
        return self.append(Gate("pauli_rot", p.qubits, (self._angle(theta),), paulis=p.letters))

    def crx(self, control: int, target: int, theta: AngleLike) -> Circuit:
        return self._gate("crx", (control, target), (theta,))

    def cry(self, control: int, target: int, theta: AngleLike) -> Circuit:
        return self._gate("cry", (control, target), (theta,))

    def crz(self, control: int, target: int, theta: AngleLike) -> Circuit:
        return self._gate("crz", (control, target), (theta,))

    def h(self, qubit: int) -> Circuit:
        return self._gate("h", (qubit,))

    def x(self, qubit: int) -> Circuit:
        return self._gate("x", (qubit,))

    def cnot(self, control: int, target: int) -> Circuit:
        return self._gate("cnot", (control, target))

    def cz(self, a: int, b: int) -> Circuit:
        return self._gate("cz", (a, b))

    def swap(self, a: int, b: int) -> Circuit:
        return self._gate("swap", (a, b))

    def cswap(self, control: int, a: int, b: int) -> Circuit:
        return self._gate("cswap", (control, a, b))

    def unitary(self, matrix, qubits: Sequence[int]) -> Circuit:
        """A fixed unitary on ``qubits`` (big-endian in the listed order); checked for unitarity."""
        m = np.asarray(matrix, dtype=np.complex128)
        k = len(tuple(qubits))
        if m.shape != (2**k, 2**k):
            raise CircuitError(
                f"unitary on {k} qubit(s) needs a {2**k}x{2**k} matrix, got shape {m.shape}."
            )
        if not np.allclose(m.conj().T @ m, np.eye(2**k), atol=1e-8):
            raise CircuitError("matrix passed to circuit.unitary is not unitary (U^dag U != I).")
        digest = hashlib.sha1(m.tobytes()).hexdigest()
        return self.append(Gate("unitary", tuple(qubits), (), matrix=m, matrix_digest=digest))

    def check_usable(self, qubits: Sequence[int], what: str) -> list[int]:
        """The qubit check every gate method runs (in range, distinct, not discarded), for
        builders that validate a whole block before appending any of it."""
        return self._check_usable(qubits, what)

    def as_angle(self, value: AngleLike) -> Angle:
        """The :class:`~qnnlab.circuits.gates.Angle` a gate would store for ``value`` (a Param,
        a parameter name or a finite number); raises :class:`CircuitError` otherwise."""
        return self._angle(value)

    def su4(self, a: int, b: int, theta: Sequence[AngleLike]) -> Circuit:
        """General two-qubit ``SU(4)`` block from 15 Pauli rotations (KAK / Cartan form).

        ``U = (U3_a (x) U3_b) exp(-i(t6 XX + t7 YY + t8 ZZ)/2) (U3_a (x) U3_b)`` with each ``U3``
        written as ``RZ RY RZ``; every ``SU(4)`` element has this form (Khaneja & Glaser 2001).
        Angles in order: ``RZ,RY,RZ`` on ``a``, ``RZ,RY,RZ`` on ``b``, ``XX, YY, ZZ``,
        ``RZ,RY,RZ`` on ``a``, ``RZ,RY,RZ`` on ``b``.
        """
        theta = list(theta)
        if len(theta) != 15:
            raise CircuitError(f"su4 takes 15 angles, got {len(theta)}.")
        self._check_usable((a, b), "su4")
        for t in theta:  # convert every angle first, so a bad one leaves the circuit untouched
            self._angle(t)
        self.rz(a, theta[0]).ry(a, theta[1]).rz(a, theta[2])
        self.rz(b, theta[3]).ry(b, theta[4]).rz(b, theta[5])
        for letters, t in zip(("XX", "YY", "ZZ"), theta[6:9], strict=True):
            self.append(Gate("pauli_rot", (a, b), (self._angle(t),), paulis=letters))
        self.rz(a, theta[9]).ry(a, theta[10]).rz(a, theta[11])
        self.rz(b, theta[12]).ry(b, theta[13]).rz(b, theta[14])
        return self

    def discard(self, *qubits: int) -> Circuit:
        """Trace out ``qubits`` from here on (pooling / dissipative layers)."""
        for q in self._check_qubits(qubits, "discard"):
            if q in self._discarded:
                raise CircuitError(f"qubit {q} is already discarded.")
            self._check_room()
            self._discarded.add(q)
            self.operations.append(Discard(q))
        return self

    # ------------------------------------------------------------------ views
    @property
    def gates(self) -> list[Gate]:
        return [op for op in self.operations if isinstance(op, Gate)]

    @property
    def discarded(self) -> tuple[int, ...]:
        return tuple(op.qubit for op in self.operations if isinstance(op, Discard))

    @property
    def alive_qubits(self) -> tuple[int, ...]:
        """Qubits not discarded by the end of the circuit."""
        return tuple(q for q in range(self.n_qubits) if q not in self._discarded)

    def __repr__(self) -> str:
        return f"Circuit(n_qubits={self.n_qubits}, gates={len(self.gates)}, params={self.n_params})"
