"""Locality spectrum of QCNN readout operators (analysis/locality.py, qcnn-locality experiment).

Checked: the untruncated W_k sum to the observable's mass in every draw; a single Haar block on
Z0 gives the 2-design values W_1 = 6/15, W_2 = 9/15 (sampled, and exactly by the support chain);
the chain equals sampled Haar-block QCNNs within sampling error; weight-cut W_k stay within the
stated bias bound of the untruncated ones; decay fits recover a known base; Result 2's table on a
small model agrees with the statevector engine; bad input is refused; the experiment runs end to
end into a folder and a rerun resumes from its checkpoints.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from qnnlab.analysis.locality import (
    LocalityError,
    fit_decay,
    haar_chain_spectrum,
    haar_qcnn,
    locality_spectrum,
    truncation_accuracy,
    weight_counts,
)
from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.haar import haar_unitary
from qnnlab.circuits.paulis import PauliSum, pauli
from qnnlab.engines import make_engine
from qnnlab.engines.pauliprop import propagate
from qnnlab.experiments import qcnn_locality
from qnnlab.experiments.qcnn_locality import QCNNLocalityConfig, run_qcnn_locality
from qnnlab.models import qcnn, qcnn_readout


def test_untruncated_mass_sums_to_one():
    for block in ("so4", "ry-cnot"):
        c = qcnn(6, conv_block=block, share_weights=False)
        s = locality_spectrum(c, qcnn_readout(c), draws=3, seed=5)
        assert s.mass_error < 1e-12
        assert s.mass.sum() == pytest.approx(1.0, abs=1e-12)
        assert s.dropped == 0.0 and np.all(s.bias_bound == 0.0)
        assert s.mass[0] == pytest.approx(0.0, abs=1e-15)  # traceless stays traceless
        np.testing.assert_allclose(s.per_string, s.mass / weight_counts(6, 6))


def test_same_seed_same_draws_and_seed_is_required():
    c = qcnn(4, conv_block="ry-cnot")
    a = locality_spectrum(c, qcnn_readout(c), draws=2, seed=3)
    b = locality_spectrum(c, qcnn_readout(c), draws=2, seed=3)
    np.testing.assert_array_equal(a.mass, b.mass)
    with pytest.raises(LocalityError, match="seed"):
        locality_spectrum(c, qcnn_readout(c), draws=2, seed=None)
    with pytest.raises(LocalityError, match="draws"):
        locality_spectrum(c, qcnn_readout(c), draws=0, seed=1)


def test_single_haar_block_on_z0_is_the_two_design_value():
    expected = np.array([0.0, 6 / 15, 9 / 15])
    single = Circuit(2)
    single.unitary(np.eye(4), (0, 1))
    np.testing.assert_allclose(haar_chain_spectrum(single, "Z0"), expected, atol=1e-14)
    rng = np.random.default_rng(7)
    samples = []
    for _ in range(300):
        c = Circuit(2)
        c.unitary(haar_unitary(4, rng), (0, 1))
        samples.append(propagate(c, "Z0", np.zeros(0)).weight_mass(2))
    samples = np.asarray(samples)
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    assert np.all(np.abs(mean[1:] - expected[1:]) < 4 * se[1:])


def test_haar_chain_matches_sampled_haar_qcnns():
    n = 6
    template = haar_qcnn(n)
    exact = haar_chain_spectrum(template, qcnn_readout(template))
    assert exact.sum() == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(11)
    samples = []
    for _ in range(40):
        c = haar_qcnn(n, rng)
        theta = rng.uniform(0, 2 * np.pi, c.n_params)
        samples.append(propagate(c, qcnn_readout(c), theta).weight_mass(n))
    samples = np.asarray(samples)
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    z = np.abs(mean[1:] - exact[1:]) / se[1:]
    assert np.all(z < 4.5), z


def test_chain_refuses_what_it_cannot_do_exactly():
    shared = qcnn(4, conv_block=lambda c, a, b, p: c.unitary(np.eye(4), (a, b)), n_block_params=0)
    with pytest.raises(LocalityError, match="share_weights=False"):
        haar_chain_spectrum(shared, qcnn_readout(shared))
    # two non-Haar blocks in a row with no Haar twirl between them
    two = Circuit(3)
    two.crx(0, 1, two.parameter())
    two.crx(1, 2, two.parameter())
    with pytest.raises(LocalityError, match="not exact"):
        haar_chain_spectrum(two, "Z2")
    with pytest.raises(LocalityError, match="one Pauli string"):
        two_terms = PauliSum(((0.5, pauli("Z3")), (0.5, pauli("X3"))))
        haar_chain_spectrum(haar_qcnn(4), two_terms)


def test_weight_cut_stays_within_its_bias_bound():
    c = qcnn(6, conv_block="so4", share_weights=False)
    obs = qcnn_readout(c)
    exact = locality_spectrum(c, obs, draws=4, seed=2)
    cut = locality_spectrum(c, obs, draws=4, seed=2, max_weight=3)
    assert len(cut.mass) == 4
    assert cut.mass.sum() + cut.dropped == pytest.approx(1.0, abs=1e-12)
    assert cut.dropped > 0
    gap = np.abs(cut.mass - exact.mass[:4])
    assert np.all(gap <= cut.bias_bound + 1e-12), (gap, cut.bias_bound)


def test_fit_decay_recovers_a_known_base():
    k = np.arange(8)
    values = 0.3 * 2.5 ** (-k.astype(float))
    values[0] = 0.0
    fit = fit_decay(values, k_min=1)
    assert fit.b == pytest.approx(2.5, rel=1e-10) and fit.amplitude == pytest.approx(0.3)
    assert fit_decay([0.0, 1.0, 0.5]) is None  # fewer than 3 positive points


def test_truncation_accuracy_on_a_small_model():
    n = 4
    c = qcnn(n, conv_block="so4")
    obs = qcnn_readout(c)
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * np.pi, c.n_params)
    states = rng.normal(size=(12, 2**n)) + 1j * rng.normal(size=(12, 2**n))
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    model = make_engine(c, "statevector", dtype="complex128").expval_fn(obs)
    ref = np.asarray(model(theta, states), np.float64)
    labels = (ref > 0).astype(int)
    table = truncation_accuracy(c, obs, theta, states, labels, weights=(1, 4), reference_values=ref)
    assert table["source"] == "exact"
    assert table["max_full_error"] < 1e-10
    assert table["full_accuracy"] == 1.0
    assert table["mass_below"]["4"] == pytest.approx(1.0)
    top = table["by_weight"][-1]
    assert top["k"] == 4 and top["truncated_accuracy"] == 1.0
    assert top["projected_mass"] == pytest.approx(1.0)
    with pytest.raises(LocalityError, match="reference_values"):
        truncation_accuracy(c, obs, theta, states, labels, exact_max_qubits=2)
    with pytest.raises(LocalityError, match="one label each"):
        truncation_accuracy(c, obs, theta, states, labels[:3])


def test_config_validation():
    QCNNLocalityConfig.quick().validate()
    QCNNLocalityConfig().validate()
    with pytest.raises(ValueError, match="toric-S"):
        QCNNLocalityConfig(trained=("ising",)).validate()
    with pytest.raises(ValueError, match="one draw count"):
        QCNNLocalityConfig(exact_qubits=(4, 6), exact_draws=(2,)).validate()
    with pytest.raises(ValueError, match="exact_qubits"):
        QCNNLocalityConfig(exact_qubits=(14,), exact_draws=(1,)).validate()


TINY = QCNNLocalityConfig(
    blocks=("ry-cnot",),
    sharing=(True,),
    exact_qubits=(4,),
    exact_draws=(3,),
    bias_max_weight=2,
    large_qubits=(8,),
    large_max_weight=(2,),
    large_draws=(2,),
    chain_qubits=(4,),
    trained=(),
)


def test_experiment_runs_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "run"
    result = run_qcnn_locality(TINY, out, progress=False)
    for name in ("results.json", "spectrum.csv", "fits.csv", "locality.png", "config.json"):
        assert (out / name).exists(), name
    data = json.loads((out / "results.json").read_text())
    assert data["experiment"] == "qcnn-locality"
    assert len(data["spectra"]) == 2 and len(data["haar_chain"]) == 1
    exact = next(r for r in data["spectra"] if r["exact"])
    assert sum(exact["spectrum"]["mass"]) == pytest.approx(1.0, abs=1e-12)
    assert len(exact["bias"]) == 3
    assert any("ry-cnot shared" in line for line in qcnn_locality.report(result))

    def refuse(*args, **kwargs):
        raise AssertionError("a finished task ran again")

    monkeypatch.setattr(qcnn_locality, "spectrum_task", refuse)
    monkeypatch.setattr(qcnn_locality, "chain_task", refuse)
    again = run_qcnn_locality(TINY, out, progress=False)
    assert again.spectra == result.spectra
