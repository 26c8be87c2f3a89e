"""Finite-shot estimation: what a quantum computer would report for the same circuit.

Each Pauli term ``P_k`` of an observable is measured on its own (rotate to its eigenbasis, read
the parity) with ``shots`` repetitions. The number of ``+1`` outcomes is then exactly
``Binomial(shots, (1 + <P_k>)/2)``, so we sample that from the exact expectation value:

    <O>_est = sum_k c_k (2 n_k^+ / shots - 1),   Var = sum_k c_k^2 (1 - <P_k>^2) / shots.

A :class:`~qnnlab.circuits.BasisProjector` is one Bernoulli outcome per shot: ``n / shots`` with
``n ~ Binomial(shots, p)``. Bitstring sampling draws ``shots`` outcomes from the exact
distribution. Randomness comes only from the explicit ``seed`` (or JAX key).

Everything here goes through the engine contract (:mod:`qnnlab.engines.protocol`):
``prepare``, ``cached``, ``angles`` and ``expval_from_angles_fn``, plus ``probs`` for
bitstrings, so every registered engine with the ``"shots"`` capability supports it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import BasisProjector, Observable, PauliSum, as_observable
from qnnlab.engines.protocol import require
from qnnlab.engines.validation import InputError


def as_key(seed):
    """A JAX PRNG key from an int seed or a key; ``None`` is refused (no hidden randomness)."""
    if seed is None:
        raise InputError("finite-shot estimation needs an explicit seed (an int or a JAX key).")
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return jax.random.key(int(seed))
    return seed


def check_shots(shots) -> int:
    if not isinstance(shots, int) or isinstance(shots, bool) or shots < 1:
        raise InputError(f"shots must be a positive integer, got {shots!r}.")
    return shots


def term_expvals_fn(engine, observable: Observable):
    """Pure ``f(angles, inputs) -> (T, B)``: exact expectation of each measured term."""
    observable = as_observable(observable)
    if isinstance(observable, BasisProjector):
        fns = [engine.expval_from_angles_fn(observable)]
    else:
        fns = [engine.expval_from_angles_fn(PauliSum(((1.0, p),))) for _, p in observable.terms]
    return lambda angles, inputs: jnp.stack([fn(angles, inputs) for fn in fns])


def sample_from_exact(observable: Observable, term_values, shots: int, key):
    """Shot estimate ``(B,)`` from exact per-term expectations ``(T, B)`` (module docstring)."""
    observable = as_observable(observable)
    if isinstance(observable, BasisProjector):
        p = jnp.clip(term_values[0], 0.0, 1.0)
        return jax.random.binomial(key, shots, p).astype(p.dtype) / shots
    coeffs = jnp.asarray([c for c, _ in observable.terms], dtype=term_values.dtype)
    p_plus = jnp.clip((1.0 + term_values) / 2.0, 0.0, 1.0)
    n_plus = jax.random.binomial(key, shots, p_plus).astype(term_values.dtype)
    return jnp.sum(coeffs[:, None] * (2.0 * n_plus / shots - 1.0), axis=0)


def shot_expval_fn(engine, observable: Observable, shots: int):
    """Pure ``f(theta, inputs, key) -> (B,)``: a finite-shot estimate of ``<O>`` (jit-able when
    the engine is ``"traceable"``)."""
    require(engine, "shots", "finite-shot estimation")
    shots = check_shots(shots)
    observable = as_observable(observable)
    terms = term_expvals_fn(engine, observable)

    def f(theta, inputs, key):
        return sample_from_exact(observable, terms(engine.angles(theta), inputs), shots, key)

    return f


def sample_expval(engine, theta, inputs, observable, *, shots: int, seed):
    """Finite-shot estimate of ``<O>`` per input state, as hardware with ``shots`` shots per term
    would return it. ``inputs`` as for ``engine.expval``; ``seed`` is an int or a JAX key."""
    require(engine, "shots", "sample_expval")
    theta, batch, single = engine.prepare(theta, inputs)
    obs = as_observable(observable)
    fn = engine.cached(("shots", obs, shots), lambda: shot_expval_fn(engine, obs, shots))
    out = fn(theta, batch, as_key(seed))
    return out[0] if single else out


def sample_bitstrings(engine, theta, inputs, *, shots: int, seed, qubits=None):
    """``(B, shots, len(qubits))`` int8 measurement outcomes in the computational basis."""
    shots = check_shots(shots)
    require(engine, "probs", "sample_bitstrings")
    probs = engine.probs(theta, inputs, qubits)
    single = probs.ndim == 1
    probs = probs.reshape(-1, probs.shape[-1])
    k = probs.shape[-1].bit_length() - 1
    keys = jax.random.split(as_key(seed), probs.shape[0])
    logits = jnp.log(jnp.clip(probs, 1e-30, None))
    draws = jax.vmap(lambda key, lg: jax.random.categorical(key, lg, shape=(shots,)))(keys, logits)
    bits = ((draws[..., None] >> jnp.arange(k - 1, -1, -1)) & 1).astype(jnp.int8)
    return bits[0] if single else bits
