import jax.numpy as jnp
import numpy as np
import pytest

from qnnlab import CircuitError, DensityMatrixEngine, StatevectorEngine
from qnnlab.models import (
    build_ansatz,
    fig3a_dqnn,
    hardware_efficient,
    log_depth,
    qcnn,
    qcnn_readout,
    toy_ry,
)
from qnnlab.training import build_cost


@pytest.mark.parametrize("cost_name", ["global", "local"])
def test_toy_model_as_dissipative_network_gives_identical_costs(cost_name):
    """Fig. 3(a): SWAP + RY perceptrons with the input layer traced out = product of RY."""
    n = 3
    rng = np.random.default_rng(0)
    product, dqnn = toy_ry(n), fig3a_dqnn(n)
    sv_cost = build_cost(cost_name, range(n))
    dm_cost = build_cost(cost_name, range(n, 2 * n))
    sv = StatevectorEngine(product, dtype="complex128")
    dm = DensityMatrixEngine(dqnn, dtype="complex128")
    for _ in range(5):
        theta = rng.uniform(0, 2 * np.pi, n)
        a = sv_cost(sv.expval(theta, None, sv_cost.observable))
        b = dm_cost(dm.expval(theta, None, dm_cost.observable))
        assert abs(float(a) - float(b)) < 1e-12
        expected = (
            1 - np.prod(np.cos(theta / 2) ** 2)
            if cost_name == "global"
            else (1 - np.mean(np.cos(theta / 2) ** 2))
        )
        assert abs(float(a) - expected) < 1e-12


def test_hardware_efficient_structure():
    c = hardware_efficient(6, layers=2)
    # per layer: 3 even + 2 odd blocks, 2 RY each
    assert c.n_params == 2 * (3 + 2) * 2
    assert sum(g.name == "cz" for g in c.gates) == 2 * 5
    assert hardware_efficient(8).n_params == log_depth(8) * (4 + 3) * 2
    assert log_depth(2) == 1 and log_depth(9) == 4
    with pytest.raises(CircuitError, match="unknown ansatz"):
        build_ansatz("bogus", 3)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 8])
def test_qcnn_pools_to_one_qubit_and_engines_agree(n):
    c = qcnn(n)
    assert len(c.alive_qubits) == 1
    obs = qcnn_readout(c)
    rng = np.random.default_rng(n)
    theta = rng.uniform(0, 2 * np.pi, c.n_params)
    psi = rng.normal(size=(3, 2**n)) + 1j * rng.normal(size=(3, 2**n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    sv = StatevectorEngine(c, dtype="complex128").expval(theta, psi, obs)
    dm = DensityMatrixEngine(c, dtype="complex128").expval(theta, psi, obs)
    np.testing.assert_allclose(sv, dm, atol=1e-12)
    assert np.all(np.abs(np.asarray(sv)) <= 1 + 1e-12)


def test_qcnn_weight_sharing_counts():
    c = qcnn(8)  # layers at 8, 4, 2 active qubits
    assert c.n_params == 3 * (15 + 2)
    with pytest.raises(CircuitError, match="at least 2"):
        qcnn(1)


def test_qcnn_density_memory_follows_alive_qubits():
    """The density engine traces pooled qubits out: its final register holds one qubit."""
    c = qcnn(6)
    engine = DensityMatrixEngine(c)
    maximally_mixed = (jnp.eye(64, dtype=jnp.complex64) / 64)[None]
    rho, live = engine.final_from_angles(engine.angles(jnp.zeros(c.n_params)), maximally_mixed)
    assert live == c.alive_qubits
    assert rho.shape == (1, 2, 2)
