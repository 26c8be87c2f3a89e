"""QuCNN backpropagation on the quantum side: the entangled-ancilla routine (paper Eqs. 4-17).

A QuCNN feature is ``y_p(theta) = |<f(theta)|x_p>|^2`` at patch position ``p``; the loss
reaches the filter through ``dL/dtheta = sum_p g_p dy_p/dtheta`` with ``g_p = dL/dy_p`` from the
classical layers above. Measuring ``dy_p/dtheta`` by parameter shift and multiplying by ``g_p``
on the classical computer is the *post-processed* gradient. The paper moves the product onto the
quantum computer:

1. After the SWAP test the ancilla ``a`` has ``<Z_a> = y_p`` (Eq. 7).
2. A fresh ancilla ``b`` gets ``RY(phi_p)``, ``phi_p = arccos(g_p / s)``, so
   ``<Z_b> = cos(phi_p) = g_p / s``; the scale ``s = max_p |g_p|`` (kept classically) puts
   ``g_p / s`` in ``[-1, 1]`` (Eqs. 16-17).
3. ``CNOT(a, b)`` maps ``Z_b -> Z_a Z_b`` in the Heisenberg picture; ``a`` and ``b`` are
   uncorrelated before it, so ``<Z_b>_out = <Z_a><Z_b> = (g_p / s) y_p`` (Eqs. 8-15).
4. The filter angles enter only the filter register, each in one ``RX``/``RZ`` gate, so the
   two-term shift rule applies to the whole circuit:
   ``d<Z_b>_out / d theta_j = [<Z_b>(theta_j + pi/2) - <Z_b>(theta_j - pi/2)] / 2
   = (g_p / s) dy_p / d theta_j``.
5. ``dL/dtheta_j = s sum_p d<Z_b>_out / d theta_j``.

With ``S`` shots per shifted circuit each ``<Z_b>`` estimate has variance
``(1 - (g_p y_p / s)^2) / S``, so the gradient's spread falls as ``1 / sqrt(S)``.

Two implementations of the same measurement model:

* :func:`ancilla_gradient` runs :func:`qnnlab.models.qucnn.ancilla_backprop_circuit` on any
  registered engine (statevector, density-matrix inputs such as the maximally mixed state)
  through :func:`qnnlab.engines.parameter_shift_jacobian_fn`, one circuit per patch;
* :func:`sampled_ancilla_gradient_fn` is the fast path used in training: the shifted filter
  states come from the ``k``-qubit filter circuit and ``<Z_b>`` from the same overlap
  contraction as the forward pass, then the same binomial shot model (counts drawn by NumPy's
  exact sampler, :func:`qnnlab.models.qucnn.binomial_on_host`). Tests hold the two to agree
  exactly and in distribution.

:func:`postprocessed_gradient` is the paper's comparison (parameter shift of ``y_p`` on the
SWAP-test circuit, times ``g_p`` classically).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import as_observable
from qnnlab.engines import make_engine, parameter_shift_jacobian_fn
from qnnlab.engines.shots import as_key, check_shots
from qnnlab.engines.validation import InputError
from qnnlab.models.qucnn import (
    ancilla_backprop_circuit,
    backprop_observable,
    binomial_on_host,
    filter_states,
    n_filter_params,
    swap_test_circuit,
)


def backprop_scale(g) -> tuple[float, np.ndarray]:
    """``(s, phi)``: ``s = max |g|`` and ``phi = arccos(g / s)`` (``phi = pi/2``, i.e.
    ``<Z_b> = 0``, everywhere when ``g = 0``)."""
    g = np.asarray(g, np.float64)
    if not np.all(np.isfinite(g)):
        raise InputError("backpropagated values g contain NaN or inf.")
    s = float(np.max(np.abs(g))) if g.size else 0.0
    ratio = np.zeros_like(g) if s == 0.0 else np.clip(g / s, -1.0, 1.0)
    return s, np.arccos(ratio)


def _check_inputs(engine, inputs, n_qubits: int):
    dim = 2**n_qubits
    arr = np.asarray(inputs)
    if arr.ndim == 2 and arr.shape[1] == dim:
        return jnp.asarray(inputs, engine.dtype)[:, None, :]
    if arr.ndim == 3 and arr.shape[1:] == (dim, dim):
        if "density_matrix" not in engine.capabilities:
            raise InputError(
                f"density-matrix data need an engine with the 'density_matrix' capability, not "
                f"{engine.name!r}: use engine='density'."
            )
        return jnp.asarray(inputs, engine.dtype)[:, None, :, :]
    raise InputError(
        f"data states have shape {arr.shape}; expected (patches, {dim}) unit vectors or "
        f"(patches, {dim}, {dim}) density matrices."
    )


def _per_patch_jacobian(engine, observable, shots):
    """Jitted per-patch parameter-shift Jacobians: ``f(thetas (N, P'), states (N, 1, ...)
    [, keys (N,)]) -> (N, P')``, one circuit (and its shifts) per patch."""
    jac = parameter_shift_jacobian_fn(engine, as_observable(observable), shots=shots)
    if shots is None:
        return jax.jit(jax.vmap(lambda t, x: jac(t, x)[0]))
    return jax.jit(jax.vmap(lambda t, x, k: jac(t, x, k)[0]))


def _run_per_patch(program, thetas, batch, shots, seed):
    """``program`` on every patch; with shots each patch gets its own key split from ``seed``."""
    if shots is None:
        return program(thetas, batch)
    return program(thetas, batch, jax.random.split(as_key(seed), batch.shape[0]))


def _check_theta(theta, n_theta: int) -> np.ndarray:
    theta = np.asarray(theta, np.float64)
    if theta.shape != (n_theta,):
        raise InputError(f"theta has shape {theta.shape}; expected ({n_theta},).")
    return theta


@functools.lru_cache(maxsize=32)
def _ancilla_program(n_qubits: int, layers: int, engine: str, dtype: str, shots):
    eng = make_engine(ancilla_backprop_circuit(n_qubits, layers=layers), engine, dtype=dtype)
    return eng, _per_patch_jacobian(eng, backprop_observable(n_qubits), shots)


@functools.lru_cache(maxsize=32)
def _postprocessed_program(n_qubits: int, layers: int, engine: str, dtype: str, shots):
    eng = make_engine(swap_test_circuit(n_qubits, layers=layers), engine, dtype=dtype)
    return eng, _per_patch_jacobian(eng, "Z0", shots)


def ancilla_gradient(
    theta,
    inputs,
    g,
    *,
    n_qubits: int,
    layers: int,
    shots: int | None = None,
    seed=None,
    engine: str = "statevector",
    dtype: str = "complex64",
):
    """``sum_p g_p d|<f(theta)|x_p>|^2 / d theta`` measured by the ancilla routine.

    Args:
        theta: ``(2 k L,)`` filter angles.
        inputs: ``(N, 2**k)`` data states (normalised patches) or ``(N, 2**k, 2**k)`` density
            matrices (needs ``engine="density"``).
        g: ``(N,)`` backpropagated values ``dL/dy_p``.
        shots: shots per shifted circuit; None gives the exact expectation values.
        seed: int or JAX key (required with ``shots``).
        engine: any registered engine with the ``"traceable"`` capability.

    Returns:
        ``(2 k L,)`` gradient estimate, ``s sum_p`` of the per-patch parameter-shift values.
    """
    shots = None if shots is None else check_shots(shots)
    eng, program = _ancilla_program(n_qubits, layers, engine, dtype, shots)
    n_theta = n_filter_params(n_qubits, layers)
    theta = _check_theta(theta, n_theta)
    batch = _check_inputs(eng, inputs, n_qubits)
    g = np.asarray(g)
    if g.shape != (batch.shape[0],):
        raise InputError(f"g has shape {g.shape}; expected ({batch.shape[0]},), one per patch.")
    s, phi = backprop_scale(g)
    thetas = jnp.asarray(
        np.concatenate([np.broadcast_to(theta, (len(phi), n_theta)), phi[:, None]], axis=1),
        eng.real_dtype,
    )
    per_patch = _run_per_patch(program, thetas, batch, shots, seed)
    return s * jnp.sum(per_patch[:, :n_theta], axis=0)


def postprocessed_gradient(
    theta,
    inputs,
    g,
    *,
    n_qubits: int,
    layers: int,
    shots: int | None = None,
    seed=None,
    engine: str = "statevector",
    dtype: str = "complex64",
):
    """``sum_p g_p [parameter-shift d|<f|x_p>|^2/d theta]``: shift rule on the plain SWAP test
    (``Z`` on the ancilla), products with ``g_p`` taken classically (the paper's reference)."""
    shots = None if shots is None else check_shots(shots)
    eng, program = _postprocessed_program(n_qubits, layers, engine, dtype, shots)
    n_theta = n_filter_params(n_qubits, layers)
    batch = _check_inputs(eng, inputs, n_qubits)
    theta = jnp.asarray(_check_theta(theta, n_theta), eng.real_dtype)
    thetas = jnp.broadcast_to(theta, (batch.shape[0], n_theta))
    per_patch = _run_per_patch(program, thetas, batch, shots, seed)
    return jnp.tensordot(jnp.asarray(g, per_patch.dtype), per_patch, axes=1)


def shifted_filter_thetas(theta):
    """``(F, 2P, P)``: every filter angle shifted by ``+pi/2`` (rows ``0..P-1``) and
    ``-pi/2`` (rows ``P..2P-1``); each angle feeds one RX/RZ gate with scale 1."""
    n = theta.shape[-1]
    eye = (math.pi / 2) * jnp.eye(n, dtype=theta.dtype)
    shifts = jnp.concatenate([eye, -eye], axis=0)
    return theta[:, None, :] + shifts[None]


ROUTINES = ("ancilla", "parameter-shift")


def sampled_ancilla_gradient_fn(
    n_qubits: int,
    layers: int,
    shots: int | None,
    *,
    routine: str = "ancilla",
    dtype: str = "complex64",
):
    """Pure ``f(theta (F, P), encoded (B, H', W', D), occupied (B, H', W'), g (B, F, H', W'),
    key) -> (F, P)``: the filter gradient of a whole QuCNN layer, one circuit per filter, patch
    position, image and shift, each with ``shots`` shots (exact expectations when ``shots`` is
    None). Empty patches run no circuit and contribute 0.

    ``routine="ancilla"`` measures ``<Z_b> = (g_p / s) y_p(theta +- pi/2 e_j)`` (module
    docstring) and multiplies the sum by ``s``; ``routine="parameter-shift"`` measures
    ``y_p(theta +- pi/2 e_j)`` on the plain SWAP test and multiplies by ``g_p`` classically.
    """
    if shots is not None:
        shots = check_shots(shots)
    if routine not in ROUTINES:
        raise InputError(f"routine must be one of {ROUTINES}, got {routine!r}.")

    def measure(values, key):
        if shots is None:
            return values
        return 2.0 * binomial_on_host(key, shots, (1.0 + values) / 2.0) / shots - 1.0

    def f(theta, encoded, occupied, g, key):
        n_f, n_p = theta.shape
        states = filter_states(
            shifted_filter_thetas(theta).reshape(n_f * 2 * n_p, n_p),
            n_qubits,
            layers,
            dtype=dtype,
        ).reshape(n_f, 2 * n_p, -1)
        g = jnp.where(occupied[:, None], g, 0.0)
        g_f = jnp.moveaxis(g, 1, 0)[:, None]  # (F, 1, B, H', W')
        re = jnp.einsum("bhwd,fsd->fsbhw", encoded, jnp.real(states), precision="highest")
        im = jnp.einsum("bhwd,fsd->fsbhw", encoded, jnp.imag(states), precision="highest")
        overlaps = re * re + im * im  # (F, 2P, B, H', W')
        if routine == "ancilla":
            scale = jnp.max(jnp.abs(g_f), axis=(1, 2, 3, 4))  # (F,)
            ratio = g_f / jnp.where(scale > 0, scale, 1.0)[:, None, None, None, None]
            z_b = jnp.where(occupied[None, None], measure(overlaps * ratio, key), 0.0)
            summed = scale[:, None] * jnp.sum(z_b, axis=(2, 3, 4))
        else:
            y = jnp.where(occupied[None, None], measure(overlaps, key), 0.0)
            summed = jnp.sum(y * g_f, axis=(2, 3, 4))
        return (summed[:, :n_p] - summed[:, n_p:]) / 2.0

    return f
