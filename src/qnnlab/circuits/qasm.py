"""OpenQASM 3 export of a :class:`~qnnlab.circuits.Circuit`: :func:`to_qasm3`.

The exported program is *exact*: its unitary equals the qnnlab circuit's unitary entry by entry,
global phase included (fixed unitaries carry their phase as ``gphase``).

Conventions
-----------
* **Qubits.** qnnlab qubit ``i`` is ``q[i]`` of the one register ``qubit[n] q;``. qnnlab writes
  matrices big-endian (qubit 0 most significant) while OpenQASM tools such as Qiskit *display*
  states and matrices little-endian (``q[0]`` least significant). That is only a way of printing:
  every gate statement names the qubits it acts on, so the semantics are per qubit and no
  reordering is needed (or done). Controlled gates list the control first, as in qnnlab.
* **Angles** follow ``stdgates.inc`` of OpenQASM 3, which agrees with qnnlab gate by gate:
  ``rx(t) = exp(-i t X/2)``, ``ry(t) = exp(-i t Y/2)``, ``rz(t) = exp(-i t Z/2)`` (the library
  defines ``rz`` as ``gphase(-t/2); U(0, 0, t)``, so there is no phase discrepancy),
  ``crP(t) = |0><0| (x) I + |1><1| (x) rP(t)``, and the builtin

      ``U(t, f, l) = [[cos(t/2), -e^{il} sin(t/2)], [e^{if} sin(t/2), e^{i(f+l)} cos(t/2)]]``,

  which is exactly qnnlab's ``u3``. ``gphase(g)`` multiplies the state by ``e^{ig}``.
* **Parameters.** With ``theta=None`` every slot becomes ``input float[64] <name>;`` (in slot
  order) and each angle is written as the expression ``scale*name + offset`` (simplified when
  ``scale`` is ``+-1`` or ``offset`` is 0). Slot names that are not OpenQASM identifiers, or that
  collide with a keyword, a constant, a stdgates gate or the register ``q``, are sanitised
  (``a[3] -> a_3``) and kept unique; :func:`qasm_parameter_names` gives the mapping, which is
  also written as a comment. With a numeric ``theta`` each angle ``scale * theta[slot] + offset``
  is evaluated in float64 (as the engines do) and printed with ``repr`` (shortest round-tripping
  decimal), so reading the text back gives the same binary64 value.
* **Discards.** OpenQASM has no partial trace. A :class:`~qnnlab.circuits.Discard` becomes the
  comment ``// discard q[i] (traced out from here on)``; the qubit is simply not used again, which
  gives the same reduced state on the other qubits. No ``reset`` is emitted.
* **Initial state.** qnnlab feeds the input state into ``input_qubits`` and starts every other
  qubit in ``|0>``; OpenQASM leaves the initial state undefined. The export is the circuit's
  unitary only; when some qubits are not input qubits a comment says which start in ``|0>``.

Decompositions
--------------
* ``pauli_rot`` ``exp(-i t P/2)``, ``P = P_0 (x) ... (x) P_{k-1}`` on qubits ``q_0 < ...``:
  ``I`` letters are skipped and weight one is ``rx/ry/rz``. Otherwise, with a basis change
  ``B = (x)_j B_j`` such that ``B_j P_j B_j^dag = Z`` (``B = H`` for ``X``; ``B = H S^dag`` for
  ``Y``, i.e. ``sdg`` then ``h``, because ``S^dag Y S = X`` and ``H X H = Z``),
  ``exp(-i t P/2) = B^dag exp(-i t Z...Z/2) B``, and ``exp(-i t Z...Z/2)`` is a CNOT ladder
  computing the parity onto the last qubit, ``rz(t)`` there, and the ladder in reverse.
* Fixed one-qubit ``unitary``: ZYZ Euler angles, ``M = e^{ig} U(t, f, l)``, emitted as
  ``U(t, f, l)`` and ``gphase(g)``.
* Fixed ``k``-qubit ``unitary``: quantum Shannon decomposition (Shende, Bullock & Markov, IEEE
  TCAD 25, 1000 (2006)). The cosine-sine decomposition (``scipy.linalg.cossin``) splits
  ``M = (L_0 (+) L_1) [[C, -S], [S, C]] (R_0 (+) R_1)`` on the first (most significant) qubit;
  the middle factor is ``ry(2 t_j)`` on that qubit multiplexed by the others. Each block-diagonal
  ``A (+) B`` is demultiplexed as ``(I (x) V)(D (+) D^dag)(I (x) W)`` with
  ``A B^dag = V D^2 V^dag`` (complex Schur form of a normal matrix) and ``W = D V^dag B``;
  ``D (+) D^dag`` is ``rz(-2 arg d_j)`` multiplexed. Multiplexed rotations are expanded
  recursively into ``rz``/``ry`` and ``cx`` (``|0><0| (x) R(a) + |1><1| (x) R(b) =
  CX (I (x) R((a-b)/2)) CX (I (x) R((a+b)/2))``, since ``X R(x) X = R(-x)``), CNOT pairs that
  meet are cancelled, and the recursion stops at one-qubit ZYZ gates whose phases add up to a
  single ``gphase``. This uses ``(3/4) 4**k - (3/2) 2**k`` CNOTs (6, 36, 168 for
  ``k = 2, 3, 4``; no two-qubit KAK optimisation), so it is meant for the few-qubit blocks QNNs
  use. The matrix is first replaced by its nearest unitary (polar factor), since
  ``Circuit.unitary`` accepts matrices that are unitary to 1e-8 only.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
from scipy.linalg import cossin, schur, svd

from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.gates import GATE_SPECS, Angle, Gate

__all__ = ["qasm_parameter_names", "to_qasm3"]

#: Below this magnitude a rotation angle (or a matrix deviation from the identity) is dropped.
_DROP_TOL = 1e-14

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Names a parameter must not take: OpenQASM 3 keywords and types, built-in constants and
#: functions, the gates of ``stdgates.inc`` and the qubit register ``q``.
_RESERVED = frozenset(
    """
    OPENQASM include defcalgrammar def cal defcal gate extern box let break continue if else end
    return for while in switch case default nop pragma input output const readonly mutable qreg
    qubit creg bool bit int uint float angle complex array void duration stretch gphase inv pow
    ctrl negctrl durationof delay reset measure barrier true false dim sizeof im dt ns us ms s
    port frame waveform pi tau euler arccos arcsin arctan ceiling cos exp floor log mod popcount
    rotl rotr sin sqrt tan real imag U CX p x y z h sdg t tdg sx rx ry rz cx cy cz cp crx cry crz
    ch swap ccx cswap cu phase cphase id u1 u2 u3 q
    """.split()
)


# --------------------------------------------------------------------------- parameter names
def qasm_parameter_names(circuit: Circuit) -> tuple[str, ...]:
    """OpenQASM identifier of each parameter slot, in slot order (as :func:`to_qasm3` emits them).

    A slot name that is already a valid, unreserved ASCII identifier is kept verbatim. Any other
    name has each run of characters outside ``[A-Za-z0-9_]`` replaced by ``_`` (``a[3] -> a_3``),
    gains a ``p_`` prefix if it would start with a digit (and becomes ``param`` if nothing is
    left), a trailing ``_`` if it is a reserved word (``x -> x_``, ``pi -> pi_``, ``t -> t_``),
    and a ``_2, _3, ...`` suffix if it would still collide with a reserved word or an earlier
    identifier.
    """
    names = list(circuit.param_names)
    out: list[str | None] = [None] * len(names)
    taken: set[str] = set()
    for k, name in enumerate(names):
        if _IDENTIFIER.match(name) and name not in _RESERVED:
            out[k] = name
            taken.add(name)
    for k, name in enumerate(names):
        if out[k] is not None:
            continue
        base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
        if not base or base[0].isdigit():
            base = f"p_{base}" if base else "param"
        if base in _RESERVED:
            base += "_"
        candidate, n = base, 1
        while candidate in taken or candidate in _RESERVED:
            n += 1
            candidate = f"{base}_{n}"
        out[k] = candidate
        taken.add(candidate)
    return tuple(out)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- numbers and angles
def _num(x: float) -> str:
    """Shortest decimal that reads back as the same float64 (``repr``); ``-0.0`` prints as 0.0."""
    x = float(x)
    return "0.0" if x == 0.0 else repr(x)


def _symbolic_angle(angle: Angle, names: tuple[str, ...]) -> str:
    """``scale*name + offset`` with the trivial parts dropped."""
    if angle.slot is None:
        return _num(angle.offset)
    name = names[angle.slot]
    if angle.scale == 1.0:
        text = name
    elif angle.scale == -1.0:
        text = f"-{name}"
    else:
        text = f"{_num(angle.scale)}*{name}"
    if angle.offset > 0:
        text += f" + {_num(angle.offset)}"
    elif angle.offset < 0:
        text += f" - {_num(-angle.offset)}"
    return text


def _check_theta(circuit: Circuit, theta) -> np.ndarray:
    """``theta`` as a finite float64 vector of length ``n_params``; a ValueError says why not."""
    n = circuit.n_params
    try:
        arr = np.asarray(theta)
    except Exception as exc:  # e.g. a ragged list
        raise ValueError(
            f"theta could not be read as an array ({exc}); pass a 1-D sequence of {n} floats, "
            "or theta=None for a symbolic export."
        ) from exc
    if arr.dtype.kind == "c":
        raise ValueError(
            "theta is complex; circuit parameters are real angles. Pass np.real(theta) if the "
            "imaginary part is a numerical artefact."
        )
    if arr.dtype.kind not in "iuf":
        raise ValueError(
            f"theta has dtype {arr.dtype}; pass a 1-D array of {n} real numbers, or theta=None "
            "for a symbolic export."
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        hint = " (export one parameter vector at a time, e.g. theta[0])" if arr.ndim > 1 else ""
        raise ValueError(
            f"theta has shape {arr.shape} but the circuit has {n} parameter slot(s): pass a 1-D "
            f"array of shape ({n},) in slot order{hint}, or theta=None to export the slots as "
            "`input float[64]` declarations."
        )
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        shown = ", ".join(f"{int(k)} ({circuit.param_names[k]!r})" for k in bad[:5])
        raise ValueError(
            f"theta has non-finite values (NaN or inf) at slot(s) {shown}"
            f"{', ...' if bad.size > 5 else ''}; replace them with finite angles before export."
        )
    return arr


# --------------------------------------------------------------------------- fixed unitaries
def _nearest_unitary(m: np.ndarray) -> np.ndarray:
    """Polar factor ``U V^dag`` of ``m = U S V^dag`` (``Circuit.unitary`` allows 1e-8 slack)."""
    u, _, vh = svd(m)
    return u @ vh


def _zyz(m: np.ndarray) -> tuple[float, float, float, float]:
    """``(t, f, l, g)`` with ``m = e^{ig} U(t, f, l)`` for a 2x2 unitary ``m``.

    From ``m = e^{ig} [[c, -e^{il} s], [e^{if} s, e^{i(f+l)} c]]`` (``c, s >= 0``):
    ``t = 2 atan2(|m10|, |m00|)``; when ``c >= s``, ``g = arg m00``, ``f = arg m10 - g``,
    ``l = arg m11 - g - f``; otherwise ``g = arg m00`` (0 if ``m00 = 0``), ``f = arg m10 - g``,
    ``l = arg(-m01) - g``. An angle read off a tiny entry is inaccurate only in proportion to
    that entry, so the matrix is reproduced to rounding error in both branches.
    """
    a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
    t = 2.0 * math.atan2(abs(c), abs(a))
    g = float(np.angle(a)) if abs(a) > 0 else 0.0
    f = float(np.angle(c)) - g if abs(c) > 0 else 0.0
    if abs(a) >= abs(c):
        lam = float(np.angle(d)) - g - f
    else:
        lam = float(np.angle(-b)) - g
    return t, _wrap(f), _wrap(lam), g


def _wrap(x: float) -> float:
    """``x`` reduced to ``(-pi, pi]``."""
    y = math.remainder(x, 2.0 * math.pi)
    return math.pi if y == -math.pi else y


def _u_matrix(t: float, f: float, lam: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * f) * s, np.exp(1j * (f + lam)) * c]])


def _decompose(m: np.ndarray, wires: list[int], ops: list) -> float:
    """Append gates realising ``m`` on ``wires`` (big-endian) to ``ops``; return the phase ``g``.

    The gates in ``ops`` multiply to ``e^{-ig} m``. Quantum Shannon decomposition, see the module
    docstring.
    """
    if len(wires) == 1:
        t, f, lam, g = _zyz(m)
        if np.abs(_u_matrix(t, f, lam) - np.eye(2)).max() > _DROP_TOL:
            ops.append(("U", (wires[0],), (t, f, lam)))
        return g
    half = m.shape[0] // 2
    (l0, l1), cs_angles, (r0, r1) = cossin(m, p=half, q=half, separate=True)
    phase = _demultiplex(r0, r1, wires, ops)
    _multiplexed_rotation("ry", 2.0 * np.asarray(cs_angles), wires[0], wires[1:], ops)
    phase += _demultiplex(l0, l1, wires, ops)
    return phase


def _demultiplex(a: np.ndarray, b: np.ndarray, wires: list[int], ops: list) -> float:
    """``|0><0| (x) a + |1><1| (x) b`` on ``wires`` (selector ``wires[0]``) appended to ``ops``.

    ``a b^dag = V D^2 V^dag`` with ``D = diag(d)``, ``W = D V^dag b``: then ``a = V D W``,
    ``b = V D^dag W``, and ``diag(d_j, conj d_j)`` on the selector is ``rz(-2 arg d_j)``.
    """
    t, v = schur(a @ b.conj().T, output="complex")
    d = np.sqrt(np.diag(t).astype(np.complex128))
    d /= np.abs(d)
    w = d[:, None] * (v.conj().T @ b)
    phase = _decompose(w, wires[1:], ops)
    _multiplexed_rotation("rz", -2.0 * np.angle(d), wires[0], wires[1:], ops)
    phase += _decompose(v, wires[1:], ops)
    return phase


def _multiplexed_rotation(
    axis: str, angles: np.ndarray, target: int, controls: list[int], ops: list
) -> None:
    """Append ``sum_j |j><j| (x) R_axis(angles[j])`` (``j`` over ``controls``, big-endian).

    Splitting on the first control, ``R(a) (+) R(b)`` on (control, target) is, in time order,
    ``R((a+b)/2); CX; R((a-b)/2); CX``, since ``X R(x) X = R(-x)`` for ``R = ry, rz``. The second
    half is emitted in reverse order, which is the same operator (rotations about one axis
    commute and each control pattern sees an even number of ``X``), so that CNOT pairs meet and
    cancel (done later by :func:`_cancel_cx`).
    """
    if np.abs(angles).max() <= _DROP_TOL:
        return
    if not controls:
        ops.append((axis, (target,), (float(angles[0]),)))
        return
    half = len(angles) // 2
    a, b = angles[:half], angles[half:]
    _multiplexed_rotation(axis, (a + b) / 2, target, controls[1:], ops)
    ops.append(("cx", (controls[0], target), ()))
    tail: list = []
    _multiplexed_rotation(axis, (a - b) / 2, target, controls[1:], tail)
    ops.extend(reversed(tail))
    ops.append(("cx", (controls[0], target), ()))


def _cancel_cx(ops: list) -> list:
    """Drop pairs of identical ``cx`` separated only by ``cx`` gates on the same target.

    CNOTs sharing a target commute (both are ``X`` on the target conditioned on different bits),
    so such a pair multiplies to the identity.
    """
    out: list = []
    for op in ops:
        if op[0] == "cx":
            control, target = op[1]
            k = len(out) - 1
            while k >= 0 and out[k][0] == "cx" and out[k][1][1] == target:
                if out[k][1][0] == control:
                    break
                k -= 1
            if k >= 0 and out[k] == op:
                del out[k]
                continue
        out.append(op)
    return out


def _unitary_lines(gate: Gate) -> list[str]:
    m = gate.matrix
    k = len(gate.qubits)
    if m is None or np.shape(m) != (2**k, 2**k):
        raise ValueError(
            f"unitary gate on qubits {gate.qubits} has matrix of shape {np.shape(m)}, expected "
            f"({2**k}, {2**k}); build it with circuit.unitary(matrix, qubits)."
        )
    m = _nearest_unitary(np.asarray(m, dtype=np.complex128))
    ops: list = []
    phase = _decompose(m, list(gate.qubits), ops)
    ops = _cancel_cx(ops)
    where = ", ".join(f"q[{q}]" for q in gate.qubits)
    method = "ZYZ Euler angles" if k == 1 else "quantum Shannon decomposition"
    lines = [f"// unitary on {where} ({method})"]
    for name, qubits, args in ops:
        arg_text = f"({', '.join(_num(a) for a in args)})" if args else ""
        lines.append(f"{name}{arg_text} {', '.join(f'q[{q}]' for q in qubits)};")
    phase = _wrap(phase)
    if abs(phase) > _DROP_TOL:
        lines.append(f"gphase({_num(phase)});")
    return lines


# --------------------------------------------------------------------------- Pauli rotations
def _pauli_rot_lines(gate: Gate, angle: str) -> list[str]:
    letters = gate.paulis or ""
    if len(letters) != len(gate.qubits) or set(letters) - set("IXYZ"):
        raise ValueError(
            f"pauli_rot on qubits {gate.qubits} has letters {letters!r}; need one of I, X, Y, Z "
            "per qubit (build it with circuit.pauli_rot)."
        )
    support = [(q, p) for q, p in zip(gate.qubits, letters, strict=True) if p != "I"]
    label = " ".join(f"{p}{q}" for q, p in support) or "I"
    lines = [f"// pauli_rot exp(-i t ({label})/2), t = {angle}"]
    if not support:  # exp(-i t I/2) is a global phase
        return [*lines, f"gphase(-({angle})/2);"]
    if len(support) == 1:
        q, p = support[0]
        return [*lines, f"r{p.lower()}({angle}) q[{q}];"]
    into_z = {"X": ["h"], "Y": ["sdg", "h"], "Z": []}
    back = {"X": ["h"], "Y": ["h", "s"], "Z": []}
    for q, p in support:
        lines += [f"{g} q[{q}];" for g in into_z[p]]
    wires = [q for q, _ in support]
    ladder = [f"cx q[{a}], q[{b}];" for a, b in itertools.pairwise(wires)]
    lines += ladder
    lines.append(f"rz({angle}) q[{wires[-1]}];")
    lines += ladder[::-1]
    for q, p in support:
        lines += [f"{g} q[{q}];" for g in back[p]]
    return lines


# --------------------------------------------------------------------------- export
def to_qasm3(circuit: Circuit, theta=None) -> str:
    """OpenQASM 3 program for ``circuit`` (exact unitary, global phase included).

    Args:
        circuit: the circuit to export.
        theta: ``None`` for a symbolic export (each slot an ``input float[64]``, each angle
            ``scale*name + offset``), or a 1-D array of the ``n_params`` slot values, which are
            substituted as numbers.

    Returns:
        The program text, ending in a newline. See the module docstring for the conventions
        (qubit ``i`` is ``q[i]``; discards become comments because OpenQASM has no partial
        trace) and the decompositions of ``pauli_rot`` and fixed ``unitary`` gates.

    Raises:
        TypeError: ``circuit`` is not a :class:`~qnnlab.circuits.Circuit`.
        ValueError: ``theta`` has the wrong shape or dtype or contains NaN/inf, an affine angle
            has a non-finite scale or offset, or a gate is malformed.

    Example:
        >>> c = Circuit(2)
        >>> _ = c.ry(0, "a").cnot(0, 1)
        >>> print(to_qasm3(c, [0.5]).splitlines()[-2:])
        ['ry(0.5) q[0];', 'cx q[0], q[1];']
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"to_qasm3 expects a qnnlab Circuit, got {type(circuit).__name__}.")
    values = None if theta is None else _check_theta(circuit, theta)
    names = qasm_parameter_names(circuit)

    def angle_text(angle: Angle) -> str:
        if not (math.isfinite(angle.scale) and math.isfinite(angle.offset)):
            raise ValueError(
                f"an angle has scale {angle.scale} and offset {angle.offset}; both must be "
                "finite (check the Param arithmetic that built it)."
            )
        if values is None:
            return _symbolic_angle(angle, names)
        if angle.slot is None:
            return _num(angle.offset)
        value = angle.scale * float(values[angle.slot]) + angle.offset
        if not math.isfinite(value):
            raise ValueError(
                f"angle {angle.scale} * theta[{angle.slot}] + {angle.offset} overflows to "
                f"{value}; use smaller parameter values."
            )
        return _num(value)

    n = circuit.n_qubits
    lines = [
        "OPENQASM 3.0;",
        'include "stdgates.inc";',
        "",
        f"// qnnlab circuit {circuit.name!r}",
        f"// {n} qubit(s); qnnlab qubit i is q[i] (gates act per qubit, no reordering).",
    ]
    fresh = [q for q in range(n) if q not in circuit.input_qubits]
    if fresh:
        lines.append(
            "// input state on "
            + ", ".join(f"q[{q}]" for q in circuit.input_qubits)
            + "; qnnlab starts "
            + ", ".join(f"q[{q}]" for q in fresh)
            + " in |0>."
        )
    if values is None and names:
        lines.append("")
        for slot, (orig, name) in enumerate(zip(circuit.param_names, names, strict=True)):
            note = "" if orig == name else f"  // slot {slot}: {orig!r}"
            lines.append(f"input float[64] {name};{note}")
    lines += ["", f"qubit[{n}] q;", ""]

    for op in circuit.operations:
        if isinstance(op, Discard):
            lines.append(f"// discard q[{op.qubit}] (traced out from here on)")
            continue
        lines.extend(_gate_lines(op, angle_text))
    return "\n".join(lines) + "\n"


def _gate_lines(gate: Gate, angle_text) -> list[str]:
    spec = GATE_SPECS.get(gate.name)
    if spec is None:
        raise ValueError(f"cannot export unknown gate {gate.name!r}.")
    if gate.name == "pauli_rot":
        return _pauli_rot_lines(gate, angle_text(gate.angles[0]))
    if gate.name == "unitary":
        return _unitary_lines(gate)
    wires = ", ".join(f"q[{q}]" for q in gate.qubits)
    args = [angle_text(a) for a in gate.angles]
    arg_text = f"({', '.join(args)})" if args else ""
    return [f"{spec.qasm}{arg_text} {wires};"]
