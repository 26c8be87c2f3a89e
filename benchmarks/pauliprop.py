"""Pauli-propagation speed: qnnlab's engine against Python-installable peers (issue 12, "Speed").

What is measured
----------------
Case 1 (``--qubits``, default 16): the QCNN ``qcnn(n, conv_block="su4")`` (SU(4) blocks, about
390 Pauli rotations at n = 16), angles drawn uniformly in ``[0, 2 pi)`` by
``numpy.random.default_rng(seed)`` in float64, observable ``Z`` on the readout qubit
(``qcnn_readout``), propagated backwards (Heisenberg picture) and evaluated on ``|0..0>``. The
exact value comes from qnnlab's statevector engine in complex128. Every column -- qnnlab's
``engines.pauliprop`` and each installed peer (``pauli-prop``, ``monoprop``, ``bloqade-ppvm``;
adapters in ``peers/pauliprop_peers.py``) -- sweeps its truncation knob from coarse to fine
(coefficient threshold; ``pauli-prop``'s maximum number of terms) and prints one row per point:
column, knob, number of terms left, ``|error|`` against the exact value, seconds, peak memory and
the 1-minute load average when the point finished. Per column the fastest point with
``|error| <= 5e-3`` is reported, and the run ends with the speedup of qnnlab over monoprop and
then over pauli-prop (the last line, ``speedup vs pauli-prop at |error| <= 5e-3: R x``).

Case 2 (``--large-qubits``, default 1,024): ``qcnn(1024, conv_block="su4")`` with a weight cut
of 6 (``--large-weight``) and no other cut, for the columns that have a weight cut (qnnlab,
``monoprop``, ``bloqade-ppvm``): seconds, terms, the value on ``|0..0>`` and peak memory.

How it is timed
---------------
Each point runs in a fresh subprocess (one at a time) with a time limit (``--timeout``), so a
slow peer cannot hang the benchmark; a point that runs out of time ends that column's sweep.
``seconds`` is the *cold* time: the first propagation in that process, from the peer's own
circuit object (built beforehand, not timed; for qnnlab from the qnnlab circuit) to the value on
``|0..0>``, excluding Python imports. When the cold call took under 30 s it is repeated once and
the *warm* time is shown too. Peak memory is the subprocess's peak resident set size (``VmHWM``)
(imports included: Qiskit alone is about 200 MiB). A sweep stops at its first point within the
error target unless ``--full``.

``bloqade-ppvm`` depends on ``bloqade-circuit``, which pins ``numpy<=2.2.6``; install it in a
virtual environment of its own and pass that interpreter with ``--ppvm-python`` (or
``QNNLAB_PPVM_PYTHON``). Run ``python benchmarks/peers/pauliprop_peers.py --check`` first to
see that every adapter is exact on small circuits.

Usage: ``python benchmarks/pauliprop.py [--qubits 16] [--seed 0] [--peers qnnlab,monoprop,...]
[--cases exact,large] [--quick] [--full] [--timeout 300] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "peers"))
import pauliprop_peers as peers

from qnnlab.models import qcnn, qcnn_readout

TARGET = 5e-3
COLUMNS = ("qnnlab", *peers.PEERS)
THRESHOLDS = (1e-2, 3e-3, 2e-3, 1e-3, 5e-4, 3e-4, 1e-4, 3e-5, 1e-5)
SWEEPS = {
    "qnnlab": [{"min_coeff": c, "mode": m} for m in ("blocks", "gates") for c in THRESHOLDS],
    "monoprop": [{"min_coeff": c} for c in THRESHOLDS],
    "bloqade-ppvm": [{"min_coeff": c} for c in THRESHOLDS],
    "pauli-prop": [
        {"max_terms": m} for m in (10**4, 3 * 10**4, 10**5, 3 * 10**5, 10**6, 3 * 10**6)
    ],
}
QUICK_SWEEPS = {
    "qnnlab": [{"min_coeff": c, "mode": m} for m in ("blocks", "gates") for c in (1e-2, 1e-3)],
    "monoprop": [{"min_coeff": c} for c in (1e-2, 1e-3)],
    "bloqade-ppvm": [{"min_coeff": c} for c in (1e-2, 1e-3)],
    "pauli-prop": [{"max_terms": m} for m in (10**4, 10**5)],
}
WEIGHT_CUT = ("qnnlab", "monoprop", "bloqade-ppvm")


def draw_angles(n_params: int, seed: int) -> np.ndarray:
    """Angles uniform in ``[0, 2 pi)``, float64, from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).uniform(0.0, 2 * math.pi, n_params)


def exact_value(circuit, theta: np.ndarray, observable) -> float:
    """The observable after the circuit on input ``|0..0>``, from a complex128 statevector."""
    from qnnlab.engines import StatevectorEngine

    engine = StatevectorEngine(circuit, dtype="complex128")
    return float(engine.expval(theta, None, observable))


def available(column: str, ppvm_python: str) -> str | None:
    """None if the column can run, else why not (one line)."""
    if column == "qnnlab":
        try:
            found = importlib.util.find_spec("qnnlab.engines.pauliprop") is not None
        except ImportError:
            found = False
        return None if found else "qnnlab.engines.pauliprop is not importable yet"
    python = ppvm_python if column == "bloqade-ppvm" else sys.executable
    module = peers.MODULES[column]
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    if subprocess.run([python, "-c", code], check=False).returncode:
        return f"{column} is not installed for {python} (pip install {column})"
    return None


def run_point(spec: dict, python: str, timeout: float) -> dict:
    """Run one spec in a fresh subprocess; ``{"error": ...}`` on failure or time-out."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(spec))
        cmd = [python, peers.__file__, "--worker", str(spec_path), str(out_path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode or not out_path.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            return {"error": f"exit {proc.returncode}: {lines[-1]}"}
        return json.loads(out_path.read_text())


def knob_label(knobs: dict) -> str:
    return " ".join(
        f"{k}={v:.0e}" if isinstance(v, float) else f"{k}={v}" for k, v in knobs.items()
    )


def make_spec(column: str, case: dict, knobs: dict, repeat: int) -> dict:
    spec = {"peer": column, "knobs": knobs, "repeat": repeat, "warm_below_s": 30.0}
    if column == "qnnlab":
        spec.update(model=case["model"], theta=case["theta"].tolist())
    else:
        spec.update(n_qubits=case["n_qubits"], ops=case["ops"], terms=case["terms"])
    return spec


def make_case(n_qubits: int, seed: int, exact: bool) -> dict:
    circuit = qcnn(n_qubits, conv_block="su4")
    observable = qcnn_readout(circuit)
    theta = draw_angles(circuit.n_params, seed)
    ops = peers.lower(circuit, theta)
    case = {
        "model": {"n_qubits": n_qubits, "conv_block": "su4"},
        "n_qubits": n_qubits,
        "theta": theta,
        "ops": ops,
        "terms": peers.lower_observable(observable),
        "n_rotations": sum(1 for op in ops if op[0] == "rot"),
        "exact": None,
    }
    if exact:
        t0 = time.perf_counter()
        case["exact"] = exact_value(circuit, theta, observable)
        case["exact_s"] = time.perf_counter() - t0
    return case


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def sweep(columns, case, sweeps, args) -> dict[str, dict | None]:
    """Run every column's sweep; print rows; return each column's fastest point within TARGET."""
    print(
        f"{'column':13s} {'knob':22s} {'n_terms':>10s} {'|error|':>9s} {'cold s':>8s} "
        f"{'warm s':>8s} {'peak MiB':>9s} {'load1':>5s}"
    )
    best: dict[str, dict | None] = {}
    for column in columns:
        best[column] = None
        python = args.ppvm_python if column == "bloqade-ppvm" else sys.executable
        done_modes: set[str] = set()  # qnnlab sweeps its two step modes one after the other
        for knobs in sweeps[column]:
            if knobs.get("mode") in done_modes:
                continue
            res = run_point(make_spec(column, case, knobs, repeat=2), python, args.timeout)
            load = os.getloadavg()[0]
            if "error" in res:
                print(f"{column:13s} {knob_label(knobs):22s} {res['error']}  (load {load:.2f})")
                break
            err = abs(res["value"] - case["exact"])
            res.update(column=column, error=err, load1=load)
            args.rows.append(res)
            print(
                f"{column:13s} {knob_label(knobs):22s} {res['n_terms']:>10d} {err:>9.1e} "
                f"{fmt_s(res['cold_s']):>8s} {fmt_s(res['warm_s']):>8s} "
                f"{res['peak_rss_mib']:>9.0f} {load:>5.2f}",
                flush=True,
            )
            if err <= TARGET and (best[column] is None or res["cold_s"] < best[column]["cold_s"]):
                best[column] = res
                if not args.full and "mode" not in knobs:
                    break
            if err <= TARGET and not args.full and "mode" in knobs:
                done_modes.add(knobs["mode"])
    return best


def exact_case(columns, args) -> dict[str, dict | None]:
    case = make_case(args.qubits, args.seed, exact=True)
    print(
        f"\n== {args.qubits}-qubit SU(4) QCNN, seed {args.seed} ({case['n_rotations']} Pauli "
        f"rotations), Z on the readout qubit, |0..0>: exact {case['exact']:+.10f} "
        f"(statevector, {case['exact_s']:.1f} s)"
    )
    best = sweep(columns, case, QUICK_SWEEPS if args.quick else SWEEPS, args)
    print(f"\nfastest point with |error| <= {TARGET:.0e} (cold seconds):")
    for column in columns:
        b = best[column]
        print(
            f"  {column:13s} "
            + ("not reached" if b is None else f"{b['cold_s']:.2f} s ({knob_label(b['knobs'])})")
        )
    return best


def large_case(columns, args) -> None:
    n, k = args.large_qubits, args.large_weight
    case = make_case(n, args.seed, exact=False)
    print(
        f"\n== {n}-qubit SU(4) QCNN, weight cut {k}, coefficient cut {args.large_min_coeff} "
        f"({case['n_rotations']} Pauli rotations); no exact value"
    )
    print(
        f"{'column':13s} {'n_terms':>10s} {'value':>12s} {'cold s':>8s} {'warm s':>8s} "
        f"{'peak MiB':>9s} {'load1':>5s}"
    )
    for column in columns:
        if column not in WEIGHT_CUT:
            print(f"{column:13s} skipped: no weight cut")
            continue
        python = args.ppvm_python if column == "bloqade-ppvm" else sys.executable
        knobs = {"max_weight": k, "min_coeff": args.large_min_coeff}
        res = run_point(make_spec(column, case, knobs, 1), python, args.timeout)
        load = os.getloadavg()[0]
        if "error" in res:
            print(f"{column:13s} {res['error']}  (load {load:.2f})")
            continue
        res.update(column=column, case=f"{n}q-w{k}", load1=load)
        args.rows.append(res)
        print(
            f"{column:13s} {res['n_terms']:>10d} {res['value']:>+12.6f} {fmt_s(res['cold_s']):>8s} "
            f"{fmt_s(res['warm_s']):>8s} {res['peak_rss_mib']:>9.0f} {load:>5.2f}",
            flush=True,
        )


def speedup_line(best: dict, peer: str) -> str:
    head = f"speedup vs {peer} at |error| <= {TARGET:.0e}: "
    ours, theirs = best.get("qnnlab"), best.get(peer)
    if ours is None or theirs is None:
        missing = [c for c, b in (("qnnlab", ours), (peer, theirs)) if b is None]
        return head + f"n/a ({', '.join(missing)} did not reach the target in this run)"
    return head + f"{theirs['cold_s'] / ours['cold_s']:.1f} x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, default=16, help="qubits of the exact case")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random angles")
    parser.add_argument("--peers", default=",".join(COLUMNS), help="comma-separated columns")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two points per column; case 2 on 64 qubits, weight 4, coefficient 1e-3",
    )
    parser.add_argument("--full", action="store_true", help="sweep past the error target")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per point")
    parser.add_argument("--large-qubits", type=int, default=1024)
    parser.add_argument("--large-weight", type=int, default=6)
    parser.add_argument(
        "--large-min-coeff", type=float, default=None, help="coefficient cut added to case 2"
    )
    parser.add_argument(
        "--cases",
        default="exact,large",
        help="exact (case 1) and/or large (case 2), comma-separated",
    )
    parser.add_argument(
        "--ppvm-python",
        default=os.environ.get("QNNLAB_PPVM_PYTHON", sys.executable),
        help="Python interpreter that has bloqade-ppvm (it pins numpy<=2.2.6)",
    )
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    args = parser.parse_args(argv)
    wanted = [c.strip() for c in args.peers.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in COLUMNS]
    if unknown:
        parser.error(f"unknown column(s) {unknown}; choose from {','.join(COLUMNS)}")
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if not cases or cases - {"exact", "large"}:
        parser.error(f"--cases takes exact and/or large, got {args.cases!r}")
    if args.quick:
        args.large_qubits, args.large_weight = 64, 4
        if args.large_min_coeff is None:
            args.large_min_coeff = 1e-3
    args.rows = []

    columns = []
    for column in wanted:
        why = available(column, args.ppvm_python)
        version = peers.version(column) if column != "bloqade-ppvm" else None
        if why:
            print(f"{column}: skipped, {why}")
        else:
            columns.append(column)
            print(f"{column}: {version or 'installed'}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")

    best: dict[str, dict | None] = {}
    if "exact" in cases:
        best = exact_case(columns, args)
    if "large" in cases:
        large_case(columns, args)
    if args.json:
        args.json.write_text(json.dumps(args.rows, indent=1, default=str))
    if "exact" in cases:
        print()
        print(speedup_line(best, "monoprop"))
        print(speedup_line(best, "pauli-prop"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
