"""Toric code vs double semion on the 12-qubit honeycomb torus (``qnnlab.data.topological``).

References are rebuilt here rather than taken from the module: operators are applied to random
vectors by flipping / signing tensor axes (qubit 0 = most significant bit, ``docs/conventions.md``),
the full spectrum comes from this file's own block decomposition, closed-loop configurations and
their loop counts from a union-find walk over ``lattice.edges``, reduced states from
``conftest.partial_trace``.

Tolerances: everything here is exact linear algebra on unit vectors and matrices with entries of
order 1 (eigenvectors of 8 x 8 blocks, sums of at most 4096 products), whose rounding error is
~1e-14; ``ATOL = 1e-10`` leaves four orders of magnitude of headroom and is still far below every
physical difference we assert (>= 1e-3). Perturbed-sample thresholds are stated where used.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from conftest import partial_trace
from qnnlab.circuits.paulis import pauli
from qnnlab.data.topological import (
    LABELS,
    MODELS,
    SECTORS,
    TOPOLOGICAL_QUBITS,
    double_semion_hamiltonian,
    honeycomb_torus,
    plaquette_operator,
    reduced_density_matrix,
    sector_energies,
    sector_ground_states,
    sector_spectrum,
    topological_dataset,
    topological_sample,
    toric_code_hamiltonian,
    vertex_operator,
    winding_operator,
)

ATOL = 1e-10
N = TOPOLOGICAL_QUBITS
DIM = 2**N


@pytest.fixture(scope="module")
def lattice():
    return honeycomb_torus()


@pytest.fixture(scope="module")
def hamiltonians(lattice):
    return {
        "toric-code": toric_code_hamiltonian(lattice),
        "double-semion": double_semion_hamiltonian(lattice),
    }


# ---------------------------------------------------------------------------------------------
# independent references


def bits_of(index: int) -> np.ndarray:
    return np.array([(index >> (N - 1 - q)) & 1 for q in range(N)])


def occupation(qubits) -> np.ndarray:
    """Tensor ``(2,)*N`` holding the number of occupied (bit 1) qubits among ``qubits``
    (with multiplicity)."""
    out = np.zeros((2,) * N, dtype=np.int64)
    for q in qubits:
        shape = [1] * N
        shape[q] = 2
        out = out + np.arange(2).reshape(shape)
    return out


def apply_z(psi: np.ndarray, qubits) -> np.ndarray:
    t = psi.reshape((2,) * N)
    return ((-1.0) ** occupation(qubits) * t).reshape(-1)


def apply_x(psi: np.ndarray, qubits) -> np.ndarray:
    return np.flip(psi.reshape((2,) * N), axis=tuple(qubits)).reshape(-1)


def stars(lattice) -> list[list[int]]:
    """Edges at each vertex, from ``lattice.edges`` alone."""
    return [[e for e, uv in enumerate(lattice.edges) if v in uv] for v in lattice.vertices]


def legs_of(lattice, p: int) -> list[int]:
    """For every vertex of hexagon ``p`` its edge off the hexagon, from ``lattice.edges``."""
    boundary = set(lattice.plaquette_edges[p])
    verts = {v for e in boundary for v in lattice.edges[e]}
    legs = []
    for v in sorted(verts):
        (leg,) = [e for e in stars(lattice)[v] if e not in boundary]
        legs.append(leg)
    return legs


def reference_h_apply(lattice, model: str, psi: np.ndarray) -> np.ndarray:
    """``H psi`` for either model, by tensor operations (never a matrix)."""
    out = np.zeros_like(psi)
    star = stars(lattice)
    for edges_at_v in star:
        out -= apply_z(psi, edges_at_v)
    for p, boundary in enumerate(lattice.plaquette_edges):
        if model == "toric-code":
            out -= apply_x(psi, boundary)
            continue
        verts = sorted({v for e in boundary for v in lattice.edges[e]})
        phi = psi.copy()
        for v in verts:
            phi = 0.5 * (phi + apply_z(phi, star[v]))
        phase = (1j ** occupation(legs_of(lattice, p))).reshape(-1)
        out += apply_x(phase * phi, boundary)
    return out


def closed_configurations(lattice) -> list[int]:
    """Basis indices with an even number of occupied edges at every vertex."""
    star = stars(lattice)
    return [i for i in range(DIM) if all(bits_of(i)[s].sum() % 2 == 0 for s in star)]


def n_loops(lattice, index: int) -> int:
    """Connected components of the occupied edges (union-find over vertices)."""
    parent = list(lattice.vertices)

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    occupied = [e for e in range(N) if bits_of(index)[e]]
    for e in occupied:
        u, v = lattice.edges[e]
        parent[find(u)] = find(v)
    return len({find(v) for e in occupied for v in lattice.edges[e]})


def winding_of(lattice, index: int) -> tuple[int, int]:
    b = bits_of(index)
    return tuple(int((-1) ** b[list(cut)].sum()) for cut in lattice.cuts)


def full_spectrum(lattice, h: sp.csr_matrix) -> np.ndarray:
    """All 4096 eigenvalues: ``H`` is block diagonal in the joint eigenbasis of the diagonal
    operators ``A_v``, ``W_1``, ``W_2`` (checked), so each block of 8 states is diagonalized."""
    signature = np.zeros(DIM, dtype=np.int64)
    for k, ops in enumerate([*stars(lattice), *lattice.cuts]):
        parity = np.array([bits_of(i)[list(ops)].sum() % 2 for i in range(DIM)])
        signature |= parity << k
    rows, cols = h.nonzero()
    assert np.array_equal(signature[rows], signature[cols]), "H mixes charge sectors"
    values = []
    for s in np.unique(signature):
        idx = np.flatnonzero(signature == s)
        values.append(np.linalg.eigvalsh(h[idx][:, idx].toarray()))
    values = np.sort(np.concatenate(values))
    assert values.size == DIM
    # completeness: the eigenvalues reproduce tr H and ||H||_F^2
    assert abs(values.sum() - h.diagonal().sum().real) < ATOL
    assert abs((values**2).sum() - abs(h.multiply(h.conj())).sum()) < 1e-8
    return values


def expectation(op: sp.spmatrix, psi: np.ndarray) -> complex:
    return complex(np.vdot(psi, op @ psi))


# ---------------------------------------------------------------------------------------------
# 1. lattice


def test_lattice_counts_degrees_and_plaquettes(lattice):
    assert (len(lattice.vertices), len(lattice.edges), len(lattice.plaquette_edges)) == (8, 12, 4)
    degree = np.bincount(np.ravel(lattice.edges), minlength=8)
    assert degree.tolist() == [3] * 8
    for v, star in enumerate(stars(lattice)):
        assert sorted(star) == sorted(lattice.vertex_edges[v])
    border_count = np.zeros(N, dtype=int)
    for p, boundary in enumerate(lattice.plaquette_edges):
        assert len(set(boundary)) == 6, f"hexagon {p} has repeated edges"
        assert len(set(lattice.plaquette_vertices[p])) == 6
        border_count[list(boundary)] += 1
        # the boundary is one closed 6-cycle: every vertex of p meets exactly 2 of its edges
        touches = np.bincount([v for e in boundary for v in lattice.edges[e]], minlength=8)
        assert sorted(np.flatnonzero(touches)) == sorted(lattice.plaquette_vertices[p])
        assert set(touches[touches > 0]) == {2}
        # legs (multiset) as recomputed here; on 2x2 they are the 6 edges off the hexagon
        assert sorted(lattice.plaquette_legs[p]) == sorted(legs_of(lattice, p))
        assert sorted(lattice.plaquette_legs[p]) == sorted(set(range(N)) - set(boundary))
    assert border_count.tolist() == [2] * N


def test_cuts_are_non_contractible_dual_loops(lattice):
    plaquettes = [set(b) for b in lattice.plaquette_edges]
    for cut in lattice.cuts:
        assert all(len(set(cut) & b) % 2 == 0 for b in plaquettes)
    # products of vertex stars over all 2^8 vertex subsets: Z-type stabilizer supports
    star = stars(lattice)
    boundaries = set()
    for subset in itertools.product((0, 1), repeat=8):
        edges = np.zeros(N, dtype=int)
        for v, chosen in enumerate(subset):
            if chosen:
                edges[star[v]] ^= 1
        boundaries.add(tuple(edges))
    masks = []
    for cut in lattice.cuts:
        m = np.zeros(N, dtype=int)
        m[list(cut)] = 1
        masks.append(m)
    for m in (masks[0], masks[1], masks[0] ^ masks[1]):
        assert tuple(m) not in boundaries
    assert [len(c) for c in lattice.cuts] == [2, 2]  # weight-2 logicals on this torus


@pytest.mark.parametrize(("lx", "ly"), [(3, 2), (2, 3), (3, 3)])
def test_larger_tori(lx, ly):
    lat = honeycomb_torus(lx, ly)
    cells = lx * ly
    assert (len(lat.vertices), len(lat.edges), len(lat.plaquette_edges)) == (
        2 * cells,
        3 * cells,
        cells,
    )
    assert np.bincount(np.ravel(lat.edges)).tolist() == [3] * (2 * cells)
    counts = np.bincount(np.concatenate(lat.plaquette_edges), minlength=3 * cells)
    assert counts.tolist() == [2] * (3 * cells)
    assert [len(c) for c in lat.cuts] == [ly, lx]


@pytest.mark.parametrize(("lx", "ly"), [(1, 2), (2, 1), (2.0, 2), (True, 2)])
def test_bad_torus_size(lx, ly):
    with pytest.raises(ValueError, match="integer >= 2"):
        honeycomb_torus(lx, ly)


# ---------------------------------------------------------------------------------------------
# 2. Hamiltonians


@pytest.mark.parametrize("model", MODELS)
def test_hamiltonian_matches_tensor_reference(lattice, hamiltonians, model, rng):
    h = hamiltonians[model]
    assert sp.issparse(h) and h.shape == (DIM, DIM) and h.dtype == np.complex128
    psi = rng.normal(size=DIM) + 1j * rng.normal(size=DIM)
    np.testing.assert_allclose(h @ psi, reference_h_apply(lattice, model, psi), atol=ATOL)


def test_big_endian_convention_against_pauli_strings(lattice):
    """Qubit 0 is the most significant bit: ``A_v`` is the Kronecker product, qubit 0 first, of
    the one-qubit diagonals of ``pauli(label)``."""
    for v in (0, 5):
        label = pauli(" ".join(f"Z{e}" for e in lattice.vertex_edges[v])).label(N)
        diag = np.ones(1)
        for ch in label:
            diag = np.kron(diag, np.diag(pauli(ch).matrix()) if ch != "I" else np.ones(2))
        np.testing.assert_array_equal(vertex_operator(lattice, v).diagonal(), diag)


@pytest.mark.parametrize("model", MODELS)
def test_hermitian_and_commuting_structure(lattice, hamiltonians, model):
    h = hamiltonians[model]
    assert abs(h - h.conj().T).max() < ATOL
    for a in range(2):
        w = winding_operator(lattice, a)
        assert abs(h @ w - w @ h).max() < ATOL, f"[H, W_{a + 1}] != 0"
    terms = [vertex_operator(lattice, v) for v in lattice.vertices]
    terms += [plaquette_operator(lattice, p, model) for p in range(4)]
    for s, t in itertools.combinations(terms, 2):
        assert abs(s @ t - t @ s).max() < ATOL
    for t in terms:
        assert abs(h @ t - t @ h).max() < ATOL
        assert abs(t - t.conj().T).max() < ATOL


def test_bare_double_semion_plaquette_is_not_hermitian(lattice):
    """``B_p`` without the vertex projectors is not Hermitian; with them it is (module doc)."""
    idx = np.arange(DIM)
    for p in range(4):
        # B_p = X_p D_p: column a holds the leg phase D_p(a) in row a ^ mask(p)
        phase = (1j ** occupation(lattice.plaquette_legs[p])).reshape(-1)
        mask = sum(2 ** (N - 1 - e) for e in lattice.plaquette_edges[p])
        bare = sp.csr_matrix((phase, (idx ^ mask, idx)), shape=(DIM, DIM))
        assert abs(bare - bare.conj().T).max() == pytest.approx(2.0)
        projected = plaquette_operator(lattice, p, "double-semion")
        assert abs(projected - projected.conj().T).max() < ATOL


@pytest.mark.parametrize("model", MODELS)
def test_four_fold_ground_space_with_gap(lattice, hamiltonians, model):
    values = full_spectrum(lattice, hamiltonians[model])
    assert np.allclose(values[:4], values[0], atol=ATOL), values[:6]
    gap = values[4] - values[0]
    assert gap > 1.0, f"{model}: gap above the 4-fold ground space is {gap}"
    assert values[0] == pytest.approx(-12.0, abs=ATOL)
    assert gap == pytest.approx(4.0, abs=ATOL), f"{model}: gap {gap}"
    spectrum = sector_spectrum(model)
    np.testing.assert_allclose(spectrum.energies, values[0], atol=ATOL)
    np.testing.assert_allclose(spectrum.sector_gaps, 4.0, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_four_fold_ground_space_dense_eigh(hamiltonians, model):
    """The same from one dense 4096 x 4096 ``eigvalsh`` (tens of seconds; ``-m slow``)."""
    values = np.linalg.eigvalsh(hamiltonians[model].toarray())
    assert np.allclose(values[:4], -12.0, atol=ATOL)
    assert values[4] - values[0] == pytest.approx(4.0, abs=ATOL)


# ---------------------------------------------------------------------------------------------
# 3. sector ground states


@pytest.mark.parametrize("model", MODELS)
def test_sector_ground_states(lattice, hamiltonians, model):
    g = sector_ground_states(model)
    assert g.shape == (4, DIM) and g.dtype == np.complex128
    np.testing.assert_allclose(g.conj() @ g.T, np.eye(4), atol=ATOL)
    w = [winding_operator(lattice, a) for a in range(2)]
    h = hamiltonians[model]
    for k, (w1, w2) in enumerate(SECTORS):
        np.testing.assert_allclose(w[0] @ g[k], w1 * g[k], atol=ATOL)
        np.testing.assert_allclose(w[1] @ g[k], w2 * g[k], atol=ATOL)
        np.testing.assert_allclose(h @ g[k], -12.0 * g[k], atol=ATOL)
        for v in lattice.vertices:
            np.testing.assert_allclose(vertex_operator(lattice, v) @ g[k], g[k], atol=ATOL)
        # phase convention: first amplitude of maximal modulus is real positive
        mod = np.abs(g[k])
        first = np.flatnonzero(mod >= mod.max() * (1 - 1e-6))[0]
        assert abs(g[k][first].imag) < ATOL and g[k][first].real > 0
    np.testing.assert_allclose(sector_energies(model), -12.0, atol=ATOL)


def test_sector_states_are_cached_and_protected():
    a = sector_spectrum("double-semion")
    assert sector_spectrum("double-semion") is a
    assert not a.states.flags.writeable
    copy = sector_ground_states("double-semion")
    copy[:] = 0
    assert np.abs(sector_ground_states("double-semion")).max() > 0.1


def test_toric_code_sector_states_are_uniform_loop_gases(lattice):
    closed = closed_configurations(lattice)
    assert len(closed) == 32
    g = sector_ground_states("toric-code")
    for k, sector in enumerate(SECTORS):
        ref = np.zeros(DIM)
        members = [i for i in closed if winding_of(lattice, i) == sector]
        assert len(members) == 8
        ref[members] = 1 / np.sqrt(8)
        np.testing.assert_allclose(g[k], ref, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# 6. loop-gas reference for the double semion


def test_double_semion_trivial_sector_is_signed_loop_gas(lattice):
    closed = closed_configurations(lattice)
    g = sector_ground_states("double-semion")
    for k, sector in enumerate(SECTORS):
        ref = np.zeros(DIM)
        for i in closed:
            if winding_of(lattice, i) == sector:
                ref[i] = (-1.0) ** n_loops(lattice, i)
        ref /= np.linalg.norm(ref)
        overlap = abs(np.vdot(ref, g[k]))
        if sector == (1, 1):
            assert overlap == pytest.approx(1.0, abs=ATOL)
            np.testing.assert_allclose(g[k], ref, atol=ATOL)  # even the sign: empty config > 0
        else:
            # every configuration of a winding sector is one loop here, so (-1)^{#loops} is the
            # toric-code state; the true double-semion signs differ (2 of 8 negative)
            assert overlap == pytest.approx(0.5, abs=ATOL)


# ---------------------------------------------------------------------------------------------
# 4. adversarial property


def _all_rdms(state, k):
    return {qs: reduced_density_matrix(state, qs) for qs in itertools.combinations(range(N), k)}


def test_small_marginals_coincide():
    tc = [topological_sample(0, seed=s, strength=0.0)[0] for s in range(3)]
    ds = [topological_sample(1, seed=100 + s, strength=0.0)[0] for s in range(3)]
    for state in tc + ds:
        for k in (1, 2):
            for qs, rho in _all_rdms(state, k).items():
                np.testing.assert_allclose(rho, np.eye(2**k) / 2**k, atol=ATOL, err_msg=str(qs))
    reference = _all_rdms(tc[0], 3)
    assert len(reference) == 220
    for state in tc[1:] + ds:
        for qs, rho in _all_rdms(state, 3).items():
            np.testing.assert_allclose(rho, reference[qs], atol=ATOL, err_msg=str(qs))
    # not vacuous: 4-qubit marginals of these samples do differ (non-contractible 4-cycles)
    diff = max(
        np.abs(a - reduced_density_matrix(ds[0], qs)).max() for qs, a in _all_rdms(tc[0], 4).items()
    )
    assert diff > 1e-2


def test_haar_ground_space_states_leak_the_logical_state_not_the_label(rng):
    """Module doc: with Haar-random ground-space coefficients the 2-qubit marginal on a cut is
    not ``I/4`` (weight-2 logical ``W_a``), yet equal for both models up to 3 qubits."""
    c = rng.normal(size=4) + 1j * rng.normal(size=4)
    c /= np.linalg.norm(c)
    tc = c @ sector_ground_states("toric-code")
    ds = c @ sector_ground_states("double-semion")
    for k in (1, 2, 3):
        rdm_tc, rdm_ds = _all_rdms(tc, k), _all_rdms(ds, k)
        for qs in rdm_tc:
            np.testing.assert_allclose(rdm_tc[qs], rdm_ds[qs], atol=ATOL, err_msg=str(qs))
    cut = honeycomb_torus().cuts[0]
    assert np.abs(reduced_density_matrix(tc, cut) - np.eye(4) / 4).max() > 1e-3


def test_phase_averaged_marginals_differ_only_on_hexagons(lattice):
    """Averaged over the phases a sample is ``(1/4) sum_k |g_k><g_k|``; its 4- and 5-qubit
    marginals agree between the models and the differing 6-qubit ones are the 4 hexagons."""
    g = {m: sector_ground_states(m) for m in MODELS}

    def averaged(model, qs):
        # one matrix product for the mixture: the sector index joins the traced-out qubits
        rest = [q for q in range(N) if q not in qs]
        t = g[model].reshape((4,) + (2,) * N)
        t = t.transpose([1 + q for q in qs] + [0] + [1 + q for q in rest])
        t = t.reshape(2 ** len(qs), -1)
        return t @ t.conj().T / 4

    # thousands of tiny products: one BLAS thread avoids oversubscription on busy machines
    with threadpool_limits(1):
        differing = {
            k: [
                qs
                for qs in itertools.combinations(range(N), k)
                if np.abs(averaged(MODELS[0], qs) - averaged(MODELS[1], qs)).max() > ATOL
            ]
            for k in (4, 5, 6)
        }
    assert differing[4] == [] and differing[5] == []
    assert sorted(differing[6]) == sorted(tuple(sorted(b)) for b in lattice.plaquette_edges)


def test_non_contractible_four_cycles_connect_sectors(lattice):
    """Module doc: ``<g_k|X_C|g_l>`` for the six 4-cycles ``C``: toric code, 1 between two
    pairs of sectors; double semion, a single ``-1/2`` pair, always with the trivial sector."""
    cycles = [i for i in closed_configurations(lattice) if bits_of(i).sum() == 4]
    assert len(cycles) == 6
    g = {m: sector_ground_states(m) for m in MODELS}
    for i in cycles:
        edges = np.flatnonzero(bits_of(i))
        m_tc = g["toric-code"].conj() @ np.array([apply_x(v, edges) for v in g["toric-code"]]).T
        m_ds = (
            g["double-semion"].conj() @ np.array([apply_x(v, edges) for v in g["double-semion"]]).T
        )
        assert np.allclose(m_tc, m_tc.real, atol=ATOL) and np.allclose(m_ds, m_ds.real, atol=ATOL)
        m_tc, m_ds = m_tc.real, m_ds.real
        np.testing.assert_allclose(np.sort(m_tc, axis=1), [[0, 0, 0, 1]] * 4, atol=ATOL)
        np.testing.assert_allclose(m_tc, m_tc.T, atol=ATOL)
        np.testing.assert_allclose(np.diag(m_tc), 0, atol=ATOL)
        nonzero = np.argwhere(np.abs(m_ds) > ATOL)
        assert len(nonzero) == 2 and 0 in nonzero[0]
        np.testing.assert_allclose(m_ds[tuple(nonzero.T)], -0.5, atol=ATOL)


def test_reduced_density_matrix_matches_partial_trace(rng):
    n = 5
    psi = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    psi /= np.linalg.norm(psi)
    rho = np.outer(psi, psi.conj())
    for qubits in ([3], [0, 4], [4, 0], [2, 0, 3]):
        np.testing.assert_allclose(
            reduced_density_matrix(psi, qubits), partial_trace(rho, qubits, n), atol=ATOL
        )
    with pytest.raises(ValueError, match="distinct"):
        reduced_density_matrix(psi, [1, 1])
    with pytest.raises(ValueError, match=r"distinct and in 0\.\.4"):
        reduced_density_matrix(psi, [5])
    with pytest.raises(ValueError, match="length 2"):
        reduced_density_matrix(np.ones(6), [0])


# ---------------------------------------------------------------------------------------------
# 5. plaquettes tell the classes apart


def test_plaquette_expectations_unperturbed(lattice):
    """``<X_p>``: +1 on every toric-code sample, exactly -1/4 on every double-semion sample;
    ``<B_p prod (1+A_v)/2>``: -1 on double-semion samples, +1/4 on toric-code samples."""
    expected = {
        (0, "toric-code"): 1.0,
        (1, "toric-code"): -0.25,
        (1, "double-semion"): -1.0,
        (0, "double-semion"): 0.25,
    }
    ops = {m: [plaquette_operator(lattice, p, m) for p in range(4)] for m in MODELS}
    for label in LABELS:
        for seed in range(4):
            state, _ = topological_sample(label, seed=seed, strength=0.0)
            for model in MODELS:
                for op in ops[model]:
                    value = expectation(op, state)
                    assert value == pytest.approx(expected[label, model], abs=ATOL)


def test_plaquette_separation_survives_perturbation(lattice):
    """strength 0.1, one layer: observed toric code <X_p> in [0.987, 0.9994] and double semion
    in [-0.253, -0.244] (20 seeds); the thresholds below leave a wide margin."""
    ops = [plaquette_operator(lattice, p, "toric-code") for p in range(4)]
    for seed in range(6):
        tc, _ = topological_sample(0, seed=seed, strength=0.1)
        ds, _ = topological_sample(1, seed=seed, strength=0.1)
        for op in ops:
            assert expectation(op, tc).real > 0.95
            assert abs(expectation(op, ds).real + 0.25) < 0.05


# ---------------------------------------------------------------------------------------------
# 7. samples and dataset


def test_sample_basic_properties():
    state, meta = topological_sample(1, seed=7, strength=0.2, layers=2)
    assert state.shape == (DIM,) and state.dtype == np.complex128
    assert np.linalg.norm(state) == pytest.approx(1.0, abs=ATOL)
    assert meta["strength"] == 0.2 and meta["layers"] == 2 and meta["label"] == 1
    assert len(meta["phases"]) == 4 and all(isinstance(x, float) for x in meta["phases"])
    again, meta2 = topological_sample(1, seed=7, strength=0.2, layers=2)
    np.testing.assert_array_equal(state, again)
    assert meta == meta2
    other, _ = topological_sample(1, seed=8, strength=0.2, layers=2)
    assert np.abs(other - state).max() > 1e-3


def test_unperturbed_sample_formula():
    state, meta = topological_sample(0, seed=3, strength=0.0, layers=3)
    g = sector_ground_states("toric-code")
    expected = 0.5 * np.exp(1j * np.array(meta["phases"])) @ g
    np.testing.assert_allclose(state, expected, atol=ATOL)
    no_layers, _ = topological_sample(0, seed=3, strength=0.5, layers=0)
    np.testing.assert_allclose(no_layers, expected, atol=ATOL)


@pytest.mark.parametrize("label", [0, 1])
def test_perturbation_grows_with_strength(label):
    # same seed: same phases, axes and (scaled) angles, so the rotations grow monotonically
    base, _ = topological_sample(label, seed=11, strength=0.0)
    infidelity = []
    for strength in (0.02, 0.05, 0.1, 0.2, 0.4):
        state, _ = topological_sample(label, seed=11, strength=strength)
        infidelity.append(1 - abs(np.vdot(base, state)) ** 2)
    assert infidelity[0] > 0
    assert all(b > a for a, b in itertools.pairwise(infidelity)), infidelity


def test_dataset_balanced_deterministic_and_reproducible():
    states, labels, meta = topological_dataset(12, seed=5, strength=0.1, layers=1)
    assert states.shape == (12, DIM) and states.dtype == np.complex128
    assert labels.shape == (12,) and np.issubdtype(labels.dtype, np.integer)
    assert np.bincount(labels).tolist() == [6, 6]
    np.testing.assert_allclose(np.linalg.norm(states, axis=1), 1.0, atol=ATOL)
    states2, labels2, meta2 = topological_dataset(12, seed=5, strength=0.1, layers=1)
    np.testing.assert_array_equal(states, states2)
    np.testing.assert_array_equal(labels, labels2)
    assert meta == meta2
    for i in (0, 7):
        again, _ = topological_sample(int(labels[i]), seed=meta[i]["seed"], strength=0.1)
        np.testing.assert_array_equal(again, states[i])
        assert meta[i]["label"] == labels[i]
    assert len({m["seed"] for m in meta}) == 12
    # shuffled (not the sorted order for this seed) and seed-dependent
    assert labels.tolist() != sorted(labels.tolist())
    orders = {tuple(topological_dataset(12, seed=s, strength=0.0)[1]) for s in range(5)}
    assert len(orders) > 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": 2, "seed": 0}, "label must be 0"),
        ({"label": True, "seed": 0}, "label must be 0"),
        ({"label": 0, "seed": -1}, "seed must be >= 0"),
        ({"label": 0, "seed": 1.5}, "seed must be an integer"),
        ({"label": 0, "seed": 0, "strength": -0.1}, "strength must be a finite number >= 0"),
        ({"label": 0, "seed": 0, "strength": float("nan")}, "strength must be a finite"),
        ({"label": 0, "seed": 0, "strength": "big"}, "strength must be a real number"),
        ({"label": 0, "seed": 0, "layers": -1}, "layers must be >= 0"),
        ({"label": 0, "seed": 0, "layers": 1.0}, "layers must be an integer"),
    ],
)
def test_sample_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        topological_sample(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 7}, "n_samples must be even"),
        ({"n_samples": 0}, "n_samples must be >= 1"),
        ({"n_samples": 4.0}, "n_samples must be an integer"),
        ({"n_samples": 4, "seed": -3}, "seed must be >= 0"),
        ({"n_samples": 4, "strength": -1.0}, "strength must be a finite number >= 0"),
        ({"n_samples": 4, "layers": -2}, "layers must be >= 0"),
    ],
)
def test_dataset_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        topological_dataset(**kwargs)


def test_operator_bad_arguments(lattice):
    with pytest.raises(ValueError, match="model must be one of"):
        plaquette_operator(lattice, 0, "ising")
    with pytest.raises(ValueError, match=r"plaquette index must be an integer in 0\.\.3"):
        plaquette_operator(lattice, 4, "toric-code")
    with pytest.raises(ValueError, match="model must be one of"):
        sector_ground_states("toric code")
    with pytest.raises(ValueError, match="cut index"):
        winding_operator(lattice, 2)
    with pytest.raises(ValueError, match="vertex index"):
        vertex_operator(lattice, -1)
