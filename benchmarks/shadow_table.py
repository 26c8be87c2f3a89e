"""Benchmark: median-of-means estimates of every low-weight Pauli string from a classical shadow.

``estimate_table`` on tables of *all* Pauli strings of weight ``<= k`` (identity excluded, built
with ``PauliTable.from_sparse``) and uniformly random snapshots (random bases and outcomes: the
cost does not depend on the state). Times are medians of ``--repeats`` warm runs (the first call
loads the Numba kernels); the slow rows are single runs.

1. 100 qubits, weight <= 2 (44,850 strings), T = 20,000: ``method="letters"`` (NumPy, every
   letter of every string against every snapshot) vs ``method="histogram"`` (support
   histograms, ``qnnlab.shadows.histogram``) on one thread and on every core; the numbers
   must be identical.
2. ``estimate_tables`` on ``--states`` shadows of case 1 (one support grouping for all).
3. 100,000 random strings of weight 1-8 on 100 qubits (almost every support holds one string:
   the histogram's string mode), T = 2,000 and 20,000; the letters path at T = 2,000.
4. 12 qubits, weight <= 6 (912,717 strings), T = 10,000: histograms.
5. 1,024 qubits, weight <= 2 (4,717,056 strings), T = 2,000: histograms, with the memory of
   the table and the peak memory NumPy allocated during the call (``tracemalloc``).

Run: ``python benchmarks/shadow_table.py`` (about two minutes on 2 cores, most of it the
letters path of case 1; ``--no-letters`` skips it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
import tracemalloc

import numpy as np

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.shadows import ClassicalShadow, estimate_table, estimate_tables


def all_strings(n_qubits: int, max_weight: int) -> PauliTable:
    """Every Pauli string of weight ``1 .. max_weight`` on ``n_qubits`` qubits."""
    terms, qubits, codes = [], [], []
    count = 0
    for w in range(1, max_weight + 1):
        supports = np.array(list(itertools.combinations(range(n_qubits), w)), np.int64)
        letters = np.array(list(itertools.product((1, 2, 3), repeat=w)), np.int64)
        m = len(supports) * len(letters)
        qubits.append(np.repeat(supports, len(letters), axis=0).reshape(-1))
        codes.append(np.tile(letters, (len(supports), 1)).reshape(-1))
        terms.append(count + np.repeat(np.arange(m, dtype=np.int64), w))
        count += m
    return PauliTable.from_sparse(
        count, n_qubits, np.concatenate(terms), np.concatenate(qubits), np.concatenate(codes)
    )


def random_strings(rng, n_qubits: int, n_strings: int, max_weight: int) -> PauliTable:
    """``n_strings`` strings of uniform weight ``1 .. max_weight`` on random qubits."""
    weights = rng.integers(1, max_weight + 1, n_strings)
    qubits = np.concatenate([np.sort(rng.choice(n_qubits, w, replace=False)) for w in weights])
    terms = np.repeat(np.arange(n_strings), weights)
    return PauliTable.from_sparse(
        n_strings, n_qubits, terms, qubits, rng.integers(1, 4, len(terms))
    )


def random_shadow(n_qubits: int, n_snapshots: int, seed: int) -> ClassicalShadow:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (n_snapshots, n_qubits), dtype=np.int8)
    recipes = rng.integers(0, 3, (n_snapshots, n_qubits), dtype=np.int8)
    return ClassicalShadow(bits, recipes)


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls after a warm-up call, and the last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def peak_bytes(fn) -> int:
    """Peak memory NumPy allocated (``tracemalloc``) during ``fn()``."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def same(a, b) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
        for f in ("values", "errors", "std_errors", "weights")
    )


def row(label: str, seconds: float, note: str = "") -> None:
    print(f"{label:<66} {seconds:9.3f} s  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--no-letters", action="store_true", help="skip the NumPy letters path")
    parser.add_argument("--no-1024", action="store_true", help="skip the 1,024-qubit case")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numpy {np.__version__}, {cores} cores available, load average {load:.1f}\n")

    table = all_strings(100, 2)
    shadow = random_shadow(100, 20_000, seed=0)
    one_s, one = timed(
        lambda: estimate_table(shadow, table, method="histogram", workers=1), args.repeats
    )
    all_s, par = timed(lambda: estimate_table(shadow, table, method="histogram"), args.repeats)
    head = f"100 qubits, weight <= 2 ({len(table):,} strings), T = 20,000, K = {one.groups}"
    print(head)
    row("  histogram, 1 thread", one_s)
    row(f"  histogram, {cores} threads", all_s, f"identical to 1 thread: {same(one, par)}")
    if not args.no_letters:
        t0 = time.perf_counter()
        letters = estimate_table(shadow, table, method="letters")
        letters_s = time.perf_counter() - t0
        note = f"{letters_s / one_s:.0f} x the 1-thread histogram; identical: {same(one, letters)}"
        row("  letters (NumPy, the previous path), one run", letters_s, note)

    shadows = [random_shadow(100, 20_000, seed=s) for s in range(args.states)]
    batch_s, batch = timed(lambda: estimate_tables(shadows, table), 1)
    first = estimate_table(shadows[1], table, method="histogram", workers=1)
    note = f"{batch_s / args.states:.3f} s per state; state 1 identical: {same(batch[1], first)}"
    row(f"  estimate_tables, {args.states} states, {cores} threads", batch_s, note)

    rng = np.random.default_rng(3)
    sparse = random_strings(rng, 100, 100_000, 8)
    short = shadow[:2_000]
    print(f"\n100 qubits, {len(sparse):,} random strings of weight 1-8 (few share a support)")
    for label, shad in (("T = 2,000", short), ("T = 20,000", shadow)):
        sec, _ = timed(
            lambda shad=shad: estimate_table(shad, sparse, method="histogram"), args.repeats
        )
        row(f"  histogram, {cores} threads, {label}", sec)
    if not args.no_letters:
        t0 = time.perf_counter()
        letters = estimate_table(short, sparse, method="letters")
        letters_s = time.perf_counter() - t0
        ok = same(letters, estimate_table(short, sparse, method="histogram"))
        row("  letters, T = 2,000, one run", letters_s, f"identical: {ok}")

    table12 = all_strings(12, 6)
    shadow12 = random_shadow(12, 10_000, seed=1)
    t12_s, est12 = timed(
        lambda: estimate_table(shadow12, table12, method="histogram"), args.repeats
    )
    print(f"\n12 qubits, weight <= 6 ({len(table12):,} strings), T = 10,000, K = {est12.groups}")
    row(f"  histogram, {cores} threads", t12_s)
    one12_s, _ = timed(lambda: estimate_table(shadow12, table12, workers=1), 1)
    row("  histogram, 1 thread", one12_s)

    if not args.no_1024:
        t0 = time.perf_counter()
        table_big = all_strings(1024, 2)
        build_s = time.perf_counter() - t0
        shadow_big = random_shadow(1024, 2_000, seed=2)
        table_mb = (table_big.x.nbytes + table_big.z.nbytes) / 2**20
        print(f"\n1,024 qubits, weight <= 2 ({len(table_big):,} strings), T = 2,000")
        row(f"  building the table ({table_mb:,.0f} MiB of packed x/z rows)", build_s)
        big_s, _ = timed(lambda: estimate_table(shadow_big, table_big), 1)
        row(f"  histogram, {cores} threads", big_s)
        peak = peak_bytes(lambda: estimate_table(shadow_big, table_big)) / 2**20
        print(f"  peak memory allocated during the call: {peak:,.0f} MiB (table not counted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
