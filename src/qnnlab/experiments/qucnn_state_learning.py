"""``qnnlab reproduce qucnn-state-learning``: can the QuCNN filter ansatz prepare learned
convolution filters? (Stein et al., QuCNN, ``papers/qucnn.md`` Sec. V-C, Fig. 6.)

**Targets.** A classical network ``ConvNetSpec(conv="classical-relu", n_filters=4)``
(:mod:`qnnlab.training.conv_net`) is trained briefly (``classical_epochs`` of Adam on
``classical_train`` images of the seeded MNIST split, :func:`qnnlab.data.mnist.mnist_split`);
each of its 4x4 filters ``w`` (flattened channel-major, as :func:`qnnlab.data.images.
extract_patches` flattens a patch) becomes the ideal filter state ``|t> = w / ||w||`` on
``k = 4`` qubits: the paper's "ideal convolutional state". As a control without image structure
the run adds ``random_targets`` Haar-random *real* unit vectors, ``t = g / ||g||`` with ``g``
standard normal in ``R^16`` (uniform on the sphere ``S^15``, i.e. a real orthogonal Haar-random
rotation of ``|0..0>``), seeded by ``(seed, j)``. They are the harder target only for the
shallowest ansatz: in the default run one layer reaches a lower mean fidelity on them than on
the learned filters, while two and three layers learn both kinds about equally well.

**Learning.** The filter state ``|f(theta)> = V(theta)|0000>`` is the paper's Fig. 1 ansatz
(:func:`qnnlab.models.qucnn.filter_ansatz`: per layer RX, RZ on each qubit, then a CNOT ring;
``2 k L = 8 L`` angles) for ``L`` in ``layers``. The figure of merit is the fidelity

    F(theta) = |<t|f(theta)>|^2,

which is exactly the SWAP-test value ``<Z_a>`` between the two registers (paper Eq. 2). It is
computed by the fast path :meth:`qnnlab.models.qucnn.QuCNNLayer.filter_states` (the statevector
engine on the 4-qubit ansatz), and checked on a few parameter points against the full 9-qubit
SWAP-test circuit :func:`qnnlab.models.qucnn.swap_test_circuit` (``filter="ansatz",
data="circuit"``: the target enters through Mottonen's preparation with
:func:`qnnlab.circuits.state_prep.state_prep_angles`), which must agree to ``1e-5``
(``circuit_check`` in the results; complex64 arithmetic).

Each run minimises ``1 - F`` with ``optax.adam(learning_rate)`` for ``iterations`` steps from
angles uniform on ``[0, 2 pi)`` (seed ``s`` draws them from ``fold_in(key(seed), s)``, the same
start for every target). All ``seeds`` runs of one ``(layers, target)`` pair are optimised
together as the rows of one parameter array: the loss is ``sum_s (1 - F_s)`` and Adam acts
elementwise, so each row follows the trajectory it would follow alone (up to float32
rounding). The paper gives no optimiser settings; with ``learning_rate = 0.1`` every layer count
has converged by 300 steps (measured: 1,000 steps raise the mean final fidelity by < 0.002, and
rates 0.05-0.2 end within about 0.01 of each other at every layer count). ``curve[i]`` is
``F`` after ``i`` steps (``i = 0 .. iterations``); stored curves keep every ``record_every``-th
point and the last, the iterations to reach each threshold come from the full curve.

**Shots.** At the final angles each fidelity is also estimated from ``shots`` SWAP-test shots,
``2 n_0 / S - 1`` with ``n_0 ~ Binomial(S, (1 + F) / 2)`` (the measurement model of
:func:`qnnlab.models.qucnn.sample_swap_tests`; :func:`shot_fidelities`), standard error
``sqrt((1 - F^2) / S)``.

**Tasks.** ``targets`` (train the classical net, draw the random vectors), then one checkpointed
task per ``(layers, target)``; a rerun into the same folder resumes.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qnnlab.checks import check_int, check_real
from qnnlab.experiments.classification import cache_arg, call_task, mean_std, open_run, run_tasks
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers

#: Qubits of the filter register: 4x4 patches, 16 amplitudes.
N_QUBITS = 4
KERNEL = 4
#: Filters of the classical network the learned targets come from.
CLASSICAL_FILTERS = 4
#: The SWAP-test circuit must reproduce the fast-path fidelity to this (complex64).
CIRCUIT_TOLERANCE = 1e-5
#: Most ansatz layers accepted (the paper uses 1-3).
MAX_LAYERS = 12


@dataclass(frozen=True)
class QuCNNStateLearningConfig(ExperimentConfig):
    """Every number of the run (module docstring); defaults follow the paper's Fig. 6."""

    layers: tuple[int, ...] = (1, 2, 3)
    learned_targets: int = 4
    random_targets: int = 2
    seeds: int = 5
    iterations: int = 300
    learning_rate: float = 0.1
    shots: int = 10_000
    record_every: int = 5
    thresholds: tuple[float, ...] = (0.9, 0.99)
    circuit_checks: int = 1
    classical_train: int = 8000
    classical_eval: int = 2000
    classical_epochs: int = 1
    classical_learning_rate: float = 0.01
    seed: int = 0
    mnist_dir: str | None = None

    @classmethod
    def quick(cls) -> QuCNNStateLearningConfig:
        return cls(
            learned_targets=1,
            random_targets=1,
            seeds=3,
            iterations=120,
            record_every=4,
            classical_train=500,
            classical_eval=500,
        )

    def validate(self) -> QuCNNStateLearningConfig:
        check_numbers(self)
        layers = self.layers
        if not layers or len(set(layers)) != len(layers):
            raise ValueError(f"layers must be distinct positive integers, got {layers}.")
        for value in layers:
            check_int("layers", value, minimum=1, maximum=MAX_LAYERS)
        check_int(
            "learned_targets",
            self.learned_targets,
            minimum=0,
            maximum=CLASSICAL_FILTERS,
            hint=f"the classical network has {CLASSICAL_FILTERS} filters.",
        )
        if self.learned_targets + self.random_targets < 1:
            raise ValueError("learned_targets + random_targets must be at least 1.")
        check_int("seeds", self.seeds, minimum=1)
        check_int("iterations", self.iterations, minimum=1)
        check_real("learning_rate", self.learning_rate, minimum=0, min_open=True)
        check_int("shots", self.shots, minimum=1)
        check_int("record_every", self.record_every, minimum=1)
        if not self.thresholds:
            raise ValueError("thresholds must list at least one fidelity in (0, 1].")
        for value in self.thresholds:
            check_real("thresholds", value, minimum=0, maximum=1, min_open=True)
        check_int(
            "circuit_checks",
            self.circuit_checks,
            minimum=0,
            maximum=self.seeds,
            hint="it counts the seeds whose first and last angles are checked on the circuit.",
        )
        if self.learned_targets:
            check_int(
                "classical_train",
                self.classical_train,
                minimum=100,
                hint="the classical network trains in batches of 100 images.",
            )
            check_int("classical_eval", self.classical_eval, minimum=1)
            if self.classical_train + self.classical_eval > 10_000:
                raise ValueError(
                    "classical_train + classical_eval must be at most 10000 (the MNIST test "
                    f"split), got {self.classical_train} + {self.classical_eval}."
                )
            check_int("classical_epochs", self.classical_epochs, minimum=1)
            check_real(
                "classical_learning_rate", self.classical_learning_rate, minimum=0, min_open=True
            )
        if self.mnist_dir is not None and not isinstance(self.mnist_dir, str):
            raise ValueError(f"mnist_dir must be a folder path or null, got {self.mnist_dir!r}.")
        return self


# ------------------------------------------------------------------------------------ targets


def haar_real_unit_vector(seed: int, index: int, dim: int = 2**N_QUBITS) -> np.ndarray:
    """``g / ||g||`` with ``g ~ N(0, I_dim)`` from ``default_rng([seed, index])``: uniform on the
    unit sphere of ``R^dim`` (float64)."""
    g = np.random.default_rng([seed, index]).normal(size=dim)
    return g / np.linalg.norm(g)


def learned_filters(settings: dict, cache_dir: str | None) -> tuple[np.ndarray, dict]:
    """Train ``ConvNetSpec(conv="classical-relu", n_filters=4)`` briefly on MNIST and return its
    filters as unit vectors ``(4, 16)`` (float64) and a summary of the training."""
    from qnnlab.data.mnist import load_mnist_split
    from qnnlab.training.conv_net import ConvNetSpec, train_convnet

    images, labels, train, held_out = load_mnist_split(
        settings["classical_train"],
        settings["classical_eval"],
        seed=settings["seed"],
        root=settings["mnist_dir"],
        cache_dir=cache_dir,
        download=True,
    )
    spec = ConvNetSpec(conv="classical-relu", n_filters=CLASSICAL_FILTERS, kernel_size=KERNEL)
    start = time.perf_counter()
    result = train_convnet(
        spec,
        images[train],
        labels[train],
        images[held_out],
        labels[held_out],
        epochs=settings["classical_epochs"],
        learning_rate=settings["classical_learning_rate"],
        seed=settings["seed"],
    )
    w = np.asarray(result.params["conv"], dtype=np.float64).reshape(CLASSICAL_FILTERS, -1)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise ValueError("a trained classical filter is all zero; change seed or classical_*.")
    summary = {
        "spec": "ConvNetSpec(conv='classical-relu', n_filters=4, kernel_size=4)",
        "train_images": len(train),
        "eval_images": len(held_out),
        "epochs": settings["classical_epochs"],
        "train_acc": result.history["train_acc"][-1],
        "eval_acc": result.history["eval_acc"][-1],
        "seconds": time.perf_counter() - start,
        "filter_norms": norms[:, 0].tolist(),
    }
    return w / norms, summary


def targets_task(settings: dict, cache_dir: str | None) -> dict:
    """The target states: the first ``learned_targets`` classical filters, then the random
    controls (module docstring)."""
    targets = []
    classical = None
    if settings["learned_targets"]:
        filters, classical = learned_filters(settings, cache_dir)
        for j in range(settings["learned_targets"]):
            targets.append({"name": f"learned{j}", "kind": "learned", "vector": filters[j]})
    for j in range(settings["random_targets"]):
        vector = haar_real_unit_vector(settings["seed"], j)
        targets.append({"name": f"random{j}", "kind": "random", "vector": vector})
    for t in targets:
        t["vector"] = [float(v) for v in t["vector"]]
    return {"name": "targets", "targets": targets, "classical": classical}


# ----------------------------------------------------------------------------------- learning


def _layer(layers: int, n_seeds: int):
    from qnnlab.models.qucnn import QuCNNLayer

    return QuCNNLayer(kernel_size=KERNEL, n_filters=n_seeds, layers=layers)


def filter_fidelity(layers: int, theta, target):
    """Pure ``F_s = |<t|f(theta_s)>|^2`` for ``theta (S, 8 L)`` and a real unit ``target (16,)``
    (the SWAP-test value), via :meth:`QuCNNLayer.filter_states`."""
    states = _layer(layers, theta.shape[0]).filter_states(theta)
    amplitude = jnp.einsum("sd,d->s", states, target.astype(states.dtype), precision="highest")
    return jnp.real(amplitude) ** 2 + jnp.imag(amplitude) ** 2


@functools.lru_cache(maxsize=32)
def _adam_step(layers: int, learning_rate: float):
    """One compiled ``step(theta, opt_state, target) -> (theta', opt_state', F(theta))``."""
    optimizer = optax.adam(learning_rate)

    def step(theta, opt_state, target):
        fidelity, pullback = jax.vjp(lambda t: filter_fidelity(layers, t, target), theta)
        (grad,) = pullback(-jnp.ones_like(fidelity))  # d sum_s (1 - F_s) / d theta
        updates, opt_state = optimizer.update(grad, opt_state, theta)
        return optax.apply_updates(theta, updates), opt_state, fidelity

    return optimizer, jax.jit(step)


def initial_angles(seed: int, layers: int, n_seeds: int) -> jnp.ndarray:
    """``(n_seeds, 8 L)`` float32 angles uniform on ``[0, 2 pi)``, row ``s`` from
    ``fold_in(key(seed), s)``."""
    size = 2 * N_QUBITS * layers
    key = jax.random.key(seed)
    rows = [
        jax.random.uniform(jax.random.fold_in(key, s), (size,), jnp.float32, 0.0, 2 * math.pi)
        for s in range(n_seeds)
    ]
    return jnp.stack(rows)


def learn_filter_state(
    target, layers: int, *, seeds: int, iterations: int, learning_rate: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adam on ``1 - F`` for ``seeds`` starts at once (module docstring).

    Returns ``(curves (seeds, iterations + 1), theta_initial, theta_final)``: ``curves[s, i]`` is
    ``F`` after ``i`` steps.
    """
    vector = np.asarray(target, dtype=np.float64)
    if vector.shape != (2**N_QUBITS,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"target must be 16 finite numbers, got shape {vector.shape}.")
    norm = np.linalg.norm(vector)
    if not norm > 0:
        raise ValueError("target is the zero vector; give a nonzero filter.")
    t = jnp.asarray(vector / norm, jnp.float32)
    optimizer, step = _adam_step(layers, float(learning_rate))
    theta0 = initial_angles(seed, layers, seeds)
    theta, state = theta0, optimizer.init(theta0)
    fidelities = []
    for i in range(iterations + 1):
        updated, new_state, fidelity = step(theta, state, t)
        fidelities.append(fidelity)
        if i < iterations:  # the last call only measures F at the final angles
            theta, state = updated, new_state
    curves = np.asarray(jnp.stack(fidelities, axis=1), dtype=np.float64)
    return curves, np.asarray(theta0), np.asarray(theta)


def shot_fidelities(fidelity, shots: int, seed) -> np.ndarray:
    """SWAP-test estimates ``2 n_0 / S - 1``, ``n_0 ~ Binomial(S, (1 + F) / 2)``, of the
    fidelities ``(S,)`` from ``shots`` shots each (the model of
    :func:`qnnlab.models.qucnn.sample_swap_tests`), drawn by NumPy's exact binomial sampler from
    ``default_rng(seed)``: compiling ``jax.random.binomial`` costs seconds (a tenth of a quick
    run) for a handful of draws."""
    p_zero = np.clip((1.0 + np.asarray(fidelity, dtype=np.float64)) / 2.0, 0.0, 1.0)
    n_zero = np.random.default_rng(seed).binomial(shots, p_zero)
    return 2.0 * n_zero / shots - 1.0


@functools.lru_cache(maxsize=16)
def _swap_test_engine(layers: int):
    from qnnlab.engines import make_engine
    from qnnlab.models.qucnn import swap_test_circuit

    circuit = swap_test_circuit(N_QUBITS, layers=layers, filter="ansatz", data="circuit")
    return make_engine(circuit, "statevector")


def circuit_fidelities(layers: int, thetas, target) -> np.ndarray:
    """``<Z_0>`` of the 9-qubit SWAP-test circuit (ansatz filter, target prepared by Mottonen's
    circuit) for each row of ``thetas`` (float64 array of the engine's float32 results)."""
    from qnnlab.circuits.state_prep import state_prep_angles

    engine = _swap_test_engine(layers)
    angles = np.asarray(state_prep_angles(jnp.asarray(target, jnp.float32)))
    return np.array(
        [float(engine.expval(np.concatenate([row, angles]), None, "Z0")) for row in thetas]
    )


def first_reach(curve: np.ndarray, threshold: float) -> int | None:
    """First iteration ``i`` with ``curve[i] >= threshold``, or ``None``."""
    hits = np.flatnonzero(curve >= threshold)
    return int(hits[0]) if hits.size else None


def recorded_iterations(iterations: int, every: int) -> np.ndarray:
    """``0, every, 2 every, ...`` and the last iteration."""
    return np.unique(np.r_[np.arange(0, iterations + 1, every), iterations])


def learning_task(settings: dict, layers: int, target: dict) -> dict:
    """All seeds of one ``(layers, target)`` pair: curves, final and shot fidelities,
    iterations to each threshold, and the circuit check."""
    start = time.perf_counter()
    seeds, iterations = settings["seeds"], settings["iterations"]
    vector = np.asarray(target["vector"], dtype=np.float64)
    curves, theta0, theta = learn_filter_state(
        vector,
        layers,
        seeds=seeds,
        iterations=iterations,
        learning_rate=settings["learning_rate"],
        seed=settings["seed"],
    )
    final = curves[:, -1]
    shot_seed = [settings["seed"], layers, *target["name"].encode()]
    shots = shot_fidelities(final, settings["shots"], shot_seed)
    checks = settings["circuit_checks"]
    points = np.concatenate([theta0[:checks], theta[:checks]])
    fast = np.concatenate([curves[:checks, 0], curves[:checks, -1]])
    on_circuit = circuit_fidelities(layers, points, vector) if checks else np.zeros(0)
    grid = recorded_iterations(iterations, settings["record_every"])
    return {
        "name": f"layers{layers}-{target['name']}",
        "layers": layers,
        "n_params": 2 * N_QUBITS * layers,
        "target": target["name"],
        "kind": target["kind"],
        "iterations": grid.tolist(),
        "curves": curves[:, grid].tolist(),
        "initial_fidelity": curves[:, 0].tolist(),
        "final_fidelity": final.tolist(),
        "shot_fidelity": shots.tolist(),
        "shot_stderr": np.sqrt(np.clip(1 - final**2, 0, None) / settings["shots"]).tolist(),
        "reach": {
            str(thr): [first_reach(c, thr) for c in curves] for thr in settings["thresholds"]
        },
        "circuit_check": {
            "points": len(points),
            "fast_path": fast.tolist(),
            "circuit": on_circuit.tolist(),
            "max_abs_difference": float(np.max(np.abs(fast - on_circuit), initial=0.0)),
        },
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------------------------ summary


def _curve_stats(records: list[dict]) -> dict | None:
    if not records:
        return None
    curves = np.concatenate([np.asarray(r["curves"]) for r in records])
    return {
        "iterations": records[0]["iterations"],
        "mean": curves.mean(axis=0).tolist(),
        "std": curves.std(axis=0).tolist(),
        "min": curves.min(axis=0).tolist(),
        "max": curves.max(axis=0).tolist(),
        "runs": int(curves.shape[0]),
    }


def summarize_layers(records: list[dict], layers: int, thresholds) -> dict:
    """Mean/std of the final (exact and shot) fidelities over targets x seeds of one layer
    count, by target kind, the best seed per target, and the iterations to each threshold."""
    mine = [r for r in records if r["layers"] == layers]
    finals = [f for r in mine for f in r["final_fidelity"]]
    out = {
        "layers": layers,
        "n_params": 2 * N_QUBITS * layers,
        "runs": len(finals),
        "initial": mean_std([f for r in mine for f in r["initial_fidelity"]]),
        "final": mean_std(finals),
        "shot_final": mean_std([f for r in mine for f in r["shot_fidelity"]]),
        "best_of_seeds": mean_std([max(r["final_fidelity"]) for r in mine]),
        "curve": _curve_stats(mine),
    }
    for kind in ("learned", "random"):
        group = [r for r in mine if r["kind"] == kind]
        out[f"final_{kind}"] = mean_std([f for r in group for f in r["final_fidelity"]])
        out[f"curve_{kind}"] = _curve_stats(group)
    reach = {}
    for thr in thresholds:
        hits = [i for r in mine for i in r["reach"][str(thr)]]
        reached = [i for i in hits if i is not None]
        reach[str(thr)] = {
            "fraction": len(reached) / len(hits),
            "median_iterations": float(np.median(reached)) if reached else None,
            "mean_iterations": float(np.mean(reached)) if reached else None,
        }
    out["reach"] = reach
    return out


# -------------------------------------------------------------------------------------- run


def run_qucnn_state_learning(
    config: QuCNNStateLearningConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) the experiment into ``out`` (module docstring)."""
    config.validate()
    settings = config.to_dict()
    run = open_run("qucnn-state-learning", settings, out, command)
    options = {"workers": workers, "scheduler": scheduler, "progress": progress}
    (targets,) = run_tasks(
        run,
        settings,
        call_task,
        [(targets_task, (settings, cache_arg(cache_dir)))],
        ["targets"],
        desc="targets",
        **options,
    )
    tasks, names = [], []
    for layers in config.layers:
        for target in targets["targets"]:
            tasks.append((learning_task, (settings, layers, target)))
            names.append(f"layers{layers}-{target['name']}")
    records = run_tasks(run, settings, call_task, tasks, names, desc="state learning", **options)
    summary = [summarize_layers(records, layers, config.thresholds) for layers in config.layers]
    worst = max(r["circuit_check"]["max_abs_difference"] for r in records)
    points = sum(r["circuit_check"]["points"] for r in records)
    results = {
        "experiment": "qucnn-state-learning",
        "config": settings,
        "targets": targets["targets"],
        "classical": targets["classical"],
        "runs": records,
        "summary": summary,
        "circuit_check": {
            "points": points,
            "max_abs_difference": worst,
            "tolerance": CIRCUIT_TOLERANCE,
            "passed": bool(worst <= CIRCUIT_TOLERANCE),
        },
    }
    run.write_results(results)
    header, rows = _run_rows(records, config.thresholds)
    run.write_csv("state_learning.csv", header, rows)
    curve_rows = [
        (r["layers"], r["target"], r["kind"], s, it, f)
        for r in records
        for s, curve in enumerate(r["curves"])
        for it, f in zip(r["iterations"], curve, strict=True)
    ]
    run.write_csv(
        "curves.csv", ("layers", "target", "kind", "seed", "iteration", "fidelity"), curve_rows
    )
    run.save_figure(plot_state_learning(records, summary, config.thresholds), "state_learning.png")
    run.log("done")
    return ExperimentRun(config, run.path, results)


def _run_rows(records: list[dict], thresholds) -> tuple[list[str], list[list]]:
    header = ["layers", "target", "kind", "seed", "initial_fidelity", "final_fidelity"]
    header += ["shot_fidelity", "shot_stderr"] + [f"iterations_to_{t}" for t in thresholds]
    rows = []
    for r in records:
        for s in range(len(r["final_fidelity"])):
            reach = [r["reach"][str(t)][s] for t in thresholds]
            rows.append(
                [r["layers"], r["target"], r["kind"], s, r["initial_fidelity"][s]]
                + [r["final_fidelity"][s], r["shot_fidelity"][s], r["shot_stderr"][s]]
                + ["" if v is None else v for v in reach]
            )
    return header, rows


KIND_COLORS = {"learned": "tab:blue", "random": "tab:orange"}
KIND_LABELS = {"learned": "learned MNIST filters", "random": "Haar-random real (control)"}


def plot_state_learning(records: list[dict], summary: list[dict], thresholds):
    """One panel per layer count (every run thin, mean thick, min-max band, per target kind)
    and a last panel of the final fidelities (exact dots, shot estimates crosses)."""
    from matplotlib.figure import Figure

    n = len(summary)
    fig = Figure(figsize=(3.6 * (n + 1), 3.4))
    axes = fig.subplots(1, n + 1, sharey=True)
    for ax, row in zip(axes[:n], summary, strict=True):
        for kind, color in KIND_COLORS.items():
            stats = row[f"curve_{kind}"]
            if stats is None:
                continue
            x = stats["iterations"]
            for r in records:
                if r["layers"] == row["layers"] and r["kind"] == kind:
                    for curve in r["curves"]:
                        ax.plot(x, curve, color=color, lw=0.5, alpha=0.3)
            ax.fill_between(x, stats["min"], stats["max"], color=color, alpha=0.12, lw=0)
            mean = row[f"final_{kind}"]["mean"]
            ax.plot(x, stats["mean"], color=color, lw=2, label=f"{KIND_LABELS[kind]} ({mean:.3f})")
        for thr in thresholds:
            ax.axhline(thr, color="grey", ls=":", lw=0.8)
        ax.set(
            title=f"{row['layers']} layer{'s' if row['layers'] > 1 else ''} "
            f"({row['n_params']} angles)",
            xlabel="Adam iterations",
            ylim=(0, 1.02),
        )
        ax.grid(alpha=0.25)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("fidelity |<t|f(theta)>|^2")
    last = axes[n]
    rng = np.random.default_rng(0)
    for r in records:
        x = r["layers"] + rng.uniform(-0.12, 0.12, len(r["final_fidelity"]))
        color = KIND_COLORS[r["kind"]]
        last.plot(x, r["final_fidelity"], "o", color=color, ms=3, alpha=0.7)
        last.plot(x, r["shot_fidelity"], "x", color=color, ms=3, alpha=0.7)
    layers = [row["layers"] for row in summary]
    last.plot(layers, [row["final"]["mean"] for row in summary], "k_", ms=18, mew=2)
    last.set(
        title="final fidelity (o exact, x shots; - mean)",
        xlabel="ansatz layers",
        xticks=layers,
    )
    last.grid(alpha=0.25)
    fig.tight_layout()
    return fig


def report(run: ExperimentRun) -> list[str]:
    r = run.results
    lines = []
    if r.get("classical"):
        c = r["classical"]
        lines.append(
            f"targets: {len(r['targets'])} ({c['train_images']}-image classical-relu net, "
            f"eval accuracy {c['eval_acc']:.3f}, plus Haar-random real controls)"
        )
    thresholds = r["config"]["thresholds"]
    for row in r["summary"]:
        parts = [
            f"{row['layers']} layer(s): final F = {row['final']['mean']:.4f} +- "
            f"{row['final']['std']:.4f}",
        ]
        for kind in ("learned", "random"):
            stats = row[f"final_{kind}"]
            if stats["n"]:
                parts.append(f"{kind} {stats['mean']:.4f}")
        parts.append(f"best seed {row['best_of_seeds']['mean']:.4f}")
        parts.append(f"shots {row['shot_final']['mean']:.4f}")
        for thr in thresholds:
            reach = row["reach"][str(thr)]
            median = reach["median_iterations"]
            when = "never" if median is None else f"median {median:.0f} it"
            parts.append(f"F>={thr}: {reach['fraction']:.0%} ({when})")
        lines.append(", ".join(parts))
    check = r["circuit_check"]
    lines.append(
        f"SWAP-test circuit vs fast path: max |diff| {check['max_abs_difference']:.1e} over "
        f"{check['points']} points ({'ok' if check['passed'] else 'FAILED'}, tolerance "
        f"{check['tolerance']:.0e})"
    )
    return lines
