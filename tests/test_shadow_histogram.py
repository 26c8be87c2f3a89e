"""Support histograms (``qnnlab.shadows.histogram``) give the estimates of the letter-by-letter
path bit for bit.

The reference below is the letter-by-letter ``estimate_table`` as it stood before the histogram
path existed (same helpers, same ``numpy.median``), so "identical" means identical to that
implementation: the same integer group sums, medians and standard errors, with ``==`` on every
float. Tables mix identity strings, duplicates, random supports and complete supports (all
``3^w`` strings, which the histogram keeps dense), on one to three 64-bit words of qubits;
shadows have uneven median-of-means groups (``T`` not a multiple of ``K``).
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.shadows import (
    BatchTableEstimates,
    ClassicalShadow,
    TableEstimates,
    estimate_table,
    estimate_tables,
    histogram,
)
from qnnlab.shadows import estimators as est

FIELDS = ("values", "errors", "std_errors", "weights")


def reference_estimate_table(shadow: ClassicalShadow, table: PauliTable, groups: int) -> dict:
    """The previous ``estimate_table`` body, letter by letter with ``numpy.median``."""
    t_total = shadow.n_snapshots
    layout = est._letter_layout(table)
    g_starts, sizes = est._group_layout(t_total, groups)
    sums = np.zeros((groups, len(table)), dtype=np.int64)
    matches = np.zeros(len(table), dtype=np.int64)
    block = est._snapshot_block(table)
    for g, (g0, size) in enumerate(zip(g_starts.tolist(), sizes.tolist(), strict=True)):
        for lo in range(g0, g0 + size, block):
            signs = est._snapshot_signs(shadow, layout, len(table), lo, min(lo + block, g0 + size))
            sums[g] += signs.sum(axis=0, dtype=np.int64)
            matches += np.count_nonzero(signs, axis=0)
    weights = table.weights()
    scale = 3.0**weights
    group_sums = sums * scale
    values = est._median_of_group_sums(group_sums, sizes)
    if t_total > 1:
        mean = group_sums.sum(axis=0) / t_total
        var = np.maximum(matches * scale**2 - t_total * mean**2, 0.0) / (t_total - 1)
        std_errors = np.sqrt(var / t_total)
    else:
        std_errors = np.full(len(table), math.nan)
    errors = est.mom_error_bound(np.where(weights > 0, scale, 0.0), t_total, groups)
    return {"values": values, "errors": errors, "std_errors": std_errors, "weights": weights}


def assert_identical(got, want) -> None:
    for field in FIELDS:
        a = getattr(got, field)
        b = want[field] if isinstance(want, dict) else getattr(want, field)
        assert a.dtype == b.dtype and a.shape == b.shape, field
        assert np.array_equal(a, b, equal_nan=True), field


def random_table(rng, n: int, n_random: int, max_weight: int, full=(1, 2, 3)) -> PauliTable:
    """Random strings of weight ``0 .. max_weight`` (identity included) on random qubits, every
    string on one random support of each weight in ``full``, and duplicates; shuffled."""
    terms, qubits, codes = [], [], []
    strings = 0
    for w in rng.integers(0, max_weight + 1, n_random):
        qubits += sorted(rng.choice(n, int(w), replace=False).tolist())
        codes += rng.integers(1, 4, int(w)).tolist()
        terms += [strings] * int(w)
        strings += 1
    for w in full:
        support = sorted(rng.choice(n, w, replace=False).tolist())
        for letters in np.ndindex(*(3,) * w):
            qubits += support
            codes += [c + 1 for c in letters]
            terms += [strings] * w
            strings += 1
    table = PauliTable.from_sparse(strings, n, terms, qubits, codes)
    order = np.r_[rng.permutation(strings), rng.integers(0, strings, 9)]  # 9 duplicates
    return table.take(order)


def random_shadow(rng, n: int, t: int, z_bias: float = 0.0) -> ClassicalShadow:
    """Uniform bases, or Z with probability ``z_bias`` plus uniform otherwise (so that heavy
    Z strings match some snapshots)."""
    recipes = rng.integers(0, 3, (t, n))
    recipes[rng.random((t, n)) < z_bias] = 2
    return ClassicalShadow(rng.integers(0, 2, (t, n)), recipes)


# ---------------------------------------------------------------------------------------------
# identical to the letter-by-letter path


@pytest.mark.parametrize("n, max_weight", [(5, 5), (70, 4), (130, 3)])
def test_histogram_equals_the_previous_implementation(rng, monkeypatch, n, max_weight):
    monkeypatch.setattr(histogram, "THREAD_MIN_WORK", 0)  # split even this little work
    table = random_table(rng, n, 300, max_weight)
    shadow = random_shadow(rng, n, 157)
    plan = histogram.support_plan(table, 11 / 157)
    assert plan.n_supports > 0 and plan.n_string_mode > 0  # both kernels run
    for groups in (1, 2, 6, 11, 157):
        want = reference_estimate_table(shadow, table, groups)
        for workers in (1, 3):
            got = estimate_table(shadow, table, groups=groups, method="histogram", workers=workers)
            assert_identical(got, want)
        assert_identical(estimate_table(shadow, table, groups=groups, method="letters"), want)
        assert_identical(estimate_table(shadow, table, groups=groups), want)


@pytest.mark.parametrize("mode", ["all-string", "all-dense", "small-chunks"])
def test_forced_modes_and_chunks_give_the_same_numbers(rng, monkeypatch, mode):
    """Every support in string mode, every support dense (whatever the memory), or statistics
    in chunks of 7 strings: the same numbers."""
    monkeypatch.setattr(histogram, "THREAD_MIN_WORK", 0)
    if mode == "all-string":
        monkeypatch.setattr(histogram, "DENSE_MAX_WEIGHT", 0)
    elif mode == "all-dense":
        for name in ("DENSE_COST_BASE", "DENSE_COST_PER_QUBIT", "DENSE_COST_PER_SLOT"):
            monkeypatch.setattr(histogram, name, 0.0)
        monkeypatch.setattr(histogram, "DENSE_SLOTS_PER_STRING", 10**9)
    else:
        monkeypatch.setattr(est, "STATISTICS_CHUNK", 7)
    table = random_table(rng, 9, 200, 7)
    shadow = random_shadow(rng, 9, 101)
    plan = histogram.support_plan(table, 5 / 101)
    if mode == "all-string":
        assert plan.n_supports <= 1  # only the identity's empty support stays dense
    elif mode == "all-dense":
        assert plan.n_string_mode == 0
    for groups in (1, 5, 8):
        got = estimate_table(shadow, table, groups=groups, method="histogram", workers=2)
        assert_identical(got, reference_estimate_table(shadow, table, groups))


def test_heavy_strings_and_early_exit(rng):
    """Strings of weight 12-40 (string mode, with the early exit after 4, 8, ... letters) on a
    shadow biased to Z, so that the Z-heavy ones match snapshots and have non-zero sums; 3^40
    makes the products inexact in float64, and still both paths agree bit for bit."""
    n, t = 40, 600
    strings = ["Z" * w + "I" * (n - w) for w in (12, 16, 24, 40)]
    strings += ["Z" * 10 + "X" + "Z" * 9 + "I" * (n - 20), "Y" * 13 + "I" * (n - 13)]
    table = PauliTable.from_strings(strings, n)
    table = PauliTable(n, np.r_[table.x, random_table(rng, n, 50, 30, full=()).x],
                       np.r_[table.z, random_table(rng, n, 50, 30, full=()).z])  # fmt: skip
    shadow = random_shadow(rng, n, t, z_bias=0.97)
    for groups in (1, 7):
        want = reference_estimate_table(shadow, table, groups)
        assert np.count_nonzero(want["values"][:4]) >= 3  # heavy Z strings did match
        assert_identical(estimate_table(shadow, table, groups=groups, method="histogram"), want)


def test_hand_computed_values():
    """Four snapshots on two qubits, by hand (x_t = 3^w prod (1 - 2 b) when all bases match):
    Z0 Z1 gets -9, 0, 9, 0; X0 gets 0, -3, 0, 0; Y1 gets 0, 0, 0, 3; I gets 1 each time."""
    recipes = np.array([[2, 2], [0, 2], [2, 2], [1, 1]])  # ZZ, XZ, ZZ, YY
    bits = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    shadow = ClassicalShadow(bits, recipes)
    table = PauliTable.from_strings(["Z0 Z1", "X0", "I", "Y1", "Z0 Z1"], 2)
    one = estimate_table(shadow, table, groups=1, method="histogram")
    assert one.values.tolist() == [0.0, -0.75, 1.0, 0.75, 0.0]
    two = estimate_table(shadow, table, groups=2, method="histogram")
    # group means: Z0Z1 (-4.5, 4.5), X0 (-1.5, 0), Y1 (0, 1.5): the median is their midpoint
    assert two.values.tolist() == [0.0, -0.75, 1.0, 0.75, 0.0]
    # sample std / sqrt(T): Z0Z1 var (81 + 81) / 3 = 54; X0 var (9 - 4 * 0.75^2) / 3 = 2.25;
    # identity var 0. Tolerance: one rounding of sqrt.
    assert two.std_errors == pytest.approx([math.sqrt(13.5), 0.75, 0.0, 0.75, math.sqrt(13.5)],
                                           rel=1e-15)  # fmt: skip
    assert two.weights.tolist() == [2, 1, 0, 1, 2]


def test_one_snapshot_and_empty_table(rng):
    shadow = random_shadow(rng, 4, 1)
    table = random_table(rng, 4, 20, 3, full=(2,))
    got = estimate_table(shadow, table, groups=1, method="histogram")
    assert np.isnan(got.std_errors).all()
    assert_identical(got, reference_estimate_table(shadow, table, 1))
    empty = estimate_table(random_shadow(rng, 4, 30), PauliTable.empty(4), method="histogram")
    assert empty.values.shape == empty.std_errors.shape == (0,)


# ---------------------------------------------------------------------------------------------
# many states


def test_estimate_tables_prefix_and_workers(rng):
    n = 20
    table = random_table(rng, n, 150, 4)
    shadows = [random_shadow(rng, n, t) for t in (200, 180, 250)]
    batch = estimate_tables(shadows, table, n_snapshots=150, groups=6, workers=1)
    assert isinstance(batch, BatchTableEstimates) and len(batch) == batch.n_states == 3
    assert batch.values.shape == batch.std_errors.shape == (3, len(table))
    assert batch.errors.shape == batch.weights.shape == (len(table),)
    assert (batch.groups, batch.n_snapshots) == (6, 150)
    for i, shadow in enumerate(shadows):
        assert isinstance(batch[i], TableEstimates)
        assert_identical(batch[i], reference_estimate_table(shadow[:150], table, 6))
    threaded = estimate_tables(shadows, table, n_snapshots=150, groups=6, workers=4)
    letters = estimate_tables(shadows, table, n_snapshots=150, groups=6, method="letters")
    for other in (threaded, letters):
        for field in ("values", "std_errors", "errors", "weights"):
            assert np.array_equal(getattr(other, field), getattr(batch, field), equal_nan=True)
    same_length = estimate_tables([s[:180] for s in shadows], table, groups=6)
    assert same_length.n_snapshots == 180


def test_estimate_tables_refuses_bad_input(rng):
    table = random_table(rng, 6, 10, 2)
    shadows = [random_shadow(rng, 6, t) for t in (50, 40)]
    with pytest.raises(ValueError, match="shadow 1 has only 40 snapshots; pass n_snapshots <= 40"):
        estimate_tables(shadows, table, n_snapshots=45)
    with pytest.raises(ValueError, match="pass n_snapshots=40"):
        estimate_tables(shadows, table)
    with pytest.raises(ValueError, match="n_snapshots must be an integer >= 1"):
        estimate_tables(shadows, table, n_snapshots=0)
    with pytest.raises(TypeError, match="pass \\[shadow\\]"):
        estimate_tables(shadows[0], table)
    with pytest.raises(ValueError, match="at least one shadow"):
        estimate_tables([], table)
    with pytest.raises(ValueError, match="build the table on the shadow's qubits"):
        estimate_tables([random_shadow(rng, 7, 40)], table)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        estimate_tables(shadows, table, n_snapshots=40, workers=0)
    with pytest.raises(ValueError, match="method must be one of"):
        estimate_table(shadows[0], table, method="fast")


# ---------------------------------------------------------------------------------------------
# pieces


@pytest.mark.parametrize("n", [3, 64, 130])
def test_table_letters_match_sparse(rng, n):
    table = random_table(rng, n, 100, min(n, 9), full=(1, 2))
    table = table.take(np.r_[np.arange(len(table)), 0])
    terms, qubits, codes = table.sparse()
    weights, ptr, q, recipes = histogram.table_letters(table)
    assert np.array_equal(weights, table.weights()) and weights.dtype == np.int64
    assert np.array_equal(ptr, np.r_[0, np.cumsum(weights)])
    assert np.array_equal(np.repeat(np.arange(len(table)), weights), terms)  # sorted by string
    assert np.array_equal(q, qubits)
    assert np.array_equal(recipes, est.CODE_RECIPE[codes])


def test_auto_rule():
    """Letters for tiny work (no compiled kernel to load), histograms above."""
    small = PauliTable.from_strings(["Z0 Z1", "X2"], 3)
    assert est._use_letters("auto", small, 1000)
    assert not est._use_letters("auto", small, est.LETTER_PATH_MAX_WORK)
    assert not est._use_letters("histogram", small, 10)
    assert est._use_letters("letters", small, 10**9)


def test_importing_shadows_does_not_load_numba():
    code = "import sys, qnnlab.shadows; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]
