"""Gradients: adjoint / backprop / density-matrix autodiff vs parameter shift vs finite differences.

The circuit has every kind of angle use that changes the derivative: controlled rotations (the
four-term shift rule), all three U3 angles, slots shared by several gates, affine uses
``2 * p + 0.1`` and ``-0.5 * p``, a fresh (non-input) qubit, permuted inputs and a discard.
(Gradient compilation is slow on CPU, so each engine compiles one ``jit(vmap(value_and_grad))``
and reuses it for the autodiff, vmap and finite-difference checks.)

Tolerances (complex128 throughout):

* autodiff vs exact parameter shift: both are exact formulas, so they agree to rounding,
  ``~1e-15``; we use ``1e-10``.
* central finite differences, step ``h = 1e-5``: truncation error ``h**2 |f'''| / 6 ~ 1e-10``
  (``|f'''| = O(10)`` with the scale-2 angles) and rounding ``eps |f| / h ~ 1e-11``; we use
  ``1e-6``, far above both and far below any real gradient error (``O(0.01)`` or more).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (
    count_compilations,
    embed,
    make_rng,
    observable_matrix,
    random_state,
    random_theta,
    ref_gate,
)
from qnnlab.circuits import BasisProjector, Circuit, PauliSum
from qnnlab.engines import (
    DensityMatrixEngine,
    InputError,
    StatevectorEngine,
    parameter_shift_jacobian,
    parameter_shift_jacobian_fn,
)

FD_STEP = 1e-5


def gradient_circuit() -> Circuit:
    """3 qubits, inputs on (2, 0), qubit 1 fresh and discarded. Slot ``a`` feeds U3's theta,
    its phi as ``2 a + 0.1`` and a controlled rotation; ``b`` feeds U3's lambda and ``-0.5 b``.
    The U3 and CRX fuse into one block, so the block-level adjoint is exercised too."""
    c = Circuit(3, input_qubits=[2, 0])
    a, b = c.parameters(2)
    c.u3(0, a, 2 * a + 0.1, b).crx(0, 1, -0.5 * b).cry(1, 2, a).discard(1)
    return c


OBS = PauliSum.from_terms([(0.6, "Z0 X2"), (-0.4, "Y2")])


def make(kind: str, circuit: Circuit):
    if kind == "density":
        # Unfused: autodiff through fused blocks is the same code as for "backprop", and the
        # density engine's gradient compiles about twice as fast without fusion.
        return DensityMatrixEngine(circuit, dtype="complex128", max_fused_qubits=1)
    return StatevectorEngine(circuit, dtype="complex128", diff_method=kind)


def engine_inputs(kind: str, psi):
    return np.einsum("bi,bj->bij", psi, psi.conj()) if kind == "density" else psi


def fd_gradient(f, theta: np.ndarray) -> np.ndarray:
    """Central differences of ``f`` (any output shape) w.r.t. each entry of ``theta``."""
    cols = []
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = FD_STEP
        cols.append((np.asarray(f(theta + step)) - np.asarray(f(theta - step))) / (2 * FD_STEP))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("kind", ["adjoint", "backprop", "density"])
def test_gradients_agree_with_parameter_shift_and_finite_differences(kind, request):
    circuit = gradient_circuit()
    engine = make(kind, circuit)  # first: complex128 switches on 64-bit mode
    rng = make_rng(request)
    n_draws, n_params = 3, circuit.n_params
    thetas = rng.uniform(-np.pi, np.pi, size=(n_draws, n_params))
    psi = random_state(rng, 2, batch=3)
    inputs = jnp.asarray(engine_inputs(kind, psi))
    targets = np.asarray(rng.uniform(-1, 1, size=3))
    f = engine.expval_fn(OBS)

    def loss(t):
        values = f(t, inputs)
        return jnp.mean((values - targets) ** 2), values

    # One compilation (jit of vmap over theta draws of value_and_grad) serves every check: rows
    # 0..2 are independent theta draws, the rest are finite-difference points around draw 0.
    batched = jax.jit(jax.vmap(jax.value_and_grad(loss, has_aux=True)))
    steps = np.concatenate([np.eye(n_params), -np.eye(n_params)]) * FD_STEP
    points = np.concatenate([thetas, thetas[0] + steps])
    (losses, values), grads = batched(jnp.asarray(points))
    losses, values, grads = np.asarray(losses), np.asarray(values), np.asarray(grads)[:n_draws]
    assert grads.shape == (n_draws, n_params) and values.shape == (len(points), 3)
    assert np.abs(grads).max() > 1e-2  # non-trivial, or the checks below would be empty

    # 1. Exact parameter shift (four-term rule for the controlled rotations), per draw, through
    #    the chain rule dL/dtheta = mean_b 2 (f_b - y_b) df_b/dtheta.
    ps = jax.jit(parameter_shift_jacobian_fn(engine, OBS))
    jacs = [np.asarray(ps(jnp.asarray(t), inputs)) for t in thetas]
    for d, jac in enumerate(jacs):
        assert jac.shape == (3, n_params)
        expected = np.mean(2 * (values[d] - targets)[:, None] * jac, axis=0)
        np.testing.assert_allclose(grads[d], expected, atol=1e-10, rtol=0, err_msg=f"draw {d}")

    # 2. The Jacobian itself (not only its contraction with the loss) vs finite differences.
    plus, minus = values[n_draws : n_draws + n_params], values[n_draws + n_params :]
    fd_jac = ((plus - minus) / (2 * FD_STEP)).T  # (batch, n_params)
    np.testing.assert_allclose(jacs[0], fd_jac, atol=1e-6, rtol=0)

    # 3. The loss gradient vs finite differences of the loss.
    plus, minus = losses[n_draws : n_draws + n_params], losses[n_draws + n_params :]
    np.testing.assert_allclose(grads[0], (plus - minus) / (2 * FD_STEP), atol=1e-6, rtol=0)


@pytest.mark.parametrize("input_qubits", [(1,), (1, 0)], ids=["fresh-qubit", "permuted-no-fresh"])
def test_input_state_gradient_adjoint_matches_backprop(input_qubits, request):
    """Gradient w.r.t. the input states: adjoint vs backprop, and vs a directional finite
    difference. The two layouts take the two branches of the adjoint's input extraction."""
    circuit = Circuit(2, input_qubits=list(input_qubits))
    a, b = circuit.parameters(2)
    circuit.ry(0, a).crx(1, 0, 2 * b + 0.1)
    engines = {kind: make(kind, circuit) for kind in ("adjoint", "backprop")}
    rng = make_rng(request)
    obs = PauliSum.from_terms([(0.5, "X0 Z1"), (0.5, "Y1"), (0.2, "Z0")])
    theta = jnp.asarray(random_theta(rng, circuit.n_params))
    psi = jnp.asarray(random_state(rng, len(input_qubits), batch=3))
    weights = jnp.asarray(rng.normal(size=3))
    fns = {}
    for kind, engine in engines.items():
        f = engine.expval_fn(obs)
        fns[kind] = jax.jit(jax.value_and_grad(lambda p, f=f: jnp.sum(weights * f(theta, p))))
    _, g_adjoint = fns["adjoint"](psi)
    _, g_backprop = fns["backprop"](psi)
    assert g_adjoint.shape == psi.shape and g_adjoint.dtype == psi.dtype
    assert np.abs(g_adjoint).max() > 1e-2
    np.testing.assert_allclose(g_adjoint, g_backprop, atol=1e-12, rtol=0)
    # d/dt F(psi + t v) = Re sum(grad * v): JAX's convention for real functions of complex inputs.
    v = jnp.asarray(rng.normal(size=psi.shape) + 1j * rng.normal(size=psi.shape))
    plus, _ = fns["adjoint"](psi + FD_STEP * v)
    minus, _ = fns["adjoint"](psi - FD_STEP * v)
    fd = (float(plus) - float(minus)) / (2 * FD_STEP)
    assert float(jnp.real(jnp.sum(g_adjoint * v))) == pytest.approx(fd, abs=1e-6)


def test_parameter_shift_with_basis_projector(request):
    """The projector path of parameter shift (one Bernoulli term), via the public function."""
    circuit = Circuit(2, input_qubits=[1, 0])
    a, b = circuit.parameters(2)
    circuit.ry(0, a).crx(1, 0, 2 * b + 0.1)
    engine = make("adjoint", circuit)
    rng = make_rng(request)
    theta = random_theta(rng, circuit.n_params)
    psi = random_state(rng, 2, batch=2)
    obs = BasisProjector((1, 0), (1, 0))
    jac = np.asarray(parameter_shift_jacobian(engine, theta, psi, obs))
    assert jac.shape == (2, 2)
    forward = jax.jit(engine.expval_fn(obs))
    fd = fd_gradient(lambda t: forward(jnp.asarray(t), jnp.asarray(psi)), theta)
    np.testing.assert_allclose(jac, fd, atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------
# finite shots


def _shot_setup(request):
    circuit = Circuit(2)
    a, b = circuit.parameters(2)
    circuit.ry(0, a).crx(0, 1, 2 * b + 0.1)
    engine = StatevectorEngine(circuit, dtype="complex128")
    theta = random_theta(make_rng(request), 2)
    obs = PauliSum.from_terms([(0.7, "Z1"), (0.3, "X0 X1")])
    return engine, theta, obs


def _shot_circuit_reference_grad(theta, obs) -> np.ndarray:
    """d<O>/dtheta of the shot circuit on |00>, by finite differences of the NumPy reference
    (error ~1e-10, negligible next to the shot noise)."""

    def value(t):
        u = embed(ref_gate("crx", [2 * t[1] + 0.1]), (0, 1), 2) @ embed(
            ref_gate("ry", [t[0]]), (0,), 2
        )
        psi = u[:, 0]
        return np.real(psi.conj() @ observable_matrix(obs, (0, 1)) @ psi)

    return fd_gradient(value, np.asarray(theta, dtype=np.float64))


ZERO_INPUT = np.array([[1, 0, 0, 0]], dtype=np.complex128)


def test_shot_parameter_shift_is_unbiased_seeded_and_shrinks_like_one_over_sqrt_shots(request):
    engine, theta, obs = _shot_setup(request)
    exact = _shot_circuit_reference_grad(theta, obs)
    n_seeds = 400
    # Seeds 0..399, then seed 5 again: the same seed must give the same estimate.
    keys = jax.vmap(jax.random.key)(jnp.concatenate([jnp.arange(n_seeds), jnp.array([5])]))
    stds = {}
    for shots in (100, 1600):
        one = parameter_shift_jacobian_fn(engine, obs, shots=shots)
        # lax.map rather than vmap: the same draws, and it compiles ~1.5x faster here.
        fn = jax.jit(lambda t, x, ks, one=one: jax.lax.map(lambda k: one(t, x, k), ks))
        draws = np.asarray(fn(jnp.asarray(theta), ZERO_INPUT, keys))[:, 0, :]
        np.testing.assert_array_equal(draws[n_seeds], draws[5])
        draws = draws[:n_seeds]
        assert len({tuple(row) for row in draws}) > n_seeds // 2  # different seeds differ
        mean, std = draws.mean(axis=0), draws.std(axis=0, ddof=1)
        # Unbiased: the mean of 400 independent estimates lies within 4 standard errors.
        assert np.all(np.abs(mean - exact) < 4 * std / np.sqrt(n_seeds)), (shots, mean, exact)
        stds[shots] = std
    # 16x the shots -> a 4x smaller spread. The std of 400 draws is known to ~1/sqrt(800) =
    # 3.5 %, so the ratio is 4 to within ~5 % (1 sigma); [3.3, 4.8] is a > 3.5 sigma window.
    ratio = stds[100] / stds[1600]
    assert np.all((ratio > 3.3) & (ratio < 4.8)), ratio


def test_shot_parameter_shift_needs_seed_and_positive_shots(request):
    engine, theta, obs = _shot_setup(request)
    with pytest.raises(InputError, match="explicit seed"):
        parameter_shift_jacobian(engine, theta, None, obs, shots=50)
    with pytest.raises(InputError, match="shots must be a positive integer"):
        parameter_shift_jacobian(engine, theta, None, obs, shots=0, seed=1)


def test_parameter_shift_jacobian_does_not_recompile_on_every_call(request):
    """Repeated calls with same-shaped inputs reuse the compiled function, as ``expval`` does.

    Fails today: ``parameter_shift_jacobian`` wraps a new closure in ``jax.jit`` on every call,
    so each call (e.g. each optimisation step) pays a full XLA compilation.
    """
    engine, theta, obs = _shot_setup(request)
    parameter_shift_jacobian(engine, theta, None, obs)
    with count_compilations() as compiled:
        parameter_shift_jacobian(engine, theta + 0.1, None, obs)
    assert compiled == [], f"recompiled {compiled}"


def test_no_parameters_no_gradient():
    circuit = Circuit(1)
    circuit.h(0)
    with pytest.raises(InputError, match="no parameter slots"):
        parameter_shift_jacobian(StatevectorEngine(circuit), np.zeros(0), None, "Z0")


def test_parameter_shift_result_dtype_follows_engine(request):
    """A complex64 engine's Jacobian is float32, like its expectation values, whether or not
    ``jax_enable_x64`` has been switched on by some other (complex128) engine.

    Fails today: the Pauli-sum coefficients are made with ``jnp.asarray`` at the default float
    width, so with x64 on the Jacobian of a complex64 engine is promoted to float64.
    """
    engine, theta, obs = _shot_setup(request)  # a complex128 engine: x64 is now on
    engine32 = StatevectorEngine(engine.circuit)  # complex64
    theta32 = np.asarray(theta, dtype=np.float32)
    assert engine32.expval(theta32, None, obs).dtype == np.float32
    jac = parameter_shift_jacobian(engine32, theta32, None, obs)
    assert jac.dtype == np.float32, f"complex64 engine returned a {jac.dtype} Jacobian"
