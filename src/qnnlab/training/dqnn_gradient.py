"""Gradient training of DQNNs with parametrized perceptrons (Eq. 5 of Sharma et al. 2022).

The network is a :class:`~qnnlab.circuits.Circuit` (:func:`qnnlab.models.dqnn.dqnn_circuit`)
evaluated layer by layer by the density-matrix engine, batched over training pairs. The score
``F(theta) = (1/N) sum_x Tr[sigma_x rho_x(theta)]`` (mean fidelity for Eq. 3, ``1 - C_L`` for
Eq. 4, label probability for supervised data; :mod:`qnnlab.training.costs`) is maximised with
an optax optimiser on the cost ``C = 1 - F``. Gradients come from

* ``"autodiff"``: JAX reverse mode through the density-matrix simulation, or
* ``"parameter-shift"``: the shift rules (what hardware measures,
  :func:`qnnlab.engines.gradients.parameter_shift_grad_fn`); ``F`` is linear in ``rho``.

Both give the same gradient to rounding, so the training curves coincide (tested).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qnnlab.circuits.circuit import Circuit
from qnnlab.engines.density import DensityMatrixEngine
from qnnlab.engines.gradients import parameter_shift_grad_fn
from qnnlab.engines.perceptrons import expectation, gram
from qnnlab.runtime.caches import default_compilation_cache
from qnnlab.training.parameter_matrix import training_pairs

GRADIENTS = ("autodiff", "parameter-shift")


@dataclass
class GradientTrainingResult:
    theta: np.ndarray
    train_score: np.ndarray  # before each step and after the last (steps + 1)
    test_score: np.ndarray | None
    seconds: float
    method: str


def train_dqnn_gradient(
    circuit: Circuit,
    inputs,
    targets,
    *,
    gradient: str = "autodiff",
    steps: int = 200,
    learning_rate: float = 0.05,
    seed: int = 0,
    theta0=None,
    test_inputs=None,
    test_targets=None,
    dtype: str = "complex128",
) -> GradientTrainingResult:
    """Adam on ``C = 1 - F`` (module docstring).

    Args:
        circuit: a DQNN circuit (input on ``circuit.input_qubits``, output = alive qubits).
        inputs: ``(N, 2**n_in)`` states or density matrices.
        targets: ``(N, 2**n_out)`` target states or ``(N, d, d)`` target operators ``sigma_x``.
        gradient: ``"autodiff"`` or ``"parameter-shift"``.
        theta0: initial parameters (default uniform in ``[0, 2 pi)`` from ``seed``).
    """
    default_compilation_cache()
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}.")
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}.")
    engine = DensityMatrixEngine(circuit, dtype=dtype)
    d_in = 2 ** len(circuit.input_qubits)
    d_out = 2 ** len(circuit.alive_qubits)
    factors = training_pairs(
        inputs, targets, test_inputs, test_targets, (d_in, d_out), engine.dtype
    )
    rho, sigma = gram(factors[0]), gram(factors[1])  # density matrices for the engine
    has_test = factors[2] is not None
    if has_test:
        rho_t, sigma_t = (gram(f) for f in factors[2])
    dm = engine.density_matrix_from_angles_fn()

    def score_of_angles(angles, r, s):
        return jnp.mean(expectation(s, dm(angles, r)))

    def score(theta, r, s):
        return score_of_angles(engine.angles(theta), r, s)

    if gradient == "autodiff":
        grad_score = jax.grad(score)
    else:
        grad_score = parameter_shift_grad_fn(engine, score_of_angles)
    optimizer = optax.adam(learning_rate)

    @jax.jit
    def step(theta, opt_state):
        value = score(theta, rho, sigma)
        g = -grad_score(theta, rho, sigma)  # descend C = 1 - F
        updates, opt_state = optimizer.update(g, opt_state, theta)
        test = score(theta, rho_t, sigma_t) if has_test else value
        return optax.apply_updates(theta, updates), opt_state, value, test

    if theta0 is None:
        key = jax.random.key(seed)
        theta = jax.random.uniform(key, (circuit.n_params,), engine.real_dtype, maxval=2 * np.pi)
    else:
        theta = jnp.asarray(theta0, engine.real_dtype)
        if theta.shape != (circuit.n_params,):
            raise ValueError(f"theta0 must have shape ({circuit.n_params},), got {theta.shape}.")
    opt_state = optimizer.init(theta)
    train, test = [], []
    start = time.perf_counter()
    for _ in range(steps):
        theta, opt_state, value, t = step(theta, opt_state)
        train.append(float(value))
        test.append(float(t))
    train.append(float(score(theta, rho, sigma)))
    if has_test:
        test.append(float(score(theta, rho_t, sigma_t)))
    return GradientTrainingResult(
        np.asarray(theta),
        np.asarray(train),
        np.asarray(test) if has_test else None,
        time.perf_counter() - start,
        gradient,
    )
