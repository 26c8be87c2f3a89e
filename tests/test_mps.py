"""Matrix product states (``qnnlab.data.mps``) against dense state vectors.

The references are plain dense linear algebra: ``numpy.linalg.svd`` of the state reshaped across
each cut gives the Schmidt values, and ``<v|P|v>`` with the textbook Pauli matrices of
``conftest`` gives expectations. TeNPy states are checked on product states whose amplitudes are
known by hand (qubit ``|0>`` = spin up, ``Z = +1``) and on a DMRG ground state compared with
exact diagonalization.

Tolerances: every conversion here is exact up to float64 rounding of a few SVDs/contractions of
``<= 2^10`` numbers, so ``1e-12`` (amplitudes, canonical-form identities) and ``1e-10`` (Schmidt
values after the state passed through several SVDs).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tenpy.networks.mps import MPS as TeNPyMPS
from tenpy.networks.site import SpinHalfSite

from conftest import PAULI, kron_all, random_state, random_unitary
from qnnlab.circuits.paulis import PauliString, PauliSum, pauli
from qnnlab.data.dmrg import DMRGSettings, run_dmrg
from qnnlab.data.hamiltonians import bond_alternating_xxx, exact_ground_state
from qnnlab.data.mps import DENSE_MAX_QUBITS, MPS, MPSError, random_mps
from qnnlab.data.tenpy_models import BondAlternatingXXXModel

pytestmark = pytest.mark.usefixtures("one_blas_thread")


# ------------------------------------------------------------------------------ helpers
def random_string(rng, n: int) -> PauliString:
    weight = int(rng.integers(1, min(4, n) + 1))
    qubits = rng.choice(n, size=weight, replace=False)
    return PauliString(tuple((int(q), str(rng.choice(list("XYZ")))) for q in qubits))


def dense_pauli_expectation(v: np.ndarray, string: PauliString, n: int) -> float:
    letters = ["I"] * n
    for q, a in string.ops:
        letters[q] = a
    return float(np.real(np.vdot(v, kron_all([PAULI[a] for a in letters]) @ v)))


def assert_right_canonical(mps: MPS) -> None:
    for i, b in enumerate(mps.tensors):
        gram = np.einsum("lsr,msr->lm", b, b.conj())
        np.testing.assert_allclose(gram, np.eye(b.shape[0]), atol=1e-12, err_msg=f"site {i}")


def assert_schmidt_values_match_dense(mps: MPS, v: np.ndarray) -> None:
    n = mps.n_qubits
    for cut in range(1, n):
        reference = np.linalg.svd(v.reshape(2**cut, -1), compute_uv=False)
        ours = np.sort(mps.schmidt[cut])[::-1]
        k = min(len(ours), len(reference))
        np.testing.assert_allclose(ours[:k], reference[:k], atol=1e-10, err_msg=f"cut {cut}")
        # Whatever was dropped or padded carries no weight.
        assert np.sum(reference[k:] ** 2) < 1e-20 and np.sum(ours[k:] ** 2) < 1e-20
    np.testing.assert_allclose(mps.schmidt[0], [1.0])
    np.testing.assert_allclose(mps.schmidt[n], [1.0])


def tenpy_product_state(labels: list[str], conserve) -> TeNPyMPS:
    site = SpinHalfSite(conserve=conserve)
    return TeNPyMPS.from_product_state(
        [site] * len(labels), labels, bc="finite", unit_cell_width=len(labels)
    )


# ------------------------------------------------------------------------------ dense round trip
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_from_dense_round_trip_canonical_form_and_schmidt_values(n, rng):
    v = random_state(rng, n)
    mps = MPS.from_dense(v)
    assert mps.n_qubits == n
    np.testing.assert_allclose(mps.to_dense(), v, atol=1e-12)
    assert_right_canonical(mps)
    assert_schmidt_values_match_dense(mps, v)
    assert mps.norm() == pytest.approx(1.0, abs=1e-12)
    # A Haar-random state has full Schmidt rank min(2^i, 2^(n-i)) on every cut.
    assert mps.bond_dims == [min(2**i, 2 ** (n - i)) for i in range(1, n)]


def test_from_dense_compresses_product_and_ghz_states():
    n = 6
    product = kron_all([np.array([np.cos(0.3 * k), np.sin(0.3 * k)]) for k in range(n)])
    mps = MPS.from_dense(product.reshape(-1))
    assert mps.bond_dims == [1] * (n - 1)
    np.testing.assert_allclose(mps.to_dense(), product.reshape(-1), atol=1e-12)
    np.testing.assert_allclose(mps.entanglement_entropy(), 0.0, atol=1e-12)
    ghz = np.zeros(2**n)
    ghz[0] = ghz[-1] = 1 / np.sqrt(2)
    mps = MPS.from_dense(ghz)
    assert mps.bond_dims == [2] * (n - 1)
    np.testing.assert_allclose(mps.to_dense(), ghz, atol=1e-12)
    # Each cut of a GHZ state carries exactly one bit: S = ln 2.
    np.testing.assert_allclose(mps.entanglement_entropy(), np.log(2.0), atol=1e-12)


def test_entanglement_entropy_matches_the_dense_reduced_state(rng):
    n = 6
    v = random_state(rng, n)
    mps = MPS.from_dense(v)
    for cut in range(1, n):
        s = np.linalg.svd(v.reshape(2**cut, -1), compute_uv=False)
        p = s[s > 1e-15] ** 2
        assert mps.entanglement_entropy()[cut - 1] == pytest.approx(
            -(p * np.log(p)).sum(), abs=1e-10
        )


@pytest.mark.parametrize("n", [2, 6, 9])
def test_expectation_of_a_from_dense_state_matches_dense(n, rng):
    v = random_state(rng, n)
    mps = MPS.from_dense(v)
    for _ in range(12):
        string = random_string(rng, n)
        assert mps.expectation(string) == pytest.approx(
            dense_pauli_expectation(v, string, n), abs=1e-12
        )
    obs = PauliSum.from_terms([(0.3, "Z0 Z1"), (-1.2, f"X{n - 1}"), (0.5, "Y0 Y1")])
    expected = sum(c * dense_pauli_expectation(v, p, n) for c, p in obs.terms)
    assert mps.expectation(obs) == pytest.approx(expected, abs=1e-12)
    assert mps.expectation(PauliString(())) == 1.0


# ------------------------------------------------------------------------------ random MPS
@pytest.mark.parametrize("n, chi", [(4, 2), (7, 3), (10, 4)])
def test_random_mps_is_normalised_right_canonical_with_correct_schmidt_values(n, chi):
    mps = random_mps(n, chi, seed=n)
    v = mps.to_dense()
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-12)
    assert mps.norm() == pytest.approx(1.0, abs=1e-12)
    assert_right_canonical(mps)
    assert_schmidt_values_match_dense(mps, v)
    assert mps.bond_dims == [min(chi, 2**i, 2 ** (n - i)) for i in range(1, n)]
    # Deterministic per seed, different across seeds.
    np.testing.assert_array_equal(random_mps(n, chi, seed=n).to_dense(), v)
    assert not np.allclose(random_mps(n, chi, seed=n + 100).to_dense(), v)


def test_expectation_on_the_first_qubit_of_a_random_mps_matches_dense():
    # Strings that start at qubit 0 only need S_0 = [1] on the left: these are right.
    n = 8
    mps = random_mps(n, 4, seed=3)
    v = mps.to_dense()
    for label in ("Z0", "X0", "Y0 Z3", "X0 X1 X7"):
        string = pauli(label)
        assert mps.expectation(string) == pytest.approx(
            dense_pauli_expectation(v, string, n), abs=1e-12
        )


@pytest.mark.parametrize("n", [4, 7, 10])
def test_expectation_of_a_random_mps_matches_dense(n, rng):
    # Regression: random_mps tensors are random isometries, so their bond bases are not Schmidt
    # bases until MPS() gauges them; expectations of strings away from qubit 0 used to be wrong.
    mps = random_mps(n, 4, seed=n)
    v = mps.to_dense()
    strings = [pauli("Z1"), pauli(f"X{n - 2} Y{n - 1}")] + [
        random_string(rng, n) for _ in range(10)
    ]
    got = [mps.expectation(s) for s in strings]
    want = [dense_pauli_expectation(v, s, n) for s in strings]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_expectation_is_gauge_invariant(rng):
    # B_i -> B_i U, B_{i+1} -> U^dagger B_{i+1} with U unitary keeps the state and the right-
    # canonical form; expectations must not change.
    n = 6
    v = random_state(rng, n)
    tensors = [b.copy() for b in MPS.from_dense(v).tensors]
    for i in range(n - 1):
        chi = tensors[i].shape[2]
        u = random_unitary(rng, chi)
        tensors[i] = np.einsum("lsr,rq->lsq", tensors[i], u)
        tensors[i + 1] = np.einsum("qr,rsm->qsm", u.conj().T, tensors[i + 1])
    gauged = MPS(tensors)
    np.testing.assert_allclose(gauged.to_dense(), v, atol=1e-12)
    assert_right_canonical(gauged)
    strings = [pauli("Z2"), pauli("X3 Y4"), pauli("Z1 Z5")]
    got = [gauged.expectation(s) for s in strings]
    want = [dense_pauli_expectation(v, s, n) for s in strings]
    np.testing.assert_allclose(got, want, atol=1e-12)


# ------------------------------------------------------------------------------ TeNPy
@pytest.mark.parametrize("conserve", ["Sz", "parity", None])
def test_from_tenpy_maps_spin_up_to_qubit_zero(conserve):
    # Neel-like product state up, down, down, up = |0110>, index 6; <Z> = +1, -1, -1, +1.
    psi = tenpy_product_state(["up", "down", "down", "up"], conserve)
    mps = MPS.from_tenpy(psi)
    v = mps.to_dense()
    expected = np.zeros(16)
    expected[0b0110] = 1.0
    np.testing.assert_allclose(np.abs(v), expected, atol=1e-12)
    assert [mps.expectation(pauli(f"Z{i}")) for i in range(4)] == pytest.approx([1, -1, -1, 1])
    assert mps.bond_dims == [1, 1, 1]


def test_from_tenpy_basis_change_rotates_the_physical_legs():
    # All spins up in a basis rotated by a Hadamard: |+>^n, so <X_i> = 1 and <Z_i> = 0.
    psi = tenpy_product_state(["up"] * 3, "parity")
    h = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)
    mps = MPS.from_tenpy(psi, basis_change=h)
    np.testing.assert_allclose(mps.to_dense(), np.full(8, 1 / np.sqrt(8)), atol=1e-12)
    assert mps.expectation(pauli("X1")) == pytest.approx(1.0, abs=1e-12)
    assert mps.expectation(pauli("Z2")) == pytest.approx(0.0, abs=1e-12)


def test_from_tenpy_of_a_dmrg_ground_state_matches_exact_diagonalization(rng):
    n, j1, j2 = 10, 1.0, 0.6  # trivial phase: gap ~0.4, unique ground state
    model = BondAlternatingXXXModel({"L": n, "J1": j1, "J2": j2})
    result = run_dmrg(model, ["up", "down"] * (n // 2), DMRGSettings(chi_max=32))
    mps = result.mps
    v = mps.to_dense()
    exact = exact_ground_state(bond_alternating_xxx(n, j1, j2), n, sector=("ones", n // 2))
    # Infidelity <= (E_dmrg - E0) / gap ~ 1e-12 here; 1e-8 is a wide but sharp margin.
    assert abs(np.vdot(exact.vector, v)) ** 2 == pytest.approx(1.0, abs=1e-8)
    assert_right_canonical(mps)
    assert_schmidt_values_match_dense(mps, v)
    for _ in range(15):
        string = random_string(rng, n)
        assert mps.expectation(string) == pytest.approx(
            dense_pauli_expectation(v, string, n), abs=1e-10
        )
    # Singlet ground state: <Z_i> = 0 and the strong bond (0, 1) is near -3/4.
    assert mps.expectation(pauli("Z3")) == pytest.approx(0.0, abs=1e-10)
    bond = PauliSum.from_terms([(0.25, f"{a}0 {a}1") for a in "XYZ"])
    assert -0.75 <= mps.expectation(bond) < -0.6


def test_from_tenpy_refuses_infinite_states():
    site = SpinHalfSite(conserve="Sz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TeNPy's own notice, not qnnlab's
        psi = TeNPyMPS.from_product_state([site] * 2, ["up", "down"], bc="infinite")
    with pytest.raises(MPSError, match="finite"):
        MPS.from_tenpy(psi)


# ------------------------------------------------------------------------------ errors
def test_malformed_mps_are_refused():
    ok = np.zeros((1, 2, 1))
    ok[0, 0, 0] = 1.0
    with pytest.raises(MPSError, match="at least one site"):
        MPS([])
    with pytest.raises(MPSError, match="expected \\(chi_left, 2, chi_right\\)"):
        MPS([np.zeros((1, 2))])
    with pytest.raises(MPSError, match="expected \\(chi_left, 2, chi_right\\)"):
        MPS([np.zeros((1, 3, 1))])
    with pytest.raises(MPSError, match="Bond 1"):
        MPS([np.zeros((1, 2, 2)), np.zeros((3, 2, 1))])
    with pytest.raises(MPSError, match="outer bonds"):
        MPS([np.zeros((2, 2, 1))])
    with pytest.raises(MPSError, match="Schmidt-value arrays"):
        MPS([ok, ok], [np.ones(1)] * 2)
    with pytest.raises(MPSError, match="2\\*\\*n entries"):
        MPS.from_dense(np.ones(6))
    with pytest.raises(MPSError, match="2\\*\\*n entries"):
        MPS.from_dense(np.ones((2, 2)))
    with pytest.raises(MPSError, match="n_qubits >= 1"):
        random_mps(0, 2, seed=0)
    with pytest.raises(MPSError, match="acts on qubit 5"):
        MPS([ok, ok]).expectation(pauli("Z5"))


def test_to_dense_is_refused_beyond_its_limit():
    big = random_mps(DENSE_MAX_QUBITS + 1, 1, seed=0)  # a product state: cheap to hold
    with pytest.raises(MPSError, match="limited to 24 qubits"):
        big.to_dense()
    # Expectations still work at any size; on a product state <Z_k> = |b_k[0]|^2 - |b_k[1]|^2.
    b = big.tensors[20][0, :, 0]
    assert big.expectation(pauli("Z20")) == pytest.approx(
        abs(b[0]) ** 2 - abs(b[1]) ** 2, abs=1e-12
    )
