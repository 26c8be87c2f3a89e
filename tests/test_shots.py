"""Finite shots: estimates follow the binomial model, are reproducible from the seed only, and
bitstring frequencies follow ``probs``.

Statistical checks use fixed seeds, so they are deterministic; the windows (4 sigma, or a
chi-square quantile at ``1 - 1e-4``) are what a correct sampler passes for all but ~1e-3 of
seeds (all checks together), while a wrong variance, probability or bit order misses them by
many sigma.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from conftest import count_compilations, embed, observable_matrix, random_state, ref_gate
from qnnlab.circuits import BasisProjector, Circuit, PauliSum
from qnnlab.engines import (
    DensityMatrixEngine,
    InputError,
    StatevectorEngine,
    sample_bitstrings,
    sample_expval,
    shot_expval_fn,
)

SHOTS = 200
N_SEEDS = 2000
OBS = PauliSum.from_terms([(0.7, "Z1"), (-0.3, "X0 Y2"), (0.5, "Z0 Z2")])


def shot_circuit() -> Circuit:
    c = Circuit(3)
    a, b = c.parameters(2)
    c.ry(0, a).crx(0, 1, b).h(2).cry(2, 1, 2 * a - 0.4).rz(2, 0.3)
    return c


THETA = np.array([0.9, -1.3])


def reference_expvals(obs, inputs) -> np.ndarray:
    """Exact ``<O>`` per input state from the NumPy reference of ``shot_circuit`` at THETA."""
    a, b = THETA
    u = np.eye(8, dtype=complex)
    for name, qubits, angles in [
        ("ry", (0,), [a]),
        ("crx", (0, 1), [b]),
        ("h", (2,), []),
        ("cry", (2, 1), [2 * a - 0.4]),
        ("rz", (2,), [0.3]),
    ]:
        u = embed(ref_gate(name, angles), qubits, 3) @ u
    out = inputs @ u.T
    return np.real(np.einsum("bi,ij,bj->b", out.conj(), observable_matrix(obs, (0, 1, 2)), out))


@pytest.fixture
def engine():
    return StatevectorEngine(shot_circuit(), dtype="complex128")


@pytest.fixture
def tiny():
    """A one-gate engine for the tests that call ``sample_expval`` repeatedly (each call
    compiles, so the cheaper the circuit the better)."""
    c = Circuit(1)
    c.ry(0, "a")
    return StatevectorEngine(c, dtype="complex128"), PauliSum.from_terms([(0.5, "Z0"), (0.5, "X0")])


@pytest.fixture
def inputs(rng):
    return random_state(rng, 3, batch=2)


@pytest.mark.parametrize("observable", ["pauli-sum", "projector"])
def test_sample_expval_follows_the_binomial_model(engine, inputs, observable):
    obs = OBS if observable == "pauli-sum" else BasisProjector((2, 0), (1, 0))
    exact = reference_expvals(obs, inputs)  # (B,)
    if observable == "pauli-sum":
        # Each term measured on its own: Var = sum_k c_k^2 (1 - <P_k>^2) / shots.
        terms = np.stack([reference_expvals(PauliSum(((1.0, p),)), inputs) for _, p in obs.terms])
        coeffs = np.array([c for c, _ in obs.terms])
        variance = np.sum(coeffs[:, None] ** 2 * (1 - terms**2), axis=0) / SHOTS
    else:
        variance = exact * (1 - exact) / SHOTS  # one Bernoulli outcome per shot
    assert np.all(variance > 1e-4)  # not a degenerate case

    one = shot_expval_fn(engine, obs, SHOTS)
    if observable == "projector":  # vmap over keys works ...
        fn = jax.jit(jax.vmap(one, in_axes=(None, None, 0)))
    else:  # ... and lax.map gives the same kind of draws and compiles faster
        fn = jax.jit(lambda t, x, ks: jax.lax.map(lambda k: one(t, x, k), ks))
    keys = jax.random.split(jax.random.key(11), N_SEEDS)
    draws = np.asarray(fn(jnp.asarray(THETA), jnp.asarray(inputs), keys))  # (seeds, B)
    assert draws.shape == (N_SEEDS, 2)
    # Mean within 4 standard errors of the exact value.
    se = np.sqrt(variance / N_SEEDS)
    assert np.all(np.abs(draws.mean(axis=0) - exact) < 4 * se), (draws.mean(axis=0), exact)
    # Sample variance: its relative standard error is sqrt(2 / (N - 1)) = 3.2 % for
    # near-Gaussian estimates (200 shots); 4 sigma = 13 %.
    rel = draws.var(axis=0, ddof=1) / variance
    assert np.all(np.abs(rel - 1) < 4 * np.sqrt(2 / (N_SEEDS - 1))), rel
    # Estimates live on the shot grid: projector -> k / shots; Pauli term -> (2k / shots - 1).
    if observable == "projector":
        np.testing.assert_allclose(draws * SHOTS, np.round(draws * SHOTS), atol=1e-6)


def test_sample_expval_seeding(tiny, rng):
    """Same seed, same estimate (an int seed means ``jax.random.key(seed)``); other seeds differ.
    (Three calls only: each call currently recompiles, see the recompilation test below.)"""
    engine, obs = tiny
    psi = random_state(rng, 1, batch=4)
    theta = np.array([0.4])
    shots = 100_000  # a fine grid of possible estimates: different seeds cannot tie by chance
    a = np.asarray(sample_expval(engine, theta, psi, obs, shots=shots, seed=1))
    b = np.asarray(sample_expval(engine, theta, psi, obs, shots=shots, seed=jax.random.key(1)))
    c = sample_expval(engine, theta, psi[0], obs, shots=shots, seed=2)
    assert a.shape == (4,) and np.ndim(c) == 0  # a single state gives a scalar
    np.testing.assert_array_equal(a, b)
    assert float(c) != a[0]


def test_sample_expval_needs_an_explicit_seed_and_positive_shots(engine):
    with pytest.raises(InputError, match="needs an explicit seed"):
        sample_expval(engine, THETA, None, OBS, shots=SHOTS, seed=None)
    for shots in (0, -5, 10.0, True):
        with pytest.raises(InputError, match="shots must be a positive integer"):
            sample_expval(engine, THETA, None, OBS, shots=shots, seed=0)
    with pytest.raises(InputError, match="needs an explicit seed"):
        sample_bitstrings(engine, THETA, None, shots=10, seed=None)
    with pytest.raises(InputError, match="shots must be a positive integer"):
        sample_bitstrings(engine, THETA, None, shots=0, seed=0)


def test_numpy_integer_seed_works_like_an_int(tiny):
    """Seeds often come from NumPy (``rng.integers``); ``np.int64(3)`` should mean seed 3.

    Fails today: ``as_key`` only recognises Python ``int`` and passes the NumPy scalar on as if
    it were a key, and JAX raises ``TypeError: JAX encountered invalid PRNG key data``.
    """
    engine, obs = tiny
    a = sample_expval(engine, np.array([0.4]), None, obs, shots=SHOTS, seed=3)
    b = sample_expval(engine, np.array([0.4]), None, obs, shots=SHOTS, seed=np.int64(3))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [StatevectorEngine, DensityMatrixEngine])
def test_bitstring_frequencies_match_probs(cls, inputs):
    circuit = shot_circuit()
    engine = cls(circuit, dtype="complex128")
    if cls is DensityMatrixEngine:
        inputs = np.einsum("bi,bj->bij", inputs, inputs.conj())
    shots = 20_000
    for qubits in (None, (2, 0)):
        probs = np.asarray(engine.probs(THETA, inputs, qubits=qubits))  # (B, 2**k)
        bits = np.asarray(
            sample_bitstrings(engine, THETA, inputs, shots=shots, seed=5, qubits=qubits)
        )
        k = 3 if qubits is None else 2
        assert bits.shape == (2, shots, k) and bits.dtype == np.int8
        assert set(np.unique(bits)) <= {0, 1}
        # Big-endian: the first listed qubit is the most significant bit of the outcome index.
        index = bits.astype(np.int64) @ (2 ** np.arange(k - 1, -1, -1))
        for b in range(2):
            counts = np.bincount(index[b], minlength=2**k)
            expected = shots * probs[b]
            keep = expected > 5  # chi-square needs non-tiny expected counts
            assert counts[~keep].sum() <= 5 + 4 * np.sqrt(max(expected[~keep].sum(), 1))
            chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
            limit = scipy.stats.chi2.ppf(1 - 1e-4, df=max(keep.sum() - 1, 1))
            assert chi2 < limit, (qubits, b, counts, expected)


def test_bitstrings_seeding_and_single_state(engine):
    psi = np.zeros(8, dtype=np.complex128)
    psi[[1, 6]] = 1 / np.sqrt(2)
    a = np.asarray(sample_bitstrings(engine, THETA, psi, shots=64, seed=9))
    b = np.asarray(sample_bitstrings(engine, THETA, psi, shots=64, seed=9))
    c = np.asarray(sample_bitstrings(engine, THETA, psi, shots=64, seed=10))
    assert a.shape == (64, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_deterministic_outcomes():
    """Basis-state outputs: every shot gives the same bits, every estimate the exact value."""
    c = Circuit(3)
    c.x(0).x(2)
    engine = StatevectorEngine(c)
    bits = np.asarray(sample_bitstrings(engine, np.zeros(0), None, shots=50, seed=0))
    np.testing.assert_array_equal(bits, np.tile([1, 0, 1], (50, 1)))
    obs = PauliSum.from_terms([(0.5, "Z0"), (0.25, "Z1 Z2")])  # -0.5 - 0.25
    value = sample_expval(engine, np.zeros(0), None, obs, shots=7, seed=1)
    assert float(value) == pytest.approx(-0.75, abs=1e-6)


def test_sample_expval_does_not_recompile_on_every_call(tiny):
    """Repeated calls with same-shaped inputs reuse the compiled function, as ``expval`` does.

    Fails today: ``sample_expval`` wraps a new closure in ``jax.jit`` on every call, so every
    call (e.g. every step of a shot-based training loop) pays a full XLA compilation.
    """
    engine, obs = tiny
    theta = np.array([0.4])
    with count_compilations() as compiled:
        engine.expval(theta, None, obs)
    assert compiled, "the compilation listener saw nothing"  # the listener works
    with count_compilations() as compiled:
        engine.expval(theta + 0.1, None, obs)
    assert compiled == []  # the control: the engine's own cache works
    sample_expval(engine, theta, None, obs, shots=SHOTS, seed=0)
    with count_compilations() as compiled:
        sample_expval(engine, theta + 0.1, None, obs, shots=SHOTS, seed=1)
    assert compiled == [], f"recompiled {compiled}"
