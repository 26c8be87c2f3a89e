"""The configurable QCNN builder (issue 4, "Model"): options, counts, engines, pooling semantics.

The pooling check uses an independent dense NumPy simulation (``conftest`` matrices) in which the
control is *measured* in ``Z`` and the rotation is applied to the target only on outcome 1,
averaged over outcomes; the library simulates it with deferred controlled rotations + discard.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from conftest import PAULI, embed, partial_trace, random_state, ref_gate, su4_ref
from qnnlab import CircuitError, DensityMatrixEngine, StatevectorEngine
from qnnlab.circuits import BasisProjector, Circuit, PauliSum
from qnnlab.engines import sample_expval
from qnnlab.models import CONV_BLOCKS, POOLS, brick_pairs, qcnn, qcnn_readout

# ---------------------------------------------------------------------------------- helpers


def old_qcnn(n_qubits: int) -> Circuit:
    """The builder as it was before the options were added (copied, benchmarks rely on it)."""
    circuit = Circuit(n_qubits, name=f"qcnn-{n_qubits}")
    active = list(range(n_qubits))
    layer = 0
    while len(active) > 1:
        conv = circuit.parameters(15, f"conv{layer}")
        even = [(active[i], active[i + 1]) for i in range(0, len(active) - 1, 2)]
        odd = [(active[i], active[i + 1]) for i in range(1, len(active) - 1, 2)]
        for a, b in even + odd:
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


def schedule(n: int, final: int = 1) -> list[int]:
    """Active-qubit count at each scale (floor(m/2) pairs pooled, at the end only to ``final``)."""
    out, m = [], n
    while m > final:
        out.append(m)
        m -= min(m // 2, m - final)
    return out


def n_blocks(m: int, periodic: bool) -> int:
    return m - 1 + (1 if periodic and m > 2 else 0)


def expected_params(n, p_conv, p_pool, *, share=True, periodic=False, final=1, layers=1) -> int:
    total = 0
    for m in schedule(n, final):
        pairs = min(m // 2, m - final)
        if share:
            total += layers * p_conv + p_pool
        else:
            total += layers * n_blocks(m, periodic) * p_conv + pairs * p_pool
    return total


def slots_of(gate) -> tuple:
    return tuple(a.slot for a in gate.angles)


# ---------------------------------------------------------------------------------- structure


@pytest.mark.parametrize("n", range(2, 10))
def test_default_is_the_original_circuit_gate_for_gate(n):
    new, old = qcnn(n), old_qcnn(n)
    assert new.operations == old.operations  # Gate/Discard equality: names, qubits, slots
    assert new.param_names == old.param_names
    assert new.name == old.name and new.n_params == old.n_params
    assert [g.name for g in new.gates] == [g.name for g in old.gates]
    assert [(g.qubits, slots_of(g)) for g in new.gates] == [
        (g.qubits, slots_of(g)) for g in old.gates
    ]
    assert qcnn_readout(new) == PauliSum.single(f"Z{old.alive_qubits[0]}")


@pytest.mark.parametrize("block", sorted(CONV_BLOCKS))
@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("periodic", [False, True])
def test_parameter_counts_follow_the_formula(block, pool, share, periodic):
    p_conv, p_pool = CONV_BLOCKS[block].n_params, POOLS[pool][0]
    for n in (2, 3, 5, 8, 9):
        for final in sorted({1, 2, n - 1} & set(range(1, n))):
            for layers in (1, 2):
                c = qcnn(
                    n,
                    conv_block=block,
                    pool=pool,
                    share_weights=share,
                    periodic=periodic,
                    final_qubits=final,
                    layers_per_scale=layers,
                )
                want = expected_params(
                    n, p_conv, p_pool, share=share, periodic=periodic, final=final, layers=layers
                )
                assert c.n_params == want, (n, final, layers)
                assert len(c.alive_qubits) == final
    # closed form with sharing and one final qubit: ceil(log2 n) scales
    for n in range(2, 10):
        assert qcnn(n, conv_block="so4", pool="cry").n_params == math.ceil(math.log2(n)) * 7


@pytest.mark.parametrize("n", range(2, 10))
@pytest.mark.parametrize("final", [1, 2, 3])
def test_any_n_reduces_to_final_qubits(n, final):
    if final >= n:
        with pytest.raises(CircuitError, match="final_qubits"):
            qcnn(n, final_qubits=final)
        return
    c = qcnn(n, conv_block="ry-cnot", final_qubits=final, periodic=True)
    assert len(c.alive_qubits) == final
    assert len(c.discarded) == n - final


def test_weight_sharing_and_no_sharing():
    c = qcnn(6, conv_block="so4", pool="crz-crx")
    first_scale = [g for g in c.gates[: 5 * 8]]  # 5 so4 blocks of 8 gates on 6 qubits
    param_slots = {slots_of(g) for g in first_scale if g.angles}
    assert {s for t in param_slots for s in t} == set(range(6))  # all blocks use conv0[0..5]
    pools = [g for g in c.gates if g.name in ("crz", "crx")]
    assert {slots_of(g) for g in pools[:6]} == {(6,), (7,)}  # 3 pairs share pool0

    c = qcnn(6, conv_block="so4", share_weights=False)
    used = [s for g in c.gates for s in slots_of(g)]
    assert sorted(used) == list(range(c.n_params))  # every slot used exactly once
    assert "conv0@2-3[0]" in c.param_names and "pool0@0-1[1]" in c.param_names


def test_periodic_adds_the_wrap_pair():
    assert brick_pairs([0, 1, 2, 3]) == [(0, 1), (2, 3), (1, 2)]
    assert brick_pairs([0, 1, 2, 3], periodic=True) == [(0, 1), (2, 3), (1, 2), (3, 0)]
    assert brick_pairs([0, 2, 4], periodic=True) == [(0, 2), (2, 4), (4, 0)]
    assert brick_pairs([1, 3], periodic=True) == [(1, 3)]  # m = 2: no duplicate bond
    open_, ring = qcnn(5, conv_block="ry-cnot"), qcnn(5, conv_block="ry-cnot", periodic=True)
    cnots = lambda c: [g.qubits for g in c.gates if g.name == "cnot"]  # noqa: E731
    # scales 5 -> 3 -> 2 -> 1: wrap pairs (4, 0) and (4, 1) are added at m = 5 and m = 3
    assert len(cnots(ring)) == len(cnots(open_)) + 2
    assert (4, 0) in cnots(ring) and (4, 0) not in cnots(open_)
    assert (4, 1) in cnots(ring)


def test_layers_per_scale_repeats_the_brick_layer():
    one = qcnn(4, conv_block="ry-cnot", layers_per_scale=1)
    three = qcnn(4, conv_block="ry-cnot", layers_per_scale=3)
    count = lambda c: sum(g.name == "cnot" for g in c.gates)  # noqa: E731
    assert count(three) == 3 * count(one)
    assert "conv0.2[1]" in three.param_names


def test_callable_block():
    def block(circuit, a, b, p):
        circuit.rx(a, p[0]).cz(a, b).rx(b, p[1]).ry(b, p[2])

    c = qcnn(5, conv_block=block, n_block_params=3, pool="cry")
    assert c.n_params == 3 * (3 + 1)
    assert sum(g.name == "cz" for g in c.gates) == 4 + 2 + 1
    with pytest.raises(CircuitError, match="n_block_params"):
        qcnn(4, conv_block=block)
    with pytest.raises(CircuitError, match="only for callable"):
        qcnn(4, conv_block="so4", n_block_params=3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conv_block": "su5"}, "'ry-cnot', 'so4', 'su4'"),
        ({"pool": "max"}, "'cry', 'crz', 'crz-crx'"),
        ({"final_qubits": 0}, "final_qubits"),
        ({"final_qubits": 4}, "final_qubits"),
        ({"layers_per_scale": 0}, "layers_per_scale"),
        ({"periodic": 1}, "periodic"),
        ({"share_weights": "no"}, "share_weights"),
    ],
)
def test_bad_options_name_the_valid_choices(kwargs, match):
    with pytest.raises(CircuitError, match=match):
        qcnn(4, **kwargs)
    with pytest.raises(CircuitError, match="at least 2"):
        qcnn(1)


# ---------------------------------------------------------------------------------- blocks


def block_matrix(name: str, theta) -> np.ndarray:
    """4x4 matrix of a named block on qubits (0, 1), from the reference gate matrices."""
    c = Circuit(2)
    CONV_BLOCKS[name].apply(c, 0, 1, c.parameters(CONV_BLOCKS[name].n_params))
    u = np.eye(4, dtype=np.complex128)
    for g in c.gates:
        if g.name == "pauli_rot":
            m = ref_gate(g.name, [theta[a.slot] for a in g.angles], g.paulis)
        else:
            m = ref_gate(g.name, [theta[a.slot] for a in g.angles])
        u = embed(m, g.qubits, 2) @ u
    return u


def test_so4_block_is_real_orthogonal_and_locally_onto(rng):
    for _ in range(5):
        t = rng.uniform(0, 2 * np.pi, 6)
        u = block_matrix("so4", t)
        assert np.abs(u.imag).max() < 1e-12
        np.testing.assert_allclose(u.real.T @ u.real, np.eye(4), atol=1e-12)
        assert abs(np.linalg.det(u.real) - 1) < 1e-12
        eps = 1e-6
        jac = np.stack(
            [
                (block_matrix("so4", t + eps * e) - block_matrix("so4", t - eps * e)).real.ravel()
                / (2 * eps)
                for e in np.eye(6)
            ]
        )
        sv = np.linalg.svd(jac, compute_uv=False)
        assert sv[-1] > 1e-4 * sv[0]  # rank 6 = dim SO(4)


def test_su4_and_ry_cnot_blocks_match_their_formulas(rng):
    t = rng.uniform(0, 2 * np.pi, 15)
    np.testing.assert_allclose(block_matrix("su4", t), su4_ref(t), atol=1e-12)
    t2 = t[:2]
    ry = lambda x: scipy.linalg.expm(-0.5j * x * PAULI["Y"])  # noqa: E731
    cnot = ref_gate("cnot")
    np.testing.assert_allclose(
        block_matrix("ry-cnot", t2), cnot @ np.kron(ry(t2[0]), ry(t2[1])), atol=1e-12
    )


# ---------------------------------------------------------------------------------- engines


@pytest.mark.parametrize(
    ("n", "options"),
    [
        (4, {"conv_block": "ry-cnot", "share_weights": False, "final_qubits": 2}),
        (5, {}),
        (5, {"conv_block": "so4", "pool": "crz", "final_qubits": 3, "layers_per_scale": 2}),
        (6, {"conv_block": "so4", "pool": "cry", "periodic": True}),
    ],
)
def test_statevector_and_density_engines_agree(n, options, rng):
    c = qcnn(n, **options)
    obs = qcnn_readout(c, "Z" * len(c.alive_qubits))
    theta = rng.uniform(0, 2 * np.pi, c.n_params)
    psi = random_state(rng, n, batch=3)
    sv = np.asarray(StatevectorEngine(c, dtype="complex128").expval(theta, psi, obs))
    dm = np.asarray(DensityMatrixEngine(c, dtype="complex128").expval(theta, psi, obs))
    np.testing.assert_allclose(sv, dm, atol=1e-12)
    assert np.all(np.abs(sv) <= 1 + 1e-12)


def measured_reference(rho, n, program):
    """Dense simulation where pooling is a real Z measurement of the control.

    ``program``: ("u", (a, b), matrix) or ("measure", control, target, V). On "measure":
    ``rho -> P0 rho P0 + V_t P1 rho P1 V_t^dag`` (outcome-averaged; the rotation only on outcome
    1), then the control is traced out. Returns the state of the remaining qubits (ascending).
    """
    alive = list(range(n))
    p0, p1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    for op in program:
        m = len(alive)
        if op[0] == "u":
            g = embed(op[2], [alive.index(q) for q in op[1]], m)
            rho = g @ rho @ g.conj().T
        else:
            _, c, t, v = op
            proj0, proj1 = embed(p0, [alive.index(c)], m), embed(p1, [alive.index(c)], m)
            vt = embed(v, [alive.index(t)], m)
            rho = proj0 @ rho @ proj0 + vt @ proj1 @ rho @ proj1 @ vt.conj().T
            rho = partial_trace(rho, [i for i, q in enumerate(alive) if q != c], m)
            alive.remove(c)
    return rho


def rot(letter, x):
    return scipy.linalg.expm(-0.5j * x * PAULI[letter])


@pytest.mark.parametrize("variant", ["default", "so4-cry"])
def test_deferred_pooling_equals_explicit_measurement(variant, rng):
    n = 4
    if variant == "default":
        c = qcnn(n)
        th = rng.uniform(0, 2 * np.pi, c.n_params)
        conv0, pool0, conv1, pool1 = th[0:15], th[15:17], th[17:32], th[32:34]
        u0, u1 = su4_ref(conv0), su4_ref(conv1)
        v0 = rot("X", pool0[1]) @ rot("Z", pool0[0])  # CRZ first, then CRX
        v1 = rot("X", pool1[1]) @ rot("Z", pool1[0])
    else:
        c = qcnn(n, conv_block="so4", pool="cry")
        th = rng.uniform(0, 2 * np.pi, c.n_params)
        u0, u1 = block_matrix("so4", th[0:6]), block_matrix("so4", th[7:13])
        v0, v1 = rot("Y", th[6]), rot("Y", th[13])
    # written out by hand: bricks (0,1) (2,3) (1,2); pool 0->1, 2->3; brick (1,3); pool 1->3
    program = [
        ("u", (0, 1), u0),
        ("u", (2, 3), u0),
        ("u", (1, 2), u0),
        ("measure", 0, 1, v0),
        ("measure", 2, 3, v0),
        ("u", (1, 3), u1),
        ("measure", 1, 3, v1),
    ]
    assert c.alive_qubits == (3,)
    psi = random_state(rng, n, batch=2)
    rho_in = np.einsum("bi,bj->bij", psi, psi.conj())
    ref = np.stack([measured_reference(r, n, program) for r in rho_in])
    out = np.asarray(DensityMatrixEngine(c).density_matrix(th.astype(np.float32), rho_in))
    assert out.dtype == np.complex64
    np.testing.assert_allclose(out, ref, atol=1e-6)


# ---------------------------------------------------------------------------------- readout


def test_two_qubit_readout_when_two_qubits_remain(rng):
    c = qcnn(6, conv_block="so4", final_qubits=2)
    a, b = c.alive_qubits
    obs = qcnn_readout(c, "Z Z")
    assert obs == PauliSum.from_terms([(1.0, f"Z{a} Z{b}")])
    assert qcnn_readout(c, "IX") == PauliSum.single(f"X{b}")
    assert qcnn_readout(c) == PauliSum.single(f"Z{b}")
    explicit = PauliSum.from_terms([(0.5, f"Z{a}"), (0.5, f"X{a} Y{b}")])
    assert qcnn_readout(c, explicit) is explicit
    proj = BasisProjector((a, b), (0, 1))
    assert qcnn_readout(c, proj) is proj
    # the value is the reference <Z Z> of the engine's output density matrix
    theta = rng.uniform(0, 2 * np.pi, c.n_params)
    psi = random_state(rng, 6)
    dm = DensityMatrixEngine(c, dtype="complex128")
    rho = np.asarray(dm.density_matrix(theta, psi))
    zz = np.kron(PAULI["Z"], PAULI["Z"])
    np.testing.assert_allclose(float(dm.expval(theta, psi, obs)), np.trace(zz @ rho).real, 1e-12)


def test_readout_refuses_discarded_qubits():
    c = qcnn(4, final_qubits=2)
    gone = c.discarded[0]
    with pytest.raises(CircuitError, match="discarded"):
        qcnn_readout(c, f"Z{gone}")
    with pytest.raises(CircuitError, match="discarded"):
        qcnn_readout(c, PauliSum.from_terms([(1.0, f"Z{gone} Z{c.alive_qubits[0]}")]))
    with pytest.raises(CircuitError, match="one letter per alive qubit"):
        qcnn_readout(c, "ZZZ")
    with pytest.raises(CircuitError, match="identity"):
        qcnn_readout(c, "I I")


def test_shot_estimate_is_unbiased(rng):
    c = qcnn(5, conv_block="so4", final_qubits=2)
    a, b = c.alive_qubits
    obs = qcnn_readout(c, PauliSum.from_terms([(0.5, f"Z{b}"), (0.5, f"Z{a} Z{b}")]))
    engine = StatevectorEngine(c)
    theta = rng.uniform(0, 2 * np.pi, c.n_params).astype(np.float32)
    psi = random_state(rng, 5, batch=16).astype(np.complex64)
    shots = 4000
    exact_terms = np.stack(
        [np.asarray(engine.expval(theta, psi, PauliSum(((1.0, p),)))) for _, p in obs.terms]
    )
    exact = 0.5 * exact_terms.sum(axis=0)
    var = (0.25 * (1 - exact_terms**2)).sum(axis=0) / shots
    est = np.asarray(
        sample_expval(engine, theta, psi, obs, shots=shots, seed=int(rng.integers(2**31)))
    )
    z = (est - exact) / np.sqrt(var)
    assert np.all(np.abs(z) < 5)
    # the mean over the batch: the standard error shrinks by sqrt(16)
    assert abs(z.mean()) * np.sqrt(len(z)) < 5
