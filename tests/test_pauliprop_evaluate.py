"""Evaluating packed Pauli tables on data: dense states (both routes) and product states equal
``<psi|P|psi>`` from textbook matrices to 1e-12; the MPS sweep equals dense to 1e-10 (real and
complex tensors, long strings, chunked sweeps); shadow estimates of a whole table equal the
per-string estimator and sit within their error bars; a propagated 8-qubit QCNN observable
evaluated on dense states and on their MPS equals the statevector engine to 1e-10.

References are rebuilt from ``conftest.PAULI`` (Kronecker products), not from the code under
test.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import PAULI, kron_all, random_state
from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.data.mps import MPS, random_mps
from qnnlab.engines import StatevectorEngine
from qnnlab.engines.pauliprop import evaluate as ev
from qnnlab.engines.pauliprop import propagate
from qnnlab.engines.pauliprop.evaluate import (
    EvaluationError,
    ProductStates,
    expvals,
    operator_expval,
    pauli_expvals_dense,
    pauli_expvals_mps,
    pauli_expvals_product,
    pauli_expvals_shadow,
    pauli_expvals_zero,
)
from qnnlab.models import qcnn, qcnn_readout
from qnnlab.shadows import estimate, estimate_table, sample_shadow


def random_labels(rng, n: int, count: int, identity: bool = True) -> list[str]:
    """Dense labels, every letter uniform in I, X, Y, Z (plus the identity string)."""
    labels = ["".join(rng.choice(list("IXYZ"), size=n)) for _ in range(count)]
    return (["I" * n] if identity else []) + labels


def reference(labels: list[str], states: np.ndarray) -> np.ndarray:
    """``<psi|P|psi>`` from Kronecker products of the Pauli matrices, ``(B, T)``."""
    mats = [kron_all([PAULI[c] for c in label]) for label in labels]
    return np.array([[np.vdot(psi, m @ psi).real for m in mats] for psi in states])


# ---------------------------------------------------------------------------------------------
# dense and product states


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("method", ["auto", "wht", "direct"])
def test_dense_matches_matrices(seed, n, method):
    rng = np.random.default_rng(seed)
    labels = random_labels(rng, n, 80)  # many strings per x-pattern: both routes in "auto"
    table = PauliTable.from_strings(labels, n)
    states = random_state(rng, n, batch=3)
    got = pauli_expvals_dense(table, states, method=method)
    assert got.shape == (3, len(labels)) and got.dtype == np.float64
    np.testing.assert_allclose(got, reference(labels, states), atol=1e-12)
    single = pauli_expvals_dense(table, states[1], method=method)
    np.testing.assert_allclose(single, got[1], atol=1e-14)


def test_dense_chunks_and_routes_agree(seed, monkeypatch):
    """A tiny memory budget forces one state and one pattern per chunk; results do not change."""
    rng = np.random.default_rng(seed)
    n = 5
    labels = random_labels(rng, n, 120)
    table = PauliTable.from_strings(labels, n)
    states = random_state(rng, n, batch=4)
    want = reference(labels, states)
    monkeypatch.setattr(ev, "MEMORY_BUDGET", 1)
    for method in ("auto", "wht", "direct"):
        np.testing.assert_allclose(
            pauli_expvals_dense(table, states, method=method), want, atol=1e-12
        )


def test_product_states_match_dense(seed):
    rng = np.random.default_rng(seed)
    n, batch = 4, 3
    amps = rng.normal(size=(batch, n, 2)) + 1j * rng.normal(size=(batch, n, 2))
    amps /= np.linalg.norm(amps, axis=2, keepdims=True)
    dense = np.array([kron_all([a[:, None] for a in state])[:, 0] for state in amps])
    labels = random_labels(rng, n, 60)
    table = PauliTable.from_strings(labels, n)
    want = reference(labels, dense)
    states = ProductStates.from_amplitudes(amps)
    np.testing.assert_allclose(pauli_expvals_product(table, states), want, atol=1e-12)
    np.testing.assert_allclose(pauli_expvals_product(table, states.bloch[2]), want[2], atol=1e-12)
    np.testing.assert_allclose(expvals(table, states), want, atol=1e-12)
    zero = np.zeros(2**n)
    zero[0] = 1.0
    np.testing.assert_allclose(pauli_expvals_zero(table), reference(labels, zero[None])[0])
    np.testing.assert_allclose(
        pauli_expvals_product(table, ProductStates.zeros(n)), reference(labels, zero[None])
    )


def test_product_state_checks():
    with pytest.raises(EvaluationError, match=r"\(B, n, 3\)"):
        ProductStates(np.zeros((2, 3)))
    with pytest.raises(EvaluationError, match="length <= 1"):
        ProductStates(np.full((1, 2, 3), 0.9))
    with pytest.raises(EvaluationError, match="2 qubits but the product state has 3"):
        pauli_expvals_product(PauliTable.from_strings(["Z0"], 2), ProductStates.zeros(3))


# ---------------------------------------------------------------------------------------------
# MPS


@pytest.mark.parametrize("n,chi,dtype", [(8, 4, np.complex128), (10, 8, np.float64)])
def test_mps_matches_dense(seed, n, chi, dtype):
    rng = np.random.default_rng(seed)
    mps = random_mps(n, chi, seed=seed, dtype=dtype)
    psi = mps.to_dense()
    labels = random_labels(rng, n, 150)  # long strings with identities in between
    labels += ["X" + "I" * (n - 1), "Z" + "I" * (n - 2) + "Y", "I" * (n - 1) + "X"]
    table = PauliTable.from_strings(labels, n)
    got = pauli_expvals_mps(table, mps)
    np.testing.assert_allclose(got, pauli_expvals_dense(table, psi), atol=1e-10)
    strings = table.strings()
    for j in (1, 2, len(labels) - 2):
        assert got[j] == pytest.approx(mps.expectation(strings[j]), abs=1e-12)


def test_mps_dataset_and_chunked_sweeps(seed, monkeypatch):
    """A list of MPS gives ``(B, T)``; a budget of one environment per sweep changes nothing
    (every string then opens, shares nothing and closes in its own sweep)."""
    rng = np.random.default_rng(seed)
    n = 7
    states = [random_state(rng, n) for _ in range(3)]
    mps = [MPS.from_dense(psi) for psi in states]
    labels = random_labels(rng, n, 40)
    table = PauliTable.from_strings(labels, n)
    want = reference(labels, np.array(states))
    got = pauli_expvals_mps(table, mps)
    assert got.shape == (3, len(labels))
    np.testing.assert_allclose(got, want, atol=1e-10)
    monkeypatch.setattr(ev, "MEMORY_BUDGET", 1)
    np.testing.assert_allclose(pauli_expvals_mps(table, mps[0]), want[0], atol=1e-10)


def test_mps_many_local_strings_on_a_long_chain(seed):
    """200 qubits: every short string against MPS.expectation (one contraction per string)."""
    rng = np.random.default_rng(seed)
    n, count = 200, 300
    first = rng.integers(0, n - 4, size=count)
    terms = np.repeat(np.arange(count), 3)
    qubits = (first[:, None] + np.array([0, 1, 3])).ravel()
    codes = rng.integers(1, 4, size=3 * count)
    table = PauliTable.from_sparse(count, n, terms, qubits, codes)
    mps = random_mps(n, 6, seed=seed)
    got = pauli_expvals_mps(table, mps)
    strings = table.strings()
    for j in rng.choice(count, size=20, replace=False):
        assert got[j] == pytest.approx(mps.expectation(strings[j]), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# shadows


def test_shadow_table_equals_per_string_estimates(seed):
    rng = np.random.default_rng(seed)
    n = 4
    psi = random_state(rng, n)
    shadow = sample_shadow(psi, 3000, seed=seed)
    labels = random_labels(rng, n, 40)
    table = PauliTable.from_strings(labels, n)
    est = estimate_table(shadow, table, groups=7)
    for j, label in enumerate(labels):
        one = estimate(shadow, label, groups=7)
        assert est.values[j] == one.value  # exact: integer group sums times 3^w
        assert est.errors[j] == pytest.approx(one.error)
        assert est.std_errors[j] == pytest.approx(one.std_error)
        assert est[j].shadow_norm == pytest.approx(one.shadow_norm)
    values, errors = pauli_expvals_shadow(table, shadow, groups=7)
    np.testing.assert_array_equal(values, est.values)
    np.testing.assert_array_equal(errors, est.errors)


def test_shadow_estimates_lie_within_their_error_bars(seed):
    """Unbiased: on a known state every string's median of means is within its bound (which
    holds per string with probability >= 0.99; the constant 34 makes misses far rarer)."""
    rng = np.random.default_rng(seed)
    n = 5
    psi = random_state(rng, n)
    labels = random_labels(rng, n, 100)
    table = PauliTable.from_strings(labels, n)
    shadow = sample_shadow(psi, 4000, seed=seed)
    values, errors = pauli_expvals_shadow(table, shadow)
    exact = reference(labels, psi[None])[0]
    assert np.all(np.abs(values - exact) <= errors + 1e-12)
    assert values[0] == 1.0 and errors[0] == 0.0  # the identity
    # the plain mean over a larger shadow is unbiased within 5 standard errors
    big = sample_shadow(psi, 20000, seed=seed + 1)
    plain = estimate_table(big, table, groups=1)
    ok = plain.std_errors > 0
    assert np.all(np.abs(plain.values - exact)[ok] <= 5 * plain.std_errors[ok] + 1e-12)
    batch_values, batch_errors = pauli_expvals_shadow(table, [shadow, shadow[:2000]])
    assert batch_values.shape == batch_errors.shape == (2, len(labels))
    np.testing.assert_array_equal(batch_values[0], values)


def test_shadow_table_chunks(seed, monkeypatch):
    """A tiny memory budget (one snapshot per block) gives the same numbers."""
    from qnnlab.shadows import estimators

    rng = np.random.default_rng(seed)
    shadow = sample_shadow(random_state(rng, 3), 500, seed=seed)
    table = PauliTable.from_strings(random_labels(rng, 3, 30), 3)
    want = estimate_table(shadow, table)
    monkeypatch.setattr(estimators, "TABLE_MEMORY_BUDGET", 1)
    got = estimate_table(shadow, table)
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_allclose(got.std_errors, want.std_errors)


# ---------------------------------------------------------------------------------------------
# dispatch and operators


def test_dispatch_routes_and_errors(seed):
    rng = np.random.default_rng(seed)
    n = 4
    psi = random_state(rng, n, batch=2)
    labels = random_labels(rng, n, 20)
    table = PauliTable.from_strings(labels, n)
    want = reference(labels, psi)
    np.testing.assert_allclose(expvals(table, psi), want, atol=1e-12)
    np.testing.assert_allclose(expvals(table, psi[0]), want[0], atol=1e-12)
    mps = [MPS.from_dense(p) for p in psi]
    np.testing.assert_allclose(expvals(table, mps[0]), want[0], atol=1e-10)
    np.testing.assert_allclose(expvals(table, mps), want, atol=1e-10)
    shadows = [sample_shadow(p, 200, seed=seed) for p in psi]
    assert expvals(table, shadows[0]).shape == (len(labels),)
    assert expvals(table, tuple(shadows)).shape == (2, len(labels))
    for bad in (None, "psi", [], [mps[0], shadows[0]], [psi[0]]):
        with pytest.raises(EvaluationError, match="cannot evaluate"):
            expvals(table, bad)
    with pytest.raises(EvaluationError, match="length 8 do not match"):
        expvals(table, np.ones(8))
    with pytest.raises(EvaluationError, match="4 qubits but the MPS has 3"):
        expvals(table, random_mps(3, 2, seed=0))
    with pytest.raises(EvaluationError, match="expected a PauliTable"):
        expvals(labels, psi)
    with pytest.raises(EvaluationError, match="NaN"):
        expvals(table, np.full(16, np.nan))
    with pytest.raises(EvaluationError, match="method"):
        pauli_expvals_dense(table, psi, method="fast")


def test_operator_expval_maps_input_qubits(seed):
    """Input qubits (3, 0) of a 4-qubit circuit: data qubit 0 is circuit qubit 3."""
    rng = np.random.default_rng(seed)
    c = Circuit(4, input_qubits=[3, 0])
    theta_slots = c.parameters(3)
    c.ry(1, theta_slots[0]).cnot(3, 1).rx(0, theta_slots[1]).cnot(0, 2).ry(2, theta_slots[2])
    obs = "Z1 X2"
    theta = rng.uniform(0, 2 * np.pi, size=c.n_params)
    result = propagate(c, obs, theta)
    psi = random_state(rng, 2, batch=3)
    engine = StatevectorEngine(c, dtype="complex128")
    want = np.asarray(engine.expval(theta, psi, obs))
    np.testing.assert_allclose(operator_expval(result, psi, c.input_qubits), want, atol=1e-10)
    one = operator_expval(result.operator, psi[0], c.input_qubits)
    assert isinstance(one, float) and one == pytest.approx(want[0], abs=1e-10)
    with pytest.raises(EvaluationError, match="input qubits"):
        operator_expval(result, psi, [0, 1])


def test_propagated_qcnn_on_dense_and_mps_equals_statevector(seed):
    rng = np.random.default_rng(seed)
    c = qcnn(8)
    obs = qcnn_readout(c)
    theta = rng.uniform(0, 2 * np.pi, size=c.n_params)
    result = propagate(c, obs, theta)
    psi = random_state(rng, 8, batch=4)
    want = np.asarray(StatevectorEngine(c, dtype="complex128").expval(theta, psi, obs))
    dense = operator_expval(result, psi, c.input_qubits)
    np.testing.assert_allclose(dense, want, atol=1e-10)
    mps = [MPS.from_dense(p) for p in psi]
    np.testing.assert_allclose(operator_expval(result, mps, c.input_qubits), want, atol=1e-10)
