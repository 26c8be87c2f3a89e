"""The compiled surrogate (qnnlab.surrogate) against the interpreted Pauli-propagation engine
and the statevector engine: coefficients, gradients, expectation values, cuts, errors, fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qnnlab.circuits.paulis import pauli
from qnnlab.engines.pauliprop import propagate
from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.models import qcnn, qcnn_readout
from qnnlab.surrogate import SurrogateError, compile_surrogate
from qnnlab.training.fit import fit


@pytest.fixture(scope="module")
def model():
    c = qcnn(4, conv_block="su4")
    return c, qcnn_readout(c)


def _theta(c, seed):
    return np.random.default_rng(seed).uniform(0, 2 * np.pi, c.n_params)


def _as_dict(table, coeffs):
    return {
        a.tobytes() + b.tobytes(): float(v)
        for a, b, v in zip(table.x, table.z, coeffs, strict=True)
    }


def _max_diff(table_a, coeffs_a, table_b, coeffs_b):
    a, b = _as_dict(table_a, coeffs_a), _as_dict(table_b, coeffs_b)
    return max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _features(table, states):
    """``(B, T)`` ``<psi|P|psi>`` by bit arithmetic (qubit 0 most significant)."""
    n = table.n_qubits
    codes = table.codes().astype(np.int64)
    x, z = codes & 1, codes >> 1
    powers = 1 << (n - 1 - np.arange(n))
    flip, zmask, n_y = x @ powers, z @ powers, np.sum(x & z, axis=1)
    idx = np.arange(2**n)
    parity = (np.bitwise_count(idx[None, :] & zmask[:, None]) & 1).astype(np.int64)
    sign = (1j**n_y)[:, None] * (1 - 2 * parity)
    out = np.einsum("btd,bd,td->bt", states[:, idx[None, :] ^ flip[:, None]].conj(), states, sign)
    return out.real


def _random_states(n, b, seed):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=(b, 2**n)) + 1j * rng.normal(size=(b, 2**n))
    return psi / np.linalg.norm(psi, axis=1, keepdims=True)


def test_features_helper_matches_dense_matrices():
    """The test's feature helper equals <psi|P|psi> from PauliString.matrix."""
    from qnnlab.circuits.pauli_table import PauliTable

    strings = ["X0 Y2", "Z1 Y3", "Y0 X1 Z2 Z3", "IIII"]
    table = PauliTable.from_strings(strings, 4)
    psi = _random_states(4, 2, 0)
    dense = np.array([[np.vdot(p, pauli(s).matrix(4) @ p).real for s in strings] for p in psi])
    np.testing.assert_allclose(_features(table, psi), dense, atol=1e-12)


def test_uncut_equals_engine_and_statevector(model):
    """No cut, float64: coefficients equal the interpreted engine at new angles; expval_fn on
    dense-state features and its gradient equal the statevector engine (1e-10)."""
    c, obs = model
    s = compile_surrogate(c, obs, dtype="float64")
    theta = _theta(c, 7)
    coeffs = np.asarray(jax.jit(s)(jnp.asarray(theta)))
    r = propagate(c, obs, theta)
    assert (
        _max_diff(s.reference.operator.table, coeffs, r.operator.table, r.operator.coeffs) < 1e-10
    )
    psi = _random_states(4, 3, 1)
    X = _features(s.table, psi)
    f = s.expval_fn()
    sv = StatevectorEngine(c, dtype="complex128").expval_fn(obs)
    np.testing.assert_allclose(np.asarray(f(theta, X)), np.asarray(sv(theta, psi)), atol=1e-10)
    g = jax.grad(lambda t: jnp.sum(f(t, X)))(jnp.asarray(theta))
    g_sv = jax.grad(lambda t: jnp.sum(sv(t, psi).real))(jnp.asarray(theta))
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_sv), atol=1e-10)


def _interpreted_zero(c, obs, theta, **kw):
    return propagate(c, obs, theta, **kw).expval_zero()


@pytest.mark.parametrize(
    "cuts",
    [dict(max_weight=3), dict(max_weight=3, max_freq=20, mode="gates")],
)
def test_structural_cuts_equal_interpreted_engine(model, cuts):
    """Weight and frequency cuts: equal to the truncated engine at several theta, gradient on
    |0..0> equal to central finite differences of the interpreted engine."""
    c, obs = model
    s = compile_surrogate(c, obs, dtype="float64", **cuts)
    assert s.n_terms > 0
    prop_kw = {k: v for k, v in cuts.items()}
    for seed in (1, 2, 3):
        theta = _theta(c, seed)
        r = propagate(c, obs, theta, **prop_kw)
        got = np.asarray(s(theta))
        assert (
            _max_diff(s.reference.operator.table, got, r.operator.table, r.operator.coeffs) < 1e-10
        )
    zero = (~np.any(s.table.x, axis=1)).astype(np.float64)[None, :]
    f = s.expval_fn()
    theta = _theta(c, 4)
    g = np.asarray(jax.grad(lambda t: f(t, zero)[0])(jnp.asarray(theta)))
    h = 1e-5
    for k in (0, c.n_params - 1):
        e = np.zeros(c.n_params)
        e[k] = h
        fd = (_interpreted_zero(c, obs, theta + e, **prop_kw)
              - _interpreted_zero(c, obs, theta - e, **prop_kw)) / (2 * h)  # fmt: skip
        assert abs(g[k] - fd) < 1e-7


@pytest.mark.parametrize("cuts", [dict(min_coeff=1e-3), dict(max_terms=200, max_weight=4)])
def test_coefficient_cuts_are_exact_at_reference(model, cuts):
    """min_coeff / max_terms: the frozen-support surrogate equals the truncated engine at
    reference_theta (and differs from it elsewhere, where the engine keeps other strings)."""
    c, obs = model
    ref = _theta(c, 11)
    s = compile_surrogate(c, obs, reference_theta=ref, dtype="float64", **cuts)
    r = propagate(c, obs, ref, **cuts)
    np.testing.assert_allclose(np.asarray(s(ref)), r.operator.coeffs, atol=1e-10)
    assert s.n_terms == r.n_terms


def test_coefficient_cut_needs_reference_theta(model):
    c, obs = model
    for cuts in (dict(min_coeff=1e-3), dict(max_terms=10)):
        with pytest.raises(SurrogateError, match="reference_theta"):
            compile_surrogate(c, obs, **cuts)


def test_bad_dtype_theta_and_features(model):
    c, obs = model
    with pytest.raises(SurrogateError, match="dtype"):
        compile_surrogate(c, obs, max_weight=2, dtype="float16")
    s = compile_surrogate(c, obs, max_weight=2)
    with pytest.raises(SurrogateError, match="parameters"):
        s(np.zeros(c.n_params + 1))
    with pytest.raises(SurrogateError, match=r"\(B, "):
        s.expval_fn()(np.zeros(c.n_params), np.zeros((2, s.n_terms + 1)))


def test_float32_default_vmap_and_jacobian(model):
    """float32 by default; vmap over theta and jacobian agree with single calls."""
    c, obs = model
    s = compile_surrogate(c, obs, max_weight=2)
    thetas = jnp.asarray(np.stack([_theta(c, k) for k in range(3)]), jnp.float32)
    batched = jax.jit(jax.vmap(s))(thetas)
    assert batched.dtype == jnp.float32 and batched.shape == (3, s.n_terms)
    for k in range(3):
        np.testing.assert_allclose(np.asarray(batched[k]), np.asarray(s(thetas[k])), atol=1e-6)
    J = jax.jacobian(s)(thetas[0])
    assert J.shape == (s.n_terms, c.n_params) and bool(jnp.all(jnp.isfinite(J)))
    r = propagate(c, obs, np.asarray(thetas[0], np.float64), max_weight=2)
    assert _max_diff(s.reference.operator.table, np.asarray(s(thetas[0])), r.operator.table,
                     r.operator.coeffs) < 1e-5  # fmt: skip


def test_fit_trains_a_surrogate():
    """training.fit trains expval_fn on random features: the training loss goes down."""
    c = qcnn(4, conv_block="su4")
    s = compile_surrogate(c, qcnn_readout(c), max_weight=2)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (16, s.n_terms)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int32)
    theta0 = jnp.asarray(_theta(c, 0), jnp.float32)
    res = fit(s.expval_fn(), theta0, X, y, epochs=15, batch_size=8, learning_rate=0.05)
    assert res.history["train_loss"][-1] < res.history["train_loss"][0]
