"""Parameter-shift gradients, exact or from finite shots: what hardware can measure.

Every angle ``a_u = s_u theta[slot_u] + o_u`` enters one gate ``exp(-i a_u G / 2)``-like factor.

* Pauli rotations (``RX, RY, RZ``, ``exp(-i a P/2)``, each angle of ``U3``): generator
  eigenvalues ``+-1/2``, so ``d<O>/da = [<O>(a + pi/2) - <O>(a - pi/2)] / 2`` exactly
  (Mitarai et al. PRA 98, 032309; Schuld et al. PRA 99, 032331).
* Controlled rotations: generator eigenvalues ``{0, +-1/2}``; the four-term rule of Anselmetti et
  al., New J. Phys. 23, 113010 (2021), Eq. (13):
  ``d<O>/da = c+ [f(a + pi/2) - f(a - pi/2)] - c- [f(a + 3pi/2) - f(a - 3pi/2)]`` with
  ``c+- = (sqrt 2 +- 1) / (4 sqrt 2)``.

Weight sharing: ``d<O>/d theta_s = sum_{u: slot_u = s} s_u d<O>/da_u`` (each use shifted alone).
Fixed unitaries carry no angles. With ``shots``, each shifted circuit is an independent
finite-shot estimate, so the gradient has the noise hardware would give.

Only the engine contract is used (:mod:`qnnlab.engines.protocol`): ``angle_table``, ``angles``,
``expval_from_angles_fn``, ``prepare`` and ``cached``. On ``"traceable"`` engines the shifted
circuits run as one ``jax.lax.map``; on others, one after the other on concrete arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.gates import SHIFT_RULES
from qnnlab.circuits.paulis import as_observable
from qnnlab.engines.protocol import require
from qnnlab.engines.shots import as_key, check_shots, sample_from_exact, term_expvals_fn
from qnnlab.engines.validation import InputError


def shift_table(engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(angle_index, shift, weight)`` arrays: one row per shifted circuit evaluation.

    ``weight`` already includes the slot scale ``s_u``; ``angle_index`` also selects the slot
    through the engine's angle table.
    """
    table = engine.angle_table
    rows_u, rows_shift, rows_w = [], [], []
    for u in range(table.size):
        rule = table.shift_rules[u]
        if rule is None:
            continue
        for coeff, shift in SHIFT_RULES[rule]:
            rows_u.append(u)
            rows_shift.append(shift)
            rows_w.append(coeff * table.scales[u])
    return np.asarray(rows_u, np.int32), np.asarray(rows_shift), np.asarray(rows_w)


def shifted_evaluations(engine, angle_u, shifts, fn, theta):
    """``fn(angles + shift_s e_{u_s})`` for every row ``s`` of the shift table, stacked."""
    angles = engine.angles(theta)
    shifted = angles[None, :] + jnp.zeros((len(angle_u), 1), angles.dtype)
    shifted = shifted.at[jnp.arange(len(angle_u)), angle_u].add(shifts.astype(angles.dtype))
    if "traceable" in engine.capabilities:
        return jax.lax.map(fn, shifted)
    return jnp.stack([jnp.asarray(fn(row)) for row in shifted])


def scatter_to_slots(values, weights, slots, n_params: int):
    """``sum_{s: slot_s = k} w_s values_s`` for every slot ``k``: ``(n_params, ...)``."""
    w = jnp.asarray(weights, dtype=values.dtype).reshape((-1,) + (1,) * (values.ndim - 1))
    out = jnp.zeros((n_params, *values.shape[1:]), values.dtype)
    return out.at[slots].add(values * w)


def parameter_shift_grad_fn(engine, score_of_angles):
    """Pure ``f(theta, *args) -> d score / d theta`` by the shift rules of the module docstring.

    ``score_of_angles(angles, *args)`` must be a scalar *linear* in the output state (an
    expectation value, a mean fidelity ``<phi|rho|phi>``, a local cost, ...): then every
    rule that holds for ``<O>`` holds for it, whatever the observable or target per input.
    """
    angle_u, shifts, weights = shift_table(engine)
    slots = engine.angle_table.slots[angle_u]

    def grad(theta, *args):
        values = shifted_evaluations(
            engine, angle_u, shifts, lambda a: score_of_angles(a, *args), theta
        )
        return scatter_to_slots(values, weights, slots, engine.n_params)

    return grad


def parameter_shift_jacobian_fn(engine, observable, *, shots: int | None = None):
    """Pure ``f(theta, inputs[, key]) -> (B, n_params)``: ``d<O>_b / d theta`` by parameter shift.

    Exact when ``shots`` is None (then ``f(theta, inputs)``); otherwise every shifted circuit is
    estimated from ``shots`` shots per term and ``f(theta, inputs, key)`` needs a PRNG key.
    """
    observable = as_observable(observable)
    angle_u, shifts, weights = shift_table(engine)
    slots = engine.angle_table.slots[angle_u]
    n_params = engine.n_params
    if shots is not None:
        require(engine, "shots", "a finite-shot parameter-shift gradient")
        shots = check_shots(shots)
    terms = term_expvals_fn(engine, observable)
    coeffs = None
    if not hasattr(observable, "bits"):
        coeffs = np.asarray([c for c, _ in observable.terms])

    def shifted_values(theta, inputs):
        return shifted_evaluations(engine, angle_u, shifts, lambda a: terms(a, inputs), theta)

    def combine(values, theta):
        return scatter_to_slots(values, weights, slots, n_params).T

    if shots is None:

        def exact(theta, inputs):
            values = shifted_values(theta, inputs)
            if coeffs is None:
                total = values[:, 0]
            else:
                total = jnp.tensordot(values, jnp.asarray(coeffs, values.dtype), ((1,), (0,)))
            return combine(total, theta)

        return exact

    def sampled(theta, inputs, key):
        values = shifted_values(theta, inputs)
        keys = jax.random.split(key, values.shape[0])
        est = jax.vmap(lambda v, k: sample_from_exact(observable, v, shots, k))(values, keys)
        return combine(est, theta)

    return sampled


def parameter_shift_jacobian(engine, theta, inputs, observable, *, shots=None, seed=None):
    """``d<O>/d theta`` for each input: ``(n_params,)`` for one state, else ``(B, n_params)``."""
    theta, batch, single = engine.prepare(theta, inputs)
    if engine.n_params == 0:
        raise InputError("the circuit has no parameter slots: there is no gradient to take.")
    obs = as_observable(observable)
    fn = engine.cached(
        ("parameter_shift", obs, shots),
        lambda: parameter_shift_jacobian_fn(engine, obs, shots=shots),
    )
    out = fn(theta, batch) if shots is None else fn(theta, batch, as_key(seed))
    return out[0] if single else out
