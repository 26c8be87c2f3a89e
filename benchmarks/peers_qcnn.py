"""Peer implementations of the qnnlab QCNN training step, for speed comparisons.

The benchmark suite times one QCNN training step -- forward pass over a batch of input
statevectors, mean-squared loss against +/-1 labels and gradient with respect to all circuit
parameters -- in qnnlab and in two widely used peer frameworks.  This module builds that very
same step in the peers, written the way an experienced user of each framework would write it:

* TensorCircuit-ng, JAX backend, complex64: a ``tc.Circuit`` built from the input statevector,
  ``expectation_ps`` for <Z> (default ``reuse=True``: contract the output state, then <Z>),
  batch via the backend's ``vmap`` and the whole step (loss and gradient) under one ``jit``.
  TC's default greedy contraction path (found once, at trace time) fuses gates and beats both
  gate-by-gate contraction (``tc.set_contractor("plain")``, ~10x slower at n=12) and the
  bra-ket sandwich (``reuse=False``, ~2.3x slower), so the defaults are kept.
* PennyLane ``default.qubit`` (JAX interface, backprop): a QNode that loads the input with
  ``qml.StatePrep`` (no normalisation / norm validation), batch via ``jax.vmap`` over the QNode
  (as in PennyLane's own QCNN demo) and the whole step under ``jax.jit``.  The new
  ``default.qubit`` has no ``c_dtype`` argument; it keeps the precision of the prepared state,
  so complex64 input states plus float32 parameters give a complex64 simulation (with
  ``jax_enable_x64`` off, the JAX default; PennyLane casts rotation coefficients to
  ``complex``, which is truncated to complex64 with a JAX UserWarning, but would silently
  promote the simulation to complex128 if x64 were enabled).
  ``make_pennylane_step(n, batching="broadcast")`` uses PennyLane's parameter broadcasting
  instead of vmap (same numbers; no consistent speed difference measured at n=12 on CPU).

Both steps take minutes to compile with XLA on a small CPU machine (the circuits are fully
unrolled); time them only after a warm-up call.

Both peers, the numpy dense-matrix reference below and qnnlab use the gate sequence returned by
:func:`qcnn_gate_list`, so the circuits are identical gate for gate (qubit 0 is the most
significant, leftmost wire).

Run ``python benchmarks/peers_qcnn.py`` to check both peers against the dense reference and
each other (n=8) and to time their training steps (n=12, batch 64).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import reduce

import numpy as np

Gate = tuple[str, tuple[int, ...], int | None]
Step = Callable[..., tuple[object, object]]

CONV_PARAMS = 15
POOL_PARAMS = 2


# ---------------------------------------------------------------------------------------------
# Circuit structure (pure Python, shared by every implementation)
# ---------------------------------------------------------------------------------------------


def _su4_block(a: int, b: int, s: int) -> list[Gate]:
    """15-rotation KAK form of a general SU(4) on (a, b), parameters in slots s..s+14."""
    return [
        ("rz", (a,), s + 0),
        ("ry", (a,), s + 1),
        ("rz", (a,), s + 2),
        ("rz", (b,), s + 3),
        ("ry", (b,), s + 4),
        ("rz", (b,), s + 5),
        ("rxx", (a, b), s + 6),
        ("ryy", (a, b), s + 7),
        ("rzz", (a, b), s + 8),
        ("rz", (a,), s + 9),
        ("ry", (a,), s + 10),
        ("rz", (a,), s + 11),
        ("rz", (b,), s + 12),
        ("ry", (b,), s + 13),
        ("rz", (b,), s + 14),
    ]


def qcnn_gate_list(n: int) -> tuple[list[Gate], int]:
    """Gate sequence of the n-qubit QCNN and its number of parameters.

    Returns ``(gates, n_params)`` where each gate is ``(name, qubits, slot)``, ``name`` one of
    ``rz, ry, rxx, ryy, rzz, crz, crx`` (all rotations exp(-i t P / 2); for ``crz``/``crx`` the
    first qubit is the control) and ``slot`` indexes the flat parameter vector.  Each
    convolution layer shares 15 parameters between its brick-pattern SU(4) blocks; each pooling
    layer shares 2 parameters (CRZ, CRX) between its pairs and discards the control qubits.
    The readout qubit is ``final_qubit(n)``.
    """
    if n < 2:
        raise ValueError("the QCNN needs at least 2 qubits")
    gates: list[Gate] = []
    active = list(range(n))
    n_params = 0
    while len(active) > 1:
        # convolution: even bricks, then odd bricks (open chain), one shared SU(4)
        s = n_params
        n_params += CONV_PARAMS
        pairs = [(active[i], active[i + 1]) for i in range(0, len(active) - 1, 2)]
        pairs += [(active[i], active[i + 1]) for i in range(1, len(active) - 1, 2)]
        for a, b in pairs:
            gates += _su4_block(a, b, s)
        # pooling: controlled rotations, then the control is discarded
        s = n_params
        n_params += POOL_PARAMS
        kept = []
        for i in range(0, len(active) - 1, 2):
            c, t = active[i], active[i + 1]
            gates += [("crz", (c, t), s), ("crx", (c, t), s + 1)]
            kept.append(t)
        if len(active) % 2:
            kept.append(active[-1])
        active = kept
    return gates, n_params


def final_qubit(n: int) -> int:
    """The qubit that survives all pooling layers (where <Z> is read out)."""
    active = list(range(n))
    while len(active) > 1:
        active = active[1::2] + ([active[-1]] if len(active) % 2 else [])
    return active[0]


def random_inputs(n: int, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random parameters, Haar-random input states and +/-1 labels.

    Returns ``theta`` float32 (n_params,) uniform in [0, 2 pi), ``psi`` complex64
    (batch, 2**n) normalised Haar-random statevectors and ``y`` float32 (batch,) in {-1, +1}.
    """
    rng = np.random.default_rng(seed)
    _, n_params = qcnn_gate_list(n)
    theta = rng.uniform(0.0, 2.0 * np.pi, n_params).astype(np.float32)
    psi = rng.standard_normal((batch, 2**n)) + 1j * rng.standard_normal((batch, 2**n))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    y = rng.choice(np.array([-1.0, 1.0]), size=batch).astype(np.float32)
    return theta, psi.astype(np.complex64), y


# ---------------------------------------------------------------------------------------------
# Independent dense-matrix reference (numpy, complex128)
# ---------------------------------------------------------------------------------------------

_I2 = np.eye(2, dtype=np.complex128)
_PAULI = {
    "x": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}
_P0 = np.diag([1.0, 0.0]).astype(np.complex128)
_P1 = np.diag([0.0, 1.0]).astype(np.complex128)


def _embed(n: int, factors: dict[int, np.ndarray]) -> np.ndarray:
    """Kronecker product over all n qubits (qubit 0 leftmost) with identities elsewhere."""
    return reduce(np.kron, [factors.get(q, _I2) for q in range(n)])


def _rot(t: float, pauli: np.ndarray) -> np.ndarray:
    return np.cos(t / 2) * _I2 - 1j * np.sin(t / 2) * pauli


def _dense_gate(n: int, name: str, qubits: tuple[int, ...], t: float) -> np.ndarray:
    if name in ("rz", "ry"):
        return _embed(n, {qubits[0]: _rot(t, _PAULI[name[1]])})
    if name in ("rxx", "ryy", "rzz"):
        p = _PAULI[name[1]]
        a, b = qubits
        return np.cos(t / 2) * np.eye(2**n) - 1j * np.sin(t / 2) * _embed(n, {a: p, b: p})
    if name in ("crz", "crx"):
        c, tq = qubits
        return _embed(n, {c: _P0}) + _embed(n, {c: _P1, tq: _rot(t, _PAULI[name[2]])})
    raise ValueError(f"unknown gate {name!r}")


def dense_reference_expvals(n: int, theta: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """<Z> on the readout qubit for each input state, from full 2**n x 2**n matrices.

    Plain numpy in complex128, independent of every framework; meant for n <= 10.
    """
    gates, _ = qcnn_gate_list(n)
    theta = np.asarray(theta, dtype=np.float64)
    states = np.asarray(psi, dtype=np.complex128).T  # (2**n, B)
    for name, qubits, slot in gates:
        states = _dense_gate(n, name, qubits, theta[slot]) @ states
    z = np.real(np.diag(_embed(n, {final_qubit(n): _PAULI["z"]})))
    return np.einsum("i,ib->b", z, np.abs(states) ** 2)


# ---------------------------------------------------------------------------------------------
# TensorCircuit-ng (JAX backend)
# ---------------------------------------------------------------------------------------------


def _tc_backend():
    import tensorcircuit as tc

    tc.set_backend("jax")
    tc.set_dtype("complex64")
    return tc


def _tc_expval_fn(n: int) -> Callable:
    tc = _tc_backend()
    gates, _ = qcnn_gate_list(n)
    out = final_qubit(n)

    def expval(theta, psi):
        c = tc.Circuit(n, inputs=psi)
        for name, qubits, slot in gates:
            # tc's rz/ry/rxx/ryy/rzz/crz/crx are exp(-i t P / 2) (rxx etc. default half=True),
            # control first: the same matrices as PennyLane's RZ/.../IsingXX/.../CRZ/CRX.
            getattr(c, name)(*qubits, theta=theta[slot])
        return tc.backend.real(c.expectation_ps(z=[out]))

    return expval


def make_tensorcircuit_expvals(n: int) -> Callable:
    """Jitted ``f(theta, psi) -> <Z>`` of shape (B,) for a batch of input states (TC-ng)."""
    tc = _tc_backend()
    K = tc.backend
    return K.jit(K.vmap(_tc_expval_fn(n), vectorized_argnums=1))


def make_tensorcircuit_step(n: int) -> Step:
    """Jitted ``step(theta, psi, y) -> (loss, grad)`` in TensorCircuit-ng (JAX backend)."""
    tc = _tc_backend()
    K = tc.backend
    batched = K.vmap(_tc_expval_fn(n), vectorized_argnums=1)

    def loss(theta, psi, y):
        return K.mean((batched(theta, psi) - y) ** 2)

    return K.jit(K.value_and_grad(loss))


# ---------------------------------------------------------------------------------------------
# PennyLane default.qubit (JAX interface, backprop)
# ---------------------------------------------------------------------------------------------


def _pl_qnode(n: int) -> Callable:
    import pennylane as qml

    ops = {
        "rz": qml.RZ,
        "ry": qml.RY,
        "rxx": qml.IsingXX,
        "ryy": qml.IsingYY,
        "rzz": qml.IsingZZ,
        "crz": qml.CRZ,
        "crx": qml.CRX,
    }
    gates, _ = qcnn_gate_list(n)
    out = final_qubit(n)
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def circuit(theta, psi):
        # StatePrep defaults: normalize=False, validate_norm=False -> no norm checks
        qml.StatePrep(psi, wires=range(n))
        for name, qubits, slot in gates:
            ops[name](theta[slot], wires=qubits)
        return qml.expval(qml.Z(out))

    return circuit


def _pl_batched(n: int, batching: str) -> Callable:
    """``f(theta, psi_batch) -> <Z>`` (B,), batched by ``jax.vmap`` or PennyLane broadcasting."""
    circuit = _pl_qnode(n)
    if batching == "vmap":
        import jax

        # the approach of PennyLane's QCNN demo: vmap the QNode over the input states
        return jax.vmap(circuit, in_axes=(None, 0))
    if batching == "broadcast":
        # parameter broadcasting: StatePrep takes the (B, 2**n) batch and every gate is
        # applied to the batched state (about as fast as vmap at n=12 on CPU)
        return circuit
    raise ValueError(f"batching must be 'vmap' or 'broadcast', not {batching!r}")


def make_pennylane_expvals(n: int, batching: str = "vmap") -> Callable:
    """Jitted ``f(theta, psi) -> <Z>`` of shape (B,) for a batch of input states (PennyLane)."""
    import jax

    return jax.jit(_pl_batched(n, batching))


def make_pennylane_step(n: int, batching: str = "vmap") -> Step:
    """Jitted ``step(theta, psi, y) -> (loss, grad)`` in PennyLane default.qubit + JAX.

    ``batching="vmap"`` (default) vmaps the QNode over the input states, as PennyLane's QCNN
    demo does; ``batching="broadcast"`` uses PennyLane's parameter broadcasting instead.
    """
    import jax
    import jax.numpy as jnp

    batched = _pl_batched(n, batching)

    def loss(theta, psi, y):
        return jnp.mean((batched(theta, psi) - y) ** 2)

    return jax.jit(jax.value_and_grad(loss))


# ---------------------------------------------------------------------------------------------
# Self-check and timing
# ---------------------------------------------------------------------------------------------


def time_step(step: Step, args: tuple, repeats: int = 7) -> float:
    """Median wall time (s) of ``step(*args)`` after one warm-up (compilation) call."""
    import jax

    jax.block_until_ready(step(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(step(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check_agreement(n: int = 8, batch: int = 16, pennylane_batching: str = "vmap") -> dict:
    """Compare both peers' <Z> with the dense reference and their gradients with each other."""
    theta, psi, y = random_inputs(n, batch, seed=1)
    ref = dense_reference_expvals(n, theta, psi)
    tc_z = np.asarray(make_tensorcircuit_expvals(n)(theta, psi))
    pl_z = np.asarray(make_pennylane_expvals(n, pennylane_batching)(theta, psi))
    loss_tc, grad_tc = make_tensorcircuit_step(n)(theta, psi, y)
    loss_pl, grad_pl = make_pennylane_step(n, pennylane_batching)(theta, psi, y)
    loss_ref = float(np.mean((ref - y) ** 2))
    return {
        "expval_err_tensorcircuit": float(np.max(np.abs(tc_z - ref))),
        "expval_err_pennylane": float(np.max(np.abs(pl_z - ref))),
        "loss_err_tensorcircuit": abs(float(loss_tc) - loss_ref),
        "loss_err_pennylane": abs(float(loss_pl) - loss_ref),
        "grad_diff_peers": float(np.max(np.abs(np.asarray(grad_tc) - np.asarray(grad_pl)))),
        "grad_max_abs": float(np.max(np.abs(np.asarray(grad_tc)))),
    }


def _main() -> None:
    import argparse

    import jax

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[12], help="qubit counts to time")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--check-n", type=int, default=8, help="qubits for the agreement check")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--pennylane-batching", choices=("vmap", "broadcast"), default="vmap")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.default_backend()}")

    if not args.skip_check:
        res = check_agreement(args.check_n, pennylane_batching=args.pennylane_batching)
        for key, value in res.items():
            print(f"check n={args.check_n}: {key} = {value:.2e}")
        for key in ("expval_err_tensorcircuit", "expval_err_pennylane", "loss_err_tensorcircuit"):
            assert res[key] < 1e-4, key
        assert res["loss_err_pennylane"] < 1e-4 and res["grad_diff_peers"] < 1e-3

    makers = {
        "tensorcircuit": make_tensorcircuit_step,
        f"pennylane[{args.pennylane_batching}]": lambda n: make_pennylane_step(
            n, args.pennylane_batching
        ),
    }
    for n in args.n:
        inputs = tuple(jax.numpy.asarray(a) for a in random_inputs(n, args.batch, seed=2))
        for label, make in makers.items():
            t0 = time.perf_counter()
            step = make(n)
            jax.block_until_ready(step(*inputs))
            first = time.perf_counter() - t0
            t = time_step(step, inputs, args.repeats)
            print(
                f"n={n} batch={args.batch} {label:20s} step {t * 1e3:10.2f} ms (median of "
                f"{args.repeats}; first call incl. trace+compile {first:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    _main()
