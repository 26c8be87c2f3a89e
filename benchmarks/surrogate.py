"""Compiled-surrogate speed (issue 12, "Speed"): compile time and value+gradient step time.

Case: ``qcnn(n, conv_block="su4")`` (default n = 100), ``Z`` on the readout qubit, weight cuts
``--weights`` (default 2, 4, 5, 6). Per cut, in a fresh subprocess (so the first numbers are
*cold*: Numba kernels load from their disk cache, nothing of JAX is compiled yet):

* ``strings``: ``T``, the number of input-side strings, and ``edges``, the program's
  gather-multiply-add entries;
* ``propagate``: the interpreted propagation that records the structure (``record=True``);
* ``build``: turning the record into the static program;
* ``jit``: the first call of ``jax.jit(jax.value_and_grad(loss))`` (tracing + XLA compile);
* ``compile cold`` = propagate + build + jit in that fresh process; ``compile warm`` the same
  again in the same process, with a new surrogate object (a new program for JAX);
* ``step``: median wall time of one value+gradient step over ``--batch`` (100) states, features
  ``X`` uniform in ``[-1, 1]`` (``B x T``), float32, loss ``mean((X c(theta) - y)^2)``.

Targets: step < 10 ms and compile (cold) < 10 s. A cut whose string count would exceed
``--max-strings`` is not run: the printed ``strings`` is then the number of Pauli strings of
weight ``<= k`` on the ``n`` input qubits, which is what SU(4) QCNNs keep (every such string
survives: measured exactly at n = 16 and 32 with k = 4 and n = 100 with k = 2), and the features
alone (``B x T`` floats) would not fit.

The load average (``os.getloadavg``) is printed with every row: this machine is shared.

Usage: ``python benchmarks/surrogate.py [--qubits 100] [--weights 2,4,5,6] [--batch 100]
[--max-strings 2000000] [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

STEP_TARGET_MS = 10.0
COMPILE_TARGET_S = 10.0


def strings_up_to_weight(n: int, k: int) -> int:
    """Number of non-identity Pauli strings of weight ``<= k`` on ``n`` qubits."""
    return sum(math.comb(n, j) * 3**j for j in range(1, k + 1))


def child(n: int, k: int, batch: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from qnnlab.models import qcnn, qcnn_readout
    from qnnlab.surrogate import compile_surrogate

    circuit = qcnn(n, conv_block="su4")
    obs = qcnn_readout(circuit)
    rng = np.random.default_rng(0)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, circuit.n_params), jnp.float32)

    def compile_once():
        t0 = time.perf_counter()
        s = compile_surrogate(circuit, obs, max_weight=k)
        model = s.expval_fn()
        X = jnp.asarray(rng.uniform(-1, 1, (batch, s.n_terms)), jnp.float32)
        y = jnp.asarray(rng.uniform(-1, 1, batch), jnp.float32)

        def loss(t):
            return jnp.mean((model(t, X) - y) ** 2)

        step = jax.jit(jax.value_and_grad(loss))
        t1 = time.perf_counter()
        jax.block_until_ready(step(theta))
        t2 = time.perf_counter()
        return s, step, t2 - t0, t2 - t1

    s, step, cold, jit_cold = compile_once()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(step(theta))
        times.append(time.perf_counter() - t)
    _s2, _step2, warm, jit_warm = compile_once()
    return {
        "qubits": n,
        "weight": k,
        "strings": s.n_terms,
        "edges": s.n_edges,
        "propagate_s": s.propagation_seconds,
        "build_s": s.build_seconds,
        "jit_cold_s": jit_cold,
        "compile_cold_s": cold,
        "jit_warm_s": jit_warm,
        "compile_warm_s": warm,
        "step_ms": 1e3 * float(np.median(times)),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=100)
    parser.add_argument("--weights", default="2,4,5,6")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max-strings", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.qubits, args.child, args.batch, args.repeats)))
        return
    print(f"compiled surrogate, qcnn({args.qubits}, su4), Z readout, batch {args.batch}, float32")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    for k in (int(w) for w in args.weights.split(",")):
        bound = strings_up_to_weight(args.qubits, k)
        if bound > args.max_strings:
            gb = 4 * bound * args.batch / 1e9
            print(
                f"weight {k}: NOT RUN: ~{bound:.3g} strings (all weight <= {k} strings on "
                f"{args.qubits} qubits), features alone {gb:.3g} GB; targets not met"
            )
            continue
        cmd = [sys.executable, __file__, "--qubits", str(args.qubits), "--child", str(k)]
        cmd += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=True
            )
        except subprocess.TimeoutExpired:
            print(f"weight {k}: timed out after {args.timeout:.0f} s")
            continue
        except subprocess.CalledProcessError as exc:
            print(f"weight {k}: failed: {exc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ok_step = r["step_ms"] < STEP_TARGET_MS
        ok_compile = r["compile_cold_s"] < COMPILE_TARGET_S
        print(
            f"weight {k}: strings {r['strings']}, edges {r['edges']}, "
            f"propagate {r['propagate_s']:.2f} s, build {r['build_s']:.2f} s, "
            f"jit {r['jit_cold_s']:.2f} s; compile cold {r['compile_cold_s']:.2f} s, "
            f"warm {r['compile_warm_s']:.2f} s; step {r['step_ms']:.2f} ms; "
            f"load {r['load']:.2f}; step < {STEP_TARGET_MS:g} ms: {'yes' if ok_step else 'NO'}, "
            f"compile < {COMPILE_TARGET_S:g} s: {'yes' if ok_compile else 'NO'}"
        )


if __name__ == "__main__":
    main()
