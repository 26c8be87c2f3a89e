"""Exact sampling of classical shadows (random Pauli-basis snapshots) of a pure state.

A snapshot measures every qubit ``q`` in a basis ``b_q`` drawn uniformly from ``X, Y, Z``. This
is a computational-basis measurement after the basis change ``U_b`` (``U_X = H``,
``U_Y = H S^dagger``, ``U_Z = I``), which maps the ``+1`` eigenstate of ``b`` to ``|0>``, so
outcome ``0`` means eigenvalue ``+1`` (the PennyLane convention). The outcomes are drawn
*exactly* from the Born rule, qubit by qubit (chain rule),

    p(o_0 ... o_{n-1}) = prod_q p(o_q | o_0 ... o_{q-1}),

keeping the conditional (projected, renormalised) state of the qubits not measured yet.

Splitting the state at qubit ``q`` as ``|phi> = |0>|v_0> + |1>|v_1>`` (unnormalised, qubit ``q``
first), the rotated branches are ``w_o = sum_s U_b[o, s] |v_s>``, so with
``n_s = <v_s|v_s>`` and ``g = <v_0|v_1>``

    |w_0|^2 = n_0                        (Z),
            = (n_0 + n_1)/2 + Re g       (X: w_0 = (v_0 + v_1)/sqrt 2),
            = (n_0 + n_1)/2 + Im g       (Y: w_0 = (v_0 - i v_1)/sqrt 2),

and ``|w_1|^2 = n_0 + n_1 - |w_0|^2``. Outcome ``o = 1`` is taken when a uniform ``u`` satisfies
``u >= |w_0|^2 / (n_0 + n_1)`` (inverse CDF), and the conditional state becomes
``w_o / |w_o|``. Three reductions per snapshot and qubit give all three bases, so snapshots of
different bases share one matrix product.

Dense vectors: the state of the unmeasured qubits ``q ..`` is a vector of ``2^(n-q)``
amplitudes, and snapshots with the same bases and outcomes so far share it. Over the first
``n - DENSE_BFS_QUBITS`` qubits the sampler walks the tree of distinct histories depth first
(each conditional state is computed once, memory ``O(2^n)``); the remaining qubits go breadth
first, vectorised over batches of snapshots, with the conditional states deduplicated on
(history, basis, outcome) at every qubit and each batch kept within
:data:`DENSE_MEMORY_BUDGET` bytes. Either way the cost is
``sum_q min(T, 6^(q+1)) 2^(n-q-1)`` amplitude updates instead of ``T 2^n``.

Matrix product states: for a right-canonical MPS
``|psi> = S_0 B_0[s_0] ... B_{n-1}[s_{n-1}]`` the conditional state after measuring sites
``0 .. i-1`` is ``sum_l L[l] |R_l>`` with orthonormal right states ``|R_l>`` (right-canonical
form), so the exact marginal of site ``i`` comes from ``v[s, r] = sum_l L[l] B_i[l, s, r]``
alone, and ``L <- w_o / |w_o|``. Per site this is one matrix product ``(2 chi, chi) @ (chi, T)``
for a batch of ``T`` snapshots (bond index first, snapshots last), then ``O(chi T)`` work.
A real MPS (e.g. a DMRG ground state) stays real: the complex left vectors are multiplied as a
real ``(chi, 2T)`` view with a real BLAS call, only the Y rotation introduces complex numbers,
and it is applied after the product. Charge-conserving TeNPy states (``conserve='Sz'``, which
have no ``Sx``/``Sy`` operators) are converted with :meth:`qnnlab.data.mps.MPS.from_tenpy`;
the basis changes act on dense copies, so DMRG keeps its conservation law.

Precision: all arithmetic is float64/complex128. Probabilities are always normalised by the
current squared norm, and ``L`` is renormalised at every site, so rounding does not accumulate
over long chains (checked on 1,000 sites in the tests).

Randomness: ``numpy.random.default_rng(seed)`` draws all ``recipes`` first (``(T, n)`` integers
in ``0..2``), then the uniforms ``u`` batch by batch in snapshot order, so the shadow depends
only on ``seed`` and ``T`` -- not on ``chunk`` -- and a dense vector and its exact MPS give
the same snapshots (up to ties at rounding level).
"""

from __future__ import annotations

import numbers
from contextlib import nullcontext

import numpy as np

from qnnlab.data.mps import MPS
from qnnlab.shadows.snapshots import ClassicalShadow

#: Default memory (bytes) one batch of the dense sampler may use.
DENSE_MEMORY_BUDGET = 256 * 2**20
#: The dense sampler goes breadth first (vectorised over snapshots) over the last this many
#: qubits, depth first (one state per distinct history) over the ones before.
DENSE_BFS_QUBITS = 14
#: Default batch of snapshots of the dense sampler (bounds the memory of the random draws).
DENSE_CHUNK = 2**16
#: Default batch of snapshots of the MPS sampler (keeps a batch's arrays in cache).
MPS_CHUNK = 512
#: Most memory (bytes) the int8 ``bits`` and ``recipes`` of one shadow may take.
MAX_SHADOW_BYTES = 8 * 2**30
#: Bond dimension up to which BLAS runs single-threaded in the MPS sampler (the per-site
#: products are small; multi-threaded BLAS costs more in start-up than it saves there, up to
#: ~10 ms a call measured on 2 busy cores). The dense sampler always runs single-threaded.
SINGLE_THREAD_MAX_BOND = 128

_S = 1.0 / np.sqrt(2.0)
# w_o = ALPHA[b, o] v_0 + COEFF[b, o] v_1 for basis b (0, 1, 2 = X, Y, Z) and outcome o.
_ALPHA = np.array([[_S, _S], [_S, _S], [1.0, 0.0]])
_COEFF = np.array([[_S, -_S], [-1j * _S, 1j * _S], [0.0, 1.0]], dtype=np.complex128)


def _check_seed(seed) -> int:
    if seed is None or isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"sample_shadow needs an explicit integer seed (no global randomness), got {seed!r}; "
            "pass e.g. seed=0."
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}.")
    return int(seed)


def _check_shadow_size(n_snapshots: int, n_qubits: int) -> None:
    """Refuse, before drawing anything, a shadow whose ``bits`` and ``recipes`` would exceed
    :data:`MAX_SHADOW_BYTES`."""
    size = 2 * n_snapshots * n_qubits
    if size > MAX_SHADOW_BYTES:
        raise ValueError(
            f"{n_snapshots} snapshots of {n_qubits} qubits take {size / 2**30:.1f} GiB "
            f"(limit {MAX_SHADOW_BYTES / 2**30:.0f} GiB, MAX_SHADOW_BYTES); sample fewer "
            "snapshots, in several shadows if needed (concatenate joins them)."
        )


def _outcomes(n0, n1, g_re, g_im, basis, u):
    """Sample outcomes and the coefficients of ``w_o / |w_o|`` (see the module docstring).

    All inputs are 1-D over snapshots (or deduplicated rows); returns ``(o, alpha, c)``.
    """
    total = n0 + n1
    p0 = np.where(basis == 2, n0, 0.5 * total + np.where(basis == 0, g_re, g_im))
    prob0 = np.clip(p0 / total, 0.0, 1.0)
    o = (u >= prob0).view(np.int8)
    p_o = total * np.where(o == 1, 1.0 - prob0, prob0)
    scale = 1.0 / np.sqrt(p_o)
    b = basis.astype(np.intp)
    oi = o.astype(np.intp)
    return o, _ALPHA[b, oi] * scale, _COEFF[b, oi] * scale


def _gram(v0: np.ndarray, v1: np.ndarray):
    """Per-column ``|v0|^2, |v1|^2, Re <v0|v1>, Im <v0|v1>`` of complex ``(d, T)`` blocks."""
    f0 = v0.view(np.float64)  # (d, 2T): re, im interleaved along the snapshot axis
    f1 = v1.view(np.float64)
    t = v0.shape[1]
    n0 = np.einsum("ij,ij->j", f0, f0).reshape(t, 2).sum(axis=1)
    n1 = np.einsum("ij,ij->j", f1, f1).reshape(t, 2).sum(axis=1)
    g_re = np.einsum("ij,ij->j", f0, f1).reshape(t, 2).sum(axis=1)
    g_im = np.einsum("ij,ij->j", f0[:, 0::2], f1[:, 1::2])
    g_im -= np.einsum("ij,ij->j", f0[:, 1::2], f1[:, 0::2])
    return n0, n1, g_re, g_im


# ---------------------------------------------------------------------------------------------
# dense state vectors


def _dense_vector(state) -> np.ndarray:
    psi = np.asarray(state)
    if psi.ndim != 1:
        raise ValueError(
            f"sample_shadow takes one state vector of shape (2**n,) or an MPS, got an array of "
            f"shape {psi.shape}; sample each state of a batch separately."
        )
    n = psi.size.bit_length() - 1
    if psi.size < 2 or 2**n != psi.size:
        raise ValueError(f"A state vector needs 2**n >= 2 amplitudes, got {psi.size}.")
    if not np.issubdtype(psi.dtype, np.number):
        raise TypeError(f"A state vector must be numeric, got dtype {psi.dtype}.")
    psi = psi.astype(np.complex128)
    if not np.all(np.isfinite(psi)):
        raise ValueError("The state vector has non-finite amplitudes.")
    norm = float(np.linalg.norm(psi))
    if abs(norm - 1.0) > 1e-5:
        raise ValueError(
            f"The state vector has norm {norm:.6g}; pass a normalised state (psi / "
            "np.linalg.norm(psi))."
        )
    return psi / norm


def _gram_rows(v0: np.ndarray, v1: np.ndarray):
    """Per-row ``|v0|^2, |v1|^2, Re <v0|v1>, Im <v0|v1>`` of complex ``(D, d)`` blocks."""
    f0 = v0.view(np.float64)  # (D, 2d): re, im interleaved along each row
    f1 = v1.view(np.float64)
    n0 = np.einsum("ij,ij->i", f0, f0)
    n1 = np.einsum("ij,ij->i", f1, f1)
    g_re = np.einsum("ij,ij->i", f0, f1)
    g_im = np.einsum("ij,ij->i", f0[:, 0::2], f1[:, 1::2])
    g_im -= np.einsum("ij,ij->i", f0[:, 1::2], f1[:, 0::2])
    return n0, n1, g_re, g_im


def _bfs_peak_bytes(m: int, n_rows: int, n_snapshots: int) -> int:
    """Largest memory of :func:`_sample_rows` on ``m`` qubits: new rows and two gathers."""
    level = [min(n_snapshots, n_rows * 6 ** (j + 1)) * 2 ** (m - j - 1) for j in range(m)]
    return 3 * 16 * max(level) + 16 * n_rows * 2**m


def _sample_rows(
    states: np.ndarray, row: np.ndarray, recipes: np.ndarray, uniforms: np.ndarray
) -> np.ndarray:
    """Outcomes ``(T, m)`` of snapshots ``t`` starting in state ``states[row[t]]`` (``m`` qubits),
    breadth first over the qubits, deduplicating the conditional states at every qubit."""
    t_batch, m = recipes.shape
    bits = np.empty((t_batch, m), dtype=np.int8)
    for q in range(m):
        half = states.shape[1] // 2
        v0, v1 = states[:, :half], states[:, half:]
        n0, n1, g_re, g_im = _gram_rows(v0, v1)
        basis = recipes[:, q]
        o, alpha, coeff = _outcomes(n0[row], n1[row], g_re[row], g_im[row], basis, uniforms[:, q])
        bits[:, q] = o
        if q == m - 1:
            break
        key = (row * 3 + basis) * 2 + o
        unique, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        src, b_new, o_new = unique // 6, (unique // 2) % 3, unique % 2
        new = np.empty((unique.size, half), dtype=np.complex128)
        z = b_new == 2  # Z: a plain projection, w_o = v_o
        scale_z = alpha[first[z]] + coeff[first[z]].real  # one of the two is zero
        new[z] = states.reshape(-1, 2, half)[src[z], o_new[z]] * scale_z[:, None]
        xy = ~z
        if np.any(xy):
            part = v0[src[xy]]
            part *= alpha[first[xy], None]
            other = v1[src[xy]]
            other *= coeff[first[xy], None]
            part += other
            new[xy] = part
        states = new
        row = inverse.reshape(-1)
    return bits


class _DenseSampler:
    """Depth first over the first ``n - DENSE_BFS_QUBITS`` qubits (one conditional state per
    distinct history, so memory stays ``O(2^n)``), then breadth first (:func:`_sample_rows`)
    on batches of the remaining states, each batch within the memory budget."""

    def __init__(self, psi: np.ndarray, recipes, uniforms, bits, budget: int):
        self.n = psi.size.bit_length() - 1
        self.depth = max(0, self.n - DENSE_BFS_QUBITS)
        self.recipes, self.uniforms, self.bits, self.budget = recipes, uniforms, bits, budget
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_bytes = 0

    def run(self, psi: np.ndarray) -> None:
        self._visit(psi, np.arange(self.recipes.shape[0]), 0)
        self._flush()

    def _visit(self, vec: np.ndarray, idx: np.ndarray, q: int) -> None:
        if q == self.depth:
            self.pending.append((vec, idx))
            self.pending_bytes += vec.nbytes
            if self.pending_bytes > self.budget // 4:
                self._flush()
            return
        half = vec.size // 2
        v0, v1 = vec[:half], vec[half:]
        g = np.vdot(v0, v1)
        size = idx.size
        basis = self.recipes[idx, q]
        o, alpha, coeff = _outcomes(
            np.full(size, np.vdot(v0, v0).real),
            np.full(size, np.vdot(v1, v1).real),
            np.full(size, g.real),
            np.full(size, g.imag),
            basis,
            self.uniforms[idx, q],
        )
        self.bits[idx, q] = o
        key = basis * 2 + o
        for k in np.unique(key):
            sel = np.flatnonzero(key == k)
            a, c = alpha[sel[0]], coeff[sel[0]]
            if k // 2 == 2:  # Z: a plain projection, w_o = v_o
                child = v1 * c.real if k % 2 else v0 * a
            else:
                child = v0 * a
                child += v1 * c
            self._visit(child, idx[sel], q + 1)

    def _flush(self) -> None:
        """Sample the remaining qubits of the pending states, in batches within the budget."""
        m = self.n - self.depth
        pieces = []  # (state, snapshot indices) small enough for one batch each
        cap = 1
        while cap < 2**16 and _bfs_peak_bytes(m, 1, 2 * cap) <= self.budget:
            cap *= 2
        for vec, idx in self.pending:
            pieces += [(vec, idx[i : i + cap]) for i in range(0, idx.size, cap)]
        self.pending, self.pending_bytes = [], 0
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        count = 0
        for piece in [*pieces, None]:
            fits = piece is not None and (
                not batch
                or _bfs_peak_bytes(m, len(batch) + 1, count + piece[1].size) <= self.budget
            )
            if fits:
                batch.append(piece)
                count += piece[1].size
                continue
            if batch:
                states = np.stack([vec for vec, _ in batch])
                idx = np.concatenate([i for _, i in batch])
                row = np.repeat(np.arange(len(batch)), [i.size for _, i in batch])
                cols = slice(self.depth, self.n)
                self.bits[idx, cols] = _sample_rows(
                    states, row, self.recipes[idx, cols], self.uniforms[idx, cols]
                )
            batch, count = ([piece], piece[1].size) if piece is not None else ([], 0)


# ---------------------------------------------------------------------------------------------
# matrix product states


def _site_matrices(mps: MPS) -> list[np.ndarray]:
    """``B_i`` as ``(2 chi_r, chi_l)`` matrices (rows ``(s, r)``), real where the MPS is real.

    Checks right-canonical form, on which exact sequential sampling relies.
    """
    mats = []
    for i, b in enumerate(mps.tensors):
        tol = 1e-5 if b.dtype in (np.float32, np.complex64) else 1e-9
        chi_l = b.shape[0]
        flat = b.reshape(chi_l, -1)
        dev = float(np.max(np.abs(flat @ flat.conj().T - np.eye(chi_l)), initial=0.0))
        if dev > tol:
            raise ValueError(
                f"MPS site {i} is not right-canonical (max |B B^dagger - 1| = {dev:.2e}); "
                "sample_shadow needs the right-canonical form of qnnlab.data.mps.MPS (e.g. "
                "MPS.from_dense or MPS.from_tenpy)."
            )
        if np.iscomplexobj(b) and np.any(b.imag):
            mats.append(np.ascontiguousarray(flat.T, dtype=np.complex128))
        else:
            mats.append(np.ascontiguousarray(flat.real.T, dtype=np.float64))
    return mats


def _sample_mps_batch(
    mats: list[np.ndarray], s0: np.ndarray, recipes: np.ndarray, uniforms: np.ndarray
) -> np.ndarray:
    """Outcomes ``(T, n)`` for one batch, site by site with left vectors ``L`` of shape (chi, T)."""
    t_batch, n = recipes.shape
    bits = np.empty((t_batch, n), dtype=np.int8)
    left = np.empty((s0.size, t_batch), dtype=np.complex128)
    left[:] = s0[:, None]
    for i, mat in enumerate(mats):
        chi_r = mat.shape[0] // 2
        if mat.dtype == np.float64:  # real tensor: real BLAS on the (chi, 2T) view of L
            v = (mat @ left.view(np.float64)).view(np.complex128)
        else:
            v = mat @ left
        v0, v1 = v[:chi_r], v[chi_r:]
        n0, n1, g_re, g_im = _gram(v0, v1)
        o, alpha, coeff = _outcomes(n0, n1, g_re, g_im, recipes[:, i], uniforms[:, i])
        bits[:, i] = o
        left = v0 * alpha
        left += v1 * coeff
    return bits


# ---------------------------------------------------------------------------------------------
# public entry point


_CONTROLLER = None


def _blas_single_thread():
    """Context limiting BLAS to one thread (the controller is inspected once per process)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _is_tenpy_mps(state) -> bool:
    return type(state).__module__.startswith("tenpy.") and hasattr(state, "get_B")


def sample_shadow(
    state, n_snapshots: int, *, seed: int, chunk: int | None = None
) -> ClassicalShadow:
    """Exact classical shadow of a pure state: ``n_snapshots`` random Pauli-basis snapshots.

    Args:
        state: a normalised dense vector ``(2**n,)`` (qubit 0 most significant; practical up to
            ``n ~ 20``), a :class:`qnnlab.data.mps.MPS` (right-canonical; any length), or a
            finite TeNPy ``MPS`` (converted with ``MPS.from_tenpy``).
        n_snapshots: number of snapshots ``T >= 1``.
        seed: integer seed of ``numpy.random.default_rng`` (required; see the module docstring
            for the order of the draws).
        chunk: snapshots per batch. Default: :data:`MPS_CHUNK` for an MPS (the arrays of a
            batch stay in cache), :data:`DENSE_CHUNK` for a dense vector (it bounds the memory
            of the random draws; the sampler bounds its own). The result does not depend on it.

    Returns:
        A :class:`ClassicalShadow` with ``bits``/``recipes`` of shape ``(T, n)``.
    """
    seed = _check_seed(seed)
    if isinstance(n_snapshots, bool) or not isinstance(n_snapshots, numbers.Integral):
        raise TypeError(f"n_snapshots must be an integer, got {n_snapshots!r}.")
    if n_snapshots < 1:
        raise ValueError(f"n_snapshots must be >= 1, got {n_snapshots}.")
    if chunk is not None and (not isinstance(chunk, numbers.Integral) or chunk < 1):
        raise ValueError(f"chunk must be a positive integer or None, got {chunk!r}.")
    t_total = int(n_snapshots)
    if _is_tenpy_mps(state):
        state = MPS.from_tenpy(state)
    if isinstance(state, MPS):
        n = state.n_qubits
        _check_shadow_size(t_total, n)
        batch = int(chunk) if chunk is not None else MPS_CHUNK
        mats = _site_matrices(state)
        s0 = np.asarray(state.schmidt[0], dtype=np.float64)

        def run(rec, u):
            return _sample_mps_batch(mats, s0, rec, u)

        single_thread = state.max_bond_dim <= SINGLE_THREAD_MAX_BOND
    else:
        psi = _dense_vector(state)
        n = psi.size.bit_length() - 1
        _check_shadow_size(t_total, n)
        batch = int(chunk) if chunk is not None else DENSE_CHUNK

        def run(rec, u):
            out = np.empty(rec.shape, dtype=np.int8)
            _DenseSampler(psi, rec, u, out, DENSE_MEMORY_BUDGET).run(psi)
            return out

        single_thread = True  # dot products and elementwise work only
    rng = np.random.default_rng(seed)
    recipes = rng.integers(0, 3, size=(t_total, n), dtype=np.int8)
    bits = np.empty((t_total, n), dtype=np.int8)
    with _blas_single_thread() if single_thread else nullcontext():
        for start in range(0, t_total, batch):
            stop = min(start + batch, t_total)
            uniforms = rng.random((stop - start, n))
            bits[start:stop] = run(recipes[start:stop], uniforms)
    return ClassicalShadow(bits, recipes)
