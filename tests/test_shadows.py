"""Classical shadows: exact Born-rule sampling (dense and MPS), unbiased estimators whose spread
shrinks as 1/sqrt(T), the shadow-norm error bound, the local-feature enumeration and the file
format.

Statistical checks use the ``seed`` fixture (fixed per test id, see ``conftest.py``) and
windows of 5 sigma of the *known* variance: a single-snapshot estimate of a weight-``w`` Pauli
string has ``Var = 3^w - <P>^2`` exactly, whatever the state. A correct sampler fails a 5-sigma
window with probability ~6e-7 per number checked; a wrong basis, sign or qubit order misses by
many sigma. References (Born probabilities, Pauli matrices, basis changes) are rebuilt here
from textbook formulas, not imported from the code under test.
"""

from __future__ import annotations

import io
import itertools
import math
import zipfile

import numpy as np
import pytest
import scipy.stats

from conftest import PAULI, kron_all, random_state
from qnnlab.circuits.paulis import PauliString, PauliSum, pauli
from qnnlab.data.mps import MPS, random_mps
from qnnlab.shadows import (
    ClassicalShadow,
    ShadowFormatError,
    concatenate,
    default_groups,
    estimate,
    local_pauli_features,
    local_pauli_strings,
    local_pauli_table,
    median_of_means,
    mom_confidence,
    sample_shadow,
)

H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
SDG = np.diag([1, -1j])
# Basis change U_b with U_b |+1 eigenstate of b> = |0>: X -> H, Y -> H S^dagger, Z -> I.
BASIS_CHANGE = [H, H @ SDG, np.eye(2, dtype=complex)]


def exact_dense(psi: np.ndarray, string: PauliString | str, n: int) -> float:
    """``<psi|P|psi>`` from textbook Pauli matrices (qubit 0 = leftmost Kronecker factor)."""
    label = pauli(string).label(n)
    return float(np.real(np.vdot(psi, kron_all([PAULI[ch] for ch in label]) @ psi)))


def exact_mps(state: MPS, string: PauliString | str) -> float:
    """``<P>`` of an MPS by contracting the whole chain from the left edge.

    Independent of the stored Schmidt values, so it is exact for any normalised MPS (e.g. the
    isometries of ``random_mps``, whose bonds are not in the Schmidt basis).
    """
    ops = dict(pauli(string).ops)
    env = np.ones((1, 1), dtype=complex)
    for site, b in enumerate(state.tensors):
        ket = np.einsum("st,ltr->lsr", PAULI[ops[site]], b) if site in ops else b
        env = np.einsum("ab,asr,bsq->rq", env, ket, b.conj())
    return float(env[0, 0].real)


def sigma(exact: float, weight: int, n_snapshots: int) -> float:
    """Standard deviation of the plain mean of ``n_snapshots`` single-snapshot estimates."""
    return math.sqrt((3.0**weight - exact**2) / n_snapshots)


# ---------------------------------------------------------------------------------------------
# sampling: Born rule, conventions, dense == MPS


def test_dense_sampler_follows_born_rule(seed):
    """Per basis pattern, full-bitstring frequencies match |<b|U psi>|^2 (chi-square)."""
    rng = np.random.default_rng(seed)
    psi = random_state(rng, 3)
    shadow = sample_shadow(psi, 54_000, seed=seed)
    stat, dof = 0.0, 0
    for pattern in itertools.product(range(3), repeat=3):
        rows = np.all(shadow.recipes == np.array(pattern), axis=1)
        u = kron_all([BASIS_CHANGE[b] for b in pattern])
        probs = np.abs(u @ psi) ** 2
        index = shadow.bits[rows].astype(int) @ np.array([4, 2, 1])  # qubit 0 most significant
        observed = np.bincount(index, minlength=8)
        expected = rows.sum() * probs
        stat += float(np.sum((observed - expected) ** 2 / expected))
        dof += 7
    # ~1,000 snapshots per cell pattern, expected counts >> 5: the chi-square law applies.
    assert stat < scipy.stats.chi2.ppf(1 - 1e-6, dof), (stat, dof)


@pytest.mark.parametrize("as_mps", [False, True])
def test_qubit_order_and_basis_signs_on_a_product_state(as_mps):
    """|0>|1>|+>|+i>|-i>: qubit 0 is the most significant bit; outcome 0 = eigenvalue +1."""
    zero, one = np.array([1, 0], dtype=complex), np.array([0, 1], dtype=complex)
    plus, plus_i = (zero + one) / np.sqrt(2), (zero + 1j * one) / np.sqrt(2)
    minus_i = (zero - 1j * one) / np.sqrt(2)
    psi = kron_all([zero[:, None], one[:, None], plus[:, None], plus_i[:, None], minus_i[:, None]])
    state = MPS.from_dense(psi.ravel()) if as_mps else psi.ravel()
    shadow = sample_shadow(state, 3000, seed=7)
    bits, recipes = shadow.bits, shadow.recipes
    for qubit, basis, outcome in [(0, 2, 0), (1, 2, 1), (2, 0, 0), (3, 1, 0), (4, 1, 1)]:
        sel = recipes[:, qubit] == basis
        assert sel.sum() > 800
        assert np.all(bits[sel, qubit] == outcome), (qubit, basis)
    # In the other bases the outcome is a fair coin (5 sigma of Binomial(m, 1/2)).
    for qubit, basis in [(0, 0), (2, 2), (3, 0), (4, 2)]:
        sel = recipes[:, qubit] == basis
        m = int(sel.sum())
        assert abs(bits[sel, qubit].sum() - m / 2) < 5 * math.sqrt(m / 4)


@pytest.mark.parametrize("n", [8, 16])
def test_mps_and_dense_give_the_same_snapshots(seed, n):
    """Same seed, same inverse-CDF draws: an exact MPS of a vector reproduces its snapshots
    (ties at rounding level aside), and the result does not depend on ``chunk``. At 16 qubits
    the dense sampler walks its first qubits depth first."""
    rng = np.random.default_rng(seed)
    psi = random_state(rng, n)
    t = 4000 if n == 8 else 1500
    exact_copy = MPS.from_dense(psi)
    dense = sample_shadow(psi, t, seed=seed)
    mps = sample_shadow(exact_copy, t, seed=seed)
    assert np.array_equal(dense.recipes, mps.recipes)
    assert np.mean(np.all(dense.bits == mps.bits, axis=1)) > 0.999
    assert sample_shadow(psi, t, seed=seed, chunk=37) == dense
    assert sample_shadow(exact_copy, t, seed=seed, chunk=1000) == mps
    for s in ["Z0", f"X{n - 1}", "Y3 Y4", f"X0 Z{n // 2} Y{n - 1}"]:
        exact = exact_copy.expectation(s)  # from_dense keeps bonds in the Schmidt basis
        est = estimate(dense, s, groups=1)
        assert abs(est.value - exact) < 5 * sigma(exact, pauli(s).weight, t), s


def test_mps_sampler_on_real_and_complex_random_mps(seed):
    """Statistics of the MPS sampler on its own: a real and a complex MPS, strings of weight
    1..3 and their estimates within 5 sigma of a full contraction."""
    strings = ["Z0", "X5", "Y9", "X3 X4", "Y6 Z7", "X1 Y2 Z3", "Y7 Y8 Y9", "Z2 X4"]
    for k, dtype in enumerate([np.float64, np.complex128]):
        state = random_mps(10, 8, seed=seed + k, dtype=dtype)
        shadow = sample_shadow(state, 20_000, seed=seed + 10 + k)
        for s in strings:
            exact = exact_mps(state, s)
            est = estimate(shadow, s, groups=1)
            assert abs(est.value - exact) < 5 * sigma(exact, pauli(s).weight, 20_000), (s, dtype)


@pytest.mark.filterwarnings("ignore:unit_cell_width:UserWarning")
def test_tenpy_dmrg_state_with_sz_conservation(seed):
    """A DMRG ground state of the XXZ chain that conserves Sz (no X/Y operators in TeNPy):
    shadows of X/Y/Z correlators match the exact MPS values."""
    from tenpy.algorithms import dmrg
    from tenpy.models.xxz_chain import XXZChain
    from tenpy.networks.mps import MPS as TenpyMPS

    model = XXZChain({"L": 10, "Jxx": 1.0, "Jz": 0.6, "hz": 0.0, "conserve": "Sz"})
    psi = TenpyMPS.from_product_state(model.lat.mps_sites(), ["up", "down"] * 5, bc="finite")
    params = {"trunc_params": {"chi_max": 16, "svd_min": 1e-10}, "max_sweeps": 4, "mixer": True}
    dmrg.run(psi, model, params)
    converted = MPS.from_tenpy(psi)
    t = 20_000
    shadow = sample_shadow(psi, t, seed=seed)  # a TeNPy MPS is converted on the fly
    # the conversion itself against TeNPy's own Sz correlator
    zz_tenpy = 4 * float(psi.correlation_function("Sz", "Sz", [4], [5])[0, 0])
    assert abs(converted.expectation("Z4 Z5") - zz_tenpy) < 1e-8
    for s in ["X4 X5", "Y4 Y5", "X2 X3", "Y7 Y8", "Z4 Z5", "X0 Y1", "Z9", "X3 X4 Z5"]:
        exact = converted.expectation(s)
        est = estimate(shadow, s, groups=1)
        assert abs(est.value - exact) < 5 * sigma(exact, pauli(s).weight, t), (s, exact, est)
    # the XX and YY correlators of an XXZ ground state are equal and clearly non-zero
    assert converted.expectation("X4 X5") < -0.3


def test_long_chain_keeps_precision(seed):
    """1,000 sites: eigenstate outcomes stay deterministic at the far end, and estimates of
    a random MPS's last sites are unbiased (no drift of the left vectors' norm)."""
    rng = np.random.default_rng(seed)
    n = 1000
    # product of eigenstates: qubit q is the +1 eigenstate of basis b_q
    bases = rng.integers(0, 3, size=n)
    tensors = [BASIS_CHANGE[b].conj().T[:, 0].reshape(1, 2, 1) for b in bases]
    shadow = sample_shadow(MPS(tensors), 500, seed=seed)
    match = shadow.recipes == bases[None, :]
    assert np.all(shadow.bits[match] == 0)
    state = random_mps(n, 6, seed=seed)
    t = 4000
    shadow = sample_shadow(state, t, seed=seed + 1)
    for s in ["Z999", "X998 X999", "Y997", "Z500 Z501"]:
        exact = exact_mps(state, s)
        est = estimate(shadow, s, groups=1)
        assert abs(est.value - exact) < 5 * sigma(exact, pauli(s).weight, t), s


# ---------------------------------------------------------------------------------------------
# estimators: unbiased, 1/sqrt(T), the shadow-norm bound


def test_estimates_are_unbiased_dense_and_mps(seed):
    """The mean over 100 independent shadows of the plain-mean estimate sits within 5 sigma
    of the exact value (strings of weight 1..3 and a Pauli sum), dense and MPS."""
    rng = np.random.default_rng(seed)
    n, t, repeats = 6, 300, 100
    psi = random_state(rng, n)
    obs_sum = PauliSum.from_terms([(0.5, "Z0 Z1"), (-0.8, "X2"), (0.3, "Y3 X4 Z5"), (0.2, "")])
    cases = ["Z1", "X0 Y3", "Y2 Z4 X5"]
    for state, exact_fn in [
        (psi, lambda s: exact_dense(psi, s, n)),
        (MPS.from_dense(psi), None),
    ]:
        means = {s: 0.0 for s in [*cases, "sum"]}
        for r in range(repeats):
            shadow = sample_shadow(state, t, seed=seed + 1000 * r)
            for s in cases:
                means[s] += estimate(shadow, s, groups=1).value / repeats
            means["sum"] += estimate(shadow, obs_sum, groups=1).value / repeats
        for s in cases:
            exact = exact_fn(s) if exact_fn else state.expectation(s)
            assert abs(means[s] - exact) < 5 * sigma(exact, pauli(s).weight, t * repeats), s
        exact_sum = sum(c * exact_dense(psi, p, n) for c, p in obs_sum.terms)
        # variance of sum_k c_k x_k <= (sum_k |c_k| 3^(w_k/2))^2
        bound = sum(abs(c) * 3 ** (p.weight / 2) for c, p in obs_sum.terms if p.ops)
        assert abs(means["sum"] - exact_sum) < 5 * bound / math.sqrt(t * repeats)


def test_error_shrinks_as_inverse_sqrt_snapshots(seed):
    """Spread over 300 independent shadows at T and 4T halves, and matches sqrt(Var/T)."""
    rng = np.random.default_rng(seed)
    psi = random_state(rng, 4)
    string, repeats, t = "X0 Z2", 300, 60
    exact = exact_dense(psi, string, 4)
    big = sample_shadow(psi, repeats * 5 * t, seed=seed)
    spreads = []
    for size, offset in [(t, 0), (4 * t, repeats * t)]:
        values = [
            estimate(big[offset + r * size : offset + (r + 1) * size], string, groups=1).value
            for r in range(repeats)
        ]
        spread = float(np.std(values, ddof=1))
        # std of a sample std over 300 repeats: ~1/sqrt(2 * 299) = 4.1 % (+ a small kurtosis
        # term); 5 sigma ~ 25 %.
        assert abs(spread / sigma(exact, 2, size) - 1) < 0.25, (size, spread)
        spreads.append(spread)
    # ratio of two such spreads: relative sigma ~ 5.8 %, 5 sigma ~ 30 %
    assert 2 * (1 - 0.3) < spreads[0] / spreads[1] < 2 * (1 + 0.3), spreads


def test_shadow_norm_bound_holds_at_its_confidence(seed):
    """|median of means - <O>| <= error in at least 1 - delta of 200 trials (5 sigma slack)."""
    rng = np.random.default_rng(seed)
    psi = random_state(rng, 5)
    obs = PauliSum.from_terms([(0.6, "X0 X1"), (-0.4, "Z2"), (0.5, "Y1 Y3 Z4")])
    exact = sum(c * exact_dense(psi, p, 5) for c, p in obs.terms)
    trials, t = 200, 120
    big = sample_shadow(psi, trials * t, seed=seed)
    for delta in (0.01, 0.3):
        misses = 0
        for r in range(trials):
            est = estimate(big[r * t : (r + 1) * t], obs, delta=delta)
            assert est.groups == math.ceil(2 * math.log(2 / delta))
            assert est.confidence >= 1 - delta
            misses += abs(est.value - exact) > est.error
        assert misses <= trials * delta + 5 * math.sqrt(trials * delta * (1 - delta)), delta


def test_estimate_fields_and_constants(seed):
    psi = random_state(np.random.default_rng(seed), 3)
    shadow = sample_shadow(psi, 1000, seed=seed)
    est = estimate(shadow, "X0 Y2")
    assert est.groups == default_groups(0.01, 1000) == math.ceil(2 * math.log(200)) == 11
    assert est.n_snapshots == 1000
    assert est.shadow_norm == pytest.approx(3.0)
    assert est.error == pytest.approx(math.sqrt(34 * 9 / (1000 // 11)))
    assert est.confidence == pytest.approx(1 - 2 * math.exp(-5.5))
    x = np.where(
        np.all(shadow.recipes[:, [0, 2]] == [0, 1], axis=1),
        9.0 * (1 - 2 * (shadow.bits[:, 0] ^ shadow.bits[:, 2])),
        0.0,
    )
    assert est.std_error == pytest.approx(np.std(x, ddof=1) / math.sqrt(1000))
    assert est.value == median_of_means(x, 11)
    assert estimate(shadow, pauli("X0 Y2"), groups=1).value == pytest.approx(x.mean())
    assert default_groups(0.5, 3) == 3  # clipped to the number of snapshots
    assert mom_confidence(1) == 0.0
    sum_est = estimate(shadow, PauliSum.from_terms([(2.0, "Z1"), (-0.5, "X0 X1"), (1.0, "")]))
    assert sum_est.shadow_norm == pytest.approx(2 * math.sqrt(3) + 0.5 * 3)


def test_median_of_means():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, 6.0])
    assert median_of_means(values, 1) == pytest.approx(np.mean(values))
    assert median_of_means(values, 3) == 3.5  # group means 1.5, 3.5, 53
    # array_split sizes 2, 2, 1, 1: group means 1.5, 3.5, 100, 6
    assert median_of_means(values, 4) == pytest.approx((3.5 + 6.0) / 2)
    two = median_of_means(np.stack([values, -values], axis=1), 3)
    assert np.allclose(two, [3.5, -3.5])
    with pytest.raises(ValueError, match="needs at least 7 values"):
        median_of_means(values, 7)
    with pytest.raises(ValueError, match=">= 1"):
        median_of_means(values, 0)


def test_estimate_rejects_bad_observables(seed):
    shadow = sample_shadow(random_state(np.random.default_rng(seed), 2), 10, seed=seed)
    with pytest.raises(ValueError, match="acts on qubit 5"):
        estimate(shadow, "Z5")
    from qnnlab.circuits.paulis import BasisProjector

    with pytest.raises(TypeError, match="sum of Pauli strings"):
        estimate(shadow, BasisProjector.zeros([0]))
    with pytest.raises(ValueError, match="groups"):
        estimate(shadow, "Z0", groups=11)


# ---------------------------------------------------------------------------------------------
# local features


@pytest.mark.parametrize("n,k", [(7, 1), (7, 2), (7, 3), (7, 4), (3, 5)])
def test_local_table_counts_and_uniqueness(n, k):
    strings = local_pauli_strings(n, k)
    assert len(strings) == sum(3 * 4 ** (min(k, n - i) - 1) for i in range(n))
    assert len(set(strings)) == len(strings)
    # exactly the strings whose support spans at most k consecutive qubits
    brute = set()
    for label in itertools.product("IXYZ", repeat=n):
        s = PauliString.from_label("".join(label))
        if s.ops and s.qubits[-1] - s.qubits[0] < k:
            brute.add(s)
    assert set(strings) == brute
    starts, letters = local_pauli_table(n, k)
    assert [s.qubits[0] for s in strings] == starts.tolist()
    assert np.all(letters[:, 0] != 0)


def test_local_table_periodic():
    n, k = 6, 3
    strings = local_pauli_strings(n, k, periodic=True)
    assert len(strings) == n * 3 * 4 ** (k - 1) == len(set(strings))
    assert pauli("X5 Z0") in strings and pauli("Y4 X0") in strings
    with pytest.raises(ValueError, match="overlap"):
        local_pauli_strings(4, 3, periodic=True)


@pytest.mark.parametrize("periodic", [False, True])
def test_local_features_equal_per_string_estimates(seed, periodic):
    state = random_mps(9, 4, seed=seed)
    shadow = sample_shadow(state, 3001, seed=seed)
    for groups in (None, 1, 4):
        feats = local_pauli_features(shadow, 3, groups=groups, periodic=periodic)
        strings = local_pauli_strings(9, 3, periodic)
        assert feats.strings == strings and feats.labels == [str(s) for s in strings]
        ests = [estimate(shadow, s, groups=groups) for s in strings]
        assert np.array_equal(feats.values, [e.value for e in ests])  # bit for bit
        assert np.allclose(feats.errors, [e.error for e in ests], rtol=1e-12)
        assert np.allclose(feats.std_errors, [e.std_error for e in ests], rtol=1e-9)
        assert feats.groups == ests[0].groups and feats.n_snapshots == 3001
        assert np.array_equal(feats.weights, [s.weight for s in strings])


def test_local_features_match_exact_values(seed):
    state = random_mps(14, 6, seed=seed)
    t = 20_000
    feats = local_pauli_features(sample_shadow(state, t, seed=seed), 3, groups=1)
    exact = np.array([exact_mps(state, s) for s in feats.strings])
    sig = np.sqrt((3.0**feats.weights - exact**2) / t)
    z = (feats.values - exact) / sig
    # 582 features at 5 sigma: a false alarm has probability ~3e-4
    assert np.max(np.abs(z)) < 5, feats.strings[int(np.argmax(np.abs(z)))]
    assert np.all(np.abs(feats.values - exact) <= feats.errors)


# ---------------------------------------------------------------------------------------------
# the container and its files


def test_classical_shadow_validation():
    ok = ClassicalShadow(np.array([[0, 1], [1, 1]]), np.array([[2, 0], [1, 2]]))
    assert ok.bits.dtype == np.int8 and ok.n_snapshots == 2 and ok.n_qubits == 2
    assert not ok.bits.flags.writeable
    ClassicalShadow(np.array([[True, False]]), np.array([[0.0, 2.0]]))  # bool / integral floats
    bad = [
        (np.array([0, 1]), np.array([0, 1]), "2-D array"),
        (np.zeros((2, 3)), np.zeros((2, 2)), "same|shape"),
        (np.array([[2, 0]]), np.array([[0, 0]]), "value 2.*0/1 outcomes"),
        (np.array([[0, 0]]), np.array([[3, 0]]), "value 3.*X, Y, Z"),
        (np.array([[0, 0]]), np.array([[-1, 0]]), "value -1"),
        (np.array([[0.5, 0]]), np.array([[0, 0]]), "non-integer"),
        (np.array([["a", "b"]]), np.array([[0, 0]]), "dtype"),
        (np.zeros((3, 0)), np.zeros((3, 0)), ">= 1 qubit"),
    ]
    for bits, recipes, message in bad:
        with pytest.raises(ValueError, match=message):
            ClassicalShadow(bits, recipes)


def test_slicing_and_concatenation(seed):
    shadow = sample_shadow(random_state(np.random.default_rng(seed), 3), 50, seed=seed)
    head, tail = shadow[:20], shadow[20:]
    assert len(head) == 20 and len(tail) == 30
    assert concatenate([head, tail]) == shadow == ClassicalShadow.concatenate([head, tail])
    assert np.array_equal(shadow[5].bits, shadow.bits[5:6])
    assert np.array_equal(shadow[-1].recipes, shadow.recipes[-1:])
    assert len(shadow[shadow.recipes[:, 0] == 2]) == int(np.sum(shadow.recipes[:, 0] == 2))
    with pytest.raises(IndexError, match="snapshots only"):
        shadow[:, 0]
    other = ClassicalShadow(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="different qubit counts"):
        concatenate([shadow, other])


def test_save_load_round_trip(tmp_path, seed):
    shadow = sample_shadow(random_mps(12, 4, seed=seed), 300, seed=seed)
    path = shadow.save(tmp_path / "sub" / "shadow.npz")
    loaded = ClassicalShadow.load(path)
    assert loaded == shadow and loaded.bits.dtype == np.int8
    assert [p.name for p in path.parent.iterdir()] == ["shadow.npz"]  # no temporary left over


def _write_npz(path, **arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


def test_load_rejects_foreign_and_damaged_files(tmp_path):
    good = ClassicalShadow(np.zeros((4, 3)), np.ones((4, 3))).save(tmp_path / "good.npz")
    data = good.read_bytes()
    cases = {
        "foreign": (
            _write_npz(tmp_path / "foreign.npz", bits=np.zeros((2, 2)), recipes=np.zeros((2, 2))),
            "not a classical-shadow file.*ClassicalShadow\\(bits, recipes\\)",
        ),
        "tag": (
            _write_npz(tmp_path / "tag.npz", format=np.array("something.else"), version=1),
            "format tag",
        ),
        "version": (
            _write_npz(
                tmp_path / "version.npz",
                format=np.array("qnnlab.ClassicalShadow"),
                version=np.array(99),
                bits=np.zeros((1, 1)),
                recipes=np.zeros((1, 1)),
            ),
            "format version 99.*Upgrade",
        ),
        "missing": (
            _write_npz(
                tmp_path / "missing.npz", format=np.array("qnnlab.ClassicalShadow"), version=1
            ),
            "lacks the entries",
        ),
        "values": (
            _write_npz(
                tmp_path / "values.npz",
                format=np.array("qnnlab.ClassicalShadow"),
                version=np.array(1),
                bits=np.full((1, 1), 7),
                recipes=np.zeros((1, 1)),
            ),
            "invalid shadow data",
        ),
        "truncated": (tmp_path / "truncated.npz", "truncated"),
        "text": (tmp_path / "text.npz", "not an .npz archive"),
    }
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("bits,recipes\n0,1\n")
    for name, (path, message) in cases.items():
        with pytest.raises(ShadowFormatError, match=message) as info:
            ClassicalShadow.load(path)
        assert isinstance(info.value, ValueError), name
    # an intact zip directory with a damaged member
    damaged = tmp_path / "member.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"garbage" if name == "bits.npy" else src.read(name))
    with pytest.raises(ShadowFormatError, match=r"could not be read.*damaged"):
        ClassicalShadow.load(damaged)
    with pytest.raises(FileNotFoundError):
        ClassicalShadow.load(tmp_path / "absent.npz")


# ---------------------------------------------------------------------------------------------
# seeds and input checks


def test_seed_is_required_and_reproducible():
    psi = random_state(np.random.default_rng(3), 3)
    with pytest.raises(TypeError, match="seed"):
        sample_shadow(psi, 10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="explicit integer seed"):
        sample_shadow(psi, 10, seed=None)
    a, b = sample_shadow(psi, 500, seed=11), sample_shadow(psi, 500, seed=11)
    assert a == b
    assert sample_shadow(psi, 500, seed=12) != a


def test_sampler_input_checks():
    with pytest.raises(ValueError, match="norm"):
        sample_shadow(np.ones(4), 10, seed=0)
    with pytest.raises(ValueError, match="one state vector"):
        sample_shadow(np.eye(4), 10, seed=0)
    with pytest.raises(ValueError, match="2\\*\\*n"):
        sample_shadow(np.ones(3) / np.sqrt(3), 10, seed=0)
    with pytest.raises(ValueError, match="n_snapshots"):
        sample_shadow(np.array([1.0, 0.0]), 0, seed=0)
    not_canonical = MPS([np.ones((1, 2, 1)), np.ones((1, 2, 1))], schmidt=[np.ones(1)] * 3)
    with pytest.raises(ValueError, match="right-canonical"):
        sample_shadow(not_canonical, 10, seed=0)


def test_agrees_with_pennylane_classical_shadow(seed):
    """PennyLane reads our bits/recipes the same way (layout and Y sign): plain means agree."""
    qml = pytest.importorskip(
        "pennylane", reason="PennyLane is a bench extra: pip install -e .[bench]"
    )
    psi = random_state(np.random.default_rng(seed), 3)
    shadow = sample_shadow(psi, 2000, seed=seed)
    pl = qml.ClassicalShadow(np.asarray(shadow.bits), np.asarray(shadow.recipes))
    for ours, theirs in [
        ("X0 Y1", qml.X(0) @ qml.Y(1)),
        ("Y2", qml.Y(2)),
        ("Z0 X1 Y2", qml.Z(0) @ qml.X(1) @ qml.Y(2)),
    ]:
        assert estimate(shadow, ours, groups=1).value == pytest.approx(float(pl.expval(theirs)))
