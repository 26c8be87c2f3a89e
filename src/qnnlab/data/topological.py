r"""Toric code versus double semion on a 12-qubit honeycomb torus: an adversarial dataset.

Two topologically ordered phases, the toric code (label 0) and the double semion model
(label 1, Levin and Wen, PRB 71, 045110 (2005)), put on the same 12 qubits. Their ground states
share every reduced state on up to three qubits, so no classifier that only sees few-qubit
marginals can beat chance; the label sits in six-qubit plaquette operators. Everything is
NumPy/SciPy in complex128; qubit 0 is the most significant bit (``docs/conventions.md``).

Lattice (:func:`honeycomb_torus`)
    A honeycomb lattice on a torus of ``2 x 2`` unit cells: 8 vertices (sublattices A, B),
    12 edges, 4 hexagonal plaquettes; one qubit per edge, qubit index = edge index. Cell
    ``(x, y)`` owns ``A(x, y)``, ``B(x, y)`` and the three edges leaving ``A(x, y)``: ``z`` to
    ``B(x, y)``, ``x`` to ``B(x-1, y)``, ``y`` to ``B(x, y-1)`` (edge ``3 (y lx + x) + t``,
    ``t = 0, 1, 2`` for ``z, x, y``). Hexagon ``(x, y)`` is ``A(x,y) B(x,y) A(x+1,y)
    B(x+1,y-1) A(x+1,y-1) B(x,y-1)``. Every vertex has degree 3, every hexagon has 6 distinct
    edges and 6 distinct vertices, every edge borders exactly 2 hexagons (checked on
    construction). The graph has girth 4: six 4-cycles, all non-contractible (they wind
    around the torus), besides the hexagons.

    The *legs* of a hexagon ``p`` are, for each of its vertices, the third edge not on ``p``.
    They are kept as a multiset (an edge joining two vertices of ``p`` would appear twice,
    and ``i^{(1-Z)/2}`` twice is ``Z``). On the ``2 x 2`` torus this does not happen: each
    hexagon has 6 vertices out of 8, the two others (one A, one B) are not adjacent, so the six
    legs of ``p`` are six distinct edges, exactly the six edges *not* on ``p``, each of which is
    a boundary edge of two other hexagons.

    Two dual cuts define the winding sectors: ``cuts[0]`` = the ``x`` edges of the cells with
    ``x = 0`` (crossed by a dual loop winding along ``a2``), ``cuts[1]`` = the ``y`` edges of
    the cells with ``y = 0`` (dual loop along ``a1``); on ``2 x 2`` these are edges ``{1, 7}``
    and ``{2, 5}``. Each meets every hexagon in 0 or 2 edges and neither they nor their sum
    is a product of vertex stars (GF(2) rank check): they are non-contractible.

Hamiltonians (sparse ``4096 x 4096`` csr)
    With ``A_v = prod_{e at v} Z_e`` and ``X_p = prod_{e in p} X_e``:

    * toric code ``H_TC = - sum_v A_v - sum_p X_p``;
    * double semion ``H_DS = - sum_v A_v + sum_p B_p prod_{v in p} (1 + A_v)/2`` with
      ``B_p = X_p prod_{legs l of p} i^{(1 - Z_l)/2}``.

    In the computational basis ``Z_l = +1`` is an empty edge and ``Z_l = -1`` an edge carrying
    a string, so ``i^{(1 - Z_l)/2}`` is ``i`` per occupied leg. Ordering: legs are never
    boundary edges of ``p``, so the leg phase commutes with ``X_p`` and the order of the two
    factors does not matter. Hermiticity: the bare ``B_p`` is *not* Hermitian (``B_p^dagger
    = X_p D_p^*`` with the leg phase ``D_p = i^{n_legs}``; ``||B_p - B_p^dagger|| = 2``). With
    the projector ``prod_{v in p} (1 + A_v)/2`` it is: ``B_p`` commutes with every ``A_v``,
    and when the six vertex rules of ``p`` hold, summing the (even) occupation numbers over
    the vertices of ``p`` counts each boundary edge twice and each leg once (with its
    multiplicity), so ``n_legs`` is even and ``D_p = +-1`` is real. This is why legs must be
    counted as a multiset on small tori. :func:`double_semion_hamiltonian` checks
    ``||H - H^dagger||_max <= 1e-12``; numerically it is exactly Hermitian, and the terms
    ``A_v`` and ``B_p prod (1+A_v)/2`` commute pairwise.

Winding sectors and ground states
    ``W_a = prod_{e in cuts[a]} Z_e`` (weight 2 here) commutes with both Hamiltonians. Both
    models have ground energy ``-12`` (all 8 vertex rules and all 4 plaquette terms satisfied,
    ``B_p = -1`` for the double semion), 4-fold degenerate, with gap ``4`` to the first excited
    level ``-8``: two flipped plaquettes (24 states in both models) or, for the toric code
    only, two violated vertex rules (136 states in all for the toric code; for the double
    semion a vertex pair costs more, its next level is ``-5``). Every winding sector
    ``(W_1, W_2) = (+-1, +-1)`` holds exactly one ground state, also with in-sector gap 4.
    :func:`sector_ground_states` diagonalizes each Hamiltonian *inside* each sector: as ``H``
    also conserves every ``A_v`` (all diagonal), the 1024 states of a sector split into 128
    blocks of 8 states with fixed vertex charges, each diagonalized densely (the whole sector
    spectrum, verified to be block diagonal; a dense ``4096 x 4096`` complex ``eigh`` takes
    tens of seconds on a small machine and is only run in a ``slow`` test). Each sector state's
    phase is fixed by making its first amplitude of maximal modulus (lowest basis index within
    a relative ``1e-6`` of the maximum) real positive. The 8 vectors are cached in-process.

    Each sector state is an equal-modulus superposition of the 8 closed-loop configurations
    (even occupation at every vertex) of its sector (32 = 2^5 closed configurations in all).
    Toric code: all amplitudes ``+1/sqrt(8)``. Double semion: amplitudes ``+-1/sqrt(8)``
    (real). In the trivial sector they follow the loop-gas rule ``(-1)^{#loops}`` (configurations
    with 0, 1 or 2 loops; the 2-loop ones are pairs of parallel non-contractible loops), which
    the tests check as an independent reference. In the three non-trivial sectors every
    configuration is a single loop, so ``(-1)^{#loops}`` would be a uniform sign (the toric-code
    state, overlap 1/2 with the true ground state); the true signs are mixed (2 of 8 negative).

Samples (:func:`topological_sample`)
    ``psi = (1/2) sum_{k=1..4} e^{i phi_k} |g_k>`` over the four sector ground states of the
    class, with ``phi_k`` i.i.d. uniform on ``[0, 2 pi)``, then ``layers`` layers of random
    single-qubit rotations: in each layer every qubit ``q`` gets ``exp(-i theta/2 n.sigma)``
    with ``n`` uniform on the unit sphere (a normalised standard Gaussian 3-vector) and
    ``theta`` uniform on ``[0, strength]``. This is a rotation by at most ``strength`` about a
    random axis, ``||U - I|| = 2 sin(theta/4) <= strength/2``; ``strength = 0`` (or
    ``layers = 0``) leaves the ground-space state untouched. Random numbers come from
    ``numpy.random.default_rng(seed)`` only; :func:`topological_dataset` is balanced, derives
    per-sample seeds with ``SeedSequence(seed).spawn`` and shuffles the labels.

Why it is adversarial (all verified in ``tests/test_topological.py``, to 1e-10)
    * For unperturbed samples of either class and any phases, every 1- and 2-qubit reduced
      state is exactly ``I/d``, and every 3-qubit reduced state is the same matrix for both
      classes (indeed for every sample): the phase-dependent cross-sector terms need an
      operator that maps one sector to another, i.e. a non-contractible ``X``-type loop, whose
      weight is at least 4; the sector-diagonal part is the uniform distribution over the 32
      closed-loop configurations in both models; the weight-2 ``W_a`` average to zero over the
      four equally weighted sectors.
    * Why equal weights and random phases rather than a Haar-random state of the ground space:
      on so small a torus the logical operators ``W_a`` have weight 2, so for a Haar-random
      ground-space state ``<Z_e Z_e'>`` on a cut is ``sum_k |c_k|^2 w_k != 0`` and the 2-qubit
      marginals are far from ``I/4`` (entries off by 0.19 for one random draw). Measured here,
      the same coefficients ``c_k`` give identical 1-, 2- and 3-qubit marginals in both models,
      so this would not reveal the label itself, but the marginals would carry the random
      logical state: large sample-to-sample fluctuations uncorrelated with the label, and no
      more "every small marginal is maximally mixed". Equal weights remove them; with them
      every 3-qubit marginal is the same fixed matrix for every sample of either class.
    * The label first shows at weight 4, through the non-contractible 4-cycles ``C``, and only
      in a phase-dependent way: ``<X_C>`` is ``(cos(phi_k - phi_l) + cos(phi_m - phi_n))/2`` for
      the toric code (matrix elements 1 between the two pairs of sectors ``C`` connects) but
      ``-cos(phi_1 - phi_k)/4`` for the double semion (one matrix element ``-1/2``). Averaged
      over the phases, 4- and 5-qubit marginals agree; the 6-qubit marginals that differ are
      exactly the 4 hexagons: ``<X_p>`` is ``+1`` for every toric-code sample and ``-1/4`` for
      every double-semion sample (``-1`` in the trivial sector, ``0`` in the others);
      symmetrically ``<B_p prod (1+A_v)/2>`` is ``-1`` on double-semion samples and ``+1/4`` on
      toric-code samples. With ``strength = 0.1`` these move by about 1% (toric code
      ``<X_p>`` in ``[0.987, 0.9994]``, double semion in ``[-0.253, -0.244]`` over 20 samples
      of each class and all 4 hexagons).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "LABELS",
    "MODELS",
    "SECTORS",
    "TOPOLOGICAL_QUBITS",
    "HoneycombTorus",
    "SectorSpectrum",
    "double_semion_hamiltonian",
    "honeycomb_torus",
    "plaquette_operator",
    "reduced_density_matrix",
    "sector_energies",
    "sector_ground_states",
    "sector_spectrum",
    "topological_dataset",
    "topological_sample",
    "toric_code_hamiltonian",
    "vertex_operator",
    "winding_operator",
]

#: Number of qubits (edges of the 2 x 2 honeycomb torus).
TOPOLOGICAL_QUBITS = 12

#: Class labels of :func:`topological_sample` / :func:`topological_dataset`.
LABELS = {0: "toric code", 1: "double semion"}

#: Model names accepted by :func:`sector_ground_states` and friends, indexed by label.
MODELS = ("toric-code", "double-semion")

#: Winding sectors ``(W_1, W_2)`` in the order of the rows of :func:`sector_ground_states`.
SECTORS = ((+1, +1), (+1, -1), (-1, +1), (-1, -1))

_EDGE_TYPES = ("z", "x", "y")


# ------------------------------------------------------------------------------------ lattice
@dataclass(frozen=True)
class HoneycombTorus:
    """Honeycomb lattice on a torus of ``lx x ly`` unit cells; qubits live on the edges.

    Attributes:
        lx, ly: Unit cells along the two lattice vectors ``a1``, ``a2``.
        vertices: Vertex indices ``0 .. 2 lx ly - 1``; vertex ``2 (y lx + x) + s`` is sublattice
            ``s`` (0 = A, 1 = B) of cell ``(x, y)``.
        edges: ``(A vertex, B vertex)`` for every edge; edge ``3 (y lx + x) + t`` is the edge of
            type ``t`` (0 = z, 1 = x, 2 = y) leaving the A vertex of cell ``(x, y)``:
            ``z: A(x, y) - B(x, y)``, ``x: A(x, y) - B(x - 1, y)``, ``y: A(x, y) - B(x, y - 1)``.
        vertex_edges: The three edges at each vertex.
        plaquette_edges: The six boundary edges of each hexagon, in cyclic order.
        plaquette_vertices: The six vertices of each hexagon, in cyclic order (vertex ``k`` lies
            between edges ``k - 1`` and ``k``).
        plaquette_legs: For each hexagon, the leg of each of its six vertices (same order as
            ``plaquette_vertices``): the vertex's third edge, not on the hexagon's boundary. A
            multiset: if both ends of an edge lie on the hexagon, that edge appears twice.
        cuts: Two non-contractible dual cuts, the edges crossed by a closed loop of the dual
            lattice winding once around the torus (``cuts[0]`` along ``a2``, ``cuts[1]`` along
            ``a1``). ``W_a = prod_{e in cuts[a]} Z_e`` measures the parity of the number of
            loop strands crossing the cut.
    """

    lx: int
    ly: int
    vertices: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    vertex_edges: tuple[tuple[int, int, int], ...]
    plaquette_edges: tuple[tuple[int, ...], ...]
    plaquette_vertices: tuple[tuple[int, ...], ...]
    plaquette_legs: tuple[tuple[int, ...], ...]
    cuts: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def n_qubits(self) -> int:
        return len(self.edges)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_plaquettes(self) -> int:
        return len(self.plaquette_edges)


def _cell(x: int, y: int, lx: int, ly: int) -> int:
    return (y % ly) * lx + (x % lx)


def honeycomb_torus(lx: int = 2, ly: int = 2) -> HoneycombTorus:
    """Build (and check) the honeycomb torus of ``lx x ly`` unit cells (``lx, ly >= 2``).

    Hexagon ``(x, y)`` runs ``A(x, y) -z- B(x, y) -x- A(x+1, y) -y- B(x+1, y-1) -z- A(x+1, y-1)
    -x- B(x, y-1) -y- A(x, y)``. Checks: every vertex has degree 3, every hexagon has 6 distinct
    edges and 6 distinct vertices, every edge borders exactly two hexagons (with multiplicity),
    the cuts meet every hexagon in an even number of edges (so ``W_a`` commutes with every
    ``prod_{e in p} X_e``) and are independent of the vertex stars and of each other over GF(2)
    (so they are non-contractible).
    """
    for name, value in (("lx", lx), ("ly", ly)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2 (got {value!r}).")
    return _honeycomb_torus(int(lx), int(ly))


@functools.lru_cache(maxsize=8)
def _honeycomb_torus(lx: int, ly: int) -> HoneycombTorus:
    """The cached builder behind :func:`honeycomb_torus` (arguments already validated)."""
    n_cells = lx * ly

    def a_vertex(x: int, y: int) -> int:
        return 2 * _cell(x, y, lx, ly)

    def b_vertex(x: int, y: int) -> int:
        return 2 * _cell(x, y, lx, ly) + 1

    def edge(x: int, y: int, kind: str) -> int:
        return 3 * _cell(x, y, lx, ly) + _EDGE_TYPES.index(kind)

    edges: list[tuple[int, int]] = []
    for y in range(ly):
        for x in range(lx):
            edges.append((a_vertex(x, y), b_vertex(x, y)))
            edges.append((a_vertex(x, y), b_vertex(x - 1, y)))
            edges.append((a_vertex(x, y), b_vertex(x, y - 1)))
    n_vertices = 2 * n_cells
    incident: list[list[int]] = [[] for _ in range(n_vertices)]
    for e, (u, v) in enumerate(edges):
        incident[u].append(e)
        incident[v].append(e)
    bad = [v for v in range(n_vertices) if len(incident[v]) != 3]
    if bad:
        raise RuntimeError(f"honeycomb torus {lx}x{ly}: vertices {bad} do not have degree 3.")

    p_edges: list[tuple[int, ...]] = []
    p_vertices: list[tuple[int, ...]] = []
    p_legs: list[tuple[int, ...]] = []
    for y in range(ly):
        for x in range(lx):
            verts = (
                a_vertex(x, y),
                b_vertex(x, y),
                a_vertex(x + 1, y),
                b_vertex(x + 1, y - 1),
                a_vertex(x + 1, y - 1),
                b_vertex(x, y - 1),
            )
            bounds = (
                edge(x, y, "z"),
                edge(x + 1, y, "x"),
                edge(x + 1, y, "y"),
                edge(x + 1, y - 1, "z"),
                edge(x + 1, y - 1, "x"),
                edge(x, y, "y"),
            )
            # consistency: edge k joins vertices k and k + 1 of the hexagon
            for k, e in enumerate(bounds):
                if set(edges[e]) != {verts[k], verts[(k + 1) % 6]}:
                    raise RuntimeError(f"hexagon ({x}, {y}) is not closed at edge {e}.")
            if len(set(bounds)) != 6 or len(set(verts)) != 6:
                raise RuntimeError(f"hexagon ({x}, {y}) has repeated edges or vertices.")
            legs = []
            for v in verts:
                (leg,) = [e for e in incident[v] if e not in bounds]
                legs.append(leg)
            p_edges.append(bounds)
            p_vertices.append(verts)
            p_legs.append(tuple(legs))
    counts = np.bincount(np.concatenate(p_edges), minlength=len(edges))
    if not np.all(counts == 2):
        raise RuntimeError(f"edges border {counts.tolist()} hexagons; expected 2 each.")

    cut_a2 = tuple(sorted(edge(0, y, "x") for y in range(ly)))
    cut_a1 = tuple(sorted(edge(x, 0, "y") for x in range(lx)))
    lattice = HoneycombTorus(
        lx=lx,
        ly=ly,
        vertices=tuple(range(n_vertices)),
        edges=tuple(edges),
        vertex_edges=tuple((*sorted(inc),) for inc in incident),
        plaquette_edges=tuple(p_edges),
        plaquette_vertices=tuple(p_vertices),
        plaquette_legs=tuple(p_legs),
        cuts=(cut_a2, cut_a1),
    )
    _check_cuts(lattice)
    return lattice


def _gf2_rank(rows: np.ndarray) -> int:
    """Rank over GF(2) of a 0/1 matrix (Gaussian elimination)."""
    m = (np.asarray(rows) % 2).astype(np.uint8)
    rank = 0
    for col in range(m.shape[1]):
        pivot = next((r for r in range(rank, m.shape[0]) if m[r, col]), None)
        if pivot is None:
            continue
        m[[rank, pivot]] = m[[pivot, rank]]
        for r in range(m.shape[0]):
            if r != rank and m[r, col]:
                m[r] ^= m[rank]
        rank += 1
    return rank


def _incidence(sets: Any, n: int) -> np.ndarray:
    out = np.zeros((len(sets), n), dtype=np.uint8)
    for i, s in enumerate(sets):
        for e in s:
            out[i, e] ^= 1
    return out


def _check_cuts(lattice: HoneycombTorus) -> None:
    n = lattice.n_qubits
    cuts = _incidence(lattice.cuts, n)
    plaq = _incidence(lattice.plaquette_edges, n)
    if np.any((plaq.astype(int) @ cuts.T.astype(int)) % 2):
        raise RuntimeError("a dual cut meets some hexagon in an odd number of edges.")
    stars = _incidence(lattice.vertex_edges, n)
    r_stars = _gf2_rank(stars)
    if _gf2_rank(np.vstack([stars, cuts])) != r_stars + 2:
        raise RuntimeError("the dual cuts are contractible or not independent.")


# --------------------------------------------------------------------- operators (sparse)
@functools.lru_cache(maxsize=4)
def _bits(n: int) -> np.ndarray:
    """``bits[i, q]``: bit of qubit ``q`` in basis index ``i`` (qubit 0 most significant)."""
    idx = np.arange(2**n)
    out = ((idx[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1).astype(np.int64)
    out.setflags(write=False)
    return out


def _mask(qubits: Any, n: int) -> int:
    m = 0
    for q in qubits:
        m ^= 1 << (n - 1 - int(q))
    return m


def _z_product(lattice: HoneycombTorus, qubits: Any) -> np.ndarray:
    """Diagonal of ``prod_{q in qubits} Z_q`` (``+-1`` floats)."""
    b = _bits(lattice.n_qubits)
    parity = b[:, list(qubits)].sum(axis=1) % 2
    return 1.0 - 2.0 * parity


def _permutation_operator(n: int, mask: int, diagonal: np.ndarray) -> sp.csr_matrix:
    """``X_mask @ diag(diagonal)``: column ``c`` has ``diagonal[c]`` in row ``c ^ mask``."""
    cols = np.arange(2**n)
    return sp.csr_matrix(
        (np.asarray(diagonal, dtype=np.complex128), (cols ^ mask, cols)), shape=(2**n, 2**n)
    )


def vertex_operator(lattice: HoneycombTorus, v: int) -> sp.csr_matrix:
    """``A_v = prod_{e at v} Z_e`` as a sparse diagonal matrix."""
    v = _check_index("vertex", v, lattice.n_vertices)
    diag = _z_product(lattice, lattice.vertex_edges[v]).astype(np.complex128)
    return sp.diags(diag, format="csr")


def winding_operator(lattice: HoneycombTorus, a: int) -> sp.csr_matrix:
    """``W_a = prod_{e in cuts[a]} Z_e`` (``a = 0`` is ``W_1``, ``a = 1`` is ``W_2``)."""
    a = _check_index("cut", a, 2)
    diag = _z_product(lattice, lattice.cuts[a]).astype(np.complex128)
    return sp.diags(diag, format="csr")


def _vertex_projector_diag(lattice: HoneycombTorus, vertices: Any) -> np.ndarray:
    out = np.ones(2**lattice.n_qubits)
    for v in vertices:
        out *= (1.0 + _z_product(lattice, lattice.vertex_edges[v])) / 2.0
    return out


def _leg_phase(lattice: HoneycombTorus, p: int) -> np.ndarray:
    """Diagonal of ``prod_{legs l of p} i^{(1 - Z_l)/2}``, the leg multiset counted fully."""
    b = _bits(lattice.n_qubits)
    occupied = b[:, list(lattice.plaquette_legs[p])].sum(axis=1)
    return 1j ** (occupied % 4)


def plaquette_operator(lattice: HoneycombTorus, p: int, model: str) -> sp.csr_matrix:
    """The plaquette term of ``model`` on hexagon ``p``.

    ``"toric-code"``: ``prod_{e in p} X_e``. ``"double-semion"``: ``B_p prod_{v in p}
    (1 + A_v)/2`` with ``B_p = prod_{e in p} X_e prod_{legs l} i^{(1 - Z_l)/2}``.
    """
    model = _check_model(model)
    p = _check_index("plaquette", p, lattice.n_plaquettes)
    n = lattice.n_qubits
    mask = _mask(lattice.plaquette_edges[p], n)
    if model == "toric-code":
        return _permutation_operator(n, mask, np.ones(2**n))
    diag = _leg_phase(lattice, p) * _vertex_projector_diag(lattice, lattice.plaquette_vertices[p])
    op = _permutation_operator(n, mask, diag)
    op.eliminate_zeros()
    return op


def toric_code_hamiltonian(lattice: HoneycombTorus) -> sp.csr_matrix:
    """``H_TC = - sum_v prod_{e at v} Z_e - sum_p prod_{e in p} X_e`` (sparse csr)."""
    diag = -sum(_z_product(lattice, lattice.vertex_edges[v]) for v in lattice.vertices)
    h = sp.diags(np.asarray(diag, dtype=np.complex128), format="csr")
    for p in range(lattice.n_plaquettes):
        h = h - plaquette_operator(lattice, p, "toric-code")
    return sp.csr_matrix(h)


def double_semion_hamiltonian(lattice: HoneycombTorus) -> sp.csr_matrix:
    """``H_DS = - sum_v A_v + sum_p B_p prod_{v in p} (1 + A_v)/2`` (sparse csr).

    Raises ``RuntimeError`` if the result is not Hermitian to ``1e-12``.
    """
    diag = -sum(_z_product(lattice, lattice.vertex_edges[v]) for v in lattice.vertices)
    h = sp.diags(np.asarray(diag, dtype=np.complex128), format="csr")
    for p in range(lattice.n_plaquettes):
        h = h + plaquette_operator(lattice, p, "double-semion")
    h = sp.csr_matrix(h)
    h.eliminate_zeros()
    defect = abs(h - h.conj().T).max()
    if defect > 1e-12:
        raise RuntimeError(f"double-semion Hamiltonian is not Hermitian (max defect {defect}).")
    return h


def _check_index(name: str, value: Any, size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < size:
        raise ValueError(f"{name} index must be an integer in 0..{size - 1} (got {value!r}).")
    return int(value)


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS} (got {model!r}).")
    return model


# ------------------------------------------------------------------------ sector ground states
@dataclass(frozen=True)
class SectorSpectrum:
    """Ground states of one model in the four winding sectors of the 2 x 2 torus.

    Attributes:
        model: ``"toric-code"`` or ``"double-semion"``.
        sectors: ``(W_1, W_2)`` eigenvalues of each row (:data:`SECTORS`).
        states: ``(4, 4096)`` complex128, row ``k`` the unique ground state of sector ``k``;
            phase fixed so that its first amplitude of maximal modulus is real positive.
        energies: ``(4,)`` ground energy of each sector.
        sector_gaps: ``(4,)`` second-lowest minus lowest eigenvalue inside each sector.
    """

    model: str
    sectors: tuple[tuple[int, int], ...]
    states: np.ndarray
    energies: np.ndarray
    sector_gaps: np.ndarray


def _fix_phase(vec: np.ndarray) -> np.ndarray:
    """Multiply by the phase that makes the first amplitude of maximal modulus real positive.

    "Maximal" allows a relative slack of ``1e-6``: the loop-gas ground states have many
    amplitudes of equal modulus, and eigensolver noise (~1e-14) must not change the choice.
    """
    mod = np.abs(vec)
    k = int(np.flatnonzero(mod >= mod.max() * (1.0 - 1e-6))[0])
    return vec * (np.conj(vec[k]) / mod[k])


def _vertex_charges(lattice: HoneycombTorus) -> np.ndarray:
    """``(2^n,)`` int: bit ``v`` of entry ``i`` is set iff ``A_v = -1`` on basis state ``i``."""
    b = _bits(lattice.n_qubits)
    code = np.zeros(2**lattice.n_qubits, dtype=np.int64)
    for v, star in enumerate(lattice.vertex_edges):
        code |= (b[:, list(star)].sum(axis=1) % 2) << v
    return code


@functools.lru_cache(maxsize=4)
def _sector_spectrum(model: str) -> SectorSpectrum:
    """Exact diagonalization of ``model`` inside each winding sector (see the module docstring).

    ``H`` commutes with ``W_1, W_2`` and with every ``A_v``, all diagonal, so it is block
    diagonal in their joint eigenbasis; this is checked on the matrix (no element of ``H`` joins
    two basis states with different charges). Each sector (1024 states) splits into 128 blocks
    of 8 states with fixed vertex charges; diagonalizing every block densely gives the complete
    spectrum of the sector, far faster than one dense 1024 x 1024 complex ``eigh``.
    """
    lattice = honeycomb_torus(2, 2)
    if model == "toric-code":
        h = toric_code_hamiltonian(lattice)
    else:
        h = double_semion_hamiltonian(lattice)
    w1 = _z_product(lattice, lattice.cuts[0])
    w2 = _z_product(lattice, lattice.cuts[1])
    charges = _vertex_charges(lattice)
    rows, cols = h.nonzero()
    for name, label in (("W_1", w1), ("W_2", w2), ("vertex charges", charges)):
        if np.any(label[rows] != label[cols]):
            raise RuntimeError(f"{model}: H does not conserve {name}.")
    dim = 2**lattice.n_qubits
    states = np.zeros((len(SECTORS), dim), dtype=np.complex128)
    energies = np.zeros(len(SECTORS))
    gaps = np.zeros(len(SECTORS))
    for k, (s1, s2) in enumerate(SECTORS):
        in_sector = (w1 == s1) & (w2 == s2)
        spectrum: list[np.ndarray] = []
        best = (np.inf, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.complex128))
        for charge in np.unique(charges[in_sector]):
            idx = np.flatnonzero(in_sector & (charges == charge))
            vals, vecs = np.linalg.eigh(h[idx][:, idx].toarray())
            spectrum.append(vals)
            if vals[0] < best[0]:
                best = (float(vals[0]), idx, vecs[:, 0])
        low = np.sort(np.concatenate(spectrum))[:2]
        if low[1] - low[0] < 1e-8:
            raise RuntimeError(f"{model}: ground state of sector {(s1, s2)} is degenerate.")
        full = np.zeros(dim, dtype=np.complex128)
        full[best[1]] = best[2]
        states[k] = _fix_phase(full / np.linalg.norm(full))
        energies[k] = low[0]
        gaps[k] = low[1] - low[0]
    for arr in (states, energies, gaps):
        arr.setflags(write=False)
    return SectorSpectrum(model, SECTORS, states, energies, gaps)


def sector_spectrum(model: str) -> SectorSpectrum:
    """Ground states, energies and in-sector gaps of ``model`` (cached; arrays read-only)."""
    return _sector_spectrum(_check_model(model))


def sector_ground_states(model: str) -> np.ndarray:
    """``(4, 4096)`` complex128: the ground state of ``model`` in each winding sector.

    Rows follow :data:`SECTORS` ``= (+1,+1), (+1,-1), (-1,+1), (-1,-1)`` for ``(W_1, W_2)``.
    Each row is the lowest eigenvector of the Hamiltonian restricted to the joint eigenspace
    of ``(W_1, W_2)`` (1024 basis states), phase-fixed as in :class:`SectorSpectrum`.
    Returns a fresh writable copy of the cached array.
    """
    return sector_spectrum(model).states.copy()


def sector_energies(model: str) -> np.ndarray:
    """``(4,)`` ground energies of ``model`` in the sectors :data:`SECTORS` (a copy)."""
    return sector_spectrum(model).energies.copy()


# ---------------------------------------------------------------------------------- samples
#: Most single-qubit perturbation layers of a sample.
MAX_LAYERS = 10_000
#: Most samples of :func:`topological_dataset`: its ``(M, 4096)`` complex128 array is then
#: 6.1 GiB.
MAX_SAMPLES = 100_000


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer (got {value!r} of type {type(value)}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum} (got {value}).")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum} (got {value}).")
    return int(value)


def _check_strength(strength: Any) -> float:
    if isinstance(strength, bool) or not isinstance(
        strength, int | float | np.integer | np.floating
    ):
        raise ValueError(f"strength must be a real number (got {strength!r}).")
    value = float(strength)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"strength must be a finite number >= 0 (got {strength!r}).")
    return value


def _check_label(label: Any) -> int:
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or label not in LABELS:
        raise ValueError(f"label must be 0 ({LABELS[0]}) or 1 ({LABELS[1]}) (got {label!r}).")
    return int(label)


def _apply_one_qubit(state: np.ndarray, u: np.ndarray, q: int, n: int) -> np.ndarray:
    """Apply the 2x2 matrix ``u`` on qubit ``q`` (qubit 0 most significant) of ``state``."""
    t = state.reshape(2**q, 2, 2 ** (n - q - 1))
    return np.einsum("ab,ibj->iaj", u, t).reshape(-1)


def _random_rotation(axis: np.ndarray, theta: float) -> np.ndarray:
    """``exp(-i theta/2 n.sigma) = cos(theta/2) I - i sin(theta/2) n.sigma``."""
    nx, ny, nz = axis
    n_sigma = np.array([[nz, nx - 1j * ny], [nx + 1j * ny, -nz]], dtype=np.complex128)
    return math.cos(theta / 2) * np.eye(2, dtype=np.complex128) - 1j * math.sin(theta / 2) * n_sigma


def topological_sample(
    label: int, *, seed: int, strength: float = 0.1, layers: int = 1
) -> tuple[np.ndarray, dict[str, Any]]:
    """One sample of class ``label`` (0 toric code, 1 double semion); see the module docstring.

    ``psi = (1/2) sum_k e^{i phi_k} |g_k>`` over the four sector ground states of the class,
    ``phi_k`` i.i.d. uniform on ``[0, 2 pi)``, then ``layers`` layers of
    ``prod_q exp(-i theta_q/2 n_q.sigma)`` with ``n_q`` uniform on the unit sphere and
    ``theta_q`` uniform on ``[0, strength]``. Random numbers come from
    ``numpy.random.default_rng(seed)`` in this order: the 4 phases, then per layer the 12 axes
    (3 normal deviates each, normalised) and the 12 angles.

    Returns:
        ``(state, metadata)``: the normalised ``(4096,)`` complex128 state and a dict with keys
        ``"label"``, ``"model"``, ``"seed"``, ``"phases"`` (4 floats), ``"strength"`` and
        ``"layers"``.
    """
    label = _check_label(label)
    seed = _check_int("seed", seed, 0)
    strength = _check_strength(strength)
    layers = _check_int("layers", layers, 0, MAX_LAYERS)
    rng = np.random.default_rng(seed)
    model = MODELS[label]
    ground = _sector_spectrum(model).states
    phases = rng.uniform(0.0, 2.0 * np.pi, size=len(SECTORS))
    state = 0.5 * (np.exp(1j * phases) @ ground)
    n = TOPOLOGICAL_QUBITS
    for _ in range(layers):
        axes = rng.normal(size=(n, 3))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        thetas = rng.uniform(0.0, strength, size=n)
        for q in range(n):
            state = _apply_one_qubit(state, _random_rotation(axes[q], float(thetas[q])), q, n)
    state = state / np.linalg.norm(state)
    metadata = {
        "label": label,
        "model": model,
        "seed": seed,
        "phases": [float(x) for x in phases],
        "strength": strength,
        "layers": layers,
    }
    return state, metadata


def topological_dataset(
    n_samples: int = 500, *, seed: int = 0, strength: float = 0.1, layers: int = 1
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """A balanced dataset of :func:`topological_sample` states.

    Exactly ``n_samples / 2`` samples per class (``n_samples`` must be a positive even integer).
    ``numpy.random.SeedSequence(seed).spawn(n_samples + 1)``: child 0 shuffles the label order,
    child ``i + 1`` gives sample ``i`` its integer seed (``generate_state(1, uint64)``, recorded
    in its metadata, so ``topological_sample(label, seed=meta["seed"], ...)`` rebuilds it).

    Returns:
        ``(states, labels, metadata)``: ``(M, 4096)`` complex128, ``(M,)`` int64 and a list of
        ``M`` metadata dicts.
    """
    n_samples = _check_int("n_samples", n_samples, 1, MAX_SAMPLES)
    if n_samples % 2:
        raise ValueError(
            f"n_samples must be even so both classes get n_samples/2 samples (got {n_samples})."
        )
    seed = _check_int("seed", seed, 0)
    strength = _check_strength(strength)
    layers = _check_int("layers", layers, 0, MAX_LAYERS)
    children = np.random.SeedSequence(seed).spawn(n_samples + 1)
    labels = np.repeat(np.arange(2, dtype=np.int64), n_samples // 2)
    labels = np.random.default_rng(children[0]).permutation(labels)
    states = np.empty((n_samples, 2**TOPOLOGICAL_QUBITS), dtype=np.complex128)
    metadata = []
    for i, (label, child) in enumerate(zip(labels, children[1:], strict=True)):
        sample_seed = int(child.generate_state(1, dtype=np.uint64)[0])
        states[i], meta = topological_sample(
            int(label), seed=sample_seed, strength=strength, layers=layers
        )
        metadata.append(meta)
    return states, labels, metadata


def reduced_density_matrix(state: np.ndarray, qubits: Any) -> np.ndarray:
    """Reduced density matrix ``Tr_rest |psi><psi|`` on ``qubits``, indexed big-endian in the
    given order (first listed qubit = most significant bit), dense ``(2^k, 2^k)``."""
    psi = np.asarray(state)
    if psi.ndim != 1 or psi.size < 2 or psi.size & (psi.size - 1):
        raise ValueError(f"state must be a 1-D vector of length 2**n (got shape {psi.shape}).")
    n = psi.size.bit_length() - 1
    qubits = [int(q) for q in qubits]
    if len(set(qubits)) != len(qubits) or any(not 0 <= q < n for q in qubits):
        raise ValueError(f"qubits {qubits} must be distinct and in 0..{n - 1}.")
    rest = [q for q in range(n) if q not in qubits]
    m = psi.reshape((2,) * n).transpose(qubits + rest).reshape(2 ** len(qubits), -1)
    return m @ m.conj().T
