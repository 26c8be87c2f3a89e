"""Every gate of the alphabet against an independent dense reference; Pauli strings; fusion.

The reference matrices live in ``conftest.py`` (textbook formulas, ``scipy.linalg.expm`` for
rotations, permutation matrices for CNOT/CZ/SWAP/CSWAP) and are embedded into the 4-qubit
register with ``kron`` + an axis permutation (qubit 0 = most significant bit).

Tolerance: ``complex128`` engines on a 16-dimensional state do a handful of flops per amplitude,
so the rounding error is a few ``1e-16``; ``1e-12`` leaves a wide margin and still catches any
wrong sign, phase, qubit order or angle convention (those give ``O(1)`` errors).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from conftest import (
    CNOT_REF,
    CSWAP_REF,
    CZ_REF,
    I2,
    PAULI,
    PX,
    PY,
    PZ,
    SWAP_REF,
    RandomCircuit,
    RefOp,
    add_random_gate,
    apply_gate_np,
    embed,
    kron_all,
    make_rng,
    pauli_word,
    random_circuit,
    random_state,
    random_theta,
    random_unitary,
    ref_gate,
    rot,
    su4_ref,
    u3_ref,
)
from qnnlab.circuits import (
    GATE_SPECS,
    BasisProjector,
    Circuit,
    CircuitError,
    PauliString,
    PauliSum,
    pauli,
)
from qnnlab.engines import StatevectorEngine, compile_circuit

N = 4  # register size for the gate tests
ATOL = 1e-12

# Placements in a 4-qubit register: first, last and middle qubits, adjacent and non-adjacent
# pairs in both orders (controls first), and 3-/4-qubit orderings that are not sorted.
ONE = [(0,), (2,), (3,)]
TWO = [(0, 1), (3, 1), (2, 0)]
THREE = [(0, 1, 2), (3, 0, 2), (1, 3, 0)]
MANY = [(2,), (3, 1), (2, 0, 3)]  # unitary: any order
SORTED = [(2,), (1, 3), (0, 1, 3)]  # pauli_rot: supports are sorted

#: gate name -> qubit placements to test. ``test_table_covers_gate_specs`` fails when a gate is
#: added to GATE_SPECS without a row here.
GATE_CASES: dict[str, list[tuple[int, ...]]] = {
    "rx": ONE,
    "ry": ONE,
    "rz": ONE,
    "u3": ONE,
    "pauli_rot": SORTED,
    "crx": TWO,
    "cry": TWO,
    "crz": TWO,
    "h": ONE,
    "x": ONE,
    "cnot": TWO,
    "cz": TWO,
    "swap": TWO,
    "cswap": THREE,
    "unitary": MANY,
}


def test_table_covers_gate_specs():
    assert set(GATE_CASES) == set(GATE_SPECS), (
        f"gates without a reference test: {sorted(set(GATE_SPECS) - set(GATE_CASES))}"
    )


@pytest.mark.parametrize("name", sorted(GATE_SPECS))
def test_gate_matches_dense_reference(name, request):
    """The gate at every placement of its row (parameter slots), then once more with constant
    angles, in one 4-qubit circuit, against the product of the embedded reference matrices.

    ``max_fused_qubits=1`` keeps (almost) every gate in a block of its own, so each placement
    goes through ``gate_matrix`` and the state-update kernel by itself; fusion is tested below.
    One compilation per gate keeps this cheap.
    """
    if name not in GATE_CASES:
        pytest.fail(f"gate {name!r} is in GATE_SPECS but has no reference test in GATE_CASES")
    rng = make_rng(request)
    spec = GATE_SPECS[name]
    placements = [(q, "param") for q in GATE_CASES[name]]
    if spec.n_angles:  # constant angles take another path (Angle.slot is None)
        placements.append((GATE_CASES[name][1], "const"))
    circuit = Circuit(N)
    theta, expected_op = [], np.eye(2**N, dtype=np.complex128)
    for qubits, mode in placements:
        values = rng.uniform(-2 * np.pi, 2 * np.pi, size=spec.n_angles)
        if mode == "param":
            args = circuit.parameters(spec.n_angles)
            theta.extend(values)
        else:
            args = [float(v) for v in values]
        letters = matrix = None
        if name == "pauli_rot":
            letters = "".join(rng.choice(list("XYZ"), size=len(qubits)))
            word = " ".join(f"{p}{q}" for p, q in zip(letters, qubits, strict=True))
            circuit.pauli_rot(word, *args)
        elif name == "unitary":
            matrix = random_unitary(rng, 2 ** len(qubits))
            circuit.unitary(matrix, qubits)
        else:
            getattr(circuit, name)(*qubits, *args)
        expected_op = embed(ref_gate(name, values, letters, matrix), qubits, N) @ expected_op
    assert circuit.n_params == len(theta)

    psi = random_state(rng, N, batch=2)
    engine = StatevectorEngine(circuit, dtype="complex128", max_fused_qubits=1)
    out = np.asarray(engine.state(np.asarray(theta), psi))
    np.testing.assert_allclose(
        out, psi @ expected_op.T, atol=ATOL, rtol=0, err_msg=f"{name} at {placements}"
    )


def test_su4_is_product_of_15_rotations(request):
    """su4 on (3, 1) and then on (0, 2): each becomes one fused block of 15 rotations."""
    rng = make_rng(request)
    circuit = Circuit(N)
    circuit.su4(3, 1, circuit.parameters(15)).su4(0, 2, circuit.parameters(15))
    names = ["rz", "ry", "rz"] * 2 + ["pauli_rot"] * 3 + ["rz", "ry", "rz"] * 2
    assert [g.name for g in circuit.gates] == names * 2
    theta = random_theta(rng, 30)
    psi = random_state(rng, N)
    out = np.asarray(StatevectorEngine(circuit, dtype="complex128").state(theta, psi))
    expected = embed(su4_ref(theta[15:]), (0, 2), N) @ embed(su4_ref(theta[:15]), (3, 1), N)
    np.testing.assert_allclose(out, expected @ psi, atol=ATOL, rtol=0)


def test_su4_needs_15_angles():
    with pytest.raises(CircuitError, match="15 angles"):
        Circuit(2).su4(0, 1, [0.1] * 14)


# ---------------------------------------------------------------------------------------------
# the reference itself: conventions that the tests above rely on


def test_reference_embedding_conventions():
    """``embed`` puts qubit 0 on the most significant bit and respects the listed order."""
    assert np.allclose(embed(PX, (0,), 3), kron_all([PX, I2, I2]))
    assert np.allclose(embed(PX, (2,), 3), kron_all([I2, I2, PX]))
    # CNOT(control 2, target 0) maps |001> (index 1) to |101> (index 5).
    op = embed(CNOT_REF, (2, 0), 3)
    assert op[5, 1] == 1 and op[1, 1] == 0
    # SWAP on (0, 2) maps |100> (4) to |001> (1).
    assert embed(SWAP_REF, (0, 2), 3)[1, 4] == 1
    # CSWAP(control 0) swaps qubits 1, 2: |101> (5) -> |110> (6); control off: identity.
    assert CSWAP_REF[6, 5] == 1 and CSWAP_REF[2, 2] == 1 and CSWAP_REF[1, 2] == 0
    assert np.allclose(CZ_REF, np.diag([1, 1, 1, -1]))


def test_reference_fast_apply_matches_kron_embedding(rng):
    n = 5
    tensor = random_state(rng, n).reshape((2,) * n)
    for qubits in [(4,), (3, 0), (1, 4, 2), (0, 2, 4, 3)]:
        g = random_unitary(rng, 2 ** len(qubits))
        fast = apply_gate_np(tensor, g, qubits).reshape(-1)
        np.testing.assert_allclose(fast, embed(g, qubits, n) @ tensor.reshape(-1), atol=1e-13)


def test_reference_u3_is_openqasm_u(rng):
    """U3 = e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam) and special cases of the QASM spec."""
    t, p, l = rng.uniform(-np.pi, np.pi, size=3)
    euler = np.exp(0.5j * (p + l)) * rot(PZ, p) @ rot(PY, t) @ rot(PZ, l)
    np.testing.assert_allclose(u3_ref(t, p, l), euler, atol=1e-13)
    np.testing.assert_allclose(u3_ref(np.pi, 0, np.pi), PX, atol=1e-13)  # U(pi, 0, pi) = X
    np.testing.assert_allclose(
        u3_ref(np.pi / 2, 0, np.pi), np.array([[1, 1], [1, -1]]) / np.sqrt(2), atol=1e-13
    )  # U(pi/2, 0, pi) = H


def test_reference_su4_is_kak_form(rng):
    theta = rng.uniform(-np.pi, np.pi, size=15)

    def zyz(t):
        return rot(PZ, t[2]) @ rot(PY, t[1]) @ rot(PZ, t[0])

    core = scipy.linalg.expm(
        -0.5j * sum(t * pauli_word(w) for t, w in zip(theta[6:9], ("XX", "YY", "ZZ"), strict=True))
    )
    kak = (
        np.kron(zyz(theta[9:12]), zyz(theta[12:15]))
        @ core
        @ np.kron(zyz(theta[0:3]), zyz(theta[3:6]))
    )
    np.testing.assert_allclose(su4_ref(theta), kak, atol=1e-12)


def test_reference_rotation_closed_form(rng):
    t = rng.uniform(-np.pi, np.pi)
    for p in (PX, PY, PZ, pauli_word("XYZ")):
        closed = np.cos(t / 2) * np.eye(p.shape[0]) - 1j * np.sin(t / 2) * p
        np.testing.assert_allclose(rot(p, t), closed, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Pauli strings and observables


def test_pauli_parse_and_label():
    p = PauliString.parse("X0 Z3")
    assert p.ops == ((0, "X"), (3, "Z"))
    assert p.label(5) == "XIIZI"
    assert PauliString.parse("Z3*X0") == p  # '*' separator, any order
    assert PauliString.parse("  X0   I1 Z3 ") == p  # identities dropped
    assert PauliString.from_label("XIIZ") == p
    assert pauli("XIIZ") == p and pauli("X0 Z3") == p and pauli({3: "Z", 0: "X"}) == p
    assert pauli("Y") == PauliString(((0, "Y"),))  # a one-letter dense label
    assert PauliString.parse("").weight == 0 and str(PauliString.parse("")) == "I"
    assert str(p) == "X0 Z3" and p.qubits == (0, 3) and p.letters == "XZ" and p.weight == 2
    assert PauliString(((12, "Y"), (2, "X"))).ops == ((2, "X"), (12, "Y"))  # sorted


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PauliString.parse("Q1"), "cannot read Pauli token"),
        (lambda: PauliString.parse("X0 Z0"), "appears twice"),
        (lambda: PauliString(((0, "I"),)), "not one of X, Y, Z"),
        (lambda: PauliString(((-1, "X"),)), "non-negative"),
        (lambda: PauliString.from_label("XQ"), "use I, X, Y, Z"),
        (lambda: PauliString.parse("X4").label(4), "outside 4 qubits"),
        (lambda: PauliString.parse("X64").xz_bits(64), "outside 64 qubits"),
        (lambda: PauliSum.from_terms([(float("nan"), "Z0")]), "finite real"),
        (lambda: BasisProjector((0, 1), (0,)), "one bit per qubit"),
        (lambda: BasisProjector((0, 0), (0, 1)), "twice"),
        (lambda: BasisProjector((0,), (2,)), "0 or 1"),
    ],
)
def test_pauli_errors_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_pauli_matrix_is_kron_in_qubit_order():
    p = PauliString.parse("Y1 X3")
    np.testing.assert_array_equal(p.matrix(4), kron_all([I2, PY, I2, PX]))
    np.testing.assert_array_equal(p.matrix(), np.kron(PY, PX))  # default: the support
    np.testing.assert_array_equal(PauliString.from_label("ZIY").matrix(3), kron_all([PZ, I2, PY]))


def test_pauli_sum_and_projector_matrices():
    obs = PauliSum.from_terms([(0.5, "Z0 Z1"), (-1.5, "X2"), (0.25, "")])
    expected = (
        0.5 * kron_all([PZ, PZ, I2]) - 1.5 * kron_all([I2, I2, PX]) + 0.25 * np.eye(8)
    ).astype(complex)
    np.testing.assert_allclose(obs.matrix(3), expected)
    assert obs.qubits == (0, 1, 2) and obs.n_terms == 3
    doubled = 2 * obs + PauliSum.single("Y1")
    np.testing.assert_allclose(doubled.matrix(3), 2 * expected + kron_all([I2, PY, I2]))
    proj = BasisProjector((2, 0), (1, 0))
    ket0, ket1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    np.testing.assert_array_equal(proj.matrix(3), kron_all([ket0, I2, ket1]))
    assert BasisProjector.zeros([1, 2]) == BasisProjector((1, 2), (0, 0))


@pytest.mark.parametrize("n_qubits", [1, 63, 64, 65, 130])
def test_xz_bits_packing_across_word_boundaries(n_qubits, request):
    rng = make_rng(request, n_qubits)
    k = min(n_qubits, 12)
    edge = [q for q in (0, 62, 63, 64, 65, 127, 128, n_qubits - 1) if q < n_qubits]
    qubits = sorted(set(edge) | {int(q) for q in rng.choice(n_qubits, size=k, replace=False)})
    letters = rng.choice(list("XYZ"), size=len(qubits))
    p = PauliString(tuple(zip(qubits, letters, strict=True)))
    x, z = p.xz_bits(n_qubits)
    n_words = -(-n_qubits // 64)
    assert x.dtype == np.uint64 and z.dtype == np.uint64
    assert x.shape == z.shape == (n_words,)
    # Expected words from Python integers: qubit q is bit q % 64 of word q // 64.
    ex, ez = [0] * n_words, [0] * n_words
    for q, letter in zip(qubits, letters, strict=True):
        if letter in "XY":
            ex[q // 64] |= 1 << (q % 64)
        if letter in "ZY":
            ez[q // 64] |= 1 << (q % 64)
    assert [int(w) for w in x] == ex
    assert [int(w) for w in z] == ez


def test_xz_bits_single_letters():
    x, z = PauliString.parse("X0 Y1 Z2 Y63 X64").xz_bits(65)
    assert [int(w) for w in x] == [0b11 | 1 << 63, 1]
    assert [int(w) for w in z] == [0b110 | 1 << 63, 0]
    x, z = PauliString.parse("").xz_bits(0)
    assert x.shape == (1,) and int(x[0]) == 0 and int(z[0]) == 0


# ---------------------------------------------------------------------------------------------
# plan: fusion


def test_su4_fuses_into_one_block():
    circuit = Circuit(3)
    circuit.su4(2, 0, circuit.parameters(15))
    plan = compile_circuit(circuit)
    assert len(plan.blocks) == 1
    (block,) = plan.blocks
    assert set(block.qubits) == {0, 2} and len(block.members) == 15
    assert plan.angle_table.size == 15
    unfused = compile_circuit(circuit, max_fused_qubits=1)
    assert len(unfused.blocks) > 1
    assert all(len(b.qubits) <= 1 or len(b.members) == 1 for b in unfused.blocks)


def test_max_fused_qubits_must_be_positive():
    with pytest.raises(ValueError, match="max_fused_qubits"):
        compile_circuit(Circuit(1), max_fused_qubits=0)


@pytest.mark.parametrize("case", [0, 1, 2, 3])
def test_plan_invariants(case, request):
    """Blocks respect the size limit, keep every gate once, and discards follow the last use."""
    rng = make_rng(request, case)
    limit = [1, 2, 3, 2][case]
    rc = random_circuit(rng, 5, 20)
    circuit = rc.circuit
    plan = compile_circuit(circuit, max_fused_qubits=limit)
    members = [m for b in plan.blocks for m in b.members]
    assert sorted(map(id, (m.gate for m in members))) == sorted(map(id, circuit.gates))
    assert plan.angle_table.size == sum(len(g.angles) for g in circuit.gates)
    for block in plan.blocks:
        assert len(block.qubits) <= limit or len(block.members) == 1
        for m in block.members:
            assert tuple(block.qubits[p] for p in m.positions) == m.gate.qubits
    for q in circuit.discarded:
        after = [i for i, qs in plan.discards_after.items() if q in qs]
        touching = [i for i, b in enumerate(plan.blocks) if q in b.qubits]
        assert after == [max(touching, default=-1)]


def test_fused_and_unfused_give_the_same_state(request):
    """Fusion merges gates into blocks of up to two qubits and moves gates only past blocks on
    other qubits; the state must not change (against max_fused_qubits=1 and the reference).

    The first four gates are a trap: the last CRX(0, 1) may not join the first block (on
    qubits 0, 1) because CNOT(1, 2) touches qubit 1 in between, and the two do not commute.
    """
    rng = make_rng(request)
    circuit = Circuit(3)
    a, b, c = circuit.parameters(3)
    circuit.crx(0, 1, a).ry(1, b).cnot(1, 2).crx(0, 1, c)
    ops = [
        RefOp("crx", (0, 1), (lambda t: t[0],)),
        RefOp("ry", (1,), (lambda t: t[1],)),
        RefOp("cnot", (1, 2)),
        RefOp("crx", (0, 1), (lambda t: t[2],)),
    ]
    rc = RandomCircuit(circuit, ops)
    # then a few random gates that may share (affinely) the slots a, b, c
    for name in rng.choice(["u3", "cry", "pauli_rot", "cz", "unitary", "rz"], size=4):
        add_random_gate(rng, rc, str(name), [0, 1, 2], [0, 1, 2])
    theta = random_theta(rng, circuit.n_params)
    psi = random_state(rng, 3)
    fused = StatevectorEngine(circuit, dtype="complex128")
    assert any(len(blk.members) > 1 for blk in fused.plan.blocks)  # something fused
    unfused = StatevectorEngine(circuit, dtype="complex128", max_fused_qubits=1)
    expected = rc.unitary(theta) @ psi
    for engine in (fused, unfused):
        np.testing.assert_allclose(
            engine.state(theta, psi), expected, atol=ATOL, err_msg=f"{engine.plan.blocks}"
        )


def test_pauli_constants_are_standard():
    """The test's own Pauli matrices (guard against a typo in the reference)."""
    assert np.allclose(PX @ PY, 1j * PZ) and np.allclose(PY @ PZ, 1j * PX)
    assert all(np.allclose(m @ m, I2) for m in PAULI.values())
