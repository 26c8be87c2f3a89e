"""DQNNs: wiring, engines against independent references, both training methods, gradient
statistics (Theorems 1-2) and the Fig. 3 maps."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import expm

from qnnlab.analysis import dqnn_variance as dv
from qnnlab.analysis.variance import sample_statistics
from qnnlab.circuits import Circuit, CircuitError
from qnnlab.circuits.haar import haar_isometry, haar_states, haar_unitary
from qnnlab.data.unitary_task import unitary_task
from qnnlab.engines.density import DensityMatrixEngine
from qnnlab.engines.perceptrons import haar_perceptrons, network_output
from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.engines.validation import resolve_dtype
from qnnlab.models.ansatz import hardware_efficient
from qnnlab.models.dqnn import dqnn_architecture, dqnn_circuit, fig3b_dqnn
from qnnlab.training.costs import (
    build_cost,
    fidelity_targets,
    label_targets,
    local_targets,
)
from qnnlab.training.dqnn_gradient import train_dqnn_gradient
from qnnlab.training.parameter_matrix import (
    as_factor_batch,
    mean_score,
    parameter_matrix_step,
    perceptron_commutators,
    train_parameter_matrix,
    update_generators,
)

resolve_dtype("complex128")


# ---------------------------------------------------------------------- wiring
def test_global_local_and_k_output_wiring():
    arch = dqnn_architecture([2, 3, 2])
    assert arch.n_qubits == 7 and arch.max_layer_qubits == 5
    assert [p.inputs for p in arch.layers[0]] == [(0, 1)] * 3
    assert [p.outputs for p in arch.layers[1]] == [(0,), (1,)]
    local = dqnn_architecture([5, 5], window=3)
    windows = [(0, 1, 2), (1, 2, 3), (2, 3, 4), (2, 3, 4), (2, 3, 4)]
    assert [p.inputs for p in local.layers[0]] == windows
    kout = dqnn_architecture([4, 5], outputs_per_perceptron=2)
    assert [p.outputs for p in kout.layers[0]] == [(0, 1), (2, 3), (4,)]
    assert "local m=[3]" in local.describe()


def test_windows_must_read_every_input():
    with pytest.raises(CircuitError, match=r"inputs \[1, 2, 3\] of layer 0 feed no perceptron"):
        dqnn_architecture([5, 2], window=1)
    spread = dqnn_architecture([6, 3], window=2)
    assert [p.inputs for p in spread.layers[0]] == [(0, 1), (2, 3), (4, 5)]


@pytest.mark.parametrize("widths", [[3], [2, 0], [2, 1.5]])
def test_bad_widths_are_explained(widths):
    with pytest.raises(CircuitError, match="widths"):
        dqnn_architecture(widths)


def test_circuit_discards_each_input_layer():
    c = dqnn_circuit(dqnn_architecture([2, 3, 2]), depth=1)
    assert c.input_qubits == (0, 1) and c.alive_qubits == (5, 6)
    assert set(c.discarded) == {0, 1, 2, 3, 4}


# ---------------------------------------------------------------------- Fig. 3 maps
@pytest.mark.parametrize("n,hea_layers,block", [(4, 2, "ry-cz"), (3, 1, "su4")])
def test_fig3b_dqnn_is_the_layered_hea(n, hea_layers, block):
    """Two DQNN layers of Fig. 3(b) = one HEA layer: same parameters, same output state."""
    dqnn = fig3b_dqnn(n, 2 * hea_layers, block=block)
    hea = hardware_efficient(n, hea_layers, block=block)
    assert dqnn.param_names == hea.param_names
    rng = np.random.default_rng(n)
    dm = DensityMatrixEngine(dqnn, dtype="complex128")
    sv = StatevectorEngine(hea, dtype="complex128")
    for _ in range(2):
        theta = rng.uniform(0, 2 * np.pi, dqnn.n_params)
        psi = sv.state(theta)
        np.testing.assert_allclose(dm.density_matrix(theta), np.outer(psi, psi.conj()), atol=1e-12)
        for cost_name in ("global", "local"):
            cd, ch = build_cost(cost_name, dqnn.alive_qubits), build_cost(cost_name, range(n))
            a = cd(dm.expval(theta, observable=cd.observable))
            b = ch(sv.expval(theta, observable=ch.observable))
            assert abs(float(a) - float(b)) < 1e-12


# ---------------------------------------------------------------------- matrix perceptrons
def _as_circuit(arch, unitaries) -> Circuit:
    """The same network through the generic Circuit IR with fixed unitary gates."""
    it = iter([u for layer in unitaries for u in layer])
    return dqnn_circuit(arch, lambda c, qubits, prefix: c.unitary(next(it), qubits))


@pytest.mark.parametrize(
    "widths,window,k", [([1, 2, 1], None, 1), ([3, 3], 1, 1), ([1, 3], None, 2)]
)
def test_matrix_engine_matches_density_engine(widths, window, k):
    arch = dqnn_architecture(widths, window=window, outputs_per_perceptron=k)
    unitaries = haar_perceptrons(arch, 3)
    rho_in = np.stack(
        [np.outer(v, v.conj()) for v in haar_states(3, 2 ** widths[0], np.random.default_rng(1))]
    )
    ours = np.asarray(network_output(arch, unitaries, rho_in))
    reference = DensityMatrixEngine(_as_circuit(arch, unitaries), dtype="complex128")
    np.testing.assert_allclose(ours, reference.density_matrix(np.zeros(0), rho_in), atol=1e-12)


def _problem(widths, n_pairs=4, seed=0, **options):
    arch = dqnn_architecture(widths, **options)
    task = unitary_task(widths[0], n_pairs, n_test=5, seed=seed)
    w = as_factor_batch(task.train_inputs, 2 ** widths[0], np.complex128, "inputs")
    s = as_factor_batch(task.train_targets, 2 ** widths[-1], np.complex128, "targets")
    return arch, haar_perceptrons(arch, seed + 1), w, s, task


@pytest.mark.parametrize(
    "widths,options",
    [([2, 3, 2], {}), ([3, 3], {"window": 2}), ([2, 4, 2], {"outputs_per_perceptron": 2})],
)
def test_update_is_gradient_ascent_with_predicted_slope(widths, options):
    """dF/d eps = (2^m / (lam N^2)) sum_j ||M_j||^2 (module docstring of parameter_matrix), for
    global, local-window and 2-output perceptrons."""
    arch, u, w, s, _ = _problem(widths, n_pairs=5, **options)
    lam, n_pairs = 1.0, 5
    ms, _ = perceptron_commutators(arch, u, w, s)
    predicted = sum(
        (2 ** len(p.inputs)) / (lam * n_pairs**2) * float(np.sum(np.abs(np.asarray(m)) ** 2))
        for layer, ml in zip(arch.layers, ms, strict=True)
        for p, m in zip(layer, ml, strict=True)
    )
    h = 1e-5
    plus, _ = parameter_matrix_step(arch, u, w, s, h, lam)
    minus, _ = parameter_matrix_step(arch, u, w, s, -h, lam)
    slope = (float(mean_score(arch, plus, w, s)) - float(mean_score(arch, minus, w, s))) / (2 * h)
    assert predicted > 0
    assert slope == pytest.approx(predicted, rel=1e-6)


def test_update_generators_are_hermitian_and_steps_unitary():
    arch, u, w, s, _ = _problem([1, 2, 1])
    ks, scores = update_generators(arch, u, w, s, 1.0)
    for layer in ks:
        for k in layer:
            np.testing.assert_allclose(k, np.conj(k).T, atol=1e-13)
    new, before = parameter_matrix_step(arch, u, w, s, 0.1, 1.0)
    assert float(before) == pytest.approx(float(np.mean(scores)))
    for layer in new:
        for v in layer:
            np.testing.assert_allclose(np.conj(v).T @ v, np.eye(v.shape[0]), atol=1e-12)


def test_commutator_matches_finite_difference_of_each_perceptron():
    """d F / dt along V_j -> exp(t T) V_j equals Tr[T M_j] / N for a random anti-Hermitian T."""
    arch, u, w, s, _ = _problem([2, 2], n_pairs=3)
    ms, _ = perceptron_commutators(arch, u, w, s)
    rng = np.random.default_rng(4)
    j = 1
    g = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    t = g - g.conj().T
    h = 1e-6

    def score(x):
        shifted = [list(layer) for layer in u]
        shifted[0][j] = expm(x * t) @ u[0][j]
        return float(mean_score(arch, shifted, w, s))

    fd = (score(h) - score(-h)) / (2 * h)
    assert fd == pytest.approx(float(np.real(np.trace(t @ np.asarray(ms[0][j])))) / 3, rel=1e-6)


def test_parameter_matrix_training_learns_a_unitary():
    """Beer et al.: [1,2,1], 10 pairs, eps 0.1: fidelity above 0.95 within ~20 rounds."""
    arch = dqnn_architecture([1, 2, 1])
    task = unitary_task(1, 10, n_test=30, seed=7)
    result = train_parameter_matrix(
        arch,
        haar_perceptrons(arch, 8),
        task.train_inputs,
        task.train_targets,
        rounds=80,
        test_inputs=task.test_inputs,
        test_targets=task.test_targets,
        chunk=30,
    )
    assert result.train_score.shape == (81,) and result.test_score.shape == (81,)
    assert result.rounds_to(0.95) is not None and result.rounds_to(0.95) <= 60
    assert result.test_score[-1] > 0.95


def test_trainer_rejects_bad_data():
    arch = dqnn_architecture([1, 2, 1])
    u = haar_perceptrons(arch, 0)
    with pytest.raises(ValueError, match="normalised"):
        train_parameter_matrix(arch, u, np.ones((2, 2)), np.ones((2, 2)) / np.sqrt(2), rounds=1)
    with pytest.raises(ValueError, match="positive semidefinite"):
        bad = np.stack([np.diag([1.0, -1.0])] * 2)
        train_parameter_matrix(arch, u, haar_states(2, 2, 0), bad, rounds=1)
    with pytest.raises(ValueError, match="layer 1 has 2 perceptrons"):
        train_parameter_matrix(arch, [u[0][:1], u[1]], haar_states(2, 2, 0), haar_states(2, 2, 1))


def _beer_peer():
    if importlib.util.find_spec("qutip") is None:
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from peers import beer_qutip

    return beer_qutip


def test_matches_beer_et_al_qutip_implementation():
    """Same initial unitaries and pairs as Beer et al.'s QuTiP code: same costs, same result."""
    peer = _beer_peer()
    if peer is None:
        pytest.skip(
            "needs qutip to run Beer et al.'s original code: pip install -e .[bench] "
            "(CI checks the same update against finite differences instead)"
        )
    unitaries, data = peer.random_problem([2, 3, 2], 4, 0)
    costs, final, _ = peer.train([2, 3, 2], unitaries, data, 1, 0.1, 5)
    ours = train_parameter_matrix(
        dqnn_architecture([2, 3, 2]),
        [list(unitaries[1]), list(unitaries[2])],
        np.array([d[0] for d in data]),
        np.array([d[1] for d in data]),
        rounds=5,
    )
    np.testing.assert_allclose(ours.train_score, costs, atol=1e-12)
    for a_layer, b_layer in zip(final[1:], ours.unitaries, strict=True):
        for a, b in zip(a_layer, b_layer, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)


# ---------------------------------------------------------------------- target operators
def test_target_operators():
    rng = np.random.default_rng(0)
    factors = haar_states(2 * 3, 2, rng).reshape(2, 3, 2)
    product = np.stack([np.kron(np.kron(f[0], f[1]), f[2]) for f in factors])
    rho = fidelity_targets(product)
    local = local_targets(factors)
    # a perfect output scores 1 under the global and the local target
    np.testing.assert_allclose(np.einsum("xij,xji->x", local, rho).real, 1.0, atol=1e-12)
    np.testing.assert_allclose(np.einsum("xij,xji->x", rho, rho).real, 1.0, atol=1e-12)
    # the maximally mixed output scores 1/2 locally and 1/8 globally
    mixed = np.eye(8) / 8
    assert np.trace(local[0] @ mixed).real == pytest.approx(0.5)
    assert np.trace(rho[0] @ mixed).real == pytest.approx(1 / 8)
    labels = label_targets([1, -1], 2)
    assert np.allclose(np.diag(labels[0]).real, [1, 1, 0, 0])
    with pytest.raises(ValueError, match="labels"):
        label_targets([0.5], 1)


# ---------------------------------------------------------------------- gradient training
def test_autodiff_and_parameter_shift_train_identically():
    arch = dqnn_architecture([1, 2, 1])
    circuit = dqnn_circuit(arch, depth=1)
    task = unitary_task(1, 4, n_test=4, seed=2)
    runs = [
        train_dqnn_gradient(
            circuit, task.train_inputs, task.train_targets, gradient=g, steps=3, seed=1
        )
        for g in ("autodiff", "parameter-shift")
    ]
    np.testing.assert_allclose(runs[0].train_score, runs[1].train_score, atol=1e-10)
    np.testing.assert_allclose(runs[0].theta, runs[1].theta, atol=1e-9)
    assert runs[0].train_score[-1] > runs[0].train_score[0]


def test_local_cost_training_on_product_targets():
    """Eq. (4) with product targets: the local score rises under Adam."""
    circuit = dqnn_circuit(dqnn_architecture([2, 2]), depth=1)
    rng = np.random.default_rng(3)
    inputs = haar_states(4, 4, rng)
    factors = haar_states(8, 2, rng).reshape(4, 2, 2)
    result = train_dqnn_gradient(
        circuit, inputs, local_targets(factors), steps=15, learning_rate=0.2, seed=0
    )
    assert result.train_score[-1] > result.train_score[0] + 0.05


# ---------------------------------------------------------------------- Theorems 1-2 sampler
def test_haar_isometry_moments():
    """E|<0|V|psi>|^2 = 1/d and E|<0|V|psi>|^4 = 2/(d(d+1)) for Haar V (d = 8)."""
    rng = np.random.default_rng(0)
    d, draws = 8, 20000
    amps = np.array([haar_isometry(d, 1, rng)[0, 0] for _ in range(draws)])
    p = np.abs(amps) ** 2
    assert p.mean() == pytest.approx(1 / d, abs=4 * p.std() / np.sqrt(draws))
    p2 = p**2
    assert p2.mean() == pytest.approx(2 / (d * (d + 1)), abs=4 * p2.std() / np.sqrt(draws))
    u = haar_unitary(d, rng)
    np.testing.assert_allclose(u.conj().T @ u, np.eye(d), atol=1e-12)


@pytest.mark.parametrize(
    "widths,options,cost,mode,layer,perceptron",
    [
        ([2, 2], {}, "global", "theorem1", 1, 1),
        ([2, 3, 2], {}, "local", "theorem1", 2, 0),
        ([2, 2], {}, "local", "theorem2", 1, 0),
        ([3, 2, 2], {}, "global", "theorem2", 1, 0),
        ([2, 4, 2], {"outputs_per_perceptron": 2}, "global", "theorem1", 1, 1),
        ([3, 3, 2], {"window": 2}, "local", "theorem2", 1, 0),
    ],
)
def test_gradient_sample_matches_finite_differences(widths, options, cost, mode, layer, perceptron):
    """Register, discards and cost derivative against the dense matrix engine."""
    rng = np.random.default_rng(5)
    arch = dqnn_architecture(widths, **options)
    inputs = haar_states(2, 2 ** widths[0], rng)
    targets = dv.product_targets(2, widths[-1], rng)
    mats = []

    def source(d):
        mats.append(haar_unitary(d, rng))
        return mats[-1]

    g = dv.haar_gradient_sample(
        arch,
        inputs,
        targets,
        cost,
        source,
        mode=mode,
        layer=layer,
        perceptron=perceptron,
        update_pauli=lambda qubits: [(qubits[0], "X")],
    )
    z, x = np.diag([1.0, -1.0]).astype(complex), np.array([[0, 1], [1, 0]], dtype=complex)

    def network(t):
        it, us = iter(mats), []
        for l_index, perceptrons in enumerate(arch.layers, 1):
            row = []
            for j, p in enumerate(perceptrons):
                m = len(p.inputs)  # Gamma = Z on the first output, H = X on the first input
                gamma = np.kron(np.kron(np.eye(2**m), z), np.eye(2 ** (len(p.outputs) - 1)))
                h = np.kron(x, np.eye(2 ** (p.n_qubits - 1)))
                if mode == "theorem1" and (l_index, j) == (layer, perceptron):
                    b, a = next(it), next(it)
                    row.append(a @ expm(-0.5j * t * gamma) @ b)
                elif mode == "theorem2":
                    row.append(expm(1j * t * h) @ next(it))
                else:
                    row.append(next(it))
            us.append(row)
        return us

    product = np.stack([np.kron(f[0], f[1]) for f in targets])  # two output qubits
    sigma = fidelity_targets(product) if cost == "global" else local_targets(targets)

    def cost_value(t):
        rho = np.asarray(network_output(arch, network(t), inputs))
        return 1 - np.mean(np.einsum("xij,xji->x", sigma, rho).real)

    h = 1e-5
    assert g == pytest.approx((cost_value(h) - cost_value(-h)) / (2 * h), abs=1e-9)


def test_lazy_haar_sampling_has_the_full_haar_variance():
    """Sampling only the needed isometry gives the same gradient statistics as full unitaries."""
    arch = dqnn_architecture([2, 2])
    rng = np.random.default_rng(11)
    inputs = haar_states(1, 4, rng)
    targets = dv.product_targets(1, 2, rng)
    draws = 3000
    lazy = [dv.haar_gradient_sample(arch, inputs, targets, "global", rng) for _ in range(draws)]
    full = [
        dv.haar_gradient_sample(arch, inputs, targets, "global", lambda d: haar_unitary(d, rng))
        for _ in range(draws)
    ]
    v1, se1, m1, sm1, _ = sample_statistics(np.array(lazy))
    v2, se2, m2, sm2, _ = sample_statistics(np.array(full))
    assert abs(v1 - v2) < 4 * np.hypot(se1, se2)
    assert abs(m1) < 4 * sm1 and abs(m2) < 4 * sm2  # <dC> = 0 for 1-designs


def test_theorem1_global_decays_faster_than_local():
    """Theorem 1 on [n, n]: global ~ 2^-2n, local no faster than that (ratio grows with n)."""
    cfg = dv.DQNNVarianceConfig(qubits=[2, 4], draws=300, seed=1)
    g = dv.dqnn_variance_scan(cfg, cost="global", progress=False)
    loc = dv.dqnn_variance_scan(cfg, cost="local", progress=False)
    decay_g = g.variance[0] / g.variance[1]
    assert 8 < decay_g < 40  # 16 = 4^2 expected for O(2^-2n) over two qubits
    assert loc.variance[1] / g.variance[1] > 0.8 * loc.variance[0] / g.variance[0]
    assert g.rate == 4.0 and loc.rate == 2.0


def test_variance_config_errors():
    with pytest.raises(ValueError, match="mode"):
        dv.DQNNVarianceConfig(mode="theorem3").validate()
    with pytest.raises(ValueError, match="perceptron 5 does not exist"):
        dv.DQNNVarianceConfig(qubits=[2], perceptron=5).validate()


def test_supervised_labels_with_parameter_matrix_training():
    """{|phi>, y} data: y = sign of <Z> of the input qubit; the network learns to put the label
    on its output qubit (score = probability of reading y there)."""
    rng = np.random.default_rng(2)
    states = haar_states(16, 2, rng)
    labels = np.where(np.abs(states[:, 0]) ** 2 > 0.5, 1.0, -1.0)
    arch = dqnn_architecture([1, 2, 1])
    result = train_parameter_matrix(
        arch, haar_perceptrons(arch, 3), states, label_targets(labels, 1), rounds=60, chunk=30
    )
    # reading Z and copying it out scores mean(max(p, 1 - p)) (3/4 on average for Haar inputs)
    p_zero = np.abs(states[:, 0]) ** 2
    copy_z = float(np.mean(np.maximum(p_zero, 1 - p_zero)))
    assert result.train_score[-1] > 0.95 * copy_z
    assert result.train_score[-1] > result.train_score[0] + 0.15


@pytest.mark.parametrize("widths", [[2, 3, 2], [3, 3, 3, 3], [4, 2, 3]])
def test_density_engine_holds_two_adjacent_layers(widths):
    """Memory follows two adjacent layers, not the whole network (Eq. 1 remark); inputs whose
    last gate is done are traced out even before the layer ends, so it can be less."""
    arch = dqnn_architecture(widths)
    engine = DensityMatrixEngine(dqnn_circuit(arch, depth=1))
    assert max(widths) < engine.max_live_qubits <= arch.max_layer_qubits < arch.n_qubits


def test_bad_inputs_get_clear_errors():
    arch = dqnn_architecture([1, 2, 1])
    u = haar_perceptrons(arch, 0)
    states = haar_states(2, 2, 0)
    scaled = [[3 * u[0][0], u[0][1]], u[1]]
    with pytest.raises(ValueError, match="not unitary"):
        train_parameter_matrix(arch, scaled, states, states, rounds=1)
    with pytest.raises(ValueError, match="trace 1"):
        train_parameter_matrix(arch, u, np.stack([np.eye(2)] * 2), states, rounds=1)
    with pytest.raises(ValueError, match="both test_inputs and test_targets"):
        train_parameter_matrix(arch, u, states, states, rounds=1, test_targets=states)
    with pytest.raises(ValueError, match="3 test inputs but 2 test targets"):
        train_parameter_matrix(
            arch, u, states, states, rounds=1, test_inputs=haar_states(3, 2, 1), test_targets=states
        )
    with pytest.raises(ValueError, match="needs a batch axis"):
        network_output(arch, u, np.eye(2) / 2)
    with pytest.raises(ValueError, match="normalised"):
        local_targets(np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match="no perceptron 3 in layer 1"):
        dv.haar_gradient_sample(
            arch, states, np.ones((2, 1, 2)) / np.sqrt(2), "global", 0, perceptron=3
        )


def test_theorem2_update_directions_are_random_paulis():
    rng = np.random.default_rng(0)
    strings = [dv.random_pauli_string([4, 7, 9], rng) for _ in range(400)]
    assert all(s and all(q in (4, 7, 9) and letter in "XYZ" for q, letter in s) for s in strings)
    weights = np.array([len(s) for s in strings])
    # 63 non-identity strings on 3 qubits: mean weight (3*27*... ) = 3 * (3/4) * 64/63
    assert weights.mean() == pytest.approx(3 * 0.75 * 64 / 63, abs=0.15)
