"""Benchmark: building the phase datasets at the paper's scale and beyond.

Targets (issue 3):
* the 100-state bond-alternating XXX dataset at 100 qubits (DMRG, bond dimension 64) builds in
  under 15 minutes on 2 cores; reports the per-state DMRG time and the parallel speedup;
* reports the build time per state of the 1,024-qubit XXX chain (the full paper size) and of the
  512-qubit cluster-Ising chain.

The parallel speedup is measured, not assumed: the same ``--serial`` states are built in one
process and with ``--workers`` processes, and the wall times compared. Every build goes to a
fresh temporary cache, so nothing is reused from earlier runs.

    python benchmarks/datasets.py                      # the 100 x 100-qubit target
    python benchmarks/datasets.py --large              # plus 1,024-qubit XXX and 512-qubit cluster
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from qnnlab.data import build_dataset
from qnnlab.data.phases import build_sample, plan_xxx, resolve_config


def describe(records: list[dict]) -> str:
    times = np.array([r["wall_time"] for r in records])
    return (
        f"{times.mean():.2f} s/state (min {times.min():.2f}, max {times.max():.2f}), "
        f"max bond dim {max(r['bond_dim'] for r in records)}, "
        f"max truncation error {max(r['truncation_error'] for r in records):.1e}, "
        f"sweeps {min(r['sweeps'] for r in records)}-{max(r['sweeps'] for r in records)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", type=int, default=100)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial", type=int, default=8, help="states for the speedup (even)")
    parser.add_argument("--chi-max", type=int, default=64)
    parser.add_argument("--large", action="store_true", help="also time 1,024 and 512 qubits")
    args = parser.parse_args()

    common = {"method": "dmrg", "dmrg": {"chi_max": args.chi_max}, "progress": False}
    speedup_config = ("xxx", args.qubits, args.serial)
    timings = {}
    for workers in (1, args.workers):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            build_dataset(*speedup_config, seed=1, cache_dir=cache, workers=workers, **common)
            timings[workers] = time.perf_counter() - start
    print(
        f"parallel speedup: the same {args.serial} states at {args.qubits} qubits take "
        f"{timings[1]:.1f} s in one process and {timings[args.workers]:.1f} s with "
        f"{args.workers} workers: {timings[1] / timings[args.workers]:.2f} x"
    )

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        dataset = build_dataset(
            "xxx",
            args.qubits,
            args.samples,
            seed=0,
            cache_dir=cache,
            workers=args.workers,
            method="dmrg",
            dmrg={"chi_max": args.chi_max},
        )
        wall = time.perf_counter() - start
        records = dataset.records()
    print(
        f"dataset: {args.samples} XXX states at {args.qubits} qubits, {args.workers} workers: "
        f"{wall / 60:.2f} min (target < 15 min for 100 states at 100 qubits on 2 cores)"
    )
    print("  per state inside the workers: " + describe(records))
    slow = sorted(records, key=lambda r: -r["wall_time"])[:3]
    print(
        "  slowest states (J2/J1, s, sweeps): "
        + ", ".join(
            f"({r['params']['ratio']:.3f}, {r['wall_time']:.0f}, {r['sweeps']})" for r in slow
        )
    )

    if args.large:
        for name, n in (("xxx", 1024), ("cluster-ising", 512)):
            config = resolve_config(name, n, 2, 0, method="dmrg", dmrg={"chi_max": args.chi_max})
            if name == "xxx":
                samples = plan_xxx(config)
            else:
                samples = [
                    {"index": 0, "label": 1, "params": {"h1": 0.5, "h2": 0.0, "J": 1.0}},
                    {"index": 1, "label": 0, "params": {"h1": 1.3, "h2": 0.3, "J": 1.0}},
                ]
            for sample in samples:
                _, record = build_sample(config, sample)
                print(
                    f"{name} n={n} params={sample['params']}: "
                    + describe([record])
                    + f", energy {record['energy']:.6f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
