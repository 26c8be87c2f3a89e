"""Benchmark: gradient-variance scan of the toy model, n = 2..16 with 2,000 draws each.

Target (issue 2): under a minute on 2 CPU cores, compile time included. Prints the wall time per
qubit count, the total, and the largest |z| against the closed form (1/8)(3/8)^(n-1) using the
exact sampling error of the toy model.
"""

from __future__ import annotations

import math
import time

from qnnlab.analysis import TOY_THEORY, variance_scan


def main() -> int:
    start = time.perf_counter()
    scan = variance_scan(ansatz="toy-ry", cost="global", qubits=range(2, 17), draws=2000, seed=0)
    total = time.perf_counter() - start
    worst = 0.0
    for e in scan.estimates:
        n = e.n_qubits
        var = TOY_THEORY["global"](n)
        mu4 = (3 / 128) * (35 / 128) ** (n - 1)
        se = math.sqrt((mu4 - var**2 * (e.draws - 3) / (e.draws - 1)) / e.draws)
        z = (e.variance - var) / se
        worst = max(worst, abs(z))
        print(f"n={n:2d}  {e.seconds:6.2f} s  Var={e.variance:.3e}  theory={var:.3e}  z={z:+.2f}")
    print(scan.fits.summary())
    print(f"largest |z| vs theory: {worst:.2f}")
    print(f"total: {total:.1f} s for n = 2..16 x 2000 draws (target: < 60 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
