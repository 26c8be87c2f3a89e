"""QuCNN layer: patches, amplitude encoding, the SWAP test on every engine, the fast path, the
ancilla backpropagation routine (paper Eqs. 4-17) and the small classifier built on them.

References are independent of the code under test: NumPy slicing for patches, the dense
reference simulator of ``conftest`` for the filter ansatz, ``jax.lax.conv_general_dilated`` for
the classical convolution, autodiff and central finite differences for gradients, and the
binomial shot model's closed-form variance for sampled quantities.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate

from conftest import apply_gate_np, ref_gate
from qnnlab.circuits.qasm import to_qasm3
from qnnlab.circuits.state_prep import state_prep_angles
from qnnlab.data.images import (
    amplitude_encode,
    as_image_batch,
    extract_patches,
    n_encoding_qubits,
    output_size,
)
from qnnlab.engines import InputError, make_engine, sample_expval
from qnnlab.models.qucnn import (
    QuCNNLayer,
    ancilla_backprop_circuit,
    backprop_observable,
    filter_ansatz,
    sample_swap_tests,
    swap_test_circuit,
)
from qnnlab.training.ancilla_backprop import (
    ancilla_gradient,
    backprop_scale,
    postprocessed_gradient,
    sampled_ancilla_gradient_fn,
)
from qnnlab.training.conv_net import ConvNetSpec, evaluate, init_params, train_convnet


def unit_rows(rng, n, d):
    x = rng.random((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ref_filter_state(theta, k, layers):
    """Dense reference of the filter ansatz (paper Fig. 1) from conftest's gate matrices."""
    tensor = np.zeros((2,) * k, complex)
    tensor[(0,) * k] = 1
    for layer in range(layers):
        for q in range(k):
            tensor = apply_gate_np(tensor, ref_gate("rx", [theta[2 * (layer * k + q)]]), [q])
            tensor = apply_gate_np(tensor, ref_gate("rz", [theta[2 * (layer * k + q) + 1]]), [q])
        ring = [(q, q + 1) for q in range(k - 1)] + ([(k - 1, 0)] if k > 2 else [])
        for c, t in ring:
            tensor = apply_gate_np(tensor, ref_gate("cnot"), [c, t])
    return tensor.reshape(-1)


# =========================================================================== patches
@pytest.mark.parametrize(
    "channels, kernel, stride, padding",
    [(1, 4, 1, 0), (2, (2, 3), (2, 1), 1), (3, 2, 2, "same"), (1, 3, 1, "valid")],
)
def test_patches_match_numpy_slicing(rng, channels, kernel, stride, padding):
    images = rng.normal(size=(2, channels, 7, 6)).astype(np.float32)
    patches = np.asarray(extract_patches(jnp.asarray(images), kernel, stride, padding))
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    out_h, out_w = output_size(7, 6, kernel, stride, padding)
    assert patches.shape == (2, out_h, out_w, channels * kh * kw)
    if padding == "same":
        ph = max((out_h - 1) * sh + kh - 7, 0)
        pw = max((out_w - 1) * sw + kw - 6, 0)
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        pads = ((padding, padding), (padding, padding))
    padded = np.pad(images, ((0, 0), (0, 0), *pads))
    for b in range(2):
        for h in range(out_h):
            for w in range(out_w):
                window = padded[b, :, h * sh : h * sh + kh, w * sw : w * sw + kw]
                np.testing.assert_array_equal(patches[b, h, w], window.reshape(-1))


def test_amplitude_encoding_rules():
    patches = jnp.asarray(
        [[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, jnp.nan, 0.0], [0.0, 2.0, 0.0]], jnp.float32
    )
    states, occupied = amplitude_encode(patches)
    assert n_encoding_qubits(3) == 2 and states.shape == (4, 4)
    np.testing.assert_allclose(states[0], [0.6, 0.8, 0, 0], atol=1e-7)
    np.testing.assert_array_equal(occupied, [True, False, False, True])
    np.testing.assert_array_equal(states[1], 0)
    np.testing.assert_array_equal(states[2], 0)
    grad = jax.grad(lambda p: jnp.sum(amplitude_encode(p)[0] ** 3))(patches)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_bad_images_are_refused():
    images = np.ones((2, 8, 8), np.float32)
    images[1, 3, 5] = np.inf
    with pytest.raises(InputError, match=r"image 1 .*row 3, column 5"):
        as_image_batch(images)
    with pytest.raises(InputError, match="leading batch axis"):
        as_image_batch(np.ones((8, 8)))
    with pytest.raises(InputError, match="real numbers"):
        as_image_batch(np.ones((1, 8, 8), complex))
    with pytest.raises(InputError, match="does not fit"):
        output_size(3, 3, 4)
    layer = QuCNNLayer(kernel_size=2)
    with pytest.raises(InputError, match=r"shape \(3,\).*layer.init"):
        layer(np.zeros(3), np.ones((1, 4, 4)))
    with pytest.raises(InputError, match="smaller kernel_size"):
        QuCNNLayer(kernel_size=128)


# =========================================================================== forward pass
def test_filter_states_match_dense_reference(rng):
    for k, layers in [(1, 2), (4, 2)]:
        theta = rng.uniform(0, 2 * np.pi, (3, 2 * k * layers))
        layer = QuCNNLayer(kernel_size=(1, 2**k), n_filters=3, layers=layers)
        got = np.asarray(layer.filter_states(jnp.asarray(theta, jnp.float32)))
        want = np.stack([ref_filter_state(t, k, layers) for t in theta])
        np.testing.assert_allclose(got, want, atol=1e-6)  # complex64 rounding


def test_layer_equals_normalised_squared_classical_convolution(rng):
    """For a real filter state f = w/||w||, |<f|x>|^2 = (w.x / (||w|| ||x||))^2, computed here by
    an independent route (SciPy correlations of the image and of its square, float64)."""
    images = rng.random((3, 1, 12, 10)).astype(np.float32)
    images[0, 0, :6, :6] = 0  # empty windows
    w = rng.normal(size=(1, 1, 4, 4))
    layer = QuCNNLayer(kernel_size=4, stride=2, padding=1)
    maps = np.asarray(
        layer.apply_states(jnp.asarray(w.reshape(1, -1) / np.linalg.norm(w)), jnp.asarray(images))
    )
    padded = np.pad(images[:, 0].astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    num = np.stack([correlate(p, w[0, 0], mode="valid")[::2, ::2] for p in padded])
    sq = np.stack([correlate(p**2, np.ones((4, 4)), mode="valid")[::2, ::2] for p in padded])
    num, den = num[:, None], np.sqrt(sq)[:, None] * np.linalg.norm(w)
    want = np.where(den > 0, (num / np.where(den > 0, den, 1)) ** 2, 0)
    assert maps.shape == (3, 1, 6, 5)
    np.testing.assert_allclose(maps, want, atol=2e-6)
    assert np.sum(want[0] == 0) >= 4 and np.all(maps[want == 0] == 0)


@pytest.mark.parametrize("engine", ["statevector", "density", "pauliprop"])
def test_swap_test_circuit_routes_agree_with_fast_path(rng, engine):
    """The SWAP test as a circuit (data as input state, or prepared by Mottonen's circuit with
    the data angles in slots) gives the fast path's |<f|x>|^2 to 1e-6 on every engine."""
    k = 2 if engine == "pauliprop" else 3
    layer = QuCNNLayer(kernel_size=(1, 2**k), n_filters=2, layers=2)
    theta = np.asarray(layer.init(seed=3))
    x = unit_rows(rng, 4, 2**k) * rng.choice([-1, 1], size=(4, 2**k))
    fast = np.abs(x @ np.asarray(layer.filter_states(jnp.asarray(theta))).conj().T) ** 2
    on_input = make_engine(swap_test_circuit(k, layers=2), engine)
    on_circuit = make_engine(swap_test_circuit(k, layers=2, data="circuit"), engine)
    angles = np.asarray(jax.vmap(state_prep_angles)(jnp.asarray(x)))
    for f in range(2):
        got = np.asarray(on_input.expval(theta[f], x, "Z0"))
        np.testing.assert_allclose(got, fast[:, f], atol=1e-6)
        for p in range(len(x)):
            full = np.concatenate([theta[f], angles[p]])
            np.testing.assert_allclose(on_circuit.expval(full, None, "Z0"), fast[p, f], atol=1e-6)


def test_ideal_filter_by_state_preparation_and_openqasm(rng):
    k = 2
    f = rng.normal(size=4)
    f /= np.linalg.norm(f)
    x = unit_rows(rng, 3, 4)
    circuit = swap_test_circuit(k, filter="state", data="circuit")
    engine = make_engine(circuit, "statevector")
    for p in range(3):
        theta = np.concatenate([state_prep_angles(f), state_prep_angles(x[p])])
        np.testing.assert_allclose(engine.expval(theta, None, "Z0"), (x[p] @ f) ** 2, atol=1e-6)
    text = to_qasm3(circuit)
    assert "cswap" in text and text.count("input float[64]") == circuit.n_params
    openqasm3 = pytest.importorskip(
        "openqasm3", reason="the OpenQASM 3 parser is in the dev extra: pip install -e .[dev]"
    )
    openqasm3.parse(text)


def test_shots_follow_the_binomial_swap_test_model(rng):
    """Layer shots vs the engines' shot model on the circuit: same mean, variance (1-y^2)/S."""
    layer = QuCNNLayer(kernel_size=2, layers=1)
    theta = layer.init(seed=1)
    images = rng.random((1, 1, 3, 3)).astype(np.float32)
    exact = np.asarray(layer(theta, images))[0, 0].reshape(-1)
    shots, draws = 400, 300
    est = np.stack(
        [
            np.asarray(layer(theta, images, shots=shots, seed=s))[0, 0].reshape(-1)
            for s in range(draws)
        ]
    )
    engine = make_engine(swap_test_circuit(2, layers=1), "statevector")
    x, _ = layer.encode(jnp.asarray(images))
    circ = np.stack(
        [
            np.asarray(
                sample_expval(
                    engine,
                    np.asarray(theta[0]),
                    np.asarray(x).reshape(-1, 4),
                    "Z0",
                    shots=shots,
                    seed=s,
                )
            )
            for s in range(draws)
        ]
    )
    var = (1 - exact**2) / shots
    for sample in (est, circ):
        z = (sample.mean(0) - exact) / np.sqrt(var / draws)
        assert np.all(np.abs(z) < 4.5)  # 4.5 sigma over 4 patches x 2 samplers
        # sample variance of 300 draws: relative sd sqrt(2/299) ~ 8%, allow 4 sd
        np.testing.assert_allclose(sample.var(0, ddof=1), var, rtol=0.33)


def test_empty_patches_give_exact_zero_with_shots():
    images = np.zeros((1, 1, 6, 6), np.float32)
    images[0, 0, 0, 0] = 1.0
    layer = QuCNNLayer(kernel_size=2)
    maps = np.asarray(layer(layer.init(0), images, shots=100, seed=0))
    assert np.all(maps[0, 0, 1:, :] == 0) and np.all(maps[0, 0, :, 1:] == 0)
    assert np.isfinite(maps).all()


def test_layer_is_pure_jax(rng):
    layer = QuCNNLayer(kernel_size=2, n_filters=2, layers=1)
    theta = layer.init(0)
    images = jnp.asarray(rng.random((4, 1, 5, 5)), jnp.float32)
    out = jax.jit(layer.apply)(theta, images)
    batched = jax.vmap(lambda t: layer.apply(t, images))(jnp.stack([theta, theta + 0.1]))
    np.testing.assert_allclose(batched[0], out, atol=1e-6)
    grad = jax.grad(lambda t: jnp.sum(layer.apply(t, images) ** 2))(theta)
    h = 1e-2
    e = jnp.zeros_like(theta).at[1, 0].set(h)
    loss = jax.jit(lambda t: jnp.sum(layer.apply(t, images) ** 2))
    fd = (float(loss(theta + e)) - float(loss(theta - e))) / (2 * h)
    assert abs(float(grad[1, 0]) - fd) < 2e-3 * max(1.0, abs(fd))


# =========================================================================== backpropagation
def test_backprop_circuit_multiplies_by_g(rng):
    k = 2
    layer = QuCNNLayer(kernel_size=2, layers=1)
    theta = np.asarray(layer.init(0)[0])
    x = unit_rows(rng, 3, 4)
    y = np.abs(x @ np.asarray(layer.filter_states(jnp.asarray(theta[None])))[0].conj()) ** 2
    engine = make_engine(ancilla_backprop_circuit(k, layers=1), "statevector")
    for g in (-1.0, -0.3, 0.0, 0.7):
        full = np.concatenate([theta, [math.acos(g)]])
        got = np.asarray(engine.expval(full, x, backprop_observable(k)))
        np.testing.assert_allclose(got, g * y, atol=1e-6)


def test_ancilla_gradient_equals_autodiff_and_parameter_shift(rng):
    layer = QuCNNLayer(kernel_size=4, layers=2)
    theta = layer.init(5)
    images = jnp.asarray(rng.random((1, 1, 6, 6)), jnp.float32)
    encoded, occupied = layer.encode(images)
    g = rng.normal(size=(1, 1, 3, 3)).astype(np.float32)
    exact = jax.grad(lambda t: jnp.sum(g * layer.apply_encoded(t, encoded, occupied)))(theta)[0]
    x = np.asarray(encoded).reshape(-1, 16)
    kw = {"n_qubits": 4, "layers": 2}
    ancilla = ancilla_gradient(theta[0], x, g.reshape(-1), **kw)
    post = postprocessed_gradient(theta[0], x, g.reshape(-1), **kw)
    fast = sampled_ancilla_gradient_fn(4, 2, None)(theta, encoded, occupied, g, jax.random.key(0))
    scale = float(np.max(np.abs(exact)))
    for got in (ancilla, post, fast[0]):
        np.testing.assert_allclose(np.asarray(got), exact, atol=2e-5 * max(scale, 1.0))


def test_ancilla_gradient_shot_noise_shrinks_as_inverse_sqrt_shots(rng):
    """Spread over seeds vs the closed form: each shifted circuit's <Z_b> estimate has variance
    (1 - v^2)/S, so Var[grad_j] = s^2 sum_p sum_pm (1 - v_pm^2) / (4 S)."""
    k, layers = 2, 1
    layer = QuCNNLayer(kernel_size=2, layers=layers)
    theta = layer.init(2)
    x = unit_rows(rng, 5, 4)
    g = rng.normal(size=5)
    s, _ = backprop_scale(g)
    states = layer.filter_states(
        theta[0][None, :] + (math.pi / 2) * np.concatenate([np.eye(4), -np.eye(4)])
    )
    v = (g / s)[None, :] * np.abs(np.asarray(states).conj() @ x.T) ** 2  # (8, 5)
    var_pred = s**2 * ((1 - v[:4] ** 2).sum(1) + (1 - v[4:] ** 2).sum(1)) / 4
    exact = np.asarray(ancilla_gradient(theta[0], x, g, n_qubits=k, layers=layers))
    draws = 120
    for shots in (100, 10_000):
        est = np.stack(
            [
                np.asarray(
                    ancilla_gradient(theta[0], x, g, n_qubits=k, layers=layers, shots=shots, seed=d)
                )
                for d in range(draws)
            ]
        )
        sd_pred = np.sqrt(var_pred / shots)
        assert np.all(np.abs(est.mean(0) - exact) < 4.5 * sd_pred / np.sqrt(draws))
        # sample sd of 120 draws: relative error ~6.5%; 25% is ~4 sd
        np.testing.assert_allclose(est.std(0, ddof=1), sd_pred, rtol=0.25)


def test_fast_sampled_routines_match_the_circuit_distribution(rng):
    layer = QuCNNLayer(kernel_size=2, layers=1, n_filters=2)
    theta = layer.init(4)
    images = jnp.asarray(rng.random((2, 1, 3, 3)), jnp.float32)
    encoded, occupied = layer.encode(images)
    g = jnp.asarray(rng.normal(size=(2, 2, 2, 2)), jnp.float32)
    exact = jax.grad(lambda t: jnp.sum(g * layer.apply_encoded(t, encoded, occupied)))(theta)
    for routine in ("ancilla", "parameter-shift"):
        f = jax.jit(sampled_ancilla_gradient_fn(2, 1, 1000, routine=routine))
        est = np.stack(
            [np.asarray(f(theta, encoded, occupied, g, jax.random.key(d))) for d in range(200)]
        )
        sd = est.std(0, ddof=1)
        assert np.all(sd > 0)
        assert np.all(np.abs(est.mean(0) - exact) < 4.5 * sd / np.sqrt(200))
    single = ancilla_gradient(
        np.asarray(theta[1]),
        np.asarray(encoded).reshape(-1, 4),
        np.asarray(g[:, 1]).reshape(-1),
        n_qubits=2,
        layers=1,
    )
    np.testing.assert_allclose(single, exact[1], atol=2e-5)


def test_maximally_mixed_data_give_zero_gradient():
    """Tr(rho_f I/d) = 1/d for every filter: the paper's Fig. 4 setting has gradient 0."""
    rho = np.eye(4)[None].repeat(3, 0) / 4
    grad = ancilla_gradient(
        np.linspace(0, 3, 4),
        rho,
        np.array([0.5, -0.2, 0.9]),
        n_qubits=2,
        layers=1,
        engine="density",
    )
    np.testing.assert_allclose(grad, 0, atol=1e-6)
    with pytest.raises(InputError, match="engine='density'"):
        ancilla_gradient(np.zeros(4), rho, np.ones(3), n_qubits=2, layers=1)


def test_filter_ansatz_parameter_count():
    c = filter_ansatz(4, 2)
    assert c.n_params == 16 == QuCNNLayer().n_params_per_filter
    assert sum(g.name == "cnot" for g in c.gates) == 8


# =========================================================================== classifier
def test_convnets_have_equal_conv_parameters_and_train(rng):
    counts = {
        conv: ConvNetSpec(conv=conv).n_params()["conv"]
        for conv in ("qucnn", "classical-squared", "classical-relu")
    }
    assert len(set(counts.values())) == 1
    spec = ConvNetSpec(
        conv="qucnn", n_filters=2, kernel_size=2, layers=1, pool=3, n_classes=2, image_shape=(7, 7)
    )
    labels = np.arange(64) % 2  # class 0: a vertical bar, class 1: a horizontal bar, in noise
    images = 0.2 * rng.random((64, 7, 7)).astype(np.float32)
    for i, pos in enumerate(rng.integers(1, 6, 64)):
        if labels[i]:
            images[i, pos, :] += 1.0
        else:
            images[i, :, pos] += 1.0
    start = evaluate(spec, init_params(spec, 0), images, labels)
    result = train_convnet(spec, images, labels, epochs=6, batch_size=16, learning_rate=0.1)
    assert result.history["train_loss"][-1] < start[0] - 0.2
    assert result.history["train_acc"][-1] > 0.9
    shot = train_convnet(
        spec, images, labels, epochs=1, batch_size=16, shots=50, gradient="ancilla"
    )
    assert np.isfinite(shot.history["train_loss"][-1])
    with pytest.raises(InputError, match="autodiff"):
        train_convnet(spec, images, labels, shots=50)
    with pytest.raises(InputError, match="QuCNN layer only"):
        train_convnet(
            ConvNetSpec(conv="classical-relu", image_shape=(7, 7), kernel_size=2, pool=3),
            images,
            labels,
            shots=5,
            gradient="ancilla",
        )


def test_sample_swap_tests_at_the_edges():
    """y = 1 is measured exactly (every shot gives a = 0); y = 0 has unit single-shot variance."""
    maps = jnp.asarray([[[[0.0, 1.0]]]])
    occupied = jnp.asarray([[[True, True]]])
    est = np.asarray(sample_swap_tests(maps, occupied, 1000, jax.random.key(0)))
    assert est[0, 0, 0, 1] == 1.0
    assert abs(est[0, 0, 0, 0]) < 5 / math.sqrt(1000)
