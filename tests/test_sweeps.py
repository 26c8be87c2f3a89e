"""The statevector engine's block sweeps (unrolled kernels vs one compiled scan), the factor
tables that build fused block matrices, and the compile-once behaviour of the fit loop.

References: a NumPy transpose for the scan's index maps, the dense simulator of ``conftest`` for
circuits, and the other kernels of the same engine (every kernel must give the same numbers).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (
    case_rng,
    count_compilations,
    observable_matrix,
    random_circuit,
    random_state,
    random_theta,
)
from qnnlab.circuits import PauliSum
from qnnlab.circuits.gates import gate_matrix
from qnnlab.engines import StatevectorEngine
from qnnlab.engines.plan import compile_circuit, gate_factors, ordered_product
from qnnlab.engines.statevector import AUTO_SCAN_MAX_QUBITS, resolve_kernel
from qnnlab.engines.sweeps import ScanSweep, block_view_indices
from qnnlab.models import hardware_efficient, qcnn, qcnn_readout
from qnnlab.training import QCNNClassifier, fit, init_params
from qnnlab.training.fit import batch_bucket


@pytest.mark.parametrize(("n", "qubits"), [(5, (3,)), (5, (4, 1)), (5, (0, 4, 2)), (6, (2, 3))])
def test_block_view_indices_match_a_transpose(n, qubits):
    m = len(qubits)
    x = np.arange(2**n)
    rest = [q for q in range(n) if q not in qubits]
    expected_view = np.transpose(x.reshape((2,) * n), list(qubits) + rest).reshape(2**m, -1)
    gin, gout = block_view_indices(jnp.asarray(qubits, jnp.int32), n, m)
    view = x[np.asarray(gin)].reshape(2**m, -1)
    np.testing.assert_array_equal(view, expected_view)
    np.testing.assert_array_equal(view.reshape(-1)[np.asarray(gout)], x)


def test_gate_factors_multiply_to_the_gate_matrix(rng):
    from qnnlab.circuits import Circuit

    c = Circuit(3)
    t = [float(a) for a in rng.uniform(-4, 4, 4)]
    c.u3(0, t[0], t[1], t[2]).crz(0, 1, t[3]).cswap(0, 1, 2).h(2).pauli_rot("X0 Y2", t[0])
    for op in c.operations:
        angles = np.asarray([a.offset for a in op.angles])
        product = np.eye(2 ** len(op.qubits), dtype=complex)
        for position, a, b, cc in gate_factors(op):
            angle = 0.0 if position is None else angles[position]
            product = (a + np.cos(angle / 2) * b + np.sin(angle / 2) * cc) @ product
        np.testing.assert_allclose(
            product, np.asarray(gate_matrix(op, jnp.asarray(angles))), atol=2e-6
        )


def test_ordered_product_keeps_the_order(rng):
    mats = rng.normal(size=(2, 5, 3, 3)) + 1j * rng.normal(size=(2, 5, 3, 3))
    expected = np.stack([np.linalg.multi_dot(list(m[::-1])) for m in mats])
    out = np.asarray(ordered_product(jnp.asarray(mats, jnp.complex64)))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def _random_case(n, case, request):
    rng = case_rng(case, request)
    rc = random_circuit(rng, n, 24, required=("cswap", "u3", "su4", "unitary"))
    theta = random_theta(rng, rc.circuit.n_params)  # float64: complex128 engines switch x64 on
    psi = random_state(rng, len(rc.circuit.input_qubits))
    alive = rc.circuit.alive_qubits
    obs = PauliSum.single(f"Z{alive[0]}") + PauliSum.single(f"X{alive[-1]}", 0.5)
    return rc, theta, psi, obs


def _value_and_grad(engine, obs, theta, psi):
    f = engine.expval_fn(obs)
    value, grad = jax.value_and_grad(lambda t: f(t, psi[None])[0])(theta)
    return float(value), np.asarray(grad)


def test_every_kernel_gives_the_same_value_and_gradient(request):
    rc, theta, psi, obs = _random_case(5, 0, request)
    results = {
        kernel: _value_and_grad(
            StatevectorEngine(rc.circuit, dtype="complex128", kernel=kernel), obs, theta, psi
        )
        for kernel in ("slices", "dot", "stacked", "scan")
    }
    for kernel, (value, grad) in results.items():
        np.testing.assert_allclose(value, results["slices"][0], atol=1e-12, err_msg=kernel)
        np.testing.assert_allclose(grad, results["slices"][1], atol=1e-12, err_msg=kernel)


@pytest.mark.parametrize(("n", "case", "fused"), [(6, 2, 3)])
def test_scan_sweep_matches_the_dense_reference(n, case, fused, request):
    """Value against the independent dense simulator, gradient against its central finite
    differences (step 1e-5 in float64: truncation ~1e-10, rounding ~1e-11)."""
    rc, theta, psi, obs = _random_case(n, case, request)
    engine = StatevectorEngine(
        rc.circuit, dtype="complex128", kernel="scan", max_fused_qubits=fused
    )
    assert any(stop - start > 1 for start, stop in engine.sweep.segments()), "no scan ran"
    obs_matrix = observable_matrix(obs, rc.circuit.alive_qubits)
    rho_in = np.outer(psi, psi.conj())

    def reference(t):
        return float(np.real(np.trace(obs_matrix @ rc.output_density(t, rho_in))))

    value, grad = _value_and_grad(engine, obs, theta, psi)
    np.testing.assert_allclose(value, reference(theta), atol=1e-10)
    h = 1e-5
    fd = [
        (reference(theta + h * e) - reference(theta - h * e)) / (2 * h) for e in np.eye(len(theta))
    ]
    np.testing.assert_allclose(grad, fd, atol=1e-7)


def test_scan_segments_split_by_block_size():
    circuit = hardware_efficient(6, 4)
    sweep = ScanSweep(compile_circuit(circuit), None)
    covered = [i for start, stop in sweep.segments() for i in range(start, stop)]
    assert covered == list(range(len(sweep.plan.blocks)))
    for start, stop in sweep.segments():
        sizes = {b.n_qubits for b in sweep.plan.blocks[start:stop]}
        assert len(sizes) == 1


def _lowered_lines(circuit, kernel):
    engine = StatevectorEngine(circuit, kernel=kernel)
    f = engine.expval_fn(qcnn_readout(circuit) if circuit.name.startswith("qcnn") else "Z0")
    psi = jnp.ones((4, 2 ** len(circuit.input_qubits)), jnp.complex64) / 2 ** (
        len(circuit.input_qubits) / 2
    )
    theta = jnp.zeros(circuit.n_params, jnp.float32)
    text = jax.jit(jax.grad(lambda t: jnp.sum(f(t, psi)))).lower(theta).as_text()
    return len([line for line in text.splitlines() if re.search(r"= \S", line)])


def test_scan_program_does_not_grow_with_depth():
    """The compile-time guarantee: a circuit four times deeper lowers to the same program size
    with the scan sweep (the unrolled kernels grow linearly)."""
    shallow, deep = hardware_efficient(6, 2), hardware_efficient(6, 8)
    scan = _lowered_lines(shallow, "scan"), _lowered_lines(deep, "scan")
    unrolled = _lowered_lines(shallow, "slices"), _lowered_lines(deep, "slices")
    assert scan[1] <= 1.1 * scan[0], scan
    assert unrolled[1] > 2.5 * unrolled[0], unrolled


def test_auto_kernel_switches_at_the_documented_size():
    assert resolve_kernel("auto", AUTO_SCAN_MAX_QUBITS) == "scan"
    assert resolve_kernel("auto", AUTO_SCAN_MAX_QUBITS + 1) == "slices"
    with pytest.raises(ValueError, match="kernel must be one of"):
        resolve_kernel("fast", 4)


@pytest.mark.parametrize(("m", "batch_size", "rows"), [(40, 32, 32), (20, 32, 32), (9, 32, 16)])
def test_batch_bucket(m, batch_size, rows):
    assert batch_bucket(m, batch_size) == rows


def _states(n, count, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 2**n)) + 1j * rng.normal(size=(count, 2**n))
    return x / np.linalg.norm(x, axis=1, keepdims=True), rng.integers(0, 2, count)


def test_a_fit_on_another_dataset_size_compiles_nothing_new():
    """Batches and chunks are padded to buckets and cut on the host, so a second fit (and its
    predictions) on a dataset of another size reuses every compiled program."""
    X, y = _states(4, 40, 0)
    QCNNClassifier(epochs=1, batch_size=32).fit(X, y).predict(X)
    X2, y2 = _states(4, 47, 1)
    with count_compilations() as compiled:
        clf = QCNNClassifier(epochs=2, batch_size=32, seed=1).fit(X2, y2)
        clf.predict(X2[:5])
        clf.score(X2, y2)
    heavy = [name for name in compiled if name in ("_train_step", "_apply_model")]
    assert heavy == [], compiled


def test_bucketed_full_batch_equals_the_unpadded_loss():
    """Padding a 20-sample full batch to 32 rows (weight 0) changes nothing: the first step's
    loss equals the plain mean over the 20 samples."""
    circuit = qcnn(4)
    engine = StatevectorEngine(circuit)
    model = engine.expval_fn(qcnn_readout(circuit))
    X, y = _states(4, 20, 3)
    X = jnp.asarray(X, jnp.complex64)
    theta0 = init_params(circuit.n_params, 0)
    result = fit(model, theta0, X, y, epochs=1, batch_size=64, learning_rate=0.0)
    e = np.asarray(model(theta0, X))
    expected = np.mean((e - (2 * y - 1)) ** 2)
    np.testing.assert_allclose(result.history["train_loss"][0], expected, rtol=1e-5)
