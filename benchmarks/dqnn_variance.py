"""Benchmark: gradient-variance scans of DQNNs with Haar-random global perceptrons.

Target (issue 5): global-perceptron variance scans up to n = 12 (13-qubit perceptrons) with
1,000 draws per point in under 5 minutes on 2 cores.

Scans (Theorem 1, global cost, 1,000 draws per point, wall time per point and in total):

* ``[n, 1]``, n = 2..12: one global perceptron on n + 1 qubits (13 at n = 12);
* ``[n, 2]``, n = 2..12: two 13-qubit perceptrons at n = 12;
* ``[n, n]``, n = 1..``--square-max`` (default 8): the square networks of the theorem. Their
  cost grows like ``2^{3n}`` per draw (the state of 2n qubits has full Schmidt rank across the
  input/output cut, and each perceptron meets all of it), so n = 12 is out of reach for any
  exact simulation; ``--square-max`` bounds it.

Each draw is an exact Haar sample, via the lazy isometry of
:mod:`qnnlab.analysis.dqnn_variance` (no 8192 x 8192 unitary is ever formed). No peer library
samples DQNN gradients, so the figures are absolute times against the target.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qnnlab.analysis.dqnn_variance import DQNNVarianceConfig, dqnn_variance_scan

TARGET_SECONDS = 300.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--max-n", type=int, default=12)
    parser.add_argument("--square-max", type=int, default=8)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    out = {"draws": args.draws, "scans": []}
    plans = [
        ("[n, 1]", list(range(2, args.max_n + 1)), 1),
        ("[n, 2]", list(range(2, args.max_n + 1)), 2),
        ("[n, n]", list(range(1, args.square_max + 1)), None),
    ]
    for label, qubits, n_out in plans:
        start = time.perf_counter()
        scan = dqnn_variance_scan(
            DQNNVarianceConfig(qubits=qubits, draws=args.draws, n_out=n_out), progress=False
        )
        total = time.perf_counter() - start
        verdict = "PASS" if total < TARGET_SECONDS else "MISS"
        print(
            f"{label} global cost, n = {qubits[0]}..{qubits[-1]}, {args.draws} draws/point: "
            f"{total:.1f} s in all ({verdict} < {TARGET_SECONDS:.0f} s)"
        )
        for e in scan.estimates:
            print(
                f"  n={e.n_qubits:>2}  Var={e.variance:.3e} +- {e.stderr:.1e}  {e.seconds:7.2f} s"
            )
        if scan.fits is not None:
            print(f"  {scan.fits.summary()}")
        out["scans"].append(
            {
                "network": label,
                "qubits": qubits,
                "variance": scan.variance,
                "stderr": scan.stderr,
                "seconds": [e.seconds for e in scan.estimates],
                "total_seconds": total,
            }
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
