"""Benchmark: one QCNN training step in qnnlab vs TensorCircuit-ng vs PennyLane, in one process.

The step is the forward pass over a batch of 64 Haar-random input states, the mean-squared loss
against +-1 labels, and the gradient with respect to all parameters, after a jit warm-up. The
circuit is identical gate for gate in all three (``peers_qcnn.qcnn_gate_list`` and
``qnnlab.models.qcnn``: shared-weight SU(4) brick convolutions of 15 Pauli rotations, CRZ/CRX
pooling, down to one qubit, Z readout), and the three losses are checked to agree before timing.

Peak memory is XLA's own account of the compiled step (arguments + outputs + temporaries).

Fresh processes. The time of one compiled step differs from process to process (on two cores
XLA's worker threads may share one core for a process's whole life, which halves its speed), so
each framework is measured in ``--processes`` fresh interpreters (default 5), one after the
other; every row prints the median and the range over them, the compile time is the cold
(fresh-process) figure and the step time the warm one. A speed-up is the ratio of the medians,
with the range from the peer's fastest process against qnnlab's slowest to the other way round,
so no ratio rests on one lucky or unlucky draw.
``--processes 0`` runs everything in this one process, as before.

Run: ``python benchmarks/qcnn_step.py`` (``make bench``). The last two lines are the speedups at
12 qubits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import peers_qcnn
from qnnlab.engines import StatevectorEngine
from qnnlab.models import qcnn, qcnn_readout


def make_qnnlab_step(n: int, diff_method: str = "adjoint"):
    circuit = qcnn(n)
    engine = StatevectorEngine(circuit, diff_method=diff_method)
    expval = engine.expval_fn(qcnn_readout(circuit))

    def loss(theta, psi, y):
        return jnp.mean((expval(theta, psi) - y) ** 2)

    return jax.jit(jax.value_and_grad(loss))


def compile_step(step, args):
    """``(callable, compile seconds, peak bytes or None)``: compile once, reuse for timing.

    The peak is XLA's account of the compiled executable (arguments + outputs + temporaries).
    """
    t0 = time.perf_counter()
    try:
        compiled = step.lower(*args).compile()
    except AttributeError:  # a wrapper without .lower: compile on first call instead
        jax.block_until_ready(step(*args))
        return step, time.perf_counter() - t0, None
    seconds = time.perf_counter() - t0
    stats = compiled.memory_analysis()
    peak = None
    if stats is not None:
        peak = float(
            stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
        )
    return compiled, seconds, peak


def make_step(name: str, n: int):
    if name == "qnnlab":
        return make_qnnlab_step(n)
    if name == "TensorCircuit-ng":
        return peers_qcnn.make_tensorcircuit_step(n)
    return peers_qcnn.make_pennylane_step(n)


def measure(name: str, n: int, batch: int, repeats: int) -> dict:
    """Compile and time one framework's step in this process."""
    theta, psi, y = peers_qcnn.random_inputs(n, batch, seed=0)
    theta, psi, y = jnp.asarray(theta), jnp.asarray(psi), jnp.asarray(y)
    run, compile_seconds, mem = compile_step(make_step(name, n), (theta, psi, y))
    per_step = peers_qcnn.time_step(run, (theta, psi, y), repeats)
    loss, grad = run(theta, psi, y)
    return {
        "step_s": per_step,
        "compile_s": compile_seconds,
        "peak_bytes": mem,
        "loss": float(loss),
        "grad": np.asarray(grad, dtype=float).tolist(),
    }


def child(args) -> int:
    print(json.dumps(measure(args.child, args.child_qubits, args.batch, args.repeats)))
    return 0


def in_fresh_processes(name: str, n: int, args) -> list[dict]:
    command = [sys.executable, __file__, "--child", name, "--child-qubits", str(n)]
    command += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
    runs = []
    for _ in range(args.processes):
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{name} at {n} qubits failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):9.2f} [{min(values):.2f}-{max(values):.2f}]"


def main_processes(args, sizes) -> int:
    print(
        f"jax {jax.__version__}, {os.cpu_count()} CPU cores; {args.processes} fresh processes "
        "per framework"
    )
    print("median [min-max] over processes; step: warm, compile: cold (fresh process)")
    speedups: dict[int, dict[str, float]] = {}
    for n in sizes:
        names = ["qnnlab"]
        if n <= args.peers_max_qubits:
            names += ["TensorCircuit-ng", "PennyLane"]
        print(f"\n== {n} qubits, batch {args.batch}: forward + gradient of the MSE loss")
        results = {}
        for name in names:
            runs = in_fresh_processes(name, n, args)
            results[name] = runs
            steps = [r["step_s"] * 1e3 for r in runs]
            compiles = [r["compile_s"] for r in runs]
            mem = runs[0]["peak_bytes"]
            mem_text = "n/a" if mem is None else f"{mem / 2**20:.0f} MiB"
            print(
                f"{name:>17}: step {spread(steps)} ms   compile {spread(compiles)} s   "
                f"peak memory {mem_text}",
                flush=True,
            )
        ref = results["qnnlab"][0]
        for name, runs in results.items():
            diff = float(np.max(np.abs(np.asarray(runs[0]["grad"]) - np.asarray(ref["grad"]))))
            if abs(runs[0]["loss"] - ref["loss"]) > 1e-4 or diff > 1e-3:
                print(f"MISMATCH: {name} loss {runs[0]['loss']} vs {ref['loss']}, grad {diff}")
                return 1
        ours = [r["step_s"] for r in results["qnnlab"]]
        speedups[n] = {}
        for name, runs in results.items():
            if name == "qnnlab":
                continue
            theirs = [r["step_s"] for r in runs]
            ratio = statistics.median(theirs) / statistics.median(ours)
            speedups[n][name] = ratio
            print(
                f"   qnnlab is {ratio:.1f}x faster than {name} at {n} qubits (range "
                f"{min(theirs) / max(ours):.1f}-{max(theirs) / min(ours):.1f}x)"
            )
    if speedups.get(12):
        print()
        print(f"speedup vs TensorCircuit-ng: {speedups[12]['TensorCircuit-ng']:.1f} x")
        print(f"speedup vs PennyLane: {speedups[12]['PennyLane']:.1f} x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", default="12,16,20", help="qubit counts (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--peers-max-qubits",
        type=int,
        default=16,
        help="run the peers only up to this size: at 20 qubits their unrolled backprop graphs "
        "take very long to compile on 2 cores (default: %(default)s)",
    )
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per row")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-qubits", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    sizes = [int(q) for q in args.qubits.split(",")]
    if args.processes > 0:
        return main_processes(args, sizes)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores")
    speedups: dict[int, dict[str, float]] = {}
    for n in sizes:
        theta, psi, y = peers_qcnn.random_inputs(n, args.batch, seed=0)
        theta, psi, y = jnp.asarray(theta), jnp.asarray(psi), jnp.asarray(y)
        steps = {"qnnlab": make_qnnlab_step(n)}
        if n <= args.peers_max_qubits:
            steps["TensorCircuit-ng"] = peers_qcnn.make_tensorcircuit_step(n)
            steps["PennyLane"] = peers_qcnn.make_pennylane_step(n)
        print(f"\n== {n} qubits, batch {args.batch}: forward + gradient of the MSE loss")
        results = {}
        for name, step in steps.items():
            run, compile_seconds, mem = compile_step(step, (theta, psi, y))
            per_step = peers_qcnn.time_step(run, (theta, psi, y), args.repeats)
            loss, grad = run(theta, psi, y)
            results[name] = (per_step, float(loss), np.asarray(grad))
            mem_text = "n/a" if mem is None else f"{mem / 2**20:.0f} MiB"
            print(
                f"{name:>17}: {per_step * 1e3:9.2f} ms/step   compile {compile_seconds:6.1f} s   "
                f"peak memory {mem_text}   loss {float(loss):.6f}",
                flush=True,
            )
        ref_loss, ref_grad = results["qnnlab"][1], results["qnnlab"][2]
        for name, (_, loss, grad) in results.items():
            diff = float(np.max(np.abs(grad - ref_grad)))
            if abs(loss - ref_loss) > 1e-4 or diff > 1e-3:
                print(f"MISMATCH: {name} loss {loss} vs {ref_loss}, grad diff {diff}")
                return 1
        speedups[n] = {
            name: value[0] / results["qnnlab"][0]
            for name, value in results.items()
            if name != "qnnlab"
        }
        for name, ratio in speedups[n].items():
            print(f"   qnnlab is {ratio:.1f}x faster than {name} at {n} qubits")
    if speedups.get(12):
        print()
        print(f"speedup vs TensorCircuit-ng: {speedups[12]['TensorCircuit-ng']:.1f} x")
        print(f"speedup vs PennyLane: {speedups[12]['PennyLane']:.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
