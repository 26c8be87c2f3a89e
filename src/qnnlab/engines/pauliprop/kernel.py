"""Compiled kernels of Pauli propagation (Numba): one layer of disjoint steps, merging, folding.

Why a compiled kernel: a propagated operator holds 10^5 - 10^7 strings and a 1,024-qubit QCNN
has thousands of two-qubit blocks. A NumPy pass over every string for every block would cost
``O(blocks x terms)``; these kernels walk each string once per *layer* of disjoint blocks and
touch only the blocks under its support, so the work is ``O(terms x weight)`` per layer.

The layer algorithm (exact, no hashing of the outputs needed):

1. A string ``P`` is *active* if it has a non-identity letter on some block of the layer. The
   blocks it touches form its *touched set*; outside their qubits it is its *rest*. Unital
   channels map identity to identity and non-identity to non-identity on a block, so the
   touched set and the rest never change inside the layer, and strings with different
   ``(rest, touched set)`` can never merge. Active strings are grouped by that key (one hash
   table over the input).
2. Each group is a small sparse vector over the local letters of its touched blocks (packed in
   one ``uint64``: 2 bits a qubit, at most 32 qubits). The touched blocks are applied in order
   (ascending step index): expand every entry through the column of the block's Pauli transfer
   matrix, merge equal codes, and apply the weight, frequency and coefficient cuts, exactly as a
   block-by-block propagation would.
3. Passive strings are copied unchanged.

Dropped coefficient mass is accumulated per stage (the ``p``-th touched block of each group):
strings dropped at one stage lie in different sectors or are distinct, so their Hilbert-Schmidt
norms add in quadrature, which gives a rigorous bound on the normalised HS distance to the exact
operator (``PropagationResult.error_bound``).

With ``record=True`` the kernel also returns the linear structure it applied (per stage: source
index, destination index, transfer-matrix entry), which the compiled surrogate replays in JAX.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U63 = np.uint64(63)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DB_TABLE = np.array(
    [0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22,
     45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23,
     11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6],
    dtype=np.int64,
)  # fmt: skip
_ODD = np.uint64(0x5555555555555555)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_S29 = np.uint64(29)
_S58 = np.uint64(58)
#: most qubits the touched blocks of one string may cover in one layer (2 bits each in a uint64)
MAX_TOUCHED_QUBITS = 32


@njit(cache=True, inline="always")
def _ctz(v):
    """Index of the lowest set bit of a non-zero ``uint64``."""
    low = v & (~v + _U1)
    return _DB_TABLE[np.int64((low * _DEBRUIJN) >> _S58)]


@njit(cache=True, inline="always")
def _mix(h, v):
    h = (h ^ v) * _MIX
    return h ^ (h >> _S29)


@njit(cache=True, inline="always")
def _code_weight(code):
    """Number of non-identity 2-bit letters in a packed local code."""
    v = (code | (code >> _U1)) & _ODD
    n = 0
    while v != _U0:
        v &= v - _U1
        n += 1
    return n


@njit(cache=True)
def _grow_1d(a, cap):
    out = np.empty(cap, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow_2d(a, cap):
    out = np.empty((cap, a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _touched(X, Z, i, layer_mask, qstep, tids):
    """Fill ``tids`` with the sorted layer steps under the support of string ``i``; return the
    count (rows are passed with their index: Numba row views cost more than the work here)."""
    t = 0
    for w in range(X.shape[1]):
        b = (X[i, w] | Z[i, w]) & layer_mask[w]
        while b != _U0:
            q = w * 64 + _ctz(b)
            b &= b - _U1
            s = qstep[q]
            seen = False
            for k in range(t):
                if tids[k] == s:
                    seen = True
                    break
            if not seen:
                if t == tids.shape[0]:
                    return -1
                tids[t] = s
                t += 1
    for k in range(1, t):  # insertion sort: t is small
        v = tids[k]
        j = k - 1
        while j >= 0 and tids[j] > v:
            tids[j + 1] = tids[j]
            j -= 1
        tids[j + 1] = v
    return t


@njit(cache=True)
def _cleared(tids, t, step_q, step_nq, mask):
    for w in range(mask.shape[0]):
        mask[w] = _U0
    for k in range(t):
        s = tids[k]
        for j in range(step_nq[s]):
            q = step_q[s, j]
            mask[q // 64] |= _U1 << np.uint64(q % 64)


@njit(cache=True)
def _key_hash(X, Z, i, mask):
    h = np.uint64(0x12345)
    for w in range(X.shape[1]):
        h = _mix(h, X[i, w] & ~mask[w])
        h = _mix(h, Z[i, w] & ~mask[w])
        h = _mix(h, mask[w])
    return h


@njit(cache=True)
def _same_key(X, Z, a, ma, b, gmask, g):
    for w in range(X.shape[1]):
        mb = gmask[g, w]
        if ma[w] != mb:
            return False
        if (X[a, w] & ~ma[w]) != (X[b, w] & ~mb) or (Z[a, w] & ~ma[w]) != (Z[b, w] & ~mb):
            return False
    return True


@njit(cache=True)
def _local_code(X, Z, i, tids, t, step_q, step_nq):
    """Pack the letters of a string on its touched steps (step ``p`` first, big-endian inside
    a step: qubit ``j`` of a step at bits ``2 (nq - 1 - j)`` of the step's field)."""
    code = _U0
    off = 0
    for k in range(t):
        s = tids[k]
        nq = step_nq[s]
        for j in range(nq):
            q = step_q[s, j]
            w = q // 64
            sh = np.uint64(q % 64)
            letter = ((X[i, w] >> sh) & _U1) | (((Z[i, w] >> sh) & _U1) << _U1)
            code |= letter << np.uint64(off + 2 * (nq - 1 - j))
        off += 2 * nq
    return code


@njit(cache=True)
def propagate_layer(
    X, Z, C, F, WT,
    layer_mask, qstep, step_q, step_nq, step_entry, step_col, colptr, rows, inc, R,
    max_weight, min_coeff, max_freq, record,
):  # fmt: skip
    """Apply one layer of disjoint steps (module docstring) to the strings ``X, Z`` (``(N, W)``
    uint64) with coefficients ``C``, path frequencies ``F`` and weights ``WT``.

    Step ``s`` of the layer acts on ``step_q[s, :step_nq[s]]``; its transfer matrix entry
    ``(b, a)`` (output local index ``b``, input ``a``) is ``R[step_entry[s] + b * D + a]``
    (``D = 4**nq``), the structurally non-zero ``b`` of column ``a`` are
    ``rows[colptr[step_col[s] + a] : colptr[step_col[s] + a + 1]]`` and ``inc[step_col[s] + a]``
    is the frequency a branch from ``a`` adds.

    Returns ``(X, Z, C, F, WT, dropped, n_pass, pass_src, active_src, edges, stage_sizes, err)``
    with ``dropped[p, k]`` the squared coefficients cut at stage ``p`` by weight (``k=0``),
    frequency (1) and coefficient (2); ``edges`` rows ``(stage, src, dst, entry)`` (``entry``
    ``-1``: carried unchanged), filled only when ``record``; ``err`` is 0, or 1 when a string
    touches more than :data:`MAX_TOUCHED_QUBITS` qubits of the layer.
    """
    n, nw = X.shape
    tids = np.empty(MAX_TOUCHED_QUBITS, np.int64)
    mask = np.empty(nw, np.uint64)
    empty_edges = np.zeros((0, 4), np.int64)

    # pass 1: group active strings by (rest, touched set)
    cap = 16
    while cap < 2 * n:
        cap *= 2
    # the table holds group ids only (one random access per probe); each group's first string,
    # key hash and cleared mask sit in arrays indexed by group id, written in order
    slot_gid = np.full(cap, -1, np.int32)
    g_rep = np.empty(64, np.int64)
    g_hash = np.empty(64, np.uint64)
    gmask = np.empty((64, nw), np.uint64)
    group_of = np.full(n, -1, np.int64)
    n_groups = 0
    max_t = 0
    n_pass = 0
    for i in range(n):
        t = _touched(X, Z, i, layer_mask, qstep, tids)
        if t < 0:
            return (X, Z, C, F, WT, np.zeros((1, 3)), 0, np.zeros(0, np.int64),
                    np.zeros(0, np.int64), empty_edges, np.zeros(1, np.int64), 1)  # fmt: skip
        if t == 0:
            n_pass += 1
            continue
        if t > max_t:
            max_t = t
        _cleared(tids, t, step_q, step_nq, mask)
        h = _key_hash(X, Z, i, mask)
        slot = np.int64(h & np.uint64(cap - 1))
        while True:
            g = np.int64(slot_gid[slot])
            if g < 0:
                if n_groups == g_rep.shape[0]:
                    g_rep = _grow_1d(g_rep, 2 * n_groups)
                    g_hash = _grow_1d(g_hash, 2 * n_groups)
                    gmask = _grow_2d(gmask, 2 * n_groups)
                slot_gid[slot] = n_groups
                g_rep[n_groups] = i
                g_hash[n_groups] = h
                for w in range(nw):
                    gmask[n_groups, w] = mask[w]
                group_of[i] = n_groups
                n_groups += 1
                break
            if g_hash[g] == h and _same_key(X, Z, i, mask, g_rep[g], gmask, g):
                group_of[i] = g
                break
            slot = (slot + 1) & (cap - 1)

    # pass 2: counting sort of the active strings by group
    gstart = np.zeros(n_groups + 1, np.int64)
    for i in range(n):
        if group_of[i] >= 0:
            gstart[group_of[i] + 1] += 1
    for g in range(n_groups):
        gstart[g + 1] += gstart[g]
    fill = gstart[:-1].copy()
    active_src = np.empty(n - n_pass, np.int64)
    pass_src = np.empty(n_pass, np.int64)
    k_pass = 0
    for i in range(n):
        g = group_of[i]
        if g < 0:
            pass_src[k_pass] = i
            k_pass += 1
        else:
            active_src[fill[g]] = i
            fill[g] += 1

    # outputs: passive strings first, then each group's survivors
    out_cap = max(16, n_pass + 2 * (n - n_pass))
    OX = np.empty((out_cap, nw), np.uint64)
    OZ = np.empty((out_cap, nw), np.uint64)
    OC = np.empty(out_cap, np.float64)
    OF = np.empty(out_cap, np.int64)
    OW = np.empty(out_cap, np.int64)
    for k in range(n_pass):
        i = pass_src[k]
        for w in range(nw):
            OX[k, w] = X[i, w]
            OZ[k, w] = Z[i, w]
        OC[k] = C[i]
        OF[k] = F[i]
        OW[k] = WT[i]
    n_out = n_pass

    dropped = np.zeros((max(max_t, 1), 3))
    stage_sizes = np.zeros(max_t + 1, np.int64)
    stage_sizes[0] = n - n_pass
    n_edges = 0
    edges = np.empty((16 if record else 0, 4), np.int64)

    # scratch for one group
    cur_code = np.empty(64, np.uint64)
    cur_coef = np.empty(64, np.float64)
    cur_freq = np.empty(64, np.int64)
    cur_gidx = np.empty(64, np.int64)
    cand_code = np.empty(256, np.uint64)
    cand_coef = np.empty(256, np.float64)
    cand_freq = np.empty(256, np.int64)
    cand_src = np.empty(256, np.int64)
    cand_entry = np.empty(256, np.int64)
    step_off = np.empty(MAX_TOUCHED_QUBITS, np.int64)
    cand_dst = np.empty(256, np.int64)
    final_of = np.empty(256, np.int64)
    htab = np.full(512, -1, np.int64)
    slot_of = np.empty(256, np.int64)

    for g in range(n_groups):
        lo, hi = gstart[g], gstart[g + 1]
        rep = active_src[lo]
        t = _touched(X, Z, rep, layer_mask, qstep, tids)
        _cleared(tids, t, step_q, step_nq, mask)
        off = 0
        for k in range(t):
            step_off[k] = off
            off += 2 * step_nq[tids[k]]
        m = hi - lo
        if m > cur_code.shape[0]:
            cur_code = _grow_1d(cur_code, 2 * m)
            cur_coef = _grow_1d(cur_coef, 2 * m)
            cur_freq = _grow_1d(cur_freq, 2 * m)
            cur_gidx = _grow_1d(cur_gidx, 2 * m)
        w_rest = WT[rep] - _code_weight(_local_code(X, Z, rep, tids, t, step_q, step_nq))
        for k in range(m):
            i = active_src[lo + k]
            cur_code[k] = _local_code(X, Z, i, tids, t, step_q, step_nq)
            cur_coef[k] = C[i]
            cur_freq[k] = F[i]
            cur_gidx[k] = lo + k
        for p in range(max_t):
            if p >= t:
                if record:  # carried unchanged to the next stage
                    for k in range(m):
                        if n_edges == edges.shape[0]:
                            edges = _grow_2d(edges, 2 * n_edges)
                        edges[n_edges, 0] = p
                        edges[n_edges, 1] = cur_gidx[k]
                        edges[n_edges, 2] = stage_sizes[p + 1]
                        edges[n_edges, 3] = -1
                        cur_gidx[k] = stage_sizes[p + 1]
                        stage_sizes[p + 1] += 1
                        n_edges += 1
                else:
                    stage_sizes[p + 1] += m
                continue
            s = tids[p]
            nq = step_nq[s]
            dim = 1 << (2 * nq)
            sh = np.uint64(step_off[p])
            field = np.uint64(dim - 1) << sh
            # expand; branches over the weight cut are skipped here: merging never changes a
            # string's weight, and their mass is the part of the (orthogonal) transfer that
            # does not arrive (in_mass - out_mass below)
            nc = 0
            in_mass = 0.0
            skipped = False
            for k in range(m):
                in_mass += cur_coef[k] * cur_coef[k]
                a = np.int64((cur_code[k] >> sh) & np.uint64(dim - 1))
                col = step_col[s] + a
                base = w_rest + _code_weight(cur_code[k] & ~field)
                if base + 1 > max_weight:
                    skipped = True
                    continue
                for r in range(colptr[col], colptr[col + 1]):
                    b = rows[r]
                    if base + _code_weight(np.uint64(b)) > max_weight:
                        skipped = True
                        continue
                    if nc == cand_code.shape[0]:
                        cand_code = _grow_1d(cand_code, 2 * nc)
                        cand_coef = _grow_1d(cand_coef, 2 * nc)
                        cand_freq = _grow_1d(cand_freq, 2 * nc)
                        cand_src = _grow_1d(cand_src, 2 * nc)
                        cand_entry = _grow_1d(cand_entry, 2 * nc)
                    entry = step_entry[s] + b * dim + a
                    cand_code[nc] = (cur_code[k] & ~field) | (np.uint64(b) << sh)
                    cand_coef[nc] = cur_coef[k] * R[entry]
                    cand_freq[nc] = cur_freq[k] + inc[col]
                    cand_src[nc] = cur_gidx[k]
                    cand_entry[nc] = entry
                    nc += 1
            # merge equal codes (hash table over this stage's candidates), then cut
            if nc > cur_code.shape[0]:
                cur_code = _grow_1d(cur_code, 2 * nc)
                cur_coef = _grow_1d(cur_coef, 2 * nc)
                cur_freq = _grow_1d(cur_freq, 2 * nc)
                cur_gidx = _grow_1d(cur_gidx, 2 * nc)
            if nc > cand_dst.shape[0]:
                cand_dst = _grow_1d(cand_dst, 2 * nc)
            n_merged = 0
            if m == 1:  # one source: its branches are distinct
                for u in range(nc):
                    cand_dst[u] = u
                    cur_code[u] = cand_code[u]
                    cur_coef[u] = cand_coef[u]
                    cur_freq[u] = cand_freq[u]
                n_merged = nc
            elif nc <= 24:  # few candidates: compare directly
                for u in range(nc):
                    code = cand_code[u]
                    o = 0
                    while o < n_merged and cur_code[o] != code:
                        o += 1
                    if o == n_merged:
                        cur_code[o] = code
                        cur_coef[o] = cand_coef[u]
                        cur_freq[o] = cand_freq[u]
                        n_merged += 1
                    else:
                        cur_coef[o] += cand_coef[u]
                        if cand_freq[u] < cur_freq[o]:
                            cur_freq[o] = cand_freq[u]
                    cand_dst[u] = o
            else:
                hcap = 16
                while hcap < 2 * nc:
                    hcap *= 2
                if hcap > htab.shape[0]:
                    htab = np.full(hcap, -1, np.int64)
                if nc > slot_of.shape[0]:
                    slot_of = _grow_1d(slot_of, 2 * nc)
                hmask = np.uint64(hcap - 1)
                for u in range(nc):
                    code = cand_code[u]
                    slot = np.int64(_mix(np.uint64(0x9E37), code) & hmask)
                    while True:
                        o = htab[slot]
                        if o < 0:
                            htab[slot] = n_merged
                            slot_of[n_merged] = slot
                            cur_code[n_merged] = code
                            cur_coef[n_merged] = cand_coef[u]
                            cur_freq[n_merged] = cand_freq[u]
                            cand_dst[u] = n_merged
                            n_merged += 1
                            break
                        if cur_code[o] == code:
                            cur_coef[o] += cand_coef[u]
                            if cand_freq[u] < cur_freq[o]:
                                cur_freq[o] = cand_freq[u]
                            cand_dst[u] = o
                            break
                        slot = np.int64((np.uint64(slot) + _U1) & hmask)
                for o in range(n_merged):  # reset only the slots this stage used
                    htab[slot_of[o]] = -1
            if n_merged > final_of.shape[0]:
                final_of = _grow_1d(final_of, 2 * n_merged)
            new_m = 0
            out_mass = 0.0
            for o in range(n_merged):
                total = cur_coef[o]
                code = cur_code[o]
                freq = cur_freq[o]
                final_of[o] = -1
                out_mass += total * total
                if freq > max_freq:
                    dropped[p, 1] += total * total
                elif abs(total) < min_coeff or (total == 0.0 and not record):
                    dropped[p, 2] += total * total
                else:
                    final_of[o] = stage_sizes[p + 1] + new_m
                    cur_code[new_m] = code
                    cur_coef[new_m] = total
                    cur_freq[new_m] = freq
                    cur_gidx[new_m] = stage_sizes[p + 1] + new_m
                    new_m += 1
            if record:
                for u in range(nc):
                    dst = final_of[cand_dst[u]]
                    if dst >= 0:
                        if n_edges == edges.shape[0]:
                            edges = _grow_2d(edges, 2 * n_edges)
                        edges[n_edges, 0] = p
                        edges[n_edges, 1] = cand_src[u]
                        edges[n_edges, 2] = dst
                        edges[n_edges, 3] = cand_entry[u]
                        n_edges += 1
            stage_sizes[p + 1] += new_m
            if skipped and in_mass > out_mass:
                dropped[p, 0] += in_mass - out_mass
            m = new_m
        # emit the group's survivors
        if n_out + m > OX.shape[0]:
            new_cap = max(2 * OX.shape[0], n_out + m)
            OX = _grow_2d(OX, new_cap)
            OZ = _grow_2d(OZ, new_cap)
            OC = _grow_1d(OC, new_cap)
            OF = _grow_1d(OF, new_cap)
            OW = _grow_1d(OW, new_cap)
        for k in range(m):
            code = cur_code[k]
            for w in range(nw):
                OX[n_out, w] = X[rep, w] & ~mask[w]
                OZ[n_out, w] = Z[rep, w] & ~mask[w]
            for pp in range(t):
                s = tids[pp]
                nq = step_nq[s]
                for j in range(nq):
                    letter = (code >> np.uint64(step_off[pp] + 2 * (nq - 1 - j))) & np.uint64(3)
                    q = step_q[s, j]
                    bit = _U1 << np.uint64(q % 64)
                    if letter & _U1:
                        OX[n_out, q // 64] |= bit
                    if letter & np.uint64(2):
                        OZ[n_out, q // 64] |= bit
            OC[n_out] = cur_coef[k]
            OF[n_out] = cur_freq[k]
            OW[n_out] = w_rest + _code_weight(code)
            n_out += 1
    return (
        OX[:n_out], OZ[:n_out], OC[:n_out], OF[:n_out], OW[:n_out], dropped, n_pass, pass_src,
        active_src, edges[:n_edges], stage_sizes, 0,
    )  # fmt: skip


@njit(cache=True)
def merge_duplicates(X, Z, C, F, WT, drop_zeros):
    """Sum the coefficients of equal strings (first occurrence keeps its place; frequency is the
    minimum over the merged paths). Returns the merged arrays and ``dst``: the output index of
    every input string."""
    n, nw = X.shape
    cap = 16
    while cap < 2 * n:
        cap *= 2
    slot_out = np.full(cap, -1, np.int64)
    dst = np.empty(n, np.int64)
    OX = np.empty_like(X)
    OZ = np.empty_like(Z)
    OC = np.zeros(n, np.float64)
    OF = np.empty(n, np.int64)
    OW = np.empty(n, np.int64)
    n_out = 0
    for i in range(n):
        h = np.uint64(0x2545F491)
        for w in range(nw):
            h = _mix(h, X[i, w])
            h = _mix(h, Z[i, w])
        slot = np.int64(h & np.uint64(cap - 1))
        while True:
            o = slot_out[slot]
            if o < 0:
                slot_out[slot] = n_out
                for w in range(nw):
                    OX[n_out, w] = X[i, w]
                    OZ[n_out, w] = Z[i, w]
                OC[n_out] = C[i]
                OF[n_out] = F[i]
                OW[n_out] = WT[i]
                dst[i] = n_out
                n_out += 1
                break
            same = True
            for w in range(nw):
                if OX[o, w] != X[i, w] or OZ[o, w] != Z[i, w]:
                    same = False
                    break
            if same:
                OC[o] += C[i]
                if F[i] < OF[o]:
                    OF[o] = F[i]
                dst[i] = o
                break
            slot = (slot + 1) & (cap - 1)
    if drop_zeros:
        keep = OC[:n_out] != 0.0
        new_index = np.cumsum(keep) - 1
        for i in range(n):
            dst[i] = new_index[dst[i]] if keep[dst[i]] else -1
        return (
            OX[:n_out][keep],
            OZ[:n_out][keep],
            OC[:n_out][keep],
            OF[:n_out][keep],
            OW[:n_out][keep],
            dst,
        )
    return OX[:n_out], OZ[:n_out], OC[:n_out], OF[:n_out], OW[:n_out], dst


@njit(cache=True)
def fold_zero_qubits(X, Z, C, WT, fold_mask):
    """Evaluate the qubits in ``fold_mask`` on ``|0>``: strings with X or Y there vanish
    (``keep`` False), Z becomes identity. Returns ``(X, Z, WT, keep)`` (new arrays)."""
    n, nw = X.shape
    OX = X.copy()
    OZ = Z.copy()
    OW = WT.copy()
    keep = np.ones(n, np.bool_)
    for i in range(n):
        for w in range(nw):
            if X[i, w] & fold_mask[w]:
                keep[i] = False
                break
            zb = Z[i, w] & fold_mask[w]
            if zb != _U0:
                v = zb
                while v != _U0:
                    v &= v - _U1
                    OW[i] -= 1
                OZ[i, w] = Z[i, w] & ~fold_mask[w]
    return OX, OZ, OW, keep
