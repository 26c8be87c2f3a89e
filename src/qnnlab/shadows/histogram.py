"""Support histograms: median-of-means sums of many Pauli strings from a classical shadow.

Why. A string ``P`` with support ``S`` (``w = |S|`` qubits) has the single-snapshot estimate
``x_t(P) = 3^w [recipes[t, S] == P_S] prod_{q in S} (1 - 2 bits[t, q])``: snapshot ``t`` matches
*exactly one* of the ``3^w`` strings with support ``S``, the one whose letters are its bases on
``S``. So one pass over the snapshots per *support* gives every string on it: the snapshot adds
``+-1`` (sign ``prod_{q in S} (1 - 2 bits[t, q])``) to the slot

    code_t = sum_i recipes[t, S_i] 3^i        (S_0 < S_1 < ... the qubits of S)

of the current median-of-means group, and ``1`` to the slot's match count. The work is
``O(T x sum over distinct supports of |S|)``, whatever the number of strings sharing a support
(all 44,850 strings of weight <= 2 on 100 qubits have 5,050 supports), instead of the
``O(T x total letters)`` of comparing every string with every snapshot.

A support with few strings would waste ``3^w`` slots (and the time to empty and read them once
per median-of-means group), so each support is either a *dense* histogram or its strings are
compared one at a time (*string* mode: per block of snapshots, a vectorised ``miss |= basis !=
letter`` and ``parity ^= bit`` letter by letter, stopping early once no snapshot of the block
still matches). :func:`support_modes` chooses per support from measured costs.

Exactness: the sums are integer counts (``int64``), the same integers as any other order of
summation, so the estimates built from them are bit-for-bit those of the letter-by-letter path
in :mod:`qnnlab.shadows.estimators`.

The kernels are compiled with Numba (``cache=True``: compiled once per checkout, then loaded
from disk), with the GIL released, so threads work on disjoint slot ranges (deterministic).
This module imports Numba; :mod:`qnnlab.shadows.estimators` imports it on first use only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.shadows.estimators import CODE_RECIPE

#: Heaviest support kept as a dense histogram (``3^12 = 531,441`` slots).
DENSE_MAX_WEIGHT = 12
#: A dense support may hold at most this many slots per string on it (or 81 in any case), so
#: memory stays within a constant factor of the number of strings.
DENSE_SLOTS_PER_STRING = 16
#: Work per snapshot of a dense support of weight ``w``, in units of one string-mode string:
#: ``DENSE_COST_BASE + DENSE_COST_PER_QUBIT * w + DENSE_COST_PER_SLOT * 3^w * K / T`` (the last
#: term empties and reads the counts once per group). Measured on one core: a string-mode
#: string costs 0.3-0.8 ns per snapshot (weight 1-9), a dense support 0.3 + 0.25 w ns, plus
#: about 2 ns per slot and group.
DENSE_COST_BASE = 0.75
DENSE_COST_PER_QUBIT = 0.6
DENSE_COST_PER_SLOT = 5.0


@dataclass(frozen=True, eq=False)
class SupportPlan:
    """The strings of a table grouped for the kernels (built once, used for every shadow).

    Dense supports ``d``: qubits ``sup_qubits[sup_ptr[d]:sup_ptr[d + 1]]`` (ascending), slots
    ``sup_base[d] + code`` for ``code < 3^w``. String-mode entries ``j``: qubits
    ``str_qubits[str_ptr[j]:str_ptr[j + 1]]`` with recipes ``str_letters[...]``, one slot
    ``str_slot[j]`` each. ``slot_of[k]`` is the slot holding string ``k`` of the table.
    ``sup_cost``/``str_cost`` are the cumulative costs per snapshot used to split the work.
    """

    n_qubits: int
    n_strings: int
    n_slots: int
    weights: np.ndarray
    slot_of: np.ndarray
    sup_qubits: np.ndarray
    sup_ptr: np.ndarray
    sup_base: np.ndarray
    sup_cost: np.ndarray
    str_qubits: np.ndarray
    str_letters: np.ndarray
    str_ptr: np.ndarray
    str_slot: np.ndarray
    str_cost: np.ndarray

    @property
    def n_supports(self) -> int:
        """Dense supports (the identity's empty support included)."""
        return len(self.sup_base)

    @property
    def n_string_mode(self) -> int:
        """Strings compared one at a time."""
        return len(self.str_slot)

    def cost(self) -> float:
        """Work per snapshot in units of one string-mode comparison."""
        return float(self.sup_cost[-1] + self.str_cost[-1])


def dense_cost(weight, groups_per_snapshot: float) -> np.ndarray:
    """Work per snapshot of a dense support, in units of one string-mode string."""
    weight = np.asarray(weight, np.int64)
    return (
        DENSE_COST_BASE
        + DENSE_COST_PER_QUBIT * weight
        + DENSE_COST_PER_SLOT * 3.0**weight * groups_per_snapshot
    )


def support_modes(weight: int, n_strings, groups_per_snapshot: float) -> np.ndarray:
    """Which supports of one ``weight`` are dense histograms, given the number ``m`` of strings
    on each (duplicates counted) and ``K / T``.

    Dense when ``weight <= DENSE_MAX_WEIGHT``, ``3^w <= max(81, DENSE_SLOTS_PER_STRING * m)``
    (memory) and a dense pass costs no more than comparing the ``m`` strings one at a time
    (:func:`dense_cost` ``<= m``).
    """
    n_strings = np.asarray(n_strings, np.int64)
    if weight > DENSE_MAX_WEIGHT:
        return np.zeros(n_strings.shape, bool)
    slots_ok = 3**weight <= np.maximum(81, DENSE_SLOTS_PER_STRING * n_strings)
    return slots_ok & (dense_cost(weight, groups_per_snapshot) <= n_strings)


#: Number of set bits of each byte, and their positions (ascending, padded with -1).
_BYTE_COUNT = np.array([bin(b).count("1") for b in range(256)], np.int64)
_BYTE_BITS = np.array(
    [[k for k in range(8) if b >> k & 1] + [-1] * (8 - bin(b).count("1")) for b in range(256)],
    np.int64,
)


@njit(cache=True, nogil=True)
def _table_weights(x, z, byte_count, weights):
    """``weights[t]``: set bits of ``x[t] | z[t]`` (the packed rows viewed as ``int64``)."""
    for t in range(x.shape[0]):
        c = 0
        for w in range(x.shape[1]):
            v = x[t, w] | z[t, w]
            if v != 0:
                for k in range(8):
                    c += byte_count[(v >> (8 * k)) & 255]
        weights[t] = c


@njit(cache=True, nogil=True)
def _table_letters(x, z, ptr, byte_count, byte_bits, code_recipe, qubits, recipes):
    """The letters of string ``t`` at ``ptr[t]:ptr[t + 1]``: ascending qubits and the recipe
    (0, 1, 2 = X, Y, Z) of their code ``x + 2 z``."""
    for t in range(x.shape[0]):
        p = ptr[t]
        for w in range(x.shape[1]):
            xv = x[t, w]
            zv = z[t, w]
            v = xv | zv
            if v == 0:
                continue
            for k in range(8):
                byte = (v >> (8 * k)) & 255
                for j in range(byte_count[byte]):
                    bit = 8 * k + byte_bits[byte, j]
                    qubits[p] = 64 * w + bit
                    recipes[p] = code_recipe[((xv >> bit) & 1) + 2 * ((zv >> bit) & 1)]
                    p += 1


def table_letters(table: PauliTable):
    """``(weights, ptr, qubits, recipes)``: string ``t`` acts on ``qubits[ptr[t]:ptr[t + 1]]``
    (ascending) with bases ``recipes[...]`` (0, 1, 2 = X, Y, Z); the same letters as
    :meth:`PauliTable.sparse`, read from the packed rows in one compiled pass without its
    ``(letters, 64)`` temporaries."""
    # int64 views (no uint64 arithmetic in the kernels); writable, so one compiled signature
    x, z = (
        np.array(r) if not r.flags.writeable else np.ascontiguousarray(r)
        for r in (table.x, table.z)
    )
    x, z = x.view(np.int64), z.view(np.int64)
    weights = np.zeros(len(table), np.int64)
    _table_weights(x, z, _BYTE_COUNT, weights)
    ptr = _offsets(weights)
    qubits = np.zeros(int(ptr[-1]), np.int64)
    recipes = np.zeros(int(ptr[-1]), np.int8)
    _table_letters(x, z, ptr, _BYTE_COUNT, _BYTE_BITS, CODE_RECIPE, qubits, recipes)
    return weights, ptr, qubits, recipes


def _support_ids(qubits: np.ndarray, n_qubits: int):
    """Distinct rows of ``qubits`` (``(m, w)``, ascending per row): ``(first, inverse)``."""
    m, w = qubits.shape
    bits = max(1, int(n_qubits - 1).bit_length())
    if w * bits <= 62:
        key = np.zeros(m, np.int64)
        for i in range(w):
            key = (key << bits) | qubits[:, i]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(qubits, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def support_plan(table: PauliTable, groups_per_snapshot: float = 0.0) -> SupportPlan:
    """Group the strings of ``table`` by support (see the module docstring); the dense or
    string mode of each support follows :func:`support_modes` at ``K / T =
    groups_per_snapshot``.

    Slots: the dense supports first (the identity's empty support, then by weight and support),
    ``3^w`` each, then one slot per string-mode string. Duplicated strings share a dense slot.
    """
    weights, ptr, qubits, letters = table_letters(table)
    n_strings = len(table)
    sup_qubits, sup_w = [], []  # dense supports
    d_index, d_support, d_code = [], [], []  # their strings: table index, support, local code
    s_index, s_qubits, s_letters, s_w = [], [], [], []  # string-mode strings
    identity = np.flatnonzero(weights == 0)
    if len(identity):  # the empty support: one slot, every snapshot adds +1
        sup_w.append(np.zeros(1, np.int64))
        d_index.append(identity)
        d_support.append(np.zeros(len(identity), np.int64))
        d_code.append(np.zeros(len(identity), np.int64))
    n_dense = int(len(identity) > 0)
    for w in np.unique(weights[weights > 0]).tolist():
        idx = np.flatnonzero(weights == w)
        pos = ptr[idx][:, None] + np.arange(w)
        q, r = qubits[pos], letters[pos]
        is_dense = np.zeros(len(idx), bool)
        if w <= DENSE_MAX_WEIGHT:
            first, inverse = _support_ids(q, table.n_qubits)
            counts = np.bincount(inverse, minlength=len(first))
            dense = support_modes(w, counts, groups_per_snapshot)
            is_dense = dense[inverse]
            if dense.any():
                rank = np.cumsum(dense) - 1 + n_dense  # global index of each dense support
                sup_qubits.append(q[first[dense]].reshape(-1))
                sup_w.append(np.full(int(dense.sum()), w, np.int64))
                d_index.append(idx[is_dense])
                d_support.append(rank[inverse[is_dense]])
                d_code.append(r[is_dense].astype(np.int64) @ 3 ** np.arange(w, dtype=np.int64))
                n_dense += int(dense.sum())
        if not is_dense.all():
            s_index.append(idx[~is_dense])
            s_qubits.append(q[~is_dense].reshape(-1))
            s_letters.append(r[~is_dense].reshape(-1))
            s_w.append(np.full(int((~is_dense).sum()), w, np.int64))
    sup_w_all, str_w_all = _cat(sup_w, np.int64), _cat(s_w, np.int64)
    sup_ends = _offsets(3**sup_w_all)
    n_dense_slots = int(sup_ends[-1])
    str_slot = n_dense_slots + np.arange(len(str_w_all), dtype=np.int64)
    slot_of = np.zeros(n_strings, np.int64)
    slot_of[_cat(d_index, np.int64)] = sup_ends[_cat(d_support, np.int64)] + _cat(d_code, np.int64)
    slot_of[_cat(s_index, np.int64)] = str_slot
    return SupportPlan(
        n_qubits=table.n_qubits,
        n_strings=n_strings,
        n_slots=n_dense_slots + len(str_slot),
        weights=weights,
        slot_of=slot_of,
        sup_qubits=_cat(sup_qubits, np.int64),
        sup_ptr=_offsets(sup_w_all),
        sup_base=np.ascontiguousarray(sup_ends[:-1]),
        sup_cost=_offsets(dense_cost(sup_w_all, groups_per_snapshot)),
        str_qubits=_cat(s_qubits, np.int64),
        str_letters=_cat(s_letters, np.int8),
        str_ptr=_offsets(str_w_all),
        str_slot=str_slot,
        str_cost=_offsets(np.ones(len(str_w_all))),
    )


def _cat(parts, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, np.asarray(sizes).dtype)
    np.cumsum(sizes, out=out[1:])
    return out


# ---------------------------------------------------------------------------------------------
# kernels


def outcome_codes(bits: np.ndarray, recipes: np.ndarray) -> np.ndarray:
    """``2 recipes + bits`` transposed to ``(n, T)`` int8, C order: one byte per measurement,
    the basis ``code >> 1`` and the outcome ``code & 1``, each qubit's snapshots contiguous."""
    return np.ascontiguousarray((recipes.astype(np.int8) * 2 + bits.astype(np.int8)).T)


#: Below this much work (string-mode comparisons, about 0.5 ns each) one thread is quicker
#: than starting several.
THREAD_MIN_WORK = 2**20
#: Snapshots handled together by the kernels (scratch vectors of this length stay in L1).
BLOCK = 512
#: In string mode, a block stops reading letters once none of its snapshots still matches;
#: checked every this many letters.
EXIT_EVERY = 4


@njit(cache=True, nogil=True)
def _accumulate(
    obs, bounds, sup_qubits, sup_ptr, sup_base, d_lo, d_hi,
    str_qubits, str_letters, str_ptr, str_slot, s_lo, s_hi, hist, matches,
):  # fmt: skip
    """Add the signs of snapshots ``bounds[g]:bounds[g + 1]`` to ``hist[slot, g]`` and their
    number to ``matches[slot]``: dense supports ``d_lo:d_hi``, string-mode entries
    ``s_lo:s_hi``. Slot ranges of different supports and entries are disjoint.

    Dense: per block of snapshots, ``key = 2 code + parity`` is built one qubit at a time
    from contiguous rows of ``obs`` (``key ^= v & 1`` flips the parity bit, ``key += 2 3^i
    (v >> 1)`` adds the basis digit), then counted in ``cnt[key]``; per group, slot ``c`` receives
    ``cnt[2c] - cnt[2c + 1]`` and ``cnt[2c] + cnt[2c + 1]`` matches.
    String mode: ``miss |= (v >> 1) != letter`` and ``parity ^= v & 1`` letter by letter.
    """
    n_groups = bounds.shape[0] - 1
    one = np.int32(1)
    key = np.empty(BLOCK, np.int32)
    miss = np.empty(BLOCK, np.int8)
    parity = np.empty(BLOCK, np.int8)
    widest = 0
    for d in range(d_lo, d_hi):
        widest = max(widest, sup_ptr[d + 1] - sup_ptr[d])
    cnt = np.zeros(2 * 3**widest, np.int64)
    for d in range(d_lo, d_hi):
        a = sup_ptr[d]
        b = sup_ptr[d + 1]
        base = sup_base[d]
        nk = 2 * 3 ** (b - a)
        for g in range(n_groups):
            cnt[:nk] = 0
            for t0 in range(bounds[g], bounds[g + 1], BLOCK):
                m = min(BLOCK, bounds[g + 1] - t0)
                if a == b:
                    key[:m] = 0
                else:
                    row = obs[sup_qubits[a], t0 : t0 + m]
                    for k in range(m):
                        key[k] = row[k]
                power = np.int32(2)
                for i in range(a + 1, b):
                    power = np.int32(power * 3)
                    row = obs[sup_qubits[i], t0 : t0 + m]
                    for k in range(m):
                        v = np.int32(row[k])
                        key[k] = (key[k] ^ (v & one)) + (v >> one) * power
                for k in range(m):
                    cnt[key[k]] += 1
            for c in range(nk // 2):
                hist[base + c, g] += cnt[2 * c] - cnt[2 * c + 1]
                matches[base + c] += cnt[2 * c] + cnt[2 * c + 1]
    for j in range(s_lo, s_hi):
        a = str_ptr[j]
        b = str_ptr[j + 1]
        slot = str_slot[j]
        for g in range(n_groups):
            total = 0
            count = 0
            for t0 in range(bounds[g], bounds[g + 1], BLOCK):
                m = min(BLOCK, bounds[g + 1] - t0)
                row = obs[str_qubits[a], t0 : t0 + m]
                letter = str_letters[a]
                for k in range(m):
                    v = row[k]
                    miss[k] = (v >> 1) != letter
                    parity[k] = v & 1
                for i in range(a + 1, b):
                    if (i - a) % EXIT_EVERY == 0 and miss[:m].min() == 1:
                        break
                    row = obs[str_qubits[i], t0 : t0 + m]
                    letter = str_letters[i]
                    for k in range(m):
                        v = row[k]
                        miss[k] |= (v >> 1) != letter
                        parity[k] ^= v & 1
                for k in range(m):
                    hit = 1 - np.int64(miss[k])
                    count += hit
                    total += hit * (1 - 2 * np.int64(parity[k]))
            hist[slot, g] += total
            matches[slot] += count


def _split(cost: np.ndarray, parts: int) -> np.ndarray:
    """Boundaries cutting ``len(cost) - 1`` items with cumulative ``cost`` into ``parts``
    contiguous ranges of about equal cost."""
    targets = cost[-1] * np.arange(parts + 1) / parts
    cuts = np.searchsorted(cost, targets, side="left")
    cuts[0], cuts[-1] = 0, len(cost) - 1
    return np.maximum.accumulate(cuts)


def accumulate(
    plan: SupportPlan, obs: np.ndarray, bounds: np.ndarray, threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Group sums ``hist`` (``(n_slots, K)`` int64: ``sum_t`` of the sign over the snapshots of
    group ``g`` that land in each slot) and match counts ``matches`` (``(n_slots,)`` int64).

    ``obs`` comes from :func:`outcome_codes`; ``bounds`` (``K + 1`` int64) are the group
    boundaries. ``threads > 1`` splits the supports and strings into ranges of equal cost run
    on that many threads (the kernel releases the GIL; the ranges write disjoint slots, so the
    result does not depend on ``threads``); one thread below :data:`THREAD_MIN_WORK`.
    """
    hist = np.zeros((plan.n_slots, len(bounds) - 1), np.int64)
    matches = np.zeros(plan.n_slots, np.int64)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    if plan.cost() * (bounds[-1] - bounds[0]) < THREAD_MIN_WORK:
        threads = 1
    threads = max(1, min(int(threads), plan.n_supports + plan.n_string_mode))
    d_cut, s_cut = _split(plan.sup_cost, threads), _split(plan.str_cost, threads)

    def run(p: int) -> None:
        _accumulate(
            obs, bounds, plan.sup_qubits, plan.sup_ptr, plan.sup_base,
            int(d_cut[p]), int(d_cut[p + 1]),
            plan.str_qubits, plan.str_letters, plan.str_ptr, plan.str_slot,
            int(s_cut[p]), int(s_cut[p + 1]), hist, matches,
        )  # fmt: skip

    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(threads)))
    return hist, matches
