"""Benchmark: classical shadows of a 100-qubit MPS and all weight <= 3 local Pauli features.

Times (median of ``--repeats`` warm runs, ``peers_qcnn.time_step``):

1. ``sample_shadow``: 10,000 exact random-Pauli snapshots of ``random_mps(100, 64, seed=0)``
   (complex128, every inner bond at 64 except near the ends). Target: < 10 s. A random MPS,
   not a DMRG ground state, is used here: the sampler's cost depends only on the bond
   dimensions (a real MPS, e.g. from DMRG, takes the cheaper real-BLAS path, shown as an
   extra row with ``random_mps(..., dtype=float64)``).
2. ``local_pauli_features(shadow, 3)``: all 4,719 Pauli strings on <= 3 consecutive qubits of
   the open 100-qubit chain from those 10,000 snapshots, median of means with the default 11
   groups. Target: < 5 s. The same estimates one string at a time with ``estimate`` are
   timed too (identical numbers, checked).
3. If PennyLane is importable: ``qml.ClassicalShadow(bits, recipes).expval(obs_list, k=11)``
   on the same snapshots for a subset of the observables (its memory grows as
   ``T x observables x n`` int64, so it is called on batches of 8 -- the fastest per
   observable of the batch sizes 1, 8, 32, 64 we tried), with the time
   extrapolated linearly to all 4,719 (its cost is linear in the number of observables);
   the subset's plain means (``k=1``) are checked against ``estimate(..., groups=1)``.

Sanity check: a few estimates are compared with exact values from a full contraction of the MPS
(|z| in units of the known standard deviation ``sqrt((3^w - <P>^2)/T)``).

Run: ``python benchmarks/shadows.py`` (a few minutes at most on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import reduce
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from peers_qcnn import time_step
from qnnlab.circuits.paulis import PAULI_MATRICES, PauliString, pauli
from qnnlab.data.mps import MPS, random_mps
from qnnlab.data.phases import build_sample, resolve_config
from qnnlab.shadows import estimate, local_pauli_features, local_pauli_strings, sample_shadow

SAMPLE_TARGET_S = 10.0
FEATURE_TARGET_S = 5.0


def exact_by_contraction(state: MPS, string: PauliString) -> float:
    """``<P>`` by contracting from the left edge (valid for any normalised MPS gauge)."""
    ops = dict(string.ops)
    env = np.ones((1, 1), dtype=complex)
    for site in range(string.qubits[-1] + 1):
        b = state.tensors[site]
        ket = np.einsum("st,ltr->lsr", PAULI_MATRICES[ops[site]], b) if site in ops else b
        env = np.einsum("ab,asr,bsq->rq", env, ket, b.conj(), optimize=True)
    return float(np.real(np.trace(env)))  # the right part is right-canonical: trace closes it


def verdict(seconds: float, target: float) -> str:
    return "PASS" if seconds < target else "MISS"


def pennylane_comparison(shadow, strings, groups: int, n_obs: int, repeats: int):
    """``(seconds per observable, observables timed, max |difference| of plain means)``."""
    import pennylane as qml

    letters = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}
    step = max(1, len(strings) // n_obs)
    subset = strings[::step][:n_obs]
    observables = [reduce(lambda a, b: a @ b, [letters[p](q) for q, p in s.ops]) for s in subset]
    pl_shadow = qml.ClassicalShadow(np.asarray(shadow.bits), np.asarray(shadow.recipes))
    batches = [observables[i : i + 8] for i in range(0, len(observables), 8)]

    def run_all(k):
        return np.concatenate([np.atleast_1d(pl_shadow.expval(batch, k=k)) for batch in batches])

    seconds = time_step(run_all, (groups,), repeats)
    theirs = run_all(1)
    ours = np.array([estimate(shadow, s, groups=1).value for s in subset])
    return seconds / len(subset), len(subset), float(np.max(np.abs(theirs - ours)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=100)
    parser.add_argument("--bond-dim", type=int, default=64)
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--max-weight", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pennylane-observables",
        type=int,
        default=240,
        help="observables timed in PennyLane, extrapolated to all (default: %(default)s)",
    )
    parser.add_argument("--no-pennylane", action="store_true")
    parser.add_argument(
        "--dmrg", action="store_true", help="also time a DMRG ground state (about 20 s to build)"
    )
    args = parser.parse_args()
    n, chi, t = args.qubits, args.bond_dim, args.snapshots
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numpy {np.__version__}, {os.cpu_count()} CPU cores, load average {load:.1f}")
    print(f"state: random_mps({n}, {chi}, seed=0), complex128 (a random MPS, not a DMRG state)")

    state = random_mps(n, chi, seed=0)
    sample_s = time_step(lambda: sample_shadow(state, t, seed=0), (), args.repeats)
    shadow = sample_shadow(state, t, seed=0)
    real_state = random_mps(n, chi, seed=0, dtype=np.float64)
    real_s = time_step(lambda: sample_shadow(real_state, t, seed=0), (), args.repeats)
    dmrg_state, dmrg_s = None, float("nan")
    if args.dmrg:
        config = resolve_config("xxx", n, 2, 0, method="dmrg", dmrg={"chi_max": chi})
        sample = {"index": 0, "label": 0, "params": {"J1": 1.0, "J2": 1.0, "ratio": 1.0}}
        dmrg_state, _ = build_sample(config, sample)  # critical: every inner bond saturates
        dmrg_s = time_step(lambda: sample_shadow(dmrg_state, t, seed=0), (), args.repeats)

    feature_s = time_step(lambda: local_pauli_features(shadow, args.max_weight), (), args.repeats)
    features = local_pauli_features(shadow, args.max_weight)
    strings = local_pauli_strings(n, args.max_weight)
    t0 = time.perf_counter()
    one_by_one = np.array([estimate(shadow, s, groups=features.groups).value for s in strings])
    loop_s = time.perf_counter() - t0
    identical = bool(np.array_equal(one_by_one, features.values))

    print()
    print(f"{'task':<58} {'time':>10}  target")
    print(
        f"{f'sample_shadow: {t} snapshots, {n} qubits, chi={chi}':<58} {sample_s:9.2f}s"
        f"  < {SAMPLE_TARGET_S:.0f} s {verdict(sample_s, SAMPLE_TARGET_S)}"
    )
    print(f"{'  same, real (float64) MPS':<58} {real_s:9.2f}s")
    if dmrg_state is not None:
        label = f"  same, DMRG ground state J2=J1 (Sz-conserving, chi={dmrg_state.max_bond_dim})"
        print(f"{label:<58} {dmrg_s:9.2f}s")
    label = f"local_pauli_features: {len(features)} strings, weight <= {args.max_weight}"
    print(
        f"{label:<58} {feature_s:9.3f}s"
        f"  < {FEATURE_TARGET_S:.0f} s {verdict(feature_s, FEATURE_TARGET_S)}"
    )
    print(f"{'  same, estimate() one string at a time':<58} {loop_s:9.2f}s")
    print(f"  identical values from both: {identical} ({features.groups} groups)")

    print("\nsanity check against exact values (full contraction):")
    for s in ["Z0", "X50", "X49 X50", "Y10 Z11 X12", f"Z{n - 2} Z{n - 1}"]:
        p = pauli(s)
        exact = exact_by_contraction(state, p)
        est = estimate(shadow, p, groups=1)
        z = (est.value - exact) / np.sqrt((3.0**p.weight - exact**2) / t)
        print(f"  <{s}>: shadow {est.value:+.4f}  exact {exact:+.4f}  z = {z:+.2f}")

    if not args.no_pennylane:
        try:
            import pennylane as qml
        except ImportError:
            print("\nPennyLane not importable: comparison skipped")
            return 0
        per_obs, timed, diff = pennylane_comparison(
            shadow, strings, features.groups, args.pennylane_observables, args.repeats
        )
        total = per_obs * len(features)
        print(f"\nPennyLane {qml.__version__} ClassicalShadow.expval (k={features.groups}):")
        print(
            f"  {timed} of {len(features)} observables timed: {per_obs * timed:.2f} s "
            f"({per_obs * 1e3:.1f} ms per observable); plain means agree to {diff:.1e}"
        )
        print(f"  all {len(features)} observables: {total:.1f} s (extrapolated linearly)")
        print(
            f"speedup vs PennyLane ClassicalShadow: {total / feature_s:.0f} x "
            f"(PennyLane time extrapolated from {timed} observables)"
        )
        print(f"  (estimate() one string at a time: {total / loop_s:.0f} x faster than PennyLane)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
