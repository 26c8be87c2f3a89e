"""Benchmark: the QuCNN layer (``qnnlab.models.qucnn``) cold and warm, and against PennyLane.

Three measurements, each with a target:

a. **Fig. 3 core** (target < 5 s cold): 16 MNIST images, 625 4x4 patches each, SWAP tests of
   one ideal (unit-vector) filter with 10,000 shots per patch: ``QuCNNLayer.apply_states`` then
   ``sample_swap_tests`` under one ``jax.jit``. *Cold* is a fresh Python process from spawn to
   the sampled maps (interpreter start, imports, loading MNIST, compilation); *warm* is the
   median of repeated calls of the compiled program.
b. **One training epoch** (target < 30 s): ``train_convnet`` of ``ConvNetSpec(conv="qucnn")``
   (4 filters, 2 layers, exact expectations, autodiff) on 8,000 images, batch 100. *Cold* is a
   fresh process from spawn to the end of epoch 1 (compilation and the epoch-end evaluation on
   the training set included); *warm* is epoch 2's training time (``epoch_seconds[1]``) and the
   evaluation after it.
c. **The layer vs PennyLane** (target >= 50x): value and gradient with respect to the filter
   angles ``(4, 16)`` of ``L = sum_{f,p} g_{f,p} |<f_f|x_p>|^2 / P`` (fixed random weights ``g``,
   as a backpropagated ``dL/dy``) over the patches of 1 image (625) and of 4 images (2,500).
   PennyLane is written as its users write the SWAP test: ``default.qubit`` with the JAX
   interface and backprop, ``qml.StatePrep`` of the encoded patch on the data register (the
   patches are amplitude-encoded once, as for qnnlab; ``qml.AmplitudeEmbedding(normalize=True)``
   would give NaN on empty patches), the filter ansatz RX/RZ + CNOT ring, H / CSWAP / H and
   ``expval(Z)`` on the ancilla, a QNode ``jax.vmap``-ed over patches and filters, the whole
   step under ``jax.jit``. Both must agree to 1e-5 before any timing counts: the maps
   (in ``[0, 1]``) absolutely, the value and the gradient relative to their size. qnnlab never
   simulates the 9-qubit circuit: it contracts the 4-qubit filter states with the patches (the
   same number, ``<Z_a> = |<f|x>|^2``), which is where the speed comes from.

Cold figures come from ``--processes`` fresh interpreters per row (median [min-max]), with the
child's CPU time beside the wall time (on a machine shared with other work the CPU time moves
less); warm figures and the agreement check run qnnlab and PennyLane in this one process on the
same arrays. Cold rows run without the persistent compilation cache (``QNNLAB_JAX_CACHE=0``),
so they include every compilation; ``--cache-rows`` adds (a) and (b) with a cache filled by one
earlier process (a user's second session; the ``qnnlab`` command line turns the cache on).
PennyLane is in the optional ``bench`` extra; without it part (c) is skipped with a message.

Run: ``python benchmarks/qucnn_speed.py [--parts a,b,c] [--processes 3] [--cache-rows]
[--mnist-dir DIR]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

FIG3_IMAGES = 16
SHOTS = 10_000
KERNEL = 4
FILTERS = 4
LAYERS = 2
EPOCH_IMAGES = 8000
TOLERANCE = 1e-5
TARGETS = {"fig3": 5.0, "epoch": 30.0, "ratio": 50.0}
#: Set in a child's environment to a folder: the child turns the on-disk compilation cache on.
CACHE_ENV = "QNNLAB_BENCH_CACHE"


def default_mnist_dir() -> str | None:
    """``$QNNLAB_MNIST``, else ``shared/data/mnist`` beside the repository if it exists, else
    ``None`` (the loader's own search: its cache)."""
    if os.environ.get("QNNLAB_MNIST"):
        return os.environ["QNNLAB_MNIST"]
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return str(beside) if beside.is_dir() else None


def mnist_images(mnist_dir: str | None, count: int):
    """The first ``count`` test images as floats in ``[0, 1]``, shape ``(count, 28, 28)``."""
    import numpy as np

    from qnnlab.data.mnist import load_mnist

    data = load_mnist("test", root=mnist_dir)
    return data.images[:count].astype(np.float32) / 255.0, data


def unit_filter(seed: int = 0):
    """An ideal real filter state ``(1, 16)``: a normalised Gaussian vector."""
    import numpy as np

    g = np.random.default_rng(seed).normal(size=(1, KERNEL * KERNEL))
    return (g / np.linalg.norm(g)).astype(np.float32)


# ------------------------------------------------------------------------------ (a) Fig. 3


def make_fig3_program(shots: int = SHOTS):
    """Jitted ``f(states (F, 16), images (B, 1, 28, 28), key) -> (B, F, 25, 25)`` SWAP-test
    estimates with ``shots`` shots per patch."""
    import jax

    from qnnlab.models.qucnn import QuCNNLayer, sample_swap_tests

    layer = QuCNNLayer(kernel_size=KERNEL)

    def fig3(states, images, key):
        maps = layer.apply_states(states, images)
        _, occupied = layer.encode(images)
        return sample_swap_tests(maps, occupied, shots, key)

    return jax.jit(fig3)


def fig3_child(args) -> dict:
    import jax
    import jax.numpy as jnp

    import qnnlab.data.mnist
    import qnnlab.models.qucnn  # noqa: F401  (imports belong to the start-up figure)

    imported = time.time()
    images, _ = mnist_images(args.mnist_dir, FIG3_IMAGES)
    images = jnp.asarray(images[:, None])
    states = jnp.asarray(unit_filter())
    loaded = time.time()
    program = make_fig3_program(args.shots)
    out = jax.block_until_ready(program(states, images, jax.random.key(0)))
    first = time.time()
    return {
        "imported": imported,
        "loaded": loaded,
        "first": first,
        "shape": list(out.shape),
        "mean": float(out.mean()),
    }


# ------------------------------------------------------------------------------ (b) epoch


def epoch_child(args) -> dict:
    import numpy as np

    from qnnlab.data.mnist import mnist_split
    from qnnlab.training.conv_net import ConvNetSpec, train_convnet

    imported = time.time()
    _, data = mnist_images(args.mnist_dir, 0)
    train, _ = mnist_split(data.labels, EPOCH_IMAGES, 0, seed=0)
    x = data.images[train].astype(np.float32) / 255.0
    loaded = time.time()
    marks: list[float] = []
    result = train_convnet(
        ConvNetSpec(conv="qucnn", n_filters=FILTERS, layers=LAYERS),
        x,
        data.labels[train],
        epochs=2,
        seed=0,
        on_epoch=lambda epoch, metrics: marks.append(time.time()),
    )
    h = result.history
    return {
        "imported": imported,
        "loaded": loaded,
        "first": marks[0],
        "epoch_seconds": h["epoch_seconds"],
        "epoch2_wall": marks[1] - marks[0],
        "train_acc": h["train_acc"],
    }


# ------------------------------------------------------------------------------ (c) layer


def layer_inputs(mnist_dir: str | None, n_images: int, seed: int = 0):
    """Encoded patches ``(B, 25, 25, 16)``, occupancy, angles ``(4, 16)`` and weights ``g``
    ``(B, 4, 25, 25)`` (float32, from ``seed``)."""
    import jax.numpy as jnp
    import numpy as np

    from qnnlab.models.qucnn import QuCNNLayer

    layer = QuCNNLayer(kernel_size=KERNEL, n_filters=FILTERS, layers=LAYERS)
    images, _ = mnist_images(mnist_dir, n_images)
    encoded, occupied = layer.encode(jnp.asarray(images[:, None]))
    rng = np.random.default_rng(seed)
    theta = jnp.asarray(rng.uniform(0, 2 * np.pi, layer.param_shape), jnp.float32)
    g = jnp.asarray(rng.normal(size=(n_images, FILTERS, 25, 25)), jnp.float32)
    return encoded, occupied, theta, g


def make_qnnlab_layer_step():
    """Jitted ``(theta, encoded, occupied, g) -> (L, dL/dtheta)`` with qnnlab's layer."""
    import jax
    import jax.numpy as jnp

    from qnnlab.models.qucnn import QuCNNLayer

    layer = QuCNNLayer(kernel_size=KERNEL, n_filters=FILTERS, layers=LAYERS)

    def loss(theta, encoded, occupied, g):
        maps = layer.apply_encoded(theta, encoded, occupied)  # (B, F, 25, 25)
        return jnp.sum(g * maps) / (maps.shape[0] * maps.shape[2] * maps.shape[3])

    return jax.jit(jax.value_and_grad(loss)), jax.jit(layer.apply_encoded)


def pennylane_swap_test(n_qubits: int = 4, layers: int = LAYERS):
    """The SWAP test as a PennyLane QNode ``(theta (2kL,), x (2**k,)) -> <Z_0>`` on
    ``k = n_qubits``: ancilla 0, filter wires ``1..k``, data wires ``k+1..2k`` (the layout of
    ``qnnlab.models.qucnn.swap_test_circuit``)."""
    import pennylane as qml

    filt = list(range(1, n_qubits + 1))
    data = list(range(n_qubits + 1, 2 * n_qubits + 1))
    dev = qml.device("default.qubit", wires=2 * n_qubits + 1)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def swap_test(theta, x):
        qml.StatePrep(x, wires=data)
        for layer in range(layers):
            for q, wire in enumerate(filt):
                qml.RX(theta[2 * (layer * n_qubits + q)], wires=wire)
                qml.RZ(theta[2 * (layer * n_qubits + q) + 1], wires=wire)
            for q in range(n_qubits - 1):
                qml.CNOT(wires=[filt[q], filt[q + 1]])
            qml.CNOT(wires=[filt[-1], filt[0]])
        qml.Hadamard(wires=0)
        for f, d in zip(filt, data, strict=True):
            qml.CSWAP(wires=[0, f, d])
        qml.Hadamard(wires=0)
        return qml.expval(qml.Z(0))

    return swap_test


def make_pennylane_layer_step():
    """Jitted ``(theta (F, P), x (P, 16), g (F, P)) -> (L, dL/dtheta)`` and the maps ``(F, P)``,
    the QNode vmapped over patches then filters."""
    import jax
    import jax.numpy as jnp

    # default.qubit casts rotation matrices to complex128, which JAX truncates to complex64
    # with a UserWarning when 64-bit mode is off: the simulation stays complex64, as qnnlab's
    warnings.filterwarnings("ignore", message="Explicitly requested dtype", category=UserWarning)
    qnode = pennylane_swap_test()
    maps = jax.vmap(jax.vmap(qnode, in_axes=(None, 0)), in_axes=(0, None))

    def loss(theta, x, g):
        return jnp.sum(g * maps(theta, x)) / x.shape[0]

    return jax.jit(jax.value_and_grad(loss)), jax.jit(maps)


def pennylane_layout(encoded, g):
    """qnnlab's ``(B, 25, 25, 16)`` patches and ``(B, F, 25, 25)`` weights as PennyLane's
    ``(P, 16)`` and ``(F, P)`` (patch ``p = (b, h, w)`` in C order)."""
    x = encoded.reshape(-1, encoded.shape[-1])
    return x, g.transpose(1, 0, 2, 3).reshape(g.shape[1], -1)


def layer_child(args) -> dict:
    import jax

    import qnnlab.data.mnist
    import qnnlab.models.qucnn  # noqa: F401  (imports belong to the start-up figure)

    if args.child == "layer-pennylane":
        import pennylane  # noqa: F401
    imported = time.time()
    encoded, occupied, theta, g = layer_inputs(args.mnist_dir, args.child_images)
    loaded = time.time()
    if args.child == "layer-qnnlab":
        step, _ = make_qnnlab_layer_step()
        value, _ = jax.block_until_ready(step(theta, encoded, occupied, g))
    else:
        step, _ = make_pennylane_layer_step()
        x, g_pl = pennylane_layout(encoded, g)
        value, _ = jax.block_until_ready(step(theta, x, g_pl))
    return {"imported": imported, "loaded": loaded, "first": time.time(), "value": float(value)}


# ------------------------------------------------------------------------------ harness


def time_call(fn, args: tuple, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` after one warm-up call."""
    import jax

    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_fresh_processes(
    name: str, args, count: int, extra: tuple[str, ...] = (), cache: str | None = None
) -> list[dict]:
    """Run ``--child name`` in ``count`` fresh interpreters; each row gains ``cold`` (spawn to
    first result), ``startup`` (spawn to imports done) and ``cpu`` (the child's user + system
    CPU seconds: less sensitive to other load on the machine than wall time).

    ``cache``: ``None`` runs without the on-disk compilation cache; a folder runs with it there
    (fill it with one unmeasured process first to measure a second session)."""
    command = [sys.executable, __file__, "--child", name, "--shots", str(args.shots)]
    if args.mnist_dir:
        command += ["--mnist-dir", args.mnist_dir]
    env = {k: v for k, v in os.environ.items() if k != CACHE_ENV}
    env["QNNLAB_JAX_CACHE"] = "0" if cache is None else "1"
    if cache is not None:
        env[CACHE_ENV] = cache
    rows = []
    for _ in range(count):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        spawned = time.time()
        out = subprocess.run(
            [*command, *extra], capture_output=True, text=True, check=False, env=env
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise RuntimeError(f"{name} failed in a fresh process:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["cold"] = row["first"] - spawned
        row["startup"] = row["imported"] - spawned
        row["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append(row)
    return rows


def cold_rows(name: str, args, count: int, extra: tuple[str, ...] = ()) -> dict[str, list]:
    """Cold rows without the on-disk compilation cache and, with ``--cache-rows``, with a
    cache filled by one earlier (unmeasured) process: a user's second session."""
    rows = {"no cache": in_fresh_processes(name, args, count, extra)}
    if args.cache_rows:
        with tempfile.TemporaryDirectory() as folder:
            in_fresh_processes(name, args, 1, extra, cache=folder)
            rows["disk cache"] = in_fresh_processes(name, args, count, extra, cache=folder)
    return rows


def spread(values: list[float], unit: str = "s") -> str:
    return f"{statistics.median(values):7.2f} {unit} [{min(values):.2f}-{max(values):.2f}]"


def verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


def print_cold(rows: dict[str, list], parts: dict[str, object]) -> None:
    """One block per cache setting: the cold wall time, the child's CPU time and ``parts``
    (label -> function of a row)."""
    for setting, runs in rows.items():
        print(f"  cold, {setting} ({len(runs)} fresh processes)")
        print(f"    spawn to result      : {spread([r['cold'] for r in runs])}")
        print(f"    CPU time of the child: {spread([r['cpu'] for r in runs])}")
        for label, fn in parts.items():
            print(f"    {label:<21}: {spread([fn(r) for r in runs])}")


def part_fig3(args) -> None:
    import jax
    import jax.numpy as jnp

    print(
        f"\n(a) Fig. 3 core: {FIG3_IMAGES} images x 625 patches x {args.shots} shots, "
        "apply_states + sample_swap_tests under one jit"
    )
    rows = cold_rows("fig3", args, args.processes)
    print_cold(
        rows,
        {
            "start-up + imports": lambda r: r["startup"],
            "compile + first run": lambda r: r["first"] - r["loaded"],
        },
    )
    images, _ = mnist_images(args.mnist_dir, FIG3_IMAGES)
    program = make_fig3_program(args.shots)
    inputs = (jnp.asarray(unit_filter()), jnp.asarray(images[:, None]), jax.random.key(1))
    warm = time_call(program, inputs, args.repeats)
    print(f"  warm (compiled program): {warm * 1e3:.2f} ms")
    for setting, runs in rows.items():
        ok = statistics.median(r["cold"] for r in runs) < TARGETS["fig3"]
        print(f"  target < {TARGETS['fig3']:.0f} s cold, {setting}: {verdict(ok)}")


def part_epoch(args) -> None:
    print(
        f"\n(b) one train_convnet epoch, ConvNetSpec(conv='qucnn', {FILTERS} filters, "
        f"{LAYERS} layers), {EPOCH_IMAGES} images, batch 100"
    )
    rows = cold_rows("epoch", args, args.epoch_processes)
    print("  (cold: spawn to the end of epoch 1, compilation and epoch-end evaluation included)")
    print_cold(
        rows,
        {
            "epoch 1 (compiling)": lambda r: r["epoch_seconds"][0],
            "warm epoch (epoch 2)": lambda r: r["epoch_seconds"][1],
            "evaluation (8000)": lambda r: r["epoch2_wall"] - r["epoch_seconds"][1],
        },
    )
    first = next(iter(rows.values()))[0]
    print(f"  train accuracy after epochs 1, 2: {first['train_acc']}")
    for setting, runs in rows.items():
        ok = statistics.median(r["cold"] for r in runs) < TARGETS["epoch"]
        print(f"  target < {TARGETS['epoch']:.0f} s, cold, {setting}: {verdict(ok)}")


def compare_layers(args, n_images: int) -> dict:
    """Both layers on the same arrays in this process: agreement, then warm timings."""
    import numpy as np

    encoded, occupied, theta, g = layer_inputs(args.mnist_dir, n_images)
    x, g_pl = pennylane_layout(encoded, g)
    ours_step, ours_maps = make_qnnlab_layer_step()
    pl_step, pl_maps = make_pennylane_layer_step()
    v1, g1 = ours_step(theta, encoded, occupied, g)
    v2, g2 = pl_step(theta, x, g_pl)
    m1 = np.asarray(ours_maps(theta, encoded, occupied)).transpose(1, 0, 2, 3)
    m2 = np.asarray(pl_maps(theta, x))
    grad_scale = float(np.max(np.abs(np.asarray(g1))))
    out = {
        "maps": float(np.max(np.abs(m1.reshape(FILTERS, -1) - m2))),
        "value": abs(float(v1) - float(v2)),
        "value_scale": abs(float(v1)),
        "grad": float(np.max(np.abs(np.asarray(g1) - np.asarray(g2)))),
        "grad_scale": grad_scale,
    }
    # maps lie in [0, 1]: absolute; value and gradient relative to their size (the gradient of
    # a per-patch average is small, so an absolute 1e-5 would say little)
    out["agree"] = (
        out["maps"] <= TOLERANCE
        and out["value"] <= TOLERANCE * max(1.0, out["value_scale"])
        and out["grad"] <= TOLERANCE * grad_scale
    )
    if out["agree"]:
        out["ours"] = time_call(ours_step, (theta, encoded, occupied, g), args.repeats)
        out["theirs"] = time_call(pl_step, (theta, x, g_pl), max(1, args.repeats // 2))
    return out


def part_layer(args) -> int:
    if importlib.util.find_spec("pennylane") is None:
        print(
            "\n(c) skipped: PennyLane is not installed (it is in the optional bench extra: "
            "pip install 'pennylane>=0.38')."
        )
        return 0
    import pennylane as qml

    print(
        f"\n(c) QuCNN layer value + gradient wrt {FILTERS}x{2 * 4 * LAYERS} filter angles, "
        f"qnnlab vs PennyLane {qml.__version__} default.qubit (JAX, backprop, vmap)"
    )
    failed = 0
    for n_images in args.layer_images:
        patches = 625 * n_images
        print(f"  == {patches} patches x {FILTERS} filters ({patches * FILTERS} SWAP tests)")
        c = compare_layers(args, n_images)
        print(
            f"     agreement: max |maps diff| {c['maps']:.1e}, |value diff| {c['value']:.1e} "
            f"(|value| {c['value_scale']:.1e}), max |grad diff| {c['grad']:.1e} (max |grad| "
            f"{c['grad_scale']:.1e}) -> {'same to 1e-5' if c['agree'] else 'MISMATCH'}"
        )
        if not c["agree"]:
            failed = 1
            continue
        extra = ("--child-images", str(n_images))
        cold = {
            "qnnlab": in_fresh_processes("layer-qnnlab", args, args.processes, extra),
            "PennyLane": in_fresh_processes("layer-pennylane", args, args.processes, extra),
        }
        for label, warm in (("qnnlab", c["ours"]), ("PennyLane", c["theirs"])):
            runs = cold[label]
            print(
                f"     {label:<9} warm {warm * 1e3:10.3f} ms   cold "
                f"{spread([r['cold'] for r in runs])} (CPU {spread([r['cpu'] for r in runs])})"
            )
        ratio = c["theirs"] / c["ours"]
        cold_ratio = statistics.median(r["cold"] for r in cold["PennyLane"]) / statistics.median(
            r["cold"] for r in cold["qnnlab"]
        )
        print(
            f"     qnnlab is {ratio:.0f}x faster warm, {cold_ratio:.1f}x cold "
            f"(target >= {TARGETS['ratio']:.0f}x warm: {verdict(ratio >= TARGETS['ratio'])})"
        )
    return failed


def child(args) -> int:
    if os.environ.get(CACHE_ENV):
        from qnnlab.runtime.caches import enable_compilation_cache

        enable_compilation_cache(os.environ[CACHE_ENV])
    runners = {"fig3": fig3_child, "epoch": epoch_child}
    result = runners.get(args.child, layer_child)(args)
    print(json.dumps(result))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c", help="which of a, b, c (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per cold row")
    parser.add_argument(
        "--epoch-processes", type=int, default=1, help="fresh processes for (b) (slow)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="warm calls per timing")
    parser.add_argument(
        "--cache-rows",
        action="store_true",
        help="also measure (a) and (b) cold with a filled on-disk compilation cache",
    )
    parser.add_argument("--shots", type=int, default=SHOTS)
    parser.add_argument(
        "--layer-images", default="1,4", help="images whose patches (625 each) part (c) uses"
    )
    parser.add_argument("--mnist-dir", default=default_mnist_dir(), help="MNIST IDX folder")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-images", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.layer_images = [int(n) for n in args.layer_images.split(",")]
    parts = set(args.parts.split(","))
    if parts - {"a", "b", "c"} or args.processes < 1 or args.repeats < 1:
        parser.error("--parts takes a, b, c; --processes and --repeats must be >= 1")
    import jax

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPU cores, load "
        f"average {load}; cold: median [min-max] over fresh processes, warm: median of "
        f"{args.repeats} calls"
    )
    failed = 0
    if "a" in parts:
        part_fig3(args)
    if "b" in parts:
        part_epoch(args)
    if "c" in parts:
        failed = part_layer(args)
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
