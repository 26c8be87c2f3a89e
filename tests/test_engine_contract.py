"""The engine contract (:mod:`qnnlab.engines.protocol`), checked for every registered engine.

Every test is parametrized by :data:`qnnlab.engines.ENGINES`, so an engine registered later is
checked without editing this file. The reference is independent of every engine: a dense
``complex128`` NumPy product of :func:`~qnnlab.circuits.gates.gate_matrix_numpy` matrices (each
checked here against its textbook closed form) applied to the padded input state, with the
observable's matrix on the alive qubits (discarded qubits are never touched again, so the pure
reference gives the reduced state's expectation values).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from qnnlab.circuits import GATE_SPECS, Circuit, PauliSum, pauli
from qnnlab.circuits.angles import angle_table
from qnnlab.circuits.gates import gate_matrix, gate_matrix_numpy
from qnnlab.circuits.haar import haar_unitary
from qnnlab.engines import (
    CAPABILITIES,
    ENGINES,
    Engine,
    InputError,
    make_engine,
    parameter_shift_jacobian,
    require,
    sample_bitstrings,
    sample_expval,
)
from qnnlab.engines.plan import compile_circuit
from qnnlab.engines.validation import resolve_dtype

ENGINE_NAMES = sorted(ENGINES)
ENGINES_DIR = Path(__file__).resolve().parents[1] / "src" / "qnnlab" / "engines"
N_QUBITS = 4
INPUTS = (0, 1, 2)  # qubit 3 is an ancilla that starts in |0>
TOL = 1e-10

I2 = np.eye(2)
X = np.array([[0, 1], [1, 0]], complex)
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0, -1.0]).astype(complex)
LETTER = {"X": X, "Y": Y, "Z": Z}


def _rot(p, a):
    return np.cos(a / 2) * np.eye(len(p)) - 1j * np.sin(a / 2) * p


def _controlled(u):
    out = np.eye(2 * len(u), dtype=complex)
    out[len(u) :, len(u) :] = u
    return out


def textbook(name: str, angles, letters=None, matrix=None) -> np.ndarray:
    """Closed forms written out by hand (``docs/conventions.md``), not from gate_factors."""
    a = angles
    if name in ("rx", "ry", "rz"):
        return _rot(LETTER[name[1].upper()], a[0])
    if name == "pauli_rot":
        p = np.eye(1)
        for ch in letters:
            p = np.kron(p, LETTER[ch])
        return _rot(p, a[0])
    if name == "u3":
        t, ph, la = a
        return np.array(
            [
                [np.cos(t / 2), -np.exp(1j * la) * np.sin(t / 2)],
                [np.exp(1j * ph) * np.sin(t / 2), np.exp(1j * (ph + la)) * np.cos(t / 2)],
            ]
        )
    if name in ("crx", "cry", "crz"):
        return _controlled(_rot(LETTER[name[2].upper()], a[0]))
    fixed = {
        "h": np.array([[1, 1], [1, -1]]) / np.sqrt(2),
        "x": X,
        "cnot": _controlled(X),
        "cz": _controlled(Z),
        "swap": np.eye(4)[[0, 2, 1, 3]],
        "cswap": _controlled(np.eye(4)[[0, 2, 1, 3]]),
    }
    if name in fixed:
        return fixed[name]
    return matrix


def add_gate(circuit: Circuit, name: str, rng, angles, qubits=None) -> None:
    """Append one ``name`` gate on random (or given) qubits with the given angle arguments."""
    spec = GATE_SPECS[name]
    alive = [q for q in range(circuit.n_qubits) if q not in circuit.discarded]
    k = spec.n_qubits or (2 if name == "unitary" else int(rng.integers(1, 4)))
    qubits = list(rng.choice(alive, size=k, replace=False)) if qubits is None else qubits
    qubits = [int(q) for q in qubits]
    if name == "pauli_rot":
        word = " ".join(f"{'XYZ'[int(rng.integers(3))]}{q}" for q in qubits)
        circuit.pauli_rot(word, angles[0])
    elif name == "unitary":
        circuit.unitary(haar_unitary(2**k, rng), qubits)
    else:
        getattr(circuit, name)(*qubits, *angles[: spec.n_angles])


def contract_circuit(name: str, seed: int):
    """A small random circuit around gate ``name``: three uses, one slot shared between two of
    them (once affinely), a constant angle, a discard, and ancilla qubit 3."""
    rng = np.random.default_rng(seed)
    c = Circuit(N_QUBITS, input_qubits=INPUTS, name=f"contract-{name}")
    shared, own, mix = c.parameter("shared"), c.parameter("own"), c.parameter("mix")
    n_angles = GATE_SPECS[name].n_angles
    c.ry(3, mix)  # the ancilla leaves |0>
    add_gate(c, name, rng, [shared, 2 * shared + 0.1, 0.3][:n_angles] or [shared])
    c.cnot(3, 0).ry(1, mix)
    add_gate(c, name, rng, [0.7, shared, own][:n_angles] or [0.7])
    c.discard(int(rng.choice([0, 1, 2, 3])))
    add_gate(c, name, rng, [own, -own, shared][:n_angles] or [own])
    alive = c.alive_qubits
    c.cnot(alive[0], alive[-1])
    terms = [
        (float(rng.normal()), pauli(f"{'XYZ'[int(rng.integers(3))]}{q}"))
        for q in rng.choice(alive, size=2, replace=False)
    ]
    observable = PauliSum((*terms, (0.5, pauli(f"Z{alive[0]} X{alive[-1]}"))))
    return c, observable


def reference_expval(circuit: Circuit, observable, theta, states) -> np.ndarray:
    """Dense NumPy ``complex128`` reference, one pure state after another (module docstring)."""
    table = angle_table(circuit)
    a = table.evaluate_numpy(theta)
    n = circuit.n_qubits
    fresh = [q for q in range(n) if q not in circuit.input_qubits]
    obs = observable.matrix(n)
    out = []
    for psi in states:
        t = (
            np.tensordot(
                np.eye(2 ** len(fresh))[0].reshape((2,) * len(fresh)),
                psi.reshape((2,) * len(circuit.input_qubits)),
                axes=0,
            )
            if fresh
            else psi.reshape((2,) * n)
        )
        t = np.moveaxis(t, list(range(n)), fresh + list(circuit.input_qubits))
        for gate, entries in zip(circuit.gates, table.gate_entries, strict=True):
            g = gate_matrix_numpy(gate, a[list(entries)])
            k = len(gate.qubits)
            t = np.tensordot(
                g.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), gate.qubits)
            )
            t = np.moveaxis(t, list(range(k)), list(gate.qubits))
        v = t.reshape(-1)
        out.append(float(np.real(np.vdot(v, obs @ v))))
    return np.asarray(out)


def random_states(rng, batch: int) -> np.ndarray:
    s = rng.normal(size=(batch, 2 ** len(INPUTS))) + 1j * rng.normal(size=(batch, 2 ** len(INPUTS)))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


# ------------------------------------------------------------------------------- the protocol
@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_every_engine_implements_the_protocol(engine_name):
    cls = ENGINES[engine_name]
    assert isinstance(cls.capabilities, frozenset) and cls.capabilities <= CAPABILITIES
    c, _ = contract_circuit("ry", 0)
    engine = make_engine(c, engine_name, dtype="complex128")
    assert isinstance(engine, Engine)
    assert engine.name == engine_name and engine.circuit is c and engine.n_params == c.n_params
    assert engine.capabilities == cls.capabilities
    table = engine.angle_table
    assert np.array_equal(table.slots, angle_table(c).slots)
    theta = np.array([0.1, -0.4, 1.3])
    np.testing.assert_allclose(
        np.asarray(engine.angles(jnp.asarray(theta))), table.evaluate_numpy(theta)
    )
    theta_p, batch, single = engine.prepare(theta, None)
    assert single and batch.shape[0] == 1 and theta_p.shape == (3,)
    assert engine.cached(("k",), lambda: engine.expval_fn("Z1")) is engine.cached(
        ("k",), lambda: None
    )
    with pytest.raises(InputError, match="parameter slot"):
        engine.prepare(np.zeros(5), None)


def test_an_object_without_the_core_is_not_an_engine():
    @dataclass
    class Half:
        circuit: object = None
        n_params: int = 0

    assert not isinstance(Half(), Engine)


def test_require_names_the_engines_that_have_a_capability():
    c, _ = contract_circuit("h", 0)
    engine = make_engine(c, ENGINE_NAMES[0])

    class Bare:  # an engine declaring no optional capability
        name = "bare"
        capabilities = frozenset()

    with pytest.raises(InputError, match=r"no 'probs' capability.*sample_bitstrings"):
        require(Bare(), "probs", "sample_bitstrings")
    with pytest.raises(InputError, match="no 'probs'"):
        sample_bitstrings(Bare(), [0.0] * 3, None, shots=3, seed=0)
    require(engine, "shots", "x")  # has it: no error
    with pytest.raises(ValueError, match="unknown capability"):
        require(engine, "teleport", "x")


# ------------------------------------------------------------------------------- gate matrices
@pytest.mark.parametrize("name", sorted(GATE_SPECS))
def test_gate_matrices_match_their_closed_forms(name):
    """One source of truth (``gate_factors``) gives the textbook matrix in NumPy and in JAX."""
    resolve_dtype("complex128")  # switches JAX to 64-bit
    rng = np.random.default_rng(7)
    for _ in range(3):
        c = Circuit(3)
        angles = [float(v) for v in rng.uniform(-7, 7, 3)]
        add_gate(c, name, rng, angles)
        gate = c.gates[0]
        a = np.asarray([x.offset for x in gate.angles])
        expected = textbook(name, a, gate.paulis and gate.paulis.replace(" ", ""), gate.matrix)
        np.testing.assert_allclose(gate_matrix_numpy(gate, a), expected, atol=1e-13, err_msg=name)
        got = np.asarray(gate_matrix(gate, jnp.asarray(a, jnp.float64), jnp.complex128))
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=f"{name} (JAX)")


def test_angle_table_is_one_entry_per_angle_per_gate_in_circuit_order():
    resolve_dtype("complex128")  # switches JAX to 64-bit
    c = Circuit(2)
    a, b = c.parameter("a"), c.parameter("b")
    c.u3(0, a, 0.5, 2 * b + 1).cnot(0, 1).rz(1, b).discard(0).ry(1, -a)
    table = angle_table(c)
    assert table.gate_entries == ((0, 1, 2), (), (3,), (4,))
    assert table.slots.tolist() == [0, 0, 1, 1, 0]
    assert table.scales.tolist() == [1.0, 0.0, 2.0, 1.0, -1.0]
    assert table.shift_rules == ("two_term", None, "two_term", "two_term", "two_term")
    theta = np.array([0.3, -1.1])
    expected = [0.3, 0.5, -1.2, -1.1, -0.3]
    np.testing.assert_allclose(table.evaluate_numpy(theta), expected, atol=1e-15)
    np.testing.assert_allclose(np.asarray(table.evaluate(jnp.asarray(theta))), expected, atol=1e-15)
    plan = compile_circuit(c)
    assert plan.angle_table.gate_entries == table.gate_entries
    for field in ("slots", "scales", "offsets"):
        assert np.array_equal(getattr(plan.angle_table, field), getattr(table, field))
    uses = sorted(i for block in plan.blocks for m in block.members for i in m.angle_index)
    assert uses == list(range(table.size))


# ---------------------------------------------------------------------- every engine x gate
@pytest.mark.parametrize("gate_name", sorted(GATE_SPECS))
@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_every_engine_runs_every_gate(engine_name, gate_name):
    """expval through the protocol against the reference: one small circuit per gate kind,
    with a shared (and affine) slot, a constant angle, a discard and an ancilla."""
    seed = sorted(GATE_SPECS).index(gate_name)
    c, obs = contract_circuit(gate_name, seed)
    rng = np.random.default_rng(100 + seed)
    theta = rng.uniform(-np.pi, np.pi, c.n_params)
    states = random_states(rng, 3)
    engine = make_engine(c, engine_name, dtype="complex128")
    ref = reference_expval(c, obs, theta, states)

    got = np.asarray(engine.expval(theta, states, obs))
    np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)
    zero = np.zeros(2 ** len(INPUTS), complex)
    zero[0] = 1
    assert (
        abs(float(engine.expval(theta, None, obs)) - reference_expval(c, obs, theta, [zero])[0])
        < TOL
    )


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_shots_and_parameter_shift_through_the_protocol(engine_name):
    """Parameter shift (exact and from shots) and shot estimates for every engine, on one
    circuit holding every parametrized gate kind with slots shared across kinds."""
    rng = np.random.default_rng(11)
    c = Circuit(N_QUBITS, input_qubits=INPUTS)
    a, b = c.parameter("a"), c.parameter("b")
    c.ry(3, a).u3(0, a, b, 0.2).cnot(3, 0).crx(0, 1, b).pauli_rot("X1 Y2", 2 * a + 0.1)
    c.cry(2, 3, a).rx(1, -b).discard(0).crz(1, 2, a).rz(3, b).ry(2, a).cswap(1, 2, 3)
    obs = PauliSum(((0.6, pauli("Z1 X3")), (-0.4, pauli("Y2"))))
    theta = rng.uniform(-np.pi, np.pi, c.n_params)
    states = random_states(rng, 3)
    engine = make_engine(c, engine_name, dtype="complex128")
    ref = reference_expval(c, obs, theta, states)
    np.testing.assert_allclose(np.asarray(engine.expval(theta, states, obs)), ref, atol=TOL)
    h = 1e-5
    fd = np.stack(
        [
            (
                reference_expval(c, obs, theta + h * e, states)
                - reference_expval(c, obs, theta - h * e, states)
            )
            / (2 * h)
            for e in np.eye(c.n_params)
        ],
        axis=1,
    )
    jac = np.asarray(parameter_shift_jacobian(engine, theta, states, obs))
    np.testing.assert_allclose(jac, fd, atol=1e-7, rtol=0)
    shots = 20_000
    est = np.asarray(sample_expval(engine, theta, states, obs, shots=shots, seed=3))
    bound = 6 * np.sqrt(sum(coeff**2 for coeff, _ in obs.terms) / shots)
    assert np.all(np.abs(est - ref) < bound), (est, ref, bound)
    np.testing.assert_array_equal(
        est, np.asarray(sample_expval(engine, theta, states, obs, shots=shots, seed=3))
    )
    noisy = np.asarray(parameter_shift_jacobian(engine, theta, states, obs, shots=shots, seed=4))
    assert noisy.shape == fd.shape and np.all(np.abs(noisy - fd) < 4 * bound)


def test_parameter_shift_shifts_one_use_of_a_shared_slot():
    """Regression: blocks with equal gates and angle expressions used to share one matrix, so
    shifting one use of a shared slot shifted all of them (wrong parameter-shift gradients)."""
    c = Circuit(3, input_qubits=(0, 1, 2))
    a = c.parameter("a")
    c.ry(0, a).cnot(0, 2).ry(1, a).cnot(1, 2)
    obs = PauliSum(((1.0, pauli("Z2")), (0.5, pauli("X0"))))
    theta = np.array([0.7])
    states = random_states(np.random.default_rng(0), 2)
    for name in ENGINE_NAMES:
        engine = make_engine(c, name, dtype="complex128")
        h = 1e-5
        fd = (
            reference_expval(c, obs, theta + h, states)
            - reference_expval(c, obs, theta - h, states)
        ) / (2 * h)
        jac = np.asarray(parameter_shift_jacobian(engine, theta, states, obs))[:, 0]
        np.testing.assert_allclose(jac, fd, atol=1e-7, err_msg=name)


# ------------------------------------------------------------------------------- layering
def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["qnnlab", *path.relative_to(ENGINES_DIR.parent).parent.parts]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_engines_never_import_models():
    files = sorted(ENGINES_DIR.rglob("*.py"))
    assert len(files) >= 8
    offenders = {
        str(f.relative_to(ENGINES_DIR)): sorted(
            m
            for m in _imported_modules(f)
            if m == "qnnlab.models" or m.startswith("qnnlab.models.")
        )
        for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("module", ["shots.py", "gradients.py"])
def test_shots_and_gradients_use_no_private_names_of_other_objects(module):
    tree = ast.parse((ENGINES_DIR / module).read_text())
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    assert private == []


# ------------------------------------------------------------------------------- perceptrons
def test_perceptron_engine_takes_any_structural_wiring():
    """The DQNN engine reads only ``widths`` and each perceptron's ``inputs``/``outputs``: a
    plain wiring gives the same channel as the model's :class:`DQNNArchitecture`."""
    from qnnlab.engines.perceptrons import PerceptronNetwork, haar_perceptrons, network_output
    from qnnlab.models.dqnn import dqnn_architecture

    @dataclass(frozen=True)
    class Wire:
        inputs: tuple[int, ...]
        outputs: tuple[int, ...]

    @dataclass(frozen=True)
    class Wiring:
        widths: tuple[int, ...]
        layers: tuple

    resolve_dtype("complex128")  # switches JAX to 64-bit
    arch = dqnn_architecture([2, 3, 1])
    plain = Wiring(
        arch.widths, tuple(tuple(Wire(p.inputs, p.outputs) for p in layer) for layer in arch.layers)
    )
    assert isinstance(arch, PerceptronNetwork) and isinstance(plain, PerceptronNetwork)
    unitaries = haar_perceptrons(plain, 5)
    assert [[u.shape for u in layer] for layer in unitaries] == [[(8, 8)] * 3, [(16, 16)]]
    states = random_states(np.random.default_rng(1), 2)[:, :4]
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    np.testing.assert_allclose(
        np.asarray(network_output(plain, unitaries, states)),
        np.asarray(network_output(arch, unitaries, states)),
        atol=1e-12,
    )


# ---------------------------------------------------------------------- choosing an engine
TRAINABLE = [n for n in ENGINE_NAMES if "traceable" in ENGINES[n].capabilities]


def test_training_refuses_an_engine_that_cannot_differentiate():
    from qnnlab.training.estimator import QCNNClassifier

    with pytest.raises(ValueError, match=r"'pauliprop' engine has no 'traceable' capability"):
        QCNNClassifier(engine="pauliprop").fit(np.eye(4), [0, 1, 0, 1])


@pytest.mark.parametrize("engine_name", TRAINABLE)
def test_classifier_fits_on_every_trainable_engine(engine_name):
    from qnnlab.training.estimator import QCNNClassifier

    rng = np.random.default_rng(3)
    X = random_states(rng, 8)[:, :4]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.array([0, 1] * 4)
    kwargs = {"epochs": 2, "batch_size": 8, "dtype": "complex128"}
    ref = QCNNClassifier(**kwargs).fit(X, y).decision_function(X)
    clf = QCNNClassifier(engine=engine_name, **kwargs).fit(X, y)
    assert clf.engine_.name == engine_name and clf.get_params()["engine"] == engine_name
    np.testing.assert_allclose(clf.decision_function(X), ref, atol=1e-9)


def test_classifier_refuses_an_unknown_engine():
    from qnnlab.training.estimator import QCNNClassifier

    X = np.eye(4)
    with pytest.raises(ValueError, match=r"unknown engine 'gpu'; choose one of \['density'"):
        QCNNClassifier(engine="gpu").fit(X, [0, 1, 0, 1])


@pytest.mark.parametrize("experiment", ["qcnn-phases", "qcnn-topological"])
def test_reproduce_takes_engine_and_shots_settings(experiment, capsys):
    from qnnlab.cli import main

    name = ENGINE_NAMES[-1]
    code = main(
        [
            "reproduce",
            experiment,
            "--quick",
            "--dry-run",
            "--set",
            f'engine="{name}"',
            "--set",
            "shots=500",
        ]
    )
    assert code == 0
    settings = json.loads(capsys.readouterr().out)
    assert settings["engine"] == name and settings["shots"] == 500
    code = main(["reproduce", experiment, "--quick", "--dry-run", "--set", 'engine="gpu"'])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "unknown engine 'gpu'; choose one of" in err
    code = main(["reproduce", experiment, "--quick", "--dry-run", "--set", "shots=0"])
    assert code == 2 and "shots must be a positive integer" in capsys.readouterr().err
