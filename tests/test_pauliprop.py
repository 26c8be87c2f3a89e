"""The Pauli-propagation engine: exact when untruncated, truncations that do what they say.

References are independent of the engine: the complex128 statevector engine (itself checked
against dense matrices, Qiskit and PennyLane) and, for the truncation bookkeeping, the
untruncated operator's own coefficients.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import random_circuit, random_pauli_sum, random_state
from qnnlab.circuits import GATE_SPECS, BasisProjector, Circuit
from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.data.mps import MPS
from qnnlab.engines import StatevectorEngine
from qnnlab.engines.pauliprop import PropagationError, build_steps, propagate
from qnnlab.engines.pauliprop.engine import PauliPropagationEngine
from qnnlab.models import qcnn, qcnn_readout

ALPHABET = [g for g in GATE_SPECS] + ["su4"]


def _case(seed: int, n_qubits: int, n_gates: int):
    rng = np.random.default_rng(seed)
    rc = random_circuit(rng, n_qubits, n_gates, required=ALPHABET)
    circuit = rc.circuit
    observable = random_pauli_sum(rng, circuit.alive_qubits, n_terms=3, max_weight=2)
    theta = rng.uniform(-np.pi, np.pi, circuit.n_params)
    psi = random_state(rng, len(circuit.input_qubits), batch=3)
    return circuit, observable, theta, psi


@pytest.mark.parametrize("mode", ["blocks", "gates"])
@pytest.mark.parametrize(("seed", "n_qubits", "n_gates"), [(0, 4, 24), (1, 7, 30), (2, 12, 26)])
def test_untruncated_propagation_equals_the_statevector_engine(mode, seed, n_qubits, n_gates):
    """Every gate of the alphabet, shared slots, discards and fresh ancillas, in float64."""
    circuit, observable, theta, psi = _case(seed, n_qubits, n_gates)
    reference = StatevectorEngine(circuit, dtype="complex128").expval(theta, psi, observable)
    engine = PauliPropagationEngine(circuit, dtype="complex128", mode=mode)
    np.testing.assert_allclose(engine.expval(theta, psi, observable), reference, atol=1e-10)
    result = engine.propagate(theta, observable)
    assert result.dropped_mass == 0.0 and result.error_bound == 0.0
    # fresh ancillas were evaluated on the way: only input qubits remain
    _terms, qubits, _codes = result.operator.table.sparse()
    assert set(qubits.tolist()) <= set(circuit.input_qubits)


def test_fresh_ancillas_never_widen_the_operator():
    """A ladder of CNOTs into fresh ancillas: each ancilla is evaluated right after its first
    gate, so the operator never holds more than the input qubit plus one ancilla."""
    n = 30
    c = Circuit(n, input_qubits=[0])
    c.ry(0, c.parameter("t"))
    for q in range(1, n):
        c.cnot(0, q).rx(q, 0.3 * q)
    obs = " ".join(f"Z{q}" for q in range(n))
    theta = np.array([0.7])
    result = propagate(c, obs, theta)
    assert result.peak_terms <= 4
    # |psi> = a|0>|RX 0..> + b|1>|RX 1..>: Z0 is diagonal, so <Z0 Z1..Z29> =
    # prod_q cos(0.3 q) (|a|^2 - |b|^2 (-1)^29) = prod_q cos(0.3 q)
    expected = np.prod([np.cos(0.3 * q) for q in range(1, n)])
    assert abs(result.expval_zero() - expected) < 1e-12 * max(1.0, abs(expected)) + 1e-18


def test_weight_cut_drops_exactly_the_heavy_strings_and_reports_their_mass():
    c = qcnn(8, conv_block="so4")
    obs = qcnn_readout(c)
    theta = np.random.default_rng(3).uniform(0, 2 * np.pi, c.n_params)
    full = propagate(c, obs, theta)
    cut = propagate(c, obs, theta, max_weight=3)
    assert cut.operator.table.weights().max() <= 3
    # unitary conjugation keeps sum c^2 = 1; every lost unit of mass is reported
    kept = float(np.sum(cut.operator.coeffs**2))
    assert abs(kept + cut.dropped["weight"] - 1.0) < 1e-10
    assert abs(float(np.sum(full.operator.coeffs**2)) - 1.0) < 1e-10
    # the HS distance to the exact operator is within the rigorous bound
    labels = dict(zip(full.operator.table.labels(), full.operator.coeffs, strict=True))
    for label, coeff in zip(cut.operator.table.labels(), cut.operator.coeffs, strict=True):
        labels[label] = labels.get(label, 0.0) - coeff
    distance = np.sqrt(sum(v * v for v in labels.values()))
    assert distance <= cut.error_bound + 1e-12
    assert cut.weight_mass(8)[4:].sum() == 0.0


@pytest.mark.parametrize(
    "cut",
    [{"min_coeff": 1e-2}, {"max_terms": 50}, {"max_freq": 28}, {"max_weight": 2, "max_freq": 24}],
)
def test_each_cut_holds_and_accounts_for_its_mass(cut):
    c = qcnn(6, conv_block="su4")
    obs = qcnn_readout(c)
    theta = np.random.default_rng(5).uniform(0, 2 * np.pi, c.n_params)
    result = propagate(c, obs, theta, **cut)
    coeffs = result.operator.coeffs
    if "min_coeff" in cut:
        assert np.all(np.abs(coeffs) >= cut["min_coeff"])
    if "max_terms" in cut:
        assert result.n_terms <= cut["max_terms"]
    if "max_freq" in cut:
        assert result.mode == "gates" and result.frequencies.max() <= cut["max_freq"]
    if "max_weight" in cut:
        assert result.operator.table.weights().max() <= cut["max_weight"]
    assert result.dropped_mass > 0
    assert abs(float(np.sum(coeffs**2)) + result.dropped_mass - 1.0) < 1e-9


def test_truncation_error_shrinks_as_the_cut_loosens():
    c = qcnn(10, conv_block="su4")
    obs = qcnn_readout(c)
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, c.n_params)
    exact = float(StatevectorEngine(c, dtype="complex128").expval(theta, None, obs))
    program = build_steps(c, "blocks")
    masses = [propagate(c, obs, theta, max_weight=k, program=program) for k in (2, 4, 6, 10)]
    dropped = [r.dropped_mass for r in masses]
    assert dropped == sorted(dropped, reverse=True) and dropped[-1] == 0.0
    assert abs(masses[-1].expval_zero() - exact) < 1e-10


def test_a_basis_projector_is_propagated_as_its_pauli_expansion():
    rng = np.random.default_rng(9)
    circuit, _obs, theta, psi = _case(4, 5, 15)
    qubits = tuple(circuit.alive_qubits[:2])
    projector = BasisProjector(qubits, (1, 0)[: len(qubits)])
    reference = StatevectorEngine(circuit, dtype="complex128").expval(theta, psi, projector)
    engine = PauliPropagationEngine(circuit, dtype="complex128")
    np.testing.assert_allclose(engine.expval(theta, psi, projector), reference, atol=1e-10)
    assert rng is not None


def test_engine_evaluates_on_mps_and_dense_states_alike():
    c = qcnn(8, conv_block="ry-cnot")
    obs = qcnn_readout(c)
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, c.n_params)
    psi = random_state(np.random.default_rng(2), 8, batch=2)
    engine = PauliPropagationEngine(c, dtype="complex128")
    dense = engine.expval(theta, psi, obs)
    on_mps = engine.expval_on(theta, [MPS.from_dense(p) for p in psi], obs)
    np.testing.assert_allclose(on_mps, dense, atol=1e-10)


def test_bad_requests_get_one_line_errors():
    c = qcnn(6)
    theta = np.zeros(c.n_params)
    with pytest.raises(PropagationError, match="discarded qubit"):
        propagate(c, "Z0", theta)
    with pytest.raises(PropagationError, match="max_weight must be an integer >= 1"):
        propagate(c, qcnn_readout(c), theta, max_weight=0)
    with pytest.raises(PropagationError, match="mode='gates'"):
        propagate(c, qcnn_readout(c), theta, max_freq=3, mode="blocks")
    with pytest.raises(PropagationError, match="parameters"):
        propagate(c, qcnn_readout(c), theta[:-1])
    with pytest.raises(PropagationError, match="NaN"):
        propagate(c, qcnn_readout(c), np.full(c.n_params, np.nan))


def test_packed_table_round_trips_labels_and_weights():
    labels = ["X0 Z3", "Y70", "I", "Z1 Y2 X64"]
    table = PauliTable.from_strings(labels, n_qubits=100)
    assert table.labels() == labels
    assert table.weights().tolist() == [2, 1, 0, 3]
    assert table.codes([0, 1, 2, 3]).tolist()[0] == [1, 0, 0, 2]


def test_cli_propagate_writes_the_contract_fields(tmp_path, capsys):
    from qnnlab.cli import main

    out = tmp_path / "run"
    assert main(["propagate", "--qubits", "8", "--block", "so4", "--seed", "2",
                 "--max-weight", "4", "--out", str(out)]) == 0  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    for key in ("n_qubits", "n_terms", "dropped_mass", "value", "exact_value", "weight_mass",
                "seconds"):  # fmt: skip
        assert key in results
    assert results["n_qubits"] == 8 and len(results["weight_mass"]) == 5
    assert abs(sum(results["weight_mass"]) + results["dropped_mass"] - 1.0) < 1e-9
    assert (out / "weight_mass.png").stat().st_size > 0
    assert "value on |0..0>" in capsys.readouterr().out
    assert main(["propagate", "--qubits", "8", "--max-freq", "-1", "--out",
                 str(tmp_path / "bad")]) == 2  # fmt: skip
    assert "--max-freq must be an integer >= 0" in capsys.readouterr().err


def test_importing_the_engines_loads_neither_numba_nor_tenpy():
    """Time to first result: the Pauli-propagation kernels (Numba) and its data routes (TeNPy via
    qnnlab.data) load when first used, not when a user imports the engines."""
    import subprocess
    import sys

    code = "import sys, qnnlab.engines; print('numba' in sys.modules, 'tenpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
