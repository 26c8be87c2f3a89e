"""OpenQASM 3 export: round trips through an independent interpreter of ``stdgates.inc``.

Each test exports a circuit, reads the text back (with the ``openqasm3`` reference parser when it
is installed, and always with a small line reader for exactly the subset the exporter emits),
rebuilds the dense ``2**n`` unitary from the OpenQASM 3 definitions of the gates, and compares
it with a dense unitary of the qnnlab circuit built here from textbook matrices (qubit 0 most
significant). Agreement is entry by entry to 1e-10, global phase included.
"""

from __future__ import annotations

import ast
import itertools
import math
import re

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.stats import unitary_group

from qnnlab.circuits import GATE_SPECS, Circuit, CircuitError
from qnnlab.circuits.gates import Angle, Gate
from qnnlab.circuits.qasm import qasm_parameter_names, to_qasm3

try:
    import openqasm3
    from openqasm3 import ast as oq3

    HAVE_OPENQASM3 = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_OPENQASM3 = False

ATOL = 1e-10
PI = math.pi

# =========================================================================== textbook reference
I2 = np.eye(2, dtype=complex)
PX = np.array([[0, 1], [1, 0]], dtype=complex)
PY = np.array([[0, -1j], [1j, 0]], dtype=complex)
PZ = np.array([[1, 0], [0, -1]], dtype=complex)
PAULI = {"I": I2, "X": PX, "Y": PY, "Z": PZ}
HAD = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def kron_all(mats) -> np.ndarray:
    out = np.eye(1, dtype=complex)
    for m in mats:
        out = np.kron(out, m)
    return out


def controlled(m: np.ndarray) -> np.ndarray:
    """``|0><0| (x) I + |1><1| (x) m`` (control = most significant qubit)."""
    d = m.shape[0]
    out = np.eye(2 * d, dtype=complex)
    out[d:, d:] = m
    return out


def rotation(p: np.ndarray, t: float) -> np.ndarray:
    """``exp(-i t P / 2) = cos(t/2) I - i sin(t/2) P`` for a Pauli word ``P``."""
    return math.cos(t / 2) * np.eye(p.shape[0]) - 1j * math.sin(t / 2) * p


def textbook_u3(t: float, f: float, lam: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * f) * s, np.exp(1j * (f + lam)) * c]])


def apply_on(full: np.ndarray, m: np.ndarray, qubits, n: int) -> np.ndarray:
    """``embed(m) @ full``: ``m`` acts on ``qubits`` (big-endian in that order) of ``n``."""
    k = len(qubits)
    t = full.reshape((2,) * n + (-1,))
    t = np.tensordot(m.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), list(qubits)))
    t = np.moveaxis(t, list(range(k)), list(qubits))
    return t.reshape(2**n, -1)


def angle_value(angle: Angle, theta) -> float:
    return angle.offset if angle.slot is None else angle.scale * theta[angle.slot] + angle.offset


def textbook_gate(gate: Gate, theta) -> np.ndarray:
    a = [angle_value(x, theta) for x in gate.angles]
    name = gate.name
    if name in ("rx", "ry", "rz"):
        return rotation(PAULI[name[1].upper()], a[0])
    if name in ("crx", "cry", "crz"):
        return controlled(rotation(PAULI[name[2].upper()], a[0]))
    if name == "u3":
        return textbook_u3(*a)
    if name == "pauli_rot":
        return rotation(kron_all(PAULI[p] for p in gate.paulis), a[0])
    if name == "unitary":
        return np.asarray(gate.matrix, dtype=complex)
    return {
        "h": HAD,
        "x": PX,
        "cnot": CNOT,
        "cz": np.diag([1, 1, 1, -1]).astype(complex),
        "swap": SWAP,
        "cswap": controlled(SWAP),
    }[name]


def reference_unitary(circuit: Circuit, theta=()) -> np.ndarray:
    """Dense unitary of ``circuit`` (discards ignored: they do not change the unitary)."""
    n = circuit.n_qubits
    full = np.eye(2**n, dtype=complex)
    for gate in circuit.gates:
        full = apply_on(full, textbook_gate(gate, theta), gate.qubits, n)
    return full


# =========================================================================== stdgates.inc
def std_u(t: float, f: float, lam: float) -> np.ndarray:
    """The builtin ``U`` of the OpenQASM 3 spec."""
    return np.array(
        [
            [math.cos(t / 2), -np.exp(1j * lam) * math.sin(t / 2)],
            [np.exp(1j * f) * math.sin(t / 2), np.exp(1j * (f + lam)) * math.cos(t / 2)],
        ]
    )


def std_p(lam: float) -> np.ndarray:  # gate p(λ) a { ctrl @ gphase(λ) a; }
    return controlled(np.array([[np.exp(1j * lam)]]))


def principal_sqrt(m: np.ndarray) -> np.ndarray:  # the pow(1/2) @ modifier
    w, v = np.linalg.eig(m)
    return v @ np.diag(np.sqrt(w.astype(complex))) @ np.linalg.inv(v)


def _std_swap() -> np.ndarray:  # gate swap a, b { cx a, b; cx b, a; cx a, b; }
    cx = controlled(std_u(PI, 0, PI))
    full = np.eye(4, dtype=complex)
    for qubits in ((0, 1), (1, 0), (0, 1)):
        full = apply_on(full, cx, qubits, 2)
    return full


STD_X = std_u(PI, 0, PI)  # gate x a { U(π, 0, π) a; }
STD_Z = std_p(PI)  # gate z a { p(π) a; }
STD_S = principal_sqrt(STD_Z)  # gate s a { pow(1/2) @ z a; }


def std_rx(t):  # gate rx(θ) a { U(θ, -π/2, π/2) a; }
    return std_u(t, -PI / 2, PI / 2)


def std_ry(t):  # gate ry(θ) a { U(θ, 0, 0) a; }
    return std_u(t, 0, 0)


def std_rz(lam):  # gate rz(λ) a { gphase(-λ/2); U(0, 0, λ) a; }
    return np.exp(-1j * lam / 2) * std_u(0, 0, lam)


STDGATES = {
    "U": std_u,
    "x": lambda: STD_X,
    "z": lambda: STD_Z,
    "h": lambda: std_u(PI / 2, 0, PI),  # gate h a { U(π/2, 0, π) a; }
    "s": lambda: STD_S,
    "sdg": lambda: np.linalg.inv(STD_S),  # gate sdg a { inv @ pow(1/2) @ z a; }
    "rx": std_rx,
    "ry": std_ry,
    "rz": std_rz,
    "cx": lambda: controlled(STD_X),  # gate cx a, b { ctrl @ x a, b; }
    "cz": lambda: controlled(STD_Z),
    "crx": lambda t: controlled(std_rx(t)),  # gate crx(θ) a, b { ctrl @ rx(θ) a, b; }
    "cry": lambda t: controlled(std_ry(t)),
    "crz": lambda t: controlled(std_rz(t)),
    "swap": _std_swap,
    "cswap": lambda: controlled(_std_swap()),  # gate cswap a, b, c { ctrl @ swap a, b, c; }
}
CONSTANTS = {"pi": PI, "π": PI, "tau": 2 * PI, "τ": 2 * PI, "euler": math.e, "ℇ": math.e}


# =========================================================================== readers
# A reader turns program text plus input bindings into (n_qubits, inputs, instructions), each
# instruction ("gphase", value) or (gate name, [angles], [qubit indices]).


def _eval_python_expr(text: str, env: dict[str, float]) -> float:
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply}
            ops[ast.Div] = np.divide
            return float(ops[type(node.op)](ev(node.left), ev(node.right)))
        raise AssertionError(f"unexpected expression {ast.dump(node)} in {text!r}")

    return ev(ast.parse(text.strip(), mode="eval"))


_GATE_LINE = re.compile(r"^(\w+)(?:\((.*)\))?\s+(q\[\d+\](?:\s*,\s*q\[\d+\])*);$")


def read_lines(text: str, bindings: dict[str, float]):
    """Line-based reader for exactly the statements :func:`to_qasm3` writes."""
    n_qubits, inputs, instructions = None, [], []
    env = {**CONSTANTS, **bindings}
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line or line == 'include "stdgates.inc";' or line == "OPENQASM 3.0;":
            continue
        if m := re.fullmatch(r"input float\[64\] (\w+);", line):
            inputs.append(m.group(1))
        elif m := re.fullmatch(r"qubit\[(\d+)\] q;", line):
            n_qubits = int(m.group(1))
        elif m := re.fullmatch(r"gphase\((.*)\);", line):
            instructions.append(("gphase", _eval_python_expr(m.group(1), env)))
        elif m := _GATE_LINE.fullmatch(line):
            args = [_eval_python_expr(a, env) for a in m.group(2).split(",")] if m.group(2) else []
            qubits = [int(x) for x in re.findall(r"q\[(\d+)\]", m.group(3))]
            instructions.append((m.group(1), args, qubits))
        else:
            raise AssertionError(f"line reader cannot read {raw!r}")
    return n_qubits, inputs, instructions


def _eval_oq3(node, env):
    if isinstance(node, oq3.FloatLiteral | oq3.IntegerLiteral):
        return float(node.value)
    if isinstance(node, oq3.Identifier):
        return env[node.name]
    if isinstance(node, oq3.UnaryExpression):
        assert node.op.name == "-", node
        return -_eval_oq3(node.expression, env)
    if isinstance(node, oq3.BinaryExpression):
        lhs, rhs = _eval_oq3(node.lhs, env), _eval_oq3(node.rhs, env)
        ops = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
        return float(ops[node.op.name](lhs, rhs))
    raise AssertionError(f"unexpected expression node {node!r}")


def read_openqasm3(text: str, bindings: dict[str, float]):
    """Reader built on the ``openqasm3`` reference parser (ANTLR grammar of the spec)."""
    program = openqasm3.parse(text)
    assert program.version == "3.0"
    n_qubits, inputs, instructions = None, [], []
    env = {**CONSTANTS, **bindings}
    for st in program.statements:
        if isinstance(st, oq3.Include):
            assert st.filename == "stdgates.inc"
        elif isinstance(st, oq3.IODeclaration):
            assert st.io_identifier == oq3.IOKeyword.input
            assert isinstance(st.type, oq3.FloatType) and st.type.size.value == 64
            inputs.append(st.identifier.name)
        elif isinstance(st, oq3.QubitDeclaration):
            assert st.qubit.name == "q"
            n_qubits = st.size.value
        elif isinstance(st, oq3.QuantumPhase):
            assert not st.qubits and not st.modifiers
            instructions.append(("gphase", _eval_oq3(st.argument, env)))
        elif isinstance(st, oq3.QuantumGate):
            assert not st.modifiers
            qubits = []
            for ref in st.qubits:
                assert ref.name.name == "q"
                (index,) = ref.indices[0]
                qubits.append(index.value)
            args = [_eval_oq3(a, env) for a in st.arguments]
            instructions.append((st.name.name, args, qubits))
        else:
            raise AssertionError(f"unexpected statement {type(st).__name__}")
    return n_qubits, inputs, instructions


READERS = {"lines": read_lines, "openqasm3": read_openqasm3}


@pytest.fixture(
    params=[
        "lines",
        pytest.param(
            "openqasm3",
            marks=pytest.mark.skipif(
                not HAVE_OPENQASM3,
                reason="the OpenQASM 3 parser is in the dev extra: pip install -e .[dev]",
            ),
        ),
    ]
)
def reader(request):
    return READERS[request.param]


def qasm_unitary(text: str, reader, bindings: dict[str, float] | None = None) -> np.ndarray:
    """Dense unitary of the program by the ``stdgates.inc`` definitions above."""
    n, inputs, instructions = reader(text, bindings or {})
    assert sorted(bindings or {}) == sorted(inputs), "bind every input, and only inputs"
    full = np.eye(2**n, dtype=complex)
    for inst in instructions:
        if inst[0] == "gphase":
            full = np.exp(1j * inst[1]) * full
            continue
        name, args, qubits = inst
        full = apply_on(full, STDGATES[name](*args), qubits, n)
    return full


def assert_same(a: np.ndarray, b: np.ndarray, atol: float = ATOL) -> None:
    err = np.abs(a - b).max()
    assert err < atol, f"max entry difference {err:.3e} (global phase included)"


def haar(k: int, seed: int) -> np.ndarray:
    return unitary_group.rvs(2**k, random_state=seed)


def gate_lines(text: str) -> list[str]:
    """Statements after the register declaration, comments and blanks dropped."""
    body = text.split("qubit[", 1)[1].split("\n", 1)[1]
    return [ln for ln in body.splitlines() if ln.strip() and not ln.startswith("//")]


# =========================================================================== the tests
def every_gate_circuit() -> Circuit:
    c = Circuit(4, name="zoo")
    a, b = c.parameters(2, "w")
    c.rx(0, a).ry(1, "v").rz(2, 2 * a + 0.25).u3(3, b, -a, 0.7)
    c.crx(0, 2, b).cry(3, 1, -b).crz(1, 0, a - 0.1)
    c.h(2).x(0).cnot(3, 0).cz(1, 2).swap(0, 3).cswap(2, 0, 1)
    c.pauli_rot("X0 Y1 Z3", "v").pauli_rot("Y2", 0.3)
    c.unitary(haar(2, 7), (3, 1)).unitary(haar(1, 8), (2,))
    c.discard(3)
    c.ry(0, a).cnot(1, 2)
    return c


def test_every_gate_type_round_trips(reader):
    c = every_gate_circuit()
    assert {g.name for g in c.gates} == set(GATE_SPECS), "add new gate types to this test"
    theta = np.random.default_rng(0).uniform(-PI, PI, c.n_params)
    text = to_qasm3(c, theta)
    assert text.startswith('OPENQASM 3.0;\ninclude "stdgates.inc";\n')
    assert "\nqubit[4] q;\n" in text and text.endswith("\n")
    assert "input" not in text
    assert_same(qasm_unitary(text, reader), reference_unitary(c, theta))


def test_every_gate_type_symbolic_matches_numeric(reader):
    c = every_gate_circuit()
    theta = np.random.default_rng(1).uniform(-PI, PI, c.n_params)
    symbolic = to_qasm3(c)
    names = qasm_parameter_names(c)
    assert names == ("w_0", "w_1", "v")
    bindings = dict(zip(names, theta, strict=True))
    assert_same(qasm_unitary(symbolic, reader, bindings), reference_unitary(c, theta))


def test_stdgate_names_and_qubit_order_are_kept():
    """qnnlab qubit i is q[i]; controls first; no little-endian reordering anywhere."""
    c = Circuit(3).cnot(0, 2).crz(2, 1, 0.3).x(0).u3(1, 0.1, 0.2, 0.3).cswap(1, 2, 0)
    assert gate_lines(to_qasm3(c)) == [
        "cx q[0], q[2];",
        "crz(0.3) q[2], q[1];",
        "x q[0];",
        "U(0.1, 0.2, 0.3) q[1];",
        "cswap q[1], q[2], q[0];",
    ]
    # x on q[0] maps |000> to |100>: index 4 when qubit 0 is the most significant bit.
    u = qasm_unitary(to_qasm3(Circuit(3).x(0)), read_lines)
    assert abs(u[4, 0] - 1) < ATOL


@pytest.mark.parametrize("weight", [1, 2, 3, 4])
def test_pauli_rotations_all_letter_mixes(weight, reader):
    rng = np.random.default_rng(weight)
    for letters in itertools.product("XYZ", repeat=weight):
        qubits = sorted(rng.choice(5, size=weight, replace=False).tolist())
        spec = " ".join(f"{p}{q}" for p, q in zip(letters, qubits, strict=True))
        t = float(rng.uniform(-2 * PI, 2 * PI))
        c = Circuit(5).pauli_rot(spec, t)
        u = qasm_unitary(to_qasm3(c, []), reader)
        assert_same(u, reference_unitary(c))
        # Independent of the textbook cos/sin form: the matrix exponential itself.
        on = dict(zip(qubits, letters, strict=True))
        assert_same(u, expm(-0.5j * t * kron_all(PAULI[on.get(k, "I")] for k in range(5))))


def test_pauli_rotation_decomposition_shape():
    text = to_qasm3(Circuit(4).pauli_rot("X0 Y2 Z3", "w"))
    assert gate_lines(text) == [
        "h q[0];",
        "sdg q[2];",
        "h q[2];",
        "cx q[0], q[2];",
        "cx q[2], q[3];",
        "rz(w) q[3];",
        "cx q[2], q[3];",
        "cx q[0], q[2];",
        "h q[0];",
        "h q[2];",
        "s q[2];",
    ]
    assert gate_lines(to_qasm3(Circuit(2).pauli_rot("Y1", "w"))) == ["ry(w) q[1];"]


def test_pauli_rotation_with_identity_letters_is_refused_by_the_ir():
    """The IR keeps one X/Y/Z letter per qubit, so the exporter never sees ``I`` letters."""
    c = Circuit(3)
    with pytest.raises(CircuitError, match="one letter X, Y or Z per qubit"):
        c.append(Gate("pauli_rot", (0, 1, 2), (Angle(None, 0.0, 0.9),), paulis="XIY"))
    assert c.gates == []


def _structured_unitaries():
    rng = np.random.default_rng(5)
    toffoli = np.eye(8, dtype=complex)[[0, 1, 2, 3, 4, 5, 7, 6]]
    herm = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    tiny = expm(1j * 1e-9 * (herm + herm.conj().T))
    return {
        "identity1": np.eye(2),
        "identity2": np.eye(4),
        "x": PX,
        "y": PY,
        "z": PZ,
        "h": HAD,
        "s": np.diag([1, 1j]),
        "phase": np.exp(0.7j) * np.eye(2),
        "diag2": np.diag(np.exp(1j * rng.uniform(-PI, PI, 4))),
        "cnot": CNOT,
        "swap": SWAP,
        "toffoli": toffoli,
        "controlled_haar": controlled(haar(2, 11)),
        "kron_haar": np.kron(np.kron(haar(1, 12), haar(1, 13)), haar(1, 14)),
        "near_identity": tiny,
        "antidiagonal": np.array([[0, np.exp(0.3j)], [np.exp(-1.1j), 0]]),
    }


@pytest.mark.parametrize("k", [1, 2, 3])
def test_random_fixed_unitaries(k, reader):
    layouts = {1: [(2,), (0,)], 2: [(0, 1), (3, 1)], 3: [(0, 1, 2), (3, 0, 2)]}
    for seed, qubits in enumerate(layouts[k]):
        m = haar(k, 100 * k + seed)
        c = Circuit(4).unitary(m, qubits)
        text = to_qasm3(c)
        assert_same(qasm_unitary(text, reader), reference_unitary(c))
        used = {inst[0] for inst in read_lines(text, {})[2]}
        assert used <= {"U", "ry", "rz", "cx", "gphase"}


@pytest.mark.parametrize("name", list(_structured_unitaries()))
def test_structured_fixed_unitaries(name):
    m = _structured_unitaries()[name]
    k = int(math.log2(m.shape[0]))
    c = Circuit(k + 1).unitary(m, tuple(range(k, 0, -1)))
    assert_same(qasm_unitary(to_qasm3(c), read_lines), reference_unitary(c))


def test_one_qubit_unitary_is_u_plus_gphase():
    m = haar(1, 3)
    lines = gate_lines(to_qasm3(Circuit(1).unitary(m, (0,))))
    assert len(lines) == 2 and lines[0].startswith("U(") and lines[1].startswith("gphase(")


def test_two_qubit_decomposition_cnot_count():
    text = to_qasm3(Circuit(2).unitary(haar(2, 4), (0, 1)))
    n_cx = sum(line.startswith("cx ") for line in gate_lines(text))
    assert n_cx <= 6  # 3 multiplexed rotations with one control: 2 CNOTs each


def test_nearly_unitary_matrix_within_circuit_tolerance():
    """``Circuit.unitary`` accepts 1e-8 slack; the export stays that close to the matrix."""
    m = haar(2, 9)
    m = m + 1e-9 * np.random.default_rng(2).normal(size=(4, 4))
    c = Circuit(2).unitary(m, (0, 1))
    assert_same(qasm_unitary(to_qasm3(c), read_lines), m, atol=1e-8)


def test_symbolic_declarations_and_name_sanitising():
    c = Circuit(2)
    for name in ["a[3]", "a_3", "pi", "x", "2theta", "θ", "q", "alpha"]:
        c.parameter(name)
    anon = c.parameter()
    names = qasm_parameter_names(c)
    assert names == ("a_3_2", "a_3", "pi_", "x_", "p_2theta", "param", "q_", "alpha", "theta_8")
    for k in range(len(names)):
        c.rx(k % 2, c.parameter(c.param_names[k]))
    c.ry(0, anon)
    text = to_qasm3(c)
    decls = re.findall(r"^input float\[64\] (\w+);(.*)$", text, flags=re.M)
    assert [d[0] for d in decls] == list(names)
    assert decls[0][1] == "  // slot 0: 'a[3]'" and decls[1][1] == ""
    assert text.index("input float[64]") < text.index("qubit[2] q;")
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z_]\w*", n) for n in names)


def test_shared_and_affine_parameters(reader):
    c = Circuit(3, name="affine")
    a, b = c.parameter("a[0]"), c.parameter("b")
    c.ry(0, a).ry(1, a).ry(2, 2 * a + 0.1)  # one slot feeding three gates
    c.rz(0, -a).rx(1, a - 0.3).crz(0, 2, 0.5 * b).u3(1, b, 3 * a, -b - 1.5)
    c.pauli_rot("X0 Z2", -2 * b + 0.25).pauli_rot("Y1", b * 0.0)
    text = to_qasm3(c)
    lines = gate_lines(text)
    for expected in [
        "ry(a_0) q[0];",
        "ry(a_0) q[1];",
        "ry(2.0*a_0 + 0.1) q[2];",
        "rz(-a_0) q[0];",
        "rx(a_0 - 0.3) q[1];",
        "crz(0.5*b) q[0], q[2];",
        "U(b, 3.0*a_0, -b - 1.5) q[1];",
        "rz(-2.0*b + 0.25) q[2];",
        "ry(0.0*b) q[1];",
    ]:
        assert expected in lines, expected
    assert re.findall(r"^input float\[64\] .*$", text, flags=re.M) == [
        "input float[64] a_0;  // slot 0: 'a[0]'",
        "input float[64] b;",
    ]
    rng = np.random.default_rng(3)
    for _ in range(3):
        theta = rng.uniform(-PI, PI, 2)
        u = qasm_unitary(text, reader, {"a_0": theta[0], "b": theta[1]})
        assert_same(u, reference_unitary(c, theta))
        assert_same(u, qasm_unitary(to_qasm3(c, theta), reader))


def test_numeric_angles_keep_full_precision():
    c = Circuit(1)
    p = c.parameter("p")
    c.rx(0, p).ry(0, 3 * p + 1 / 7).rz(0, 1e-17).rx(0, -p)
    theta = np.array([1 / 3])
    angles = [float(x) for x in re.findall(r"\(([^)]*)\)", "".join(gate_lines(to_qasm3(c, theta))))]
    assert angles == [1 / 3, 3 * (1 / 3) + 1 / 7, 1e-17, -1 / 3]  # bit-exact
    assert to_qasm3(c, theta) == to_qasm3(c, [1 / 3]) == to_qasm3(c, np.float32(0) + theta)


def test_discard_becomes_comment_only(reader):
    c = Circuit(3).h(0).cnot(0, 1).discard(1).ry(0, 0.4).discard(2)
    text = to_qasm3(c)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith(("OPENQASM", "include"))]
    start = lines.index("qubit[3] q;")
    assert lines[start + 1 :] == [
        "h q[0];",
        "cx q[0], q[1];",
        "// discard q[1] (traced out from here on)",
        "ry(0.4) q[0];",
        "// discard q[2] (traced out from here on)",
    ]
    assert "reset" not in text and "measure" not in text
    assert_same(qasm_unitary(text, reader), reference_unitary(c))


def test_non_input_qubits_are_noted():
    text = to_qasm3(Circuit(3, input_qubits=[1]).h(0))
    assert "// input state on q[1]; qnnlab starts q[0], q[2] in |0>." in text
    assert "input state on" not in to_qasm3(Circuit(2).h(0))


def test_empty_circuit():
    text = to_qasm3(Circuit(2))
    assert gate_lines(text) == []
    assert_same(qasm_unitary(text, read_lines), np.eye(4))


def test_reference_agrees_with_engine_gate_matrices():
    """Guard on the test itself: the textbook reference reads the IR as the engines do."""
    from qnnlab.circuits.gates import gate_matrix

    c = every_gate_circuit()
    theta = np.random.default_rng(4).uniform(-PI, PI, c.n_params)
    for gate in c.gates:
        angles = np.array([angle_value(a, theta) for a in gate.angles], dtype=np.float32)
        engine = np.asarray(gate_matrix(gate, angles))
        assert np.abs(engine - textbook_gate(gate, theta)).max() < 1e-5, gate.name


# --------------------------------------------------------------------------- errors
def _two_slot_circuit() -> Circuit:
    c = Circuit(1)
    c.rx(0, "a").ry(0, "b")
    return c


@pytest.mark.parametrize(
    ("theta", "match"),
    [
        ([0.1], r"shape \(1,\).*2 parameter slot\(s\).*theta=None"),
        ([0.1, 0.2, 0.3], r"shape \(3,\)"),
        (np.zeros((2, 2)), r"one parameter vector at a time"),
        (0.5, r"shape \(\)"),
        ([0.1, np.nan], r"non-finite.*slot\(s\) 1 \('b'\)"),
        ([np.inf, 0.0], r"non-finite.*slot\(s\) 0 \('a'\)"),
        ([0.1 + 1j, 0.2], r"complex"),
        (["0.1", "0.2"], r"dtype"),
        ([True, False], r"dtype"),
        ([[0.1], [0.2, 0.3]], r"could not be read"),
    ],
)
def test_bad_theta_is_rejected(theta, match):
    with pytest.raises(ValueError, match=match):
        to_qasm3(_two_slot_circuit(), theta)


def test_not_a_circuit():
    with pytest.raises(TypeError, match="qnnlab Circuit"):
        to_qasm3("rx(0.1) q[0];")


def test_non_finite_affine_angle_is_rejected():
    c = Circuit(1)
    with pytest.raises(CircuitError, match="non-finite scale or offset"):
        c.rx(0, c.parameter("a") * math.inf)
    c2 = Circuit(1)
    c2.rx(0, c2.parameter("a") * 1e308)
    with pytest.raises(ValueError, match="overflows"):
        to_qasm3(c2, [10.0])


def test_malformed_pauli_rot_is_rejected():
    c = Circuit(2)
    with pytest.raises(CircuitError, match="one letter X, Y or Z per qubit"):
        c.append(Gate("pauli_rot", (0, 1), (Angle(None, 0.0, 0.1),), paulis="X"))
