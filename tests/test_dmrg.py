"""DMRG ground states (TeNPy models, ``qnnlab.data.dmrg``) against exact diagonalization.

The issue's requirement: DMRG energies equal exact diagonalization to ``1e-8``. Both sides go
through the public sample builder (``phases.build_sample`` with ``method="dmrg"`` and
``method="exact"``), in the same symmetry sector: the XXX chain at fixed ``S^z`` (``S^z = 0`` or
``1/2``), the cluster-Ising chain as the lower of the two parity sectors (DMRG) against the full
space (exact). The exact side is itself checked against textbook matrices in
``test_hamiltonians.py``; here the DMRG state is additionally converted to a dense vector and its
energy recomputed from the Pauli sum, so the TeNPy model, the basis change and the MPS conversion
are all checked against the independent Hamiltonian.

Overlaps use a rigorous bound rather than a guessed tolerance: for a normalised state with
variational energy ``E_var``, ``1 - |<psi_0|phi>|^2 <= (E_var - E_0) / gap``.

The Bethe-ansatz check (slow) uses energy differences of the uniform chain at growing ``n``:
``(E(n + 2) - E(n)) / 2 -> 1/4 - ln 2`` (Hulthen 1938) with ``O(1/n^2)`` corrections.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from qnnlab.circuits.paulis import PauliString
from qnnlab.data.dmrg import DMRGSettings
from qnnlab.data.hamiltonians import (
    bond_alternating_xxx,
    cluster_ising,
    dense_expectation,
    exact_ground_state,
    hadamard_rotated,
)
from qnnlab.data.mps import MPS
from qnnlab.data.phases import build_sample, resolve_config

BETHE_ENERGY_PER_BOND = 0.25 - math.log(2.0)  # -0.4431471805599453

#: The issue's requirement for DMRG against exact diagonalization. With chi_max = 64 >= 2^(n/2)
#: for n <= 12 DMRG represents the state exactly, so only Lanczos/sweep convergence
#: (max_E_err = 1e-10) limits it; observed differences are ~1e-14.
DMRG_ENERGY_TOL = 1e-8


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def build_both(name: str, n: int, params: dict, dmrg: dict | None = None):
    sample = {"index": 0, "label": 0, "params": params}
    exact = build_sample(resolve_config(name, n, 2, method="exact"), sample)
    approx = build_sample(resolve_config(name, n, 2, method="dmrg", dmrg=dmrg), sample)
    return exact, approx


def check_dmrg_record(record: dict, n: int, settings: DMRGSettings) -> None:
    assert record["method"] == "dmrg"
    assert record["wall_time"] > 0
    # n <= 12 and chi_max = 64: nothing needs truncating beyond svd_min = 1e-10.
    assert record["truncation_error"] < 1e-10
    assert 1 <= record["bond_dim"] <= min(settings.chi_max, 2 ** (n // 2))
    assert settings.min_sweeps <= record["sweeps"] <= settings.max_sweeps + 1


def check_overlap_bound(state: MPS, ham, n: int, exact_vector, e0: float, gap: float) -> None:
    phi = state.to_dense()
    assert np.linalg.norm(phi) == pytest.approx(1.0, abs=1e-12)
    e_var = dense_expectation(phi, ham, n)
    infidelity = 1.0 - abs(np.vdot(exact_vector, phi)) ** 2
    # 1e-9 absorbs float64 rounding of E_var - E_0 (energies ~10, ~1e-13) divided by the gap.
    assert infidelity <= max(e_var - e0, 0.0) / gap + 1e-9


# ------------------------------------------------------------------------------ XXX chain
@pytest.mark.parametrize(
    "ratio, n",
    [(0.5, 8), (1.0, 10), (1.5, 12), (0.7, 9)],  # trivial, critical, topological, odd n
)
def test_xxx_dmrg_energy_equals_exact_diagonalization(ratio, n):
    params = {"J1": 1.0, "J2": ratio, "ratio": ratio}
    (ex_state, ex_rec), (dm_state, dm_rec) = build_both("xxx", n, params)
    assert isinstance(ex_state, np.ndarray) and isinstance(dm_state, MPS)
    assert ex_rec["method"] == "exact"
    assert abs(dm_rec["energy"] - ex_rec["energy"]) < DMRG_ENERGY_TOL
    check_dmrg_record(dm_rec, n, DMRGSettings())
    ham = bond_alternating_xxx(n, 1.0, ratio)
    # The TeNPy model (Sz Sz + (S+ S- + h.c.) / 2) equals the Pauli-sum Hamiltonian.
    assert dense_expectation(dm_state.to_dense(), ham, n) == pytest.approx(
        dm_rec["energy"], abs=DMRG_ENERGY_TOL
    )
    check_overlap_bound(dm_state, ham, n, ex_state, ex_rec["energy"], ex_rec["gap"])
    # Same S^z sector on both sides: sum_i <Z_i> = n - 2 (number of |1>) = n - 2 (n // 2).
    total_z = sum(dm_state.expectation(PauliString(((i, "Z"),))) for i in range(n))
    assert total_z == pytest.approx(n % 2, abs=1e-9)
    # Physical diagnostics agree between the dense and the MPS state.
    for key, value in ex_rec["diagnostics"].items():
        assert dm_rec["diagnostics"][key] == pytest.approx(value, abs=1e-7), key


# ------------------------------------------------------------------------------ cluster-Ising
@pytest.mark.parametrize(
    "h1, h2, n",
    [
        (0.1, 0.0, 9),  # deep in the SPT (cluster) phase: edge modes, gap ~2e-5
        (0.3, 0.2, 10),  # SPT
        (1.5, 0.5, 10),  # paramagnet
        (0.2, -1.5, 11),  # antiferromagnet
        (0.7, 0.6, 12),  # trivial, 4096 states: eigsh path on the exact side
    ],
)
def test_cluster_dmrg_energy_equals_exact_diagonalization(h1, h2, n):
    params = {"h1": h1, "h2": h2, "J": 1.0}
    (ex_state, ex_rec), (dm_state, dm_rec) = build_both("cluster-ising", n, params)
    assert isinstance(dm_state, MPS)
    assert abs(dm_rec["energy"] - ex_rec["energy"]) < DMRG_ENERGY_TOL
    check_dmrg_record(dm_rec, n, DMRGSettings())
    ham = cluster_ising(n, h1, h2)
    phi = dm_state.to_dense()
    # The Hadamard basis change back to qubits is right: the energy of the converted state under
    # the original (unrotated) Pauli sum is the DMRG energy.
    assert dense_expectation(phi, ham, n) == pytest.approx(dm_rec["energy"], abs=DMRG_ENERGY_TOL)
    # DMRG ran in a parity sector: the state has definite prod X = +-1, and it is the sector of
    # lower energy (exact energies of both sectors from the rotated Hamiltonian).
    parity = dm_state.expectation(PauliString(tuple((i, "X") for i in range(n))))
    assert abs(parity) == pytest.approx(1.0, abs=1e-9)
    rotated = hadamard_rotated(ham)
    sectors = [exact_ground_state(rotated, n, sector=("parity", p)).energy for p in (0, 1)]
    assert dm_rec["energy"] == pytest.approx(min(sectors), abs=DMRG_ENERGY_TOL)
    # prod X = +1 is the even sector (p = 0) in the rotated basis.
    assert sectors[0 if parity > 0 else 1] == pytest.approx(dm_rec["energy"], abs=DMRG_ENERGY_TOL)
    if ex_rec["gap"] > 1e-3:  # a unique ground state: the DMRG state must be it
        check_overlap_bound(dm_state, ham, n, ex_state, ex_rec["energy"], ex_rec["gap"])
    for key, value in ex_rec["diagnostics"].items():
        if ex_rec["gap"] > 1e-3:
            assert dm_rec["diagnostics"][key] == pytest.approx(value, abs=1e-7), key


def test_cluster_dmrg_at_the_pure_cluster_point_is_quiet():
    n = 8
    config = resolve_config("cluster-ising", n, 2, method="dmrg")
    sample = {"index": 0, "label": 1, "params": {"h1": 0.0, "h2": 0.0, "J": 1.0}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, record = build_sample(config, sample)
    # Stabilizer Hamiltonian: E0 = -(n - 2) J exactly.
    assert record["energy"] == pytest.approx(-(n - 2), abs=DMRG_ENERGY_TOL)
    assert [str(w.message) for w in caught] == []


# ------------------------------------------------------------------------------ settings
def test_dmrg_settings_validate_and_map_to_tenpy_names():
    with pytest.raises(ValueError, match="chi_max"):
        DMRGSettings(chi_max=0)
    with pytest.raises(ValueError, match="max_sweeps"):
        DMRGSettings(min_sweeps=5, max_sweeps=4)
    params = DMRGSettings(chi_max=17, svd_min=1e-9, max_energy_error=1e-7).tenpy_params()
    assert params["trunc_params"] == {"chi_max": 17, "svd_min": 1e-9}
    assert params["max_E_err"] == 1e-7
    config = resolve_config("xxx", 20, 2, dmrg={"chi_max": 17})
    assert config["method"] == "dmrg" and config["dmrg"]["chi_max"] == 17


def test_small_chi_max_caps_the_bond_dimension_and_reports_truncation():
    # The critical uniform chain at n = 12 needs chi = 64 to be exact; chi = 8 must truncate,
    # report it, and stay variational (above the exact energy).
    params = {"J1": 1.0, "J2": 1.0, "ratio": 1.0}
    (_, ex_rec), (dm_state, dm_rec) = build_both("xxx", 12, params, dmrg={"chi_max": 8})
    assert dm_rec["bond_dim"] == dm_state.max_bond_dim == 8
    assert dm_rec["truncation_error"] > 1e-8  # measured ~4e-6
    assert dm_rec["energy"] > ex_rec["energy"] + 1e-7  # measured +4e-5
    # Still a good approximation: the error is of the order of the discarded weight times n.
    assert dm_rec["energy"] - ex_rec["energy"] < 1e-3


def test_too_small_chi_max_gives_a_result_or_a_clear_error():
    params = {"J1": 1.0, "J2": 1.0, "ratio": 1.0}
    config = resolve_config("xxx", 12, 2, method="dmrg", dmrg={"chi_max": 4})
    try:
        _, record = build_sample(config, {"index": 0, "label": 0, "params": params})
    except ValueError as err:  # acceptable: a qnnlab error naming the fix
        assert "chi" in str(err)
    else:
        assert record["bond_dim"] == 4 and record["truncation_error"] > 1e-6


# ------------------------------------------------------------------------------ slow physics
@pytest.mark.slow
def test_bethe_ansatz_energy_per_bond_from_dmrg():
    # Uniform open chain: E(n) = n e_inf + e_boundary - pi v c / (24 n) + ..., c = 1, v = pi/2.
    # Differences E(n+2) - E(n) cancel the boundary term; the remainder is about
    # pi^2 / (48 n^2) per bond, 1.3e-4 at n = 32 and 4.8e-5 at n = 64 (log corrections make
    # it ~15% smaller; measured 1.5e-4 and 4.1e-5). DMRG truncation errors are <1e-9
    # (chi = 64), far below that.
    errors = {}
    for n in (16, 32, 64):
        energies = []
        for size in (n, n + 2):
            config = resolve_config("xxx", size, 2, method="dmrg", dmrg={"chi_max": 64})
            sample = {"index": 0, "label": 0, "params": {"J1": 1.0, "J2": 1.0, "ratio": 1.0}}
            _, record = build_sample(config, sample)
            assert record["truncation_error"] < 1e-8
            energies.append(record["energy"])
        errors[n] = abs((energies[1] - energies[0]) / 2 - BETHE_ENERGY_PER_BOND)
    # The error shrinks roughly as 1/n^2 (a factor ~4 per doubling; >2.5 allows for the log
    # corrections) and at n = 64 is below 1e-4 (2x the conformal estimate).
    assert errors[16] / errors[32] > 2.5
    assert errors[32] / errors[64] > 2.5
    assert errors[64] < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, n, params",
    [
        ("xxx", 20, {"J1": 1.0, "J2": 0.6, "ratio": 0.6}),
        ("xxx", 20, {"J1": 1.0, "J2": 1.0, "ratio": 1.0}),
        ("cluster-ising", 16, {"h1": 1.0, "h2": 0.0, "J": 1.0}),  # critical line h1 = J
        ("cluster-ising", 16, {"h1": 0.4, "h2": -0.8, "J": 1.0}),
    ],
)
def test_dmrg_beyond_exact_representability_still_meets_1e8(name, n, params):
    # At n = 16..20 chi_max = 64 < 2^(n/2): DMRG truncates, yet the entanglement of these 1D
    # ground states (area law, log at criticality) is small enough for 1e-8.
    (_, ex_rec), (_, dm_rec) = build_both(name, n, params)
    assert abs(dm_rec["energy"] - ex_rec["energy"]) < DMRG_ENERGY_TOL
