"""Benchmark: time to first result of ``QCNNClassifier.fit`` in a fresh Python process.

A user's first fit pays for Python start-up, imports and XLA compilation before any training
happens. Each measurement here starts a new interpreter that imports qnnlab, fits a
``QCNNClassifier`` (``epochs`` passes over ``samples`` random ``n``-qubit states) and reports
when ``fit`` returned; the clock runs from just before the process is spawned. Three settings:

- ``no cache``: ``QNNLAB_JAX_CACHE=0``, every program is compiled;
- ``cache, first``: an empty on-disk compilation cache (what qnnlab now turns on by default),
  filled by this process;
- ``cache, warm``: the same cache again, as for a user's second session.

Within the warm process a second fit on a dataset of another size follows; the number of XLA
compilations it triggers is printed (0 means the batch-size buckets reused every program).

``--pythonpath DIR`` measures another checkout's ``src`` (e.g. a git worktree of an older
commit) for before/after figures: ``python benchmarks/first_result.py --pythonpath /tmp/base/src``.
Run: ``python benchmarks/first_result.py [--qubits 6,8,10,12] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
start = time.time()
import numpy as np
from qnnlab.training.estimator import QCNNClassifier
imported = time.time()
n, m, epochs, cache = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if cache != "off":
    from qnnlab.runtime.caches import enable_compilation_cache
    enable_compilation_cache(cache)

def states(count, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 2**n)) + 1j * rng.normal(size=(count, 2**n))
    return x / np.linalg.norm(x, axis=1, keepdims=True), rng.integers(0, 2, count)

X, y = states(m, 0)
clf = QCNNClassifier(epochs=epochs, batch_size=32, seed=0).fit(X, y)
fitted = time.time()
import jax.monitoring
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: compiles.append(seconds)
    if event == "/jax/core/compile/backend_compile_duration" else None
)
X2, y2 = states(m + 7, 1)
QCNNClassifier(epochs=epochs, batch_size=32, seed=1).fit(X2, y2).predict(X2[:5])
print(json.dumps({"start": start, "imported": imported, "fitted": fitted,
                  "refit_compiles": len(compiles), "refit_compile_s": sum(compiles)}))
"""


def run_child(pythonpath: str | None, n: int, m: int, epochs: int, cache: str) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["QNNLAB_JAX_CACHE"] = "0" if cache == "off" else "1"
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(m), str(epochs), cache],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "first_result_s": r["fitted"] - spawned,
        "startup_import_s": r["imported"] - spawned,
        "fit_s": r["fitted"] - r["imported"],
        "refit_compiles": r["refit_compiles"],
        "refit_compile_s": r["refit_compile_s"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", default="6,8,10,12")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per setting")
    parser.add_argument("--pythonpath", default=None, help="measure another checkout's src")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    label = args.pythonpath or "this checkout"
    print(f"time to first result of QCNNClassifier.fit ({label}), {os.cpu_count()} CPU cores")
    print(
        f"{args.samples} states, {args.epochs} epoch(s), batch 32; median [min-max] over "
        f"{args.repeats} fresh processes"
    )
    table = {}
    for n in (int(q) for q in args.qubits.split(",")):
        with tempfile.TemporaryDirectory() as cache_dir:
            rows: dict[str, list[dict]] = {}
            rows["no cache"] = [
                run_child(args.pythonpath, n, args.samples, args.epochs, "off")
                for _ in range(args.repeats)
            ]
            rows["cache, first"] = [
                run_child(args.pythonpath, n, args.samples, args.epochs, cache_dir)
            ]
            rows["cache, warm"] = [
                run_child(args.pythonpath, n, args.samples, args.epochs, cache_dir)
                for _ in range(args.repeats)
            ]
        table[n] = rows
        for name, runs in rows.items():
            first = [r["first_result_s"] for r in runs]
            imp = statistics.median(r["startup_import_s"] for r in runs)
            fit_s = statistics.median(r["fit_s"] for r in runs)
            refit = runs[-1]["refit_compiles"]
            print(
                f"n={n:>2} {name:>13}: first result {statistics.median(first):6.2f} s "
                f"[{min(first):.2f}-{max(first):.2f}]  (start-up+import {imp:.2f} s, fit "
                f"{fit_s:.2f} s)  refit on {args.samples + 7} states: {refit} compilations",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(table, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
