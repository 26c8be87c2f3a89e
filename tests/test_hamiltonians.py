"""Spin-chain Hamiltonians and exact diagonalization (``qnnlab.data.hamiltonians``).

References are independent of the code under test: dense Hamiltonians are assembled here from
textbook Pauli matrices with ``conftest.embed`` (the model formulas written out again, not the
library's Pauli sums), spectra come from ``numpy.linalg.eigvalsh``, and a few closed forms pin the
normalisation (``S = sigma / 2``): the two-spin singlet ``-3/4``, the open four-spin Heisenberg
chain ``-3/4 - sqrt(3)/2``, the cluster state ``-(n - 2) J`` and the Bethe-ansatz energy per bond
``1/4 - ln 2`` of the uniform chain.

Tolerances: matrix entries are sums of a few ``O(1)`` products, exact up to float64 rounding, so
``1e-12`` absolute; eigenvalues of ``<= 256``-dimensional dense matrices agree to ``~1e-13``
(``1e-10`` leaves room for eigsh's own ``tol=1e-12`` where the library uses it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import (
    PAULI,
    cluster_reference,
    embed,
    kron_all,
    random_pauli_sum,
    random_state,
    xxx_reference,
)
from qnnlab.circuits.paulis import PauliSum, pauli
from qnnlab.data.hamiltonians import (
    EXACT_MAX_QUBITS,
    HamiltonianError,
    bond_alternating_xxx,
    cluster_ising,
    dense_expectation,
    exact_ground_state,
    hadamard_rotated,
    heisenberg_bond,
    sector_basis,
    sparse_hamiltonian,
    walsh_hadamard,
)

BETHE_ENERGY_PER_BOND = 0.25 - math.log(2.0)  # Hulthen (1938): -0.4431471805599453


pytestmark = pytest.mark.usefixtures("one_blas_thread")


# ------------------------------------------------------------------------------ references
def hadamard_all(n: int) -> np.ndarray:
    h = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    return kron_all([h] * n)


def ones_count(n: int) -> np.ndarray:
    return np.array([bin(b).count("1") for b in range(2**n)])


# ------------------------------------------------------------------------------ matrices
@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
def test_xxx_matrix_matches_the_textbook_hamiltonian(n, rng):
    j1, j2 = rng.uniform(0.1, 2.0, size=2)
    ham = bond_alternating_xxx(n, j1, j2)
    sparse = sparse_hamiltonian(ham, n).toarray()
    reference = xxx_reference(n, j1, j2)
    np.testing.assert_allclose(sparse, reference, atol=1e-12)
    np.testing.assert_allclose(ham.matrix(n), reference, atol=1e-12)


@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
def test_cluster_matrix_matches_the_textbook_hamiltonian(n, rng):
    h1, h2, j = rng.uniform(-1.6, 1.6, size=3)
    ham = cluster_ising(n, h1, h2, j)
    sparse = sparse_hamiltonian(ham, n).toarray()
    reference = cluster_reference(n, h1, h2, j)
    np.testing.assert_allclose(sparse, reference, atol=1e-12)
    np.testing.assert_allclose(ham.matrix(n), reference, atol=1e-12)


def test_heisenberg_bond_is_the_spin_dot_product():
    # S_0 . S_2 on three qubits (non-adjacent), S = sigma / 2; singlet eigenvalue -3/4 J.
    expected = sum(0.5 * embed(np.kron(PAULI[a], PAULI[a]) / 4.0, [0, 2], 3) for a in "XYZ")
    np.testing.assert_allclose(heisenberg_bond(0, 2, 0.5).matrix(3), expected, atol=1e-12)
    assert np.linalg.eigvalsh(heisenberg_bond(0, 1).matrix(2))[0] == pytest.approx(-0.75)


def test_sparse_hamiltonian_of_random_pauli_sums_with_y(rng):
    # Y strings carry the i^{#Y} phase and make the matrix complex: a sign slip shows up here.
    n = 5
    for _ in range(5):
        obs = random_pauli_sum(rng, range(n), n_terms=6, max_weight=4)
        np.testing.assert_allclose(sparse_hamiltonian(obs, n).toarray(), obs.matrix(n), atol=1e-12)


def test_closed_form_energies_fix_the_normalisation():
    # Two spins: singlet energy -3/4 J1; triplet +1/4 J1 (gap J1).
    two = exact_ground_state(bond_alternating_xxx(2, 1.0, 7.0), 2)
    assert two.energy == pytest.approx(-0.75, abs=1e-12)
    assert two.gap == pytest.approx(1.0, abs=1e-12)
    singlet = np.array([0.0, 1.0, -1.0, 0.0]) / np.sqrt(2.0)
    assert abs(np.vdot(singlet, two.vector)) == pytest.approx(1.0, abs=1e-12)
    # Open four-spin Heisenberg chain: E0 = -3/4 - sqrt(3)/2 (textbook closed form).
    four = exact_ground_state(bond_alternating_xxx(4, 1.0, 1.0), 4)
    assert four.energy == pytest.approx(-0.75 - np.sqrt(3.0) / 2.0, abs=1e-12)
    # Cluster chain at h1 = h2 = 0: n - 2 commuting stabilizers, E0 = -(n - 2) J, and the two
    # free edge qubits make the ground space four-fold degenerate (gap 0).
    cluster = exact_ground_state(cluster_ising(8, 0.0, 0.0, j=1.3), 8)
    assert cluster.energy == pytest.approx(-6 * 1.3, abs=1e-10)
    assert cluster.gap == pytest.approx(0.0, abs=1e-10)
    # Pure field: E0 = -n h1, gap 2 h1.
    field = exact_ground_state(cluster_ising(6, 0.7, 0.0, j=0.0), 6)
    assert field.energy == pytest.approx(-6 * 0.7, abs=1e-10)
    assert field.gap == pytest.approx(1.4, abs=1e-10)


def test_exact_energy_differences_approach_the_bethe_ansatz():
    # Uniform open chain: E(n) = n e_inf + boundary + O(1/n), so (E(n+2) - E(n)) / 2 -> e_inf =
    # 1/4 - ln 2 with O(1/n^2) corrections (conformal 1/n term, c = 1, v = pi/2: about
    # pi^2 / (48 n^2) ~ 1e-3 at n = 14). A wrong coupling normalisation would be off by O(1).
    energies = {
        n: exact_ground_state(bond_alternating_xxx(n, 1.0, 1.0), n, sector=("ones", n // 2)).energy
        for n in (10, 12, 14, 16)
    }
    errors = [
        abs((energies[n + 2] - energies[n]) / 2 - BETHE_ENERGY_PER_BOND) for n in (10, 12, 14)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.3 / 14**2


# ------------------------------------------------------------------------------ sectors
def test_sector_basis_lists_the_right_states():
    n = 6
    counts = ones_count(n)
    for k in range(n + 1):
        np.testing.assert_array_equal(sector_basis(n, "ones", k), np.flatnonzero(counts == k))
    for p in (0, 1):
        np.testing.assert_array_equal(sector_basis(n, "parity", p), np.flatnonzero(counts % 2 == p))
    assert sector_basis(n, None) is None


@pytest.mark.parametrize("n", [6, 7, 8])
def test_xxx_spectrum_is_the_union_of_its_sz_sectors(n, rng):
    j1, j2 = rng.uniform(0.2, 2.0, size=2)
    ham = bond_alternating_xxx(n, j1, j2)
    full = np.linalg.eigvalsh(xxx_reference(n, j1, j2))
    parts = [
        np.linalg.eigvalsh(sparse_hamiltonian(ham, n, sector_basis(n, "ones", k)).toarray())
        for k in range(n + 1)
    ]
    np.testing.assert_allclose(np.sort(np.concatenate(parts)), full, atol=1e-10)
    # The XXX chain also conserves the Z parity (XX and YY flip two bits).
    parity = [
        np.linalg.eigvalsh(sparse_hamiltonian(ham, n, sector_basis(n, "parity", p)).toarray())
        for p in (0, 1)
    ]
    np.testing.assert_allclose(np.sort(np.concatenate(parity)), full, atol=1e-10)


@pytest.mark.parametrize("n", [6, 8])
def test_xxx_ground_state_lives_at_sz_zero(n, rng):
    # Lieb-Mattis: for even n the ground state of the bipartite chain is a singlet (Sz = 0).
    j1, j2 = rng.uniform(0.2, 2.0, size=2)
    full = np.linalg.eigvalsh(xxx_reference(n, j1, j2))
    sector = exact_ground_state(bond_alternating_xxx(n, j1, j2), n, sector=("ones", n // 2))
    assert sector.energy == pytest.approx(full[0], abs=1e-10)
    # The vector is embedded in the full space, zero outside the sector.
    outside = ones_count(n) != n // 2
    assert np.all(sector.vector[outside] == 0)


@pytest.mark.parametrize("n", [6, 7, 8])
def test_rotated_cluster_spectrum_is_the_union_of_its_parity_sectors(n, rng):
    # The cluster chain conserves prod X; in the Hadamard basis that is the Z parity.
    h1, h2 = rng.uniform(-1.5, 1.5, size=2)
    rotated = hadamard_rotated(cluster_ising(n, h1, h2))
    full = np.linalg.eigvalsh(cluster_reference(n, h1, h2))
    parts = [
        np.linalg.eigvalsh(sparse_hamiltonian(rotated, n, sector_basis(n, "parity", p)).toarray())
        for p in (0, 1)
    ]
    np.testing.assert_allclose(np.sort(np.concatenate(parts)), full, atol=1e-10)
    lowest = min(exact_ground_state(rotated, n, sector=("parity", p)).energy for p in (0, 1))
    assert lowest == pytest.approx(full[0], abs=1e-10)


# ------------------------------------------------------------------------------ Hadamard
@pytest.mark.parametrize("n", [3, 5])
def test_hadamard_rotated_is_conjugation_by_hadamards(n, rng):
    hn = hadamard_all(n)
    for _ in range(4):
        obs = random_pauli_sum(rng, range(n), n_terms=5, max_weight=3)
        np.testing.assert_allclose(
            hadamard_rotated(obs).matrix(n), hn @ obs.matrix(n) @ hn, atol=1e-12
        )
    # Y picks up a sign: H Y H = -Y.
    assert hadamard_rotated(PauliSum.single("Y0 X1")).terms[0][0] == -1.0


@pytest.mark.parametrize("n", [1, 4, 7])
def test_walsh_hadamard_equals_the_dense_transform(n, rng):
    v = random_state(rng, n)
    np.testing.assert_allclose(walsh_hadamard(v), hadamard_all(n) @ v, atol=1e-12)
    real = rng.normal(size=2**n)
    np.testing.assert_allclose(walsh_hadamard(real), hadamard_all(n) @ real, atol=1e-12)


def test_rotated_ground_state_is_the_walsh_transform_of_the_original(rng):
    n = 7
    h1, h2 = 0.9, 0.4  # paramagnet: gapped, unique ground state
    ham = cluster_ising(n, h1, h2)
    direct = exact_ground_state(ham, n)
    rotated = exact_ground_state(hadamard_rotated(ham), n)
    assert rotated.energy == pytest.approx(direct.energy, abs=1e-10)
    assert abs(np.vdot(walsh_hadamard(rotated.vector), direct.vector)) == pytest.approx(
        1.0, abs=1e-10
    )


# ------------------------------------------------------------------------------ ground states
@pytest.mark.parametrize(
    "model, n, params, sector",
    [
        ("xxx", 8, (1.0, 0.6), None),
        ("xxx", 12, (1.0, 1.4), ("ones", 6)),  # 924 states: dense eigh path
        ("xxx", 14, (1.0, 0.8), ("ones", 7)),  # 3432 states: sparse eigsh path
        ("cluster", 9, (0.4, -0.3), None),
        ("cluster", 11, (1.2, 0.3), None),  # 2048 states: eigsh path
    ],
)
def test_exact_ground_state_solves_the_eigen_equation(model, n, params, sector):
    ham = bond_alternating_xxx(n, *params) if model == "xxx" else cluster_ising(n, *params)
    result = exact_ground_state(ham, n, sector=sector)
    matrix = sparse_hamiltonian(ham, n)
    v = result.vector
    assert v.shape == (2**n,)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-12)
    # Residual of H v = E v relative to the spectral scale (~ n): eigsh tol=1e-12 and dense eigh
    # give ~1e-12; 1e-8 still catches any wrong vector/eigenvalue pairing.
    assert np.linalg.norm(matrix @ v - result.energy * v) < 1e-8
    # The energy is the lowest: variational bound by the Rayleigh quotient of a random state.
    assert result.energy <= dense_expectation(random_state(np.random.default_rng(0), n), ham, n)
    # Sign convention: the largest-magnitude amplitude is real and positive.
    big = v[np.argmax(np.abs(v))]
    assert np.real(big) > 0 and abs(np.imag(big)) < 1e-12
    assert result.gap >= -1e-10


def test_gap_is_the_second_eigenvalue_minus_the_first():
    n, j1, j2 = 8, 1.0, 0.5
    sector = sector_basis(n, "ones", n // 2)
    spectrum = np.linalg.eigvalsh(xxx_reference(n, j1, j2)[np.ix_(sector, sector)])
    result = exact_ground_state(bond_alternating_xxx(n, j1, j2), n, sector=("ones", n // 2))
    assert result.gap == pytest.approx(spectrum[1] - spectrum[0], abs=1e-10)


# ------------------------------------------------------------------------------ expectations
@pytest.mark.parametrize("n", [1, 3, 6])
def test_dense_expectation_matches_the_dense_matrix(n, rng):
    for _ in range(5):
        v = random_state(rng, n)
        obs = random_pauli_sum(rng, range(n), n_terms=5, max_weight=min(3, n))
        expected = np.real(np.vdot(v, obs.matrix(n) @ v))
        assert dense_expectation(v, obs, n) == pytest.approx(expected, abs=1e-12)
        string = obs.terms[0][1]
        assert dense_expectation(v, string, n) == pytest.approx(
            np.real(np.vdot(v, string.matrix(n) @ v)), abs=1e-12
        )


def test_dense_expectation_of_a_basis_state():
    # |0110>: Z_i = +1, -1, -1, +1 (qubit 0 is the most significant bit); X has zero mean.
    v = np.zeros(16)
    v[0b0110] = 1.0
    zs = [dense_expectation(v, pauli(f"Z{i}"), 4) for i in range(4)]
    assert zs == [1.0, -1.0, -1.0, 1.0]
    assert dense_expectation(v, pauli("X2"), 4) == 0.0


# ------------------------------------------------------------------------------ errors
def test_too_many_qubits_is_refused_with_a_pointer_to_dmrg():
    n = EXACT_MAX_QUBITS + 1
    with pytest.raises(HamiltonianError, match="dmrg"):
        sparse_hamiltonian(bond_alternating_xxx(n, 1.0, 1.0), n)
    with pytest.raises(HamiltonianError, match="out of reach"):
        exact_ground_state(cluster_ising(n, 0.5, 0.5), n)


def test_too_many_qubits_with_a_sector_is_refused_before_allocating():
    # n = 48: 2^48 int64 values exceed the 47-bit user address space, so the allocation fails
    # at once on any Linux (no risk of actually filling memory).
    with pytest.raises(HamiltonianError, match="dmrg"):
        exact_ground_state(bond_alternating_xxx(48, 1.0, 1.0), 48, sector=("ones", 24))


def test_a_sector_the_hamiltonian_does_not_conserve_is_refused():
    # The cluster chain flips single bits (ZXZ, X): neither fixed S^z nor Z parity survive.
    with pytest.raises(HamiltonianError, match="leaves the requested symmetry sector"):
        exact_ground_state(cluster_ising(6, 0.5, 0.5), 6, sector=("ones", 3))
    with pytest.raises(HamiltonianError, match="pick a sector it conserves"):
        exact_ground_state(cluster_ising(6, 0.5, 0.5), 6, sector=("parity", 0))
    # XX + YY conserves S^z, XX alone does not.
    with pytest.raises(HamiltonianError, match="symmetry sector"):
        sparse_hamiltonian(PauliSum.single("X0 X1"), 4, sector_basis(4, "ones", 2))


def test_unknown_sector_kind_and_short_chains_are_refused():
    with pytest.raises(HamiltonianError, match="Unknown sector kind"):
        sector_basis(4, "magnetisation", 1)
    with pytest.raises(HamiltonianError, match="at least 2 qubits"):
        bond_alternating_xxx(1, 1.0, 1.0)
    with pytest.raises(HamiltonianError, match="at least 3 qubits"):
        cluster_ising(2, 0.5, 0.5)


def test_exact_ground_state_converges_with_near_degenerate_edge_states():
    # Deep in the SPT phase the open 16-site cluster chain has 4 edge states split by ~1e-9;
    # ARPACK's default Krylov space for k = 2 never converged here (a dataset build hung).
    # The pure cluster model's ground energy is -(n - 2) J; the fields shift it by O(h^2 n).
    h1, h2 = 0.023530087944590862, -0.07626571770561408
    result = exact_ground_state(cluster_ising(16, h1, h2), 16)
    assert result.gap == pytest.approx(0.0, abs=1e-6)
    assert result.energy == pytest.approx(-14.0, abs=0.05)
    ham = cluster_ising(16, h1, h2)
    assert dense_expectation(result.vector, ham, 16) == pytest.approx(result.energy, abs=1e-9)
