"""Random circuits: statevector engine vs density-matrix engine vs an independent dense reference.

Circuits (``conftest.random_circuit``) draw from the whole gate alphabet plus ``su4``, with
``pauli_rot`` of random weight, fixed random ``unitary`` gates, shared and affine slots
(``2 * p + 0.1``), constants, discards in the middle and a permuted subset of input qubits. The
reference builds the full unitary gate by gate in NumPy ``complex128`` and traces out the
discarded qubits with a NumPy partial trace.

Tolerances (observables are normalized so ``sum |c_k| = 1``, hence ``|<O>| <= 1``):

* ``complex128``: ``1e-12``. Each of the at most ~25 fused blocks adds ``O(1e-16)`` relative
  error to a unit-norm state; observed errors are ``~1e-16``.
* ``complex64``: ``1e-6``. float32 unit roundoff is ``6e-8``; errors accumulate like a random
  walk over the blocks (``sqrt(25) * 6e-8 = 3e-7``); observed ``<= 2e-7``. A wrong gate, qubit
  order or trace gives ``O(0.1)`` errors.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from conftest import (
    RandomCircuit,
    RefOp,
    case_rng,
    make_rng,
    marginal_probs,
    observable_matrix,
    random_circuit,
    random_density_matrix,
    random_pauli_sum,
    random_projector,
    random_state,
    random_theta,
    random_unitary,
)
from qnnlab.circuits import GATE_SPECS, BasisProjector, Circuit, PauliSum
from qnnlab.engines import DensityMatrixEngine, StatevectorEngine, make_engine

TOL = {"complex64": 1e-6, "complex128": 1e-12}

# (n_qubits, case seed, dtype, required gates): six seeds over n in {1, 2, 3, 4, 5, 8}; the
# required gates make the cases cover the whole alphabet whatever the seed
# (test_random_cases_cover_the_alphabet). Each quantity costs an XLA compilation of the whole
# circuit, so the dtypes alternate rather than doubling every case, and the cases alternate
# between a basis projector and marginal probabilities; every measurement kind is also checked
# on a cheap circuit in test_measurements_match_reference.
CASES = [
    (1, 0, "complex64", ("u3", "h", "pauli_rot", "unitary")),
    (2, 1, "complex128", ("crx", "cz", "su4", "rx")),
    (3, 2, "complex64", ("cswap", "cry", "swap", "x")),
    (5, 3, "complex128", ("crz", "cnot", "pauli_rot", "ry")),
    (8, 4, "complex64", ("su4", "cswap", "unitary", "rz")),
    (4, 5, "complex128", ("crx", "cz", "u3", "pauli_rot")),
]


def n_gates(n: int) -> int:
    return min(2 * n + 3, 8)


def test_random_cases_cover_the_alphabet():
    """Together, the random cases use every gate, su4 and discards (so the circuits can stay
    small)."""
    names, discards = set(), 0
    for n, case, _, required in CASES:
        rc = random_circuit(case_rng(case), n, n_gates(n), required=required)
        names |= {op.name for op in rc.ops}
        discards += len(rc.circuit.discarded)
    assert names >= set(GATE_SPECS) | {"su4"}, sorted(set(GATE_SPECS) | {"su4"} - names)
    assert discards >= 3  # at least one per case with n >= 3


def _expval_ref(obs, rho, alive):
    return float(np.real(np.trace(observable_matrix(obs, alive) @ rho)))


@pytest.mark.parametrize(
    ("n", "case", "dtype", "required"), CASES, ids=[f"n{n}-s{s}-{d}" for n, s, d, _ in CASES]
)
def test_random_circuit_engines_agree_with_reference(n, case, dtype, required, request):
    rng = case_rng(case, request)
    rc = random_circuit(rng, n, n_gates(n), required=required)
    circuit = rc.circuit
    alive = circuit.alive_qubits
    theta = random_theta(rng, circuit.n_params)
    psi = random_state(rng, len(circuit.input_qubits), batch=3)
    rhos_in = np.einsum("bi,bj->bij", psi, psi.conj())
    ref_rho = np.stack([rc.output_density(theta, r) for r in rhos_in])
    # Always one diagonal (Z-only) term, which takes the probability path in the engines.
    obs = random_pauli_sum(rng, alive, n_terms=4, max_weight=3) + PauliSum.single(
        f"Z{alive[-1]}", 0.25
    )
    ref_obs = [_expval_ref(obs, r, alive) for r in ref_rho]
    tol = TOL[dtype]
    msg = f"ops={[(o.name, o.qubits) for o in rc.ops]} discarded={circuit.discarded}"

    sv = StatevectorEngine(circuit, dtype=dtype)
    dm = DensityMatrixEngine(circuit, dtype=dtype)
    np.testing.assert_allclose(sv.expval(theta, psi, obs), ref_obs, atol=tol, err_msg=msg)
    if case % 2:  # a basis projector on a random subset of the alive qubits
        proj = random_projector(rng, alive)
        ref_proj = [_expval_ref(proj, r, alive) for r in ref_rho]
        out = sv.expval(theta, psi, proj)
        np.testing.assert_allclose(out, ref_proj, atol=tol, err_msg=f"{proj} {msg}")
    else:  # marginal probabilities of a random subset of the alive qubits, in random order
        measured = tuple(int(q) for q in rng.permutation(alive)[: max(1, len(alive) - 1)])
        ref_probs = np.stack([marginal_probs(r, measured, alive) for r in ref_rho])
        out = sv.probs(theta, psi, qubits=measured)
        np.testing.assert_allclose(out, ref_probs, atol=tol, err_msg=f"{measured} {msg}")
    if n < 8:  # at n = 8 the full output state below covers it (saves a ~3 s compilation)
        np.testing.assert_allclose(dm.expval(theta, rhos_in, obs), ref_obs, atol=tol, err_msg=msg)
    rho_out = np.asarray(dm.density_matrix(theta, rhos_in))
    assert rho_out.shape == (3, 2 ** len(alive), 2 ** len(alive))
    np.testing.assert_allclose(rho_out, ref_rho, atol=tol, err_msg=msg)


def _measurement_circuit(rng):
    """4 qubits, inputs on (2, 0, 3), qubit 1 fresh, three random 2-qubit unitaries, qubit 1
    discarded: cheap to compile, yet the register order, fresh qubit and trace all matter."""
    circuit = Circuit(4, input_qubits=[2, 0, 3])
    ops = []
    for qubits in [(3, 0), (1, 2), (0, 1)]:
        u = random_unitary(rng, 4)
        circuit.unitary(u, qubits)
        ops.append(RefOp("unitary", qubits, (), None, u))
    circuit.discard(1)
    return RandomCircuit(circuit, ops)


MEASUREMENTS = {
    # Z-only terms and the identity take the engines' diagonal path, the others the Pauli action.
    "pauli-sum": PauliSum.from_terms(
        [(0.3, "Z0 Z3"), (-0.2, "X2"), (0.1, "Y0 X2 Z3"), (0.25, ""), (0.15, "Y3 Y2")]
    ),
    "projector": BasisProjector((3, 0), (1, 0)),
    "projector-all": BasisProjector((0, 2, 3), (0, 1, 1)),
    "probs-alive": None,
    "probs-permuted": (3, 0),
}


@pytest.mark.parametrize("engine_cls", [StatevectorEngine, DensityMatrixEngine])
@pytest.mark.parametrize("what", list(MEASUREMENTS))
def test_measurements_match_reference(engine_cls, what, request):
    rng = make_rng(request)
    rc = _measurement_circuit(rng)
    alive = rc.circuit.alive_qubits
    assert alive == (0, 2, 3)
    psi = random_state(rng, 3, batch=3)
    rhos = np.einsum("bi,bj->bij", psi, psi.conj())
    ref_rho = np.stack([rc.output_density(np.zeros(0), r) for r in rhos])
    engine = engine_cls(rc.circuit, dtype="complex128")
    inputs = psi if engine_cls is StatevectorEngine else rhos
    spec = MEASUREMENTS[what]
    if what.startswith("probs"):
        out = engine.probs(np.zeros(0), inputs, qubits=spec)
        qubits = alive if spec is None else spec
        expected = np.stack([marginal_probs(r, qubits, alive) for r in ref_rho])
    else:
        out = engine.expval(np.zeros(0), inputs, spec)
        expected = [_expval_ref(spec, r, alive) for r in ref_rho]
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_density_engine_mixed_inputs(request):
    """Mixed input states: ``U rho U^dag`` then the partial trace, against the reference."""
    rng = make_rng(request)
    rc = random_circuit(rng, 3, 8)
    circuit = rc.circuit
    k = len(circuit.input_qubits)
    theta = random_theta(rng, circuit.n_params)
    rhos = np.stack([random_density_matrix(rng, k, rank=r) for r in (1, 2, 2**k)])
    dm = DensityMatrixEngine(circuit, dtype="complex128")
    out = np.asarray(dm.density_matrix(theta, rhos))
    ref = np.stack([rc.output_density(theta, r) for r in rhos])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    # A single density matrix (no batch axis) gives the unbatched result.
    np.testing.assert_allclose(dm.density_matrix(theta, rhos[1]), ref[1], atol=1e-12)


def test_density_engine_accepts_pure_states(rng):
    """Pure states ``(B, 2**k)`` and ``(2**k,)`` given to the density engine mean ``|psi><psi|``."""
    circuit = Circuit(3, input_qubits=[2, 0])
    a = circuit.parameter("a")
    circuit.ry(0, a).cnot(0, 1).crz(2, 1, 2 * a + 0.1).h(2).discard(2)
    psi = random_state(rng, 2, batch=3)
    theta = np.array([0.7])
    obs = PauliSum.from_terms([(0.5, "Z1"), (0.5, "X0 Y1")])
    dm = DensityMatrixEngine(circuit, dtype="complex128")
    sv = StatevectorEngine(circuit, dtype="complex128")
    from_pure = np.asarray(dm.expval(theta, psi, obs))
    from_rho = np.asarray(dm.expval(theta, np.einsum("bi,bj->bij", psi, psi.conj()), obs))
    np.testing.assert_allclose(from_pure, from_rho, atol=1e-12)
    np.testing.assert_allclose(from_pure, sv.expval(theta, psi, obs), atol=1e-12)
    np.testing.assert_allclose(dm.expval(theta, psi[0], obs), from_pure[0], atol=1e-12)


def test_default_input_is_all_zeros():
    """``psi=None`` means ``|0...0>`` on the input qubits, for both engines."""
    circuit = Circuit(2, input_qubits=[1])
    circuit.x(1)
    for engine in (StatevectorEngine(circuit), DensityMatrixEngine(circuit)):
        # X on qubit 1 of |00> gives |01>: <Z0> = 1, <Z1> = -1, P(qubits (1, 0) = (1, 0)) = 1.
        assert float(engine.expval(np.zeros(0), None, "Z0")) == pytest.approx(1.0, abs=1e-6)
        assert float(engine.expval(np.zeros(0), None, "Z1")) == pytest.approx(-1.0, abs=1e-6)
        probs = np.asarray(engine.probs(np.zeros(0), None, qubits=(1, 0)))
        np.testing.assert_allclose(probs, [0, 0, 1, 0], atol=1e-6)


def test_discarded_qubits_are_traced_out(rng):
    """A Bell pair with one half discarded leaves the maximally mixed state on the other half."""
    circuit = Circuit(3)
    circuit.h(0).cnot(0, 2).discard(0).ry(1, 0.4)
    dm = DensityMatrixEngine(circuit, dtype="complex128")
    rho = np.asarray(dm.density_matrix(np.zeros(0)))
    c, s = np.cos(0.2), np.sin(0.2)
    ry_zero = np.outer([c, s], [c, s])
    np.testing.assert_allclose(rho, np.kron(ry_zero, np.eye(2) / 2), atol=1e-12)
    assert circuit.alive_qubits == (1, 2)
    sv = StatevectorEngine(circuit, dtype="complex128")
    assert np.asarray(sv.state(np.zeros(0))).shape == (8,)  # purification keeps qubit 0
    np.testing.assert_allclose(sv.probs(np.zeros(0)), np.real(np.diagonal(rho)), atol=1e-12)
    assert float(sv.expval(np.zeros(0), None, BasisProjector((2,), (1,)))) == pytest.approx(0.5)


def test_make_engine_builds_both_engines():
    circuit = Circuit(1)
    circuit.rx(0, "a")
    assert isinstance(make_engine(circuit), StatevectorEngine)
    assert isinstance(make_engine(circuit, "density"), DensityMatrixEngine)
    sv = make_engine(circuit, "statevector", diff_method="backprop", dtype="complex128")
    assert sv.diff_method == "backprop" and sv.dtype == np.complex128


@pytest.mark.parametrize("x64", [False, True])
def test_complex64_results_do_not_depend_on_x64_mode(x64):
    """A complex64 engine gives float32/complex64 results and the same numbers whether or not
    another engine has switched ``jax_enable_x64`` on (tests must not depend on run order)."""
    jax.config.update("jax_enable_x64", x64)  # restored by the autouse fixture
    rng = np.random.default_rng(99)  # the same numbers for both parametrizations
    rc = random_circuit(rng, 2, 4, su4=False)
    circuit = rc.circuit
    theta = random_theta(rng, circuit.n_params)
    psi = random_state(rng, len(circuit.input_qubits))
    obs = random_pauli_sum(rng, circuit.alive_qubits)
    sv = StatevectorEngine(circuit)
    dm = DensityMatrixEngine(circuit)
    value = sv.expval(theta, psi, obs)
    rho = dm.density_matrix(theta, psi)
    assert value.dtype == np.float32 and rho.dtype == np.complex64
    ref_rho = rc.output_density(theta, np.outer(psi, psi.conj()))
    assert float(value) == pytest.approx(_expval_ref(obs, ref_rho, circuit.alive_qubits), abs=1e-6)
    np.testing.assert_allclose(rho, ref_rho, atol=1e-6)
