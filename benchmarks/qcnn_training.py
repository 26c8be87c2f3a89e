"""Benchmark: training a 12-qubit QCNN on 500 states for 100 epochs, qnnlab vs PennyLane.

Target (issue 4): training a 12-qubit QCNN on 500 states for 100 epochs in under a minute on 2
cores, with steps per second reported against the PennyLane QCNN recipe (JAX jit + vmap on
``default.qubit``) on the same task.

Task. The 500 ``toric-vs-semion`` states of 12 qubits (``build_dataset(..., seed=0)``, labels
0/1, 250 each), ``qcnn(12)`` (SU(4) brick convolutions, CRZ/CRX pooling, Z readout; 68
parameters), MSE loss against +-1 targets, Adam with learning rate 0.01, mini-batches of 32:
each epoch is a fresh permutation cut into 16 batches, the last one padded to 32 rows at weight
0 (shapes stay static), so 100 epochs are 1,600 optimiser steps. Initial parameters are
``init_params(68, seed)``.

Method. Everything runs in complex64 / float32.

1. qnnlab ``fit``: timed end to end, exactly as a user calls it. ``history["time"][0]`` is the
   first epoch and includes the XLA compilation; later epochs give the steady state. Each epoch
   of ``fit`` also evaluates the loss and accuracy over all 500 training states (forward passes
   only), which the steps/s figures from ``fit`` include: they are lower bounds on raw training
   throughput.
2. Raw training loops: one jitted step (forward, weighted MSE, gradient, Adam update) driven by
   a bare Python loop over the same mini-batches (same permutations as ``fit``, same padding and
   weights), no per-epoch evaluation. The loop code is shared by the two frameworks; only the
   model ``f(theta, psi_batch) -> <Z>`` differs: qnnlab's ``StatevectorEngine`` (adjoint
   gradient) vs ``peers_qcnn.make_pennylane_expvals(12)``, PennyLane's QCNN-demo recipe (a
   ``default.qubit`` QNode with ``qml.StatePrep`` input, ``jax.vmap`` over the batch, backprop,
   the whole step under ``jax.jit``). The circuits are identical gate for gate and share the
   parameter order (``peers_qcnn.qcnn_gate_list`` slots = qnnlab's parameter slots). Each step
   is compiled ahead of time (``lower().compile()``) so compilation is timed separately.
   qnnlab's loop runs all ``--epochs``; PennyLane's runs ``--pl-epochs`` (default 2, i.e. 32
   steps), and its 100-epoch time is **extrapolated** as compile + epochs x median epoch time.
3. Agreement, before any PennyLane timing: on the first mini-batch at the initial parameters both
   compiled steps must give the same loss (1e-4) and gradient (1e-3); after ``--pl-epochs``
   epochs of the two raw loops the training-set losses are compared. (The parameter vectors
   drift apart by up to ~lr per step in a few entries: some gradients vanish up to float32
   noise, e.g. that of the last convolution's Z rotation on the control qubit of the last
   pooling, which commutes with the pooling; Adam divides by the gradient's RMS and turns that
   noise into steps of size ~lr, differently in each framework.)

PennyLane's step takes minutes to compile at 12 qubits on 2 cores (the vmapped, fully unrolled
backprop graph); ``--skip-pennylane`` runs the qnnlab part alone (about 2 minutes).

Run: ``python benchmarks/qcnn_training.py [--json results.json]``. The last lines are the
summary: steps/s of both, the speedup, and the 100-epoch times against the 60 s target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).parent))
import peers_qcnn
from qnnlab.data import build_dataset
from qnnlab.engines import StatevectorEngine
from qnnlab.models import qcnn, qcnn_readout
from qnnlab.training import evaluate, fit, init_params, mse_loss

TARGET_SECONDS = 60.0


def loadavg() -> float:
    """1-minute load average (other processes on the 2 cores inflate every timing here)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def epoch_batches(rng: np.random.Generator, m: int, batch: int) -> np.ndarray:
    """``(n_batches, batch)`` row indices of one epoch, as ``fit`` draws them: a permutation,
    the last batch padded with its first indices (those rows get weight 0)."""
    n_batches = math.ceil(m / batch)
    pad = n_batches * batch - m
    perm = rng.permutation(m)
    if pad:
        perm = np.concatenate([perm, perm[:pad]])
    return perm.reshape(n_batches, batch)


def batch_weights(m: int, batch: int) -> jnp.ndarray:
    """``(n_batches, batch)`` float32 weights: 1, and 0 on the padded rows of the last batch."""
    n_batches = math.ceil(m / batch)
    w = np.ones(n_batches * batch, dtype=np.float32)
    w[m:] = 0.0
    return jnp.asarray(w.reshape(n_batches, batch))


def make_adam_step(model_fn, optimizer):
    """Jitted ``step(theta, opt_state, psi, y01, w) -> (theta, opt_state, loss, grad)``.

    The loss is qnnlab's weighted MSE against ``2 y - 1`` (what ``fit`` minimises).
    """

    def step(theta, opt_state, psi, y, w):
        def loss(t):
            return mse_loss(model_fn(t, psi), y, w)

        value, grad = jax.value_and_grad(loss)(theta)
        updates, opt_state = optimizer.update(grad, opt_state, theta)
        return optax.apply_updates(theta, updates), opt_state, value, grad

    return jax.jit(step)


def compile_step(step, args) -> tuple[object, float]:
    """``(compiled step, seconds)``: trace, lower and compile ahead of time."""
    t0 = time.perf_counter()
    compiled = step.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def run_loop(step, optimizer, theta0, X, y, *, epochs, batch, seed, snapshot_epochs=0):
    """Train with the compiled ``step`` over ``fit``'s mini-batches; per-epoch wall times.

    Returns ``(theta, epoch_times, theta after snapshot_epochs epochs or None)``.
    """
    m = X.shape[0]
    weights = batch_weights(m, batch)
    rng = np.random.default_rng(seed)
    theta, opt_state = theta0, optimizer.init(theta0)
    times, snapshot = [], None
    for epoch in range(epochs):
        t0 = time.perf_counter()
        idx_all = jnp.asarray(epoch_batches(rng, m, batch))
        for b in range(idx_all.shape[0]):
            idx = idx_all[b]
            theta, opt_state, _, _ = step(theta, opt_state, X[idx], y[idx], weights[b])
        jax.block_until_ready(theta)
        times.append(time.perf_counter() - t0)
        if epoch + 1 == snapshot_epochs:
            snapshot = np.asarray(theta)
    return theta, times, snapshot


def load_task(n: int, n_samples: int):
    t0 = time.perf_counter()
    ds = build_dataset("toric-vs-semion", n_qubits=n, n_samples=n_samples, seed=0, progress=False)
    X = jnp.asarray(ds.dense_states(), dtype=jnp.complex64)
    y = np.asarray(ds.labels, dtype=np.int32)
    return X, y, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=12)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0, help="initial parameters, batch order")
    parser.add_argument(
        "--pl-epochs",
        type=int,
        default=2,
        help="epochs of the PennyLane loop after compilation; its --epochs time is "
        "extrapolated from them (default: %(default)s)",
    )
    parser.add_argument("--skip-pennylane", action="store_true", help="qnnlab only")
    parser.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    args = parser.parse_args()
    n, batch, epochs = args.qubits, args.batch_size, args.epochs
    load = loadavg()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores, "
        f"1-min load average {load:.2f} at start"
    )

    X, y, load_seconds = load_task(n, args.samples)
    m = X.shape[0]
    steps_per_epoch = math.ceil(m / min(batch, m))
    total_steps = epochs * steps_per_epoch
    print(
        f"task: toric-vs-semion, {m} states of {n} qubits (loaded in {load_seconds:.1f} s), "
        f"{epochs} epochs x {steps_per_epoch} steps of batch {batch} = {total_steps} Adam steps "
        f"(lr {args.learning_rate})"
    )

    circuit = qcnn(n)
    engine = StatevectorEngine(circuit, dtype="complex64")
    model_fn = engine.expval_fn(qcnn_readout(circuit))
    theta0 = init_params(circuit.n_params, args.seed, engine.real_dtype)
    _, n_peer_params = peers_qcnn.qcnn_gate_list(n)
    assert n_peer_params == circuit.n_params, (n_peer_params, circuit.n_params)
    results: dict[str, object] = {
        "qubits": n,
        "samples": m,
        "epochs": epochs,
        "batch_size": batch,
        "steps_per_epoch": steps_per_epoch,
        "learning_rate": args.learning_rate,
        "n_params": circuit.n_params,
        "cpu_count": os.cpu_count(),
        "load_average_start": load,
        "jax": jax.__version__,
    }

    # 1. qnnlab fit, end to end ---------------------------------------------------------------
    print(
        f"\n== qnnlab fit ({epochs} epochs, per-epoch metrics over all {m} states included; "
        f"load {loadavg():.2f})"
    )
    t0 = time.perf_counter()
    res = fit(
        model_fn,
        theta0,
        X,
        y,
        loss="mse",
        learning_rate=args.learning_rate,
        epochs=epochs,
        batch_size=batch,
        seed=args.seed,
    )
    fit_wall = time.perf_counter() - t0
    ep = res.history["time"]
    fit_first = ep[0]
    fit_epoch = statistics.median(ep[1:]) if len(ep) > 1 else ep[0]
    fit_sps = steps_per_epoch / fit_epoch
    eval_times = []
    for _ in range(5):  # what fit does after every epoch: loss and accuracy over X (compiled)
        t0 = time.perf_counter()
        evaluate(model_fn, res.params, X, y, batch_size=batch)
        eval_times.append(time.perf_counter() - t0)
    fit_eval = statistics.median(eval_times)
    verdict = "PASS" if fit_wall < TARGET_SECONDS else "MISS"
    print(
        f"  total wall time       {fit_wall:8.2f} s   ({verdict}: target < {TARGET_SECONDS:.0f} s)"
    )
    print(f"  first epoch (compile) {fit_first:8.2f} s")
    print(f"  steady epoch          {fit_epoch * 1e3:8.1f} ms (median of epochs 2..{len(ep)})")
    print(
        f"    of which evaluation {fit_eval * 1e3:8.1f} ms per epoch (all {m} states, "
        f"median of 5 separate calls)"
    )
    fit_train_sps = steps_per_epoch / max(fit_epoch - fit_eval, 1e-9)
    print(f"  steps/s steady state  {fit_sps:8.1f} ({fit_train_sps:.1f} without the evaluation)")
    print(f"  steps/s overall       {total_steps / fit_wall:8.1f} (incl. compilation)")
    print(
        f"  final train loss {res.metrics['train_loss']:.4f}, "
        f"train accuracy {res.metrics['train_acc']:.3f}"
    )
    results["qnnlab_fit"] = {
        "wall_s": fit_wall,
        "first_epoch_s": fit_first,
        "steady_epoch_s": fit_epoch,
        "steps_per_s_steady": fit_sps,
        "steps_per_s_overall": total_steps / fit_wall,
        "eval_per_epoch_s": fit_eval,
        "steps_per_s_steady_without_eval": fit_train_sps,
        "train_loss": res.metrics["train_loss"],
        "train_acc": res.metrics["train_acc"],
        "target_s": TARGET_SECONDS,
        "pass": fit_wall < TARGET_SECONDS,
    }

    # 2. raw loops: qnnlab, then PennyLane -----------------------------------------------------
    optimizer = optax.adam(args.learning_rate)
    weights = batch_weights(m, batch)
    first = jnp.asarray(epoch_batches(np.random.default_rng(args.seed), m, batch)[0])
    step_args = (theta0, optimizer.init(theta0), X[first], jnp.asarray(y)[first], weights[0])
    y_dev = jnp.asarray(y)
    snap = 0 if args.skip_pennylane else min(args.pl_epochs, epochs)

    print(f"\n== qnnlab raw training loop ({epochs} epochs, no metrics; load {loadavg():.2f})")
    ql_step, ql_compile = compile_step(make_adam_step(model_fn, optimizer), step_args)
    t0 = time.perf_counter()
    ql_theta, ql_times, ql_snap = run_loop(
        ql_step,
        optimizer,
        theta0,
        X,
        y_dev,
        epochs=epochs,
        batch=batch,
        seed=args.seed,
        snapshot_epochs=snap,
    )
    ql_loop = time.perf_counter() - t0
    ql_epoch = statistics.median(ql_times)
    ql_sps = steps_per_epoch / ql_epoch
    ql_acc = evaluate(model_fn, ql_theta, X, y)["accuracy"]
    print(f"  compile               {ql_compile:8.2f} s")
    print(f"  {epochs} epochs            {ql_loop:8.2f} s")
    print(f"  steady epoch          {ql_epoch * 1e3:8.1f} ms (median)")
    print(f"  steps/s steady state  {ql_sps:8.1f}")
    print(f"  final train accuracy  {ql_acc:8.3f}")
    results["qnnlab_raw"] = {
        "compile_s": ql_compile,
        "loop_s": ql_loop,
        "steady_epoch_s": ql_epoch,
        "steps_per_s_steady": ql_sps,
        "train_acc": ql_acc,
    }

    pl = None
    if not args.skip_pennylane:
        import pennylane as qml

        # default.qubit casts the rotation coefficients to complex; with x64 off JAX truncates
        # them to complex64 (what we want) and warns once per gate type
        warnings.filterwarnings("ignore", message=".*requested dtype.*", category=UserWarning)
        print(
            f"\n== PennyLane {qml.__version__} default.qubit, jit + vmap over a QNode "
            f"({args.pl_epochs} epochs after compilation; load {loadavg():.2f})"
        )
        pl_model = peers_qcnn.make_pennylane_expvals(n, "vmap")
        pl_step, pl_compile = compile_step(make_adam_step(pl_model, optimizer), step_args)
        print(f"  compile (trace + XLA) {pl_compile:8.1f} s", flush=True)
        _, _, loss_ql, grad_ql = ql_step(*step_args)
        _, _, loss_pl, grad_pl = pl_step(*step_args)
        loss_diff = abs(float(loss_ql) - float(loss_pl))
        grad_diff = float(np.max(np.abs(np.asarray(grad_ql) - np.asarray(grad_pl))))
        print(
            f"  check, first batch at theta0: loss {float(loss_ql):.6f} (qnnlab) vs "
            f"{float(loss_pl):.6f} (PennyLane), |diff| {loss_diff:.1e}; max |grad diff| "
            f"{grad_diff:.1e} (max |grad| {float(np.max(np.abs(np.asarray(grad_ql)))):.2f})"
        )
        if loss_diff > 1e-4 or grad_diff > 1e-3:
            print("MISMATCH between qnnlab and PennyLane: not timing")
            return 1
        pl_epochs = min(args.pl_epochs, epochs)
        t0 = time.perf_counter()
        _, pl_times, pl_snap = run_loop(
            pl_step,
            optimizer,
            theta0,
            X,
            y_dev,
            epochs=pl_epochs,
            batch=batch,
            seed=args.seed,
            snapshot_epochs=pl_epochs,
        )
        pl_loop = time.perf_counter() - t0
        pl_epoch = statistics.median(pl_times)
        pl_sps = steps_per_epoch / pl_epoch
        pl_extrap = pl_compile + epochs * pl_epoch
        traj = float(np.max(np.abs(pl_snap - ql_snap)))
        pl_eval = evaluate(model_fn, pl_snap, X, y)
        ql_eval = evaluate(model_fn, ql_snap, X, y)
        print(f"  {pl_epochs} epochs ({pl_epochs * steps_per_epoch} steps) {pl_loop:8.2f} s")
        print(f"  steady epoch          {pl_epoch:8.2f} s (median)")
        print(f"  steps/s steady state  {pl_sps:8.2f}")
        print(
            f"  {epochs} epochs EXTRAPOLATED: {pl_extrap:.0f} s "
            f"(= compile {pl_compile:.0f} s + {epochs} x {pl_epoch:.2f} s; no per-epoch metrics)"
        )
        print(
            f"  check, after {pl_epochs} epochs: train loss {pl_eval['loss']:.5f} (PennyLane) vs "
            f"{ql_eval['loss']:.5f} (qnnlab), accuracy {pl_eval['accuracy']:.3f} vs "
            f"{ql_eval['accuracy']:.3f}; max |theta diff| {traj:.1e}"
        )
        pl = {
            "version": qml.__version__,
            "compile_s": pl_compile,
            "epochs_run": pl_epochs,
            "loop_s": pl_loop,
            "steady_epoch_s": pl_epoch,
            "steps_per_s_steady": pl_sps,
            "extrapolated_wall_s": pl_extrap,
            "check_loss_diff": loss_diff,
            "check_grad_diff": grad_diff,
            "check_theta_diff": traj,
            "check_train_loss": pl_eval["loss"],
            "check_train_loss_qnnlab": ql_eval["loss"],
        }
        results["pennylane"] = pl

    # 3. summary --------------------------------------------------------------------------------
    load_end = loadavg()
    results["load_average_end"] = load_end
    print(f"\n== summary ({n} qubits, {m} states, batch {batch}; 1-min load now {load_end:.2f})")
    print(
        f"qnnlab fit: {epochs} epochs in {fit_wall:.1f} s ({verdict}: target < "
        f"{TARGET_SECONDS:.0f} s), of which {fit_first:.1f} s first epoch incl. compilation"
    )
    print(
        f"qnnlab steps/s: {fit_sps:.1f} in fit (incl. per-epoch metrics), "
        f"{ql_sps:.1f} raw loop, {total_steps / fit_wall:.1f} overall fit incl. compilation"
    )
    if pl is not None:
        raw_ratio, fit_ratio = ql_sps / pl["steps_per_s_steady"], fit_sps / pl["steps_per_s_steady"]
        wall_ratio = pl["extrapolated_wall_s"] / fit_wall
        results["speedup"] = {
            "raw_loop": raw_ratio,
            "fit_vs_pl_loop": fit_ratio,
            "wall": wall_ratio,
        }
        print(f"PennyLane steps/s: {pl['steps_per_s_steady']:.2f} (raw loop, same batches)")
        print(
            f"PennyLane {epochs} epochs: {pl['extrapolated_wall_s']:.0f} s EXTRAPOLATED from "
            f"{pl['epochs_run']} epochs (incl. {pl['compile_s']:.0f} s compilation)"
        )
        print(f"speedup in steps/s, raw loop vs raw loop: {raw_ratio:.1f} x")
        print(f"speedup in steps/s, qnnlab fit (with metrics) vs PennyLane loop: {fit_ratio:.1f} x")
        print(f"speedup in {epochs}-epoch wall time (incl. compilation): {wall_ratio:.1f} x")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
