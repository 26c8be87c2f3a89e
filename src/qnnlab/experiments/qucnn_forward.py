"""``qnnlab reproduce qucnn-forward``: the QuCNN forward pass against a classical convolution
(Stein et al., QuCNN, ``papers/qucnn.md`` Sec. V-A and Fig. 3).

**Recipe (the paper's).** A classical network with one 4x4 filter (``ConvNetSpec(conv=
"classical-relu", n_filters=1)``: relu convolution, 5x5 average pooling, linear softmax head) is
trained with Adam on the 8,000-image training part of :func:`qnnlab.data.mnist.mnist_split`
(pixels scaled to ``[0, 1]``). Its filter ``w`` becomes the *ideal filter state*
``|f> = w / ||w||``. Sixteen images drawn (seeded) from the 2,000-image evaluation part are cut
into their ``25 x 25 = 625`` windows (stride 1); each window ``x`` is amplitude-encoded,
``|x> = x / ||x||``, and SWAP-tested against ``|f>`` with ``S = 10,000`` shots:

    y = |<f|x>|^2 = (w . x)^2 / (||w||^2 ||x||^2),     y_hat = 2 n_0 / S - 1,
    n_0 ~ Binomial(S, (1 + y) / 2),    E[y_hat] = y,   Var[y_hat] = (1 - y^2) / S.

**Maps compared.** *Quantum*: ``y_hat`` from :meth:`QuCNNLayer.apply_states` (exact ``y``) and
:func:`~qnnlab.models.qucnn.sample_swap_tests` (the shots), one compiled program for all images.
*Classical*: computed independently of the QuCNN code, ``(conv(x, w) / (||w|| sqrt(conv(x^2,
1))))^2`` with ``jax.lax.conv_general_dilated`` (0 at empty windows, the QuCNN rule). The exact
``y`` equals the classical map up to float32 rounding (``exact_vs_classical_max_diff``), so the
quantum map differs from it by shot noise only: its RMSE is compared with the prediction
``sqrt(mean((1 - y^2) / S))`` (0 at empty windows). The circuit route is checked on the first
image: :func:`~qnnlab.models.qucnn.swap_test_circuit` with ``filter="state", data="circuit"``
(Mottonen preparation of both registers, angles from
:func:`~qnnlab.circuits.state_prep.state_prep_angles`) on the statevector engine gives the same
``<Z_0>`` at every occupied window (``circuit_route_max_error``).

Checkpointed tasks: ``classical-training`` (the filter, accuracies, time) and ``swap-tests``
(the maps, metrics and timings; ``swap_test_seconds`` includes compiling the program in this
process, or loading it from JAX's on-disk cache).
"""

from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import as_observable
from qnnlab.circuits.state_prep import state_prep_angles
from qnnlab.data.images import extract_patches, n_encoding_qubits
from qnnlab.data.mnist import load_mnist_split
from qnnlab.engines import make_engine
from qnnlab.experiments.classification import cache_arg, call_task, open_run, run_tasks
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers
from qnnlab.models.qucnn import QuCNNLayer, sample_swap_tests, swap_test_circuit
from qnnlab.runtime.caches import default_compilation_cache
from qnnlab.runtime.checkpoint import atomic_write_bytes
from qnnlab.training.conv_net import ConvNetSpec, train_convnet

#: The paper's split of the 10,000 verified MNIST test images (``mnist_split`` defaults).
SPLIT = (8000, 2000)


@dataclass(frozen=True)
class QuCNNForwardConfig(ExperimentConfig):
    """Paper Fig. 3 settings: 16 images, 4x4 filter, stride 1, 10,000 shots per SWAP test.

    ``n_train`` images (a seeded subset of the 8,000-image training part) train the classical
    one-filter net for ``epochs`` epochs; its accuracy is measured on the 2,000 evaluation
    images, from which the ``n_images`` test images are also drawn.
    """

    n_images: int = 16
    kernel_size: int = 4
    stride: int = 1
    shots: int = 10_000
    n_train: int = 8000
    epochs: int = 2
    batch_size: int = 100
    learning_rate: float = 0.01
    seed: int = 0
    mnist_dir: str | None = None

    @classmethod
    def quick(cls) -> QuCNNForwardConfig:
        return cls(n_images=4, n_train=500, epochs=1, batch_size=25)

    def validate(self) -> QuCNNForwardConfig:
        check_numbers(self)
        if not 1 <= self.n_images <= SPLIT[1]:
            raise ValueError(f"n_images must lie in 1..{SPLIT[1]}, got {self.n_images}.")
        if not 2 <= self.kernel_size <= 5:
            raise ValueError(
                f"kernel_size must lie in 2..5 (a SWAP test on 2k+1 <= 11 qubits), got "
                f"{self.kernel_size}."
            )
        if not 1 <= self.stride <= self.kernel_size:
            raise ValueError(f"stride must lie in 1..kernel_size, got {self.stride}.")
        if self.shots < 1:
            raise ValueError(f"shots must be >= 1, got {self.shots}.")
        if not 1 <= self.n_train <= SPLIT[0]:
            raise ValueError(f"n_train must lie in 1..{SPLIT[0]}, got {self.n_train}.")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
        if not 1 <= self.batch_size <= self.n_train:
            raise ValueError(
                f"batch_size must lie in 1..n_train ({self.n_train}), got {self.batch_size}."
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.mnist_dir is not None and not isinstance(self.mnist_dir, str):
            raise ValueError(f"mnist_dir must be a folder path or None, got {self.mnist_dir!r}.")
        self.spec()  # the map must be at least as large as the pooling window
        return self

    def spec(self) -> ConvNetSpec:
        """The classical one-filter network."""
        try:
            return ConvNetSpec(
                conv="classical-relu",
                n_filters=1,
                kernel_size=self.kernel_size,
                stride=self.stride,
            )
        except ValueError as err:
            raise ValueError(f"kernel_size/stride: {err}") from None


# --------------------------------------------------------------------------------- data
def _load(settings: dict, cache: str | None):
    """``(images float32 in [0, 1] (N, 1, 28, 28), labels, train_idx, eval_idx)``."""
    images, labels, train_idx, eval_idx = load_mnist_split(
        *SPLIT, seed=settings["seed"], root=settings["mnist_dir"], cache_dir=cache, download=True
    )
    return images[:, None], labels, train_idx, eval_idx


def training_indices(train_idx: np.ndarray, n_train: int, seed: int) -> np.ndarray:
    """A seeded subset of ``n_train`` training indices (all of them when ``n_train`` is 8,000)."""
    if n_train >= len(train_idx):
        return train_idx
    rng = np.random.default_rng([seed, 0])
    return np.sort(rng.choice(train_idx, n_train, replace=False))


def test_image_indices(eval_idx: np.ndarray, n_images: int, seed: int) -> np.ndarray:
    """``n_images`` evaluation indices drawn by ``default_rng([seed, 1])`` (in draw order)."""
    return np.random.default_rng([seed, 1]).choice(eval_idx, n_images, replace=False)


# ----------------------------------------------------------------------------- tasks
def classical_training_task(settings: dict, cache: str | None) -> dict:
    """Train the one-filter classical net; its 4x4 filter, accuracies and wall time."""
    cfg = QuCNNForwardConfig(**settings)
    images, labels, train_idx, eval_idx = _load(settings, cache)
    idx = training_indices(train_idx, cfg.n_train, cfg.seed)
    start = time.perf_counter()
    result = train_convnet(
        cfg.spec(),
        images[idx],
        labels[idx],
        images[eval_idx],
        labels[eval_idx],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
    )
    jax.block_until_ready(result.params)
    seconds = time.perf_counter() - start
    w = np.asarray(result.params["conv"], np.float64)[0, 0]
    history = {k: [float(v) for v in vals] for k, vals in result.history.items()}
    return {
        "name": "classical-training",
        "filter": w.tolist(),
        "train_accuracy": history["train_acc"][-1],
        "eval_accuracy": history["eval_acc"][-1],
        "history": history,
        "n_train": len(idx),
        "n_eval": len(eval_idx),
        "seconds": seconds,
    }


@functools.partial(jax.jit, static_argnums=2)
def classical_maps(images, w, stride: int = 1):
    """``(conv(x, w) / (||w|| ||x_window||))^2`` per window, 0 at empty windows: the normalised,
    squared classical convolution (``images (B, 1, H, W)``, ``w (1, 1, kh, kw)``) computed with
    ``jax.lax.conv_general_dilated`` only (no QuCNN code)."""
    kh, kw = w.shape[2:]

    def conv(x, kernel):
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            (stride, stride),
            "VALID",
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=jax.lax.Precision.HIGHEST,
        )

    images = jnp.asarray(images)
    w = jnp.asarray(w, images.dtype)  # one dtype whether or not JAX's 64-bit mode is on
    dot = conv(images, w)
    norm_sq = conv(images * images, jnp.ones((1, 1, kh, kw), images.dtype))
    occupied = norm_sq > 0
    safe = jnp.sqrt(jnp.where(occupied, norm_sq, 1.0))
    cosine = dot / (jnp.linalg.norm(w) * safe)
    return jnp.where(occupied, cosine * cosine, 0.0)


def circuit_route_maps(f_state: np.ndarray, image, kernel_size: int, stride: int) -> np.ndarray:
    """``<Z_0>`` of :func:`swap_test_circuit` ``(k, filter="state", data="circuit")`` on the
    statevector engine for every window of one image ``(1, 1, H, W)``: ``(H', W')``. Empty
    windows prepare ``|0..0>`` (all-zero angles), so their values are not SWAP tests of the
    data; callers mask them."""
    dim = f_state.shape[0]
    k = n_encoding_qubits(dim)
    engine = make_engine(swap_test_circuit(k, filter="state", data="circuit"), "statevector")
    patches = extract_patches(jnp.asarray(image), kernel_size, stride, 0)[0]  # (H', W', P)
    h, w, p = patches.shape
    flat = patches.reshape(h * w, p)
    if p < dim:
        flat = jnp.concatenate([flat, jnp.zeros((h * w, dim - p), flat.dtype)], axis=1)
    filter_angles = state_prep_angles(jnp.asarray(f_state, jnp.float32))
    data_angles = jax.vmap(state_prep_angles)(flat)
    thetas = jnp.concatenate(
        [jnp.broadcast_to(filter_angles, (h * w, filter_angles.shape[0])), data_angles], axis=1
    )
    _, zero, _ = engine.prepare(np.zeros(engine.n_params), None)
    expval = engine.expval_fn(as_observable("Z0"))
    values = jax.jit(jax.vmap(lambda t: expval(t, zero)[0]))(thetas)
    return np.asarray(values, np.float64).reshape(h, w)


def swap_test_task(settings: dict, filter_weights: list, cache: str | None) -> dict:
    """Quantum (SWAP tests, shots) and classical maps of the test images, with the metrics of
    the module docstring."""
    cfg = QuCNNForwardConfig(**settings)
    images, labels, _, eval_idx = _load(settings, cache)
    picked = test_image_indices(eval_idx, cfg.n_images, cfg.seed)
    x = jnp.asarray(images[picked])
    w = np.asarray(filter_weights, np.float32)
    if not np.all(np.isfinite(w)) or not np.any(w):
        raise ValueError(
            "the trained filter is zero or not finite: train again with other settings."
        )
    layer = QuCNNLayer(kernel_size=cfg.kernel_size, stride=cfg.stride, n_filters=1)
    dim = 2**layer.n_qubits
    f_state = np.zeros(dim, np.float64)
    f_state[: w.size] = w.ravel() / np.linalg.norm(w.astype(np.float64))
    states = jnp.asarray(f_state[None], jnp.complex64)
    shots = cfg.shots

    def quantum(states, images, key):
        exact = layer.apply_states(states, images)
        _, occupied = layer.encode(images)
        return exact, sample_swap_tests(exact, occupied, shots, key), occupied

    key = jax.random.key(cfg.seed)
    start = time.perf_counter()
    program = jax.jit(quantum).lower(states, x, key).compile()
    compiled = time.perf_counter()
    exact, sampled, occupied = jax.block_until_ready(program(states, x, key))
    done = time.perf_counter()

    start_c = time.perf_counter()
    classical = classical_maps(x, jnp.asarray(w[None, None]), cfg.stride)
    classical = np.asarray(jax.block_until_ready(classical), np.float64)[:, 0]
    classical_seconds = time.perf_counter() - start_c

    exact = np.asarray(exact, np.float64)[:, 0]
    sampled = np.asarray(sampled, np.float64)[:, 0]
    occupied = np.asarray(occupied)

    start_r = time.perf_counter()
    route = circuit_route_maps(f_state, images[picked[:1]], cfg.kernel_size, cfg.stride)
    route_error = float(np.max(np.abs(np.where(occupied[0], route - exact[0], 0.0))))
    route_seconds = time.perf_counter() - start_r

    per_image = []
    for b, index in enumerate(picked):
        q, c, e, occ = sampled[b], classical[b], exact[b], occupied[b]
        variance = np.where(occ, (1.0 - e * e) / shots, 0.0)
        per_image.append(
            {
                "index": int(index),
                "label": int(labels[index]),
                "n_occupied": int(occ.sum()),
                "correlation": float(np.corrcoef(q.ravel(), c.ravel())[0, 1]),
                "rmse": float(np.sqrt(np.mean((q - c) ** 2))),
                "max_abs_error": float(np.max(np.abs(q - c))),
                "exact_vs_classical_max_diff": float(np.max(np.abs(e - c))),
                "expected_shot_rmse": float(np.sqrt(np.mean(variance))),
            }
        )
    return {
        "name": "swap-tests",
        "per_image": per_image,
        "swap_test_seconds": done - start,
        "swap_test_compile_seconds": compiled - start,
        "swap_test_run_seconds": done - compiled,
        "classical_map_seconds": classical_seconds,
        "circuit_route_max_error": route_error,
        "circuit_route_checked_windows": int(occupied[0].sum()),
        "circuit_route_seconds": route_seconds,
        "maps": {
            "images": np.asarray(images[picked][:, 0], np.float64).tolist(),
            "classical": classical.tolist(),
            "quantum": sampled.tolist(),
            "exact": exact.tolist(),
        },
    }


# ------------------------------------------------------------------------------- run
def run_qucnn_forward(
    config: QuCNNForwardConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) the forward-pass comparison into ``out`` (module docstring).

    ``cache_dir`` is where MNIST files found in ``mnist_dir`` are kept (default: qnnlab's cache
    folder, :func:`qnnlab.data.mnist.load_mnist`).
    """
    config.validate()
    default_compilation_cache()
    settings = config.to_dict()
    cache = cache_arg(cache_dir)
    run = open_run("qucnn-forward", settings, out, command)
    options = {"workers": workers, "scheduler": scheduler, "progress": progress}
    (training,) = run_tasks(
        run,
        settings,
        call_task,
        [(classical_training_task, (settings, cache))],
        ["classical-training"],
        desc="classical training",
        **options,
    )
    (swap,) = run_tasks(
        run,
        settings,
        call_task,
        [(swap_test_task, (settings, training["filter"], cache))],
        ["swap-tests"],
        desc="SWAP tests",
        **options,
    )
    per_image = swap["per_image"]
    results = {
        "experiment": "qucnn-forward",
        "config": settings,
        "image_indices": [r["index"] for r in per_image],
        "labels": [r["label"] for r in per_image],
        "correlation": [r["correlation"] for r in per_image],
        "rmse": [r["rmse"] for r in per_image],
        "max_abs_error": [r["max_abs_error"] for r in per_image],
        "exact_vs_classical_max_diff": max(r["exact_vs_classical_max_diff"] for r in per_image),
        "exact_vs_classical_max_diff_per_image": [
            r["exact_vs_classical_max_diff"] for r in per_image
        ],
        "expected_shot_rmse": [r["expected_shot_rmse"] for r in per_image],
        "n_occupied": [r["n_occupied"] for r in per_image],
        "circuit_route_max_error": swap["circuit_route_max_error"],
        "circuit_route_checked_windows": swap["circuit_route_checked_windows"],
        "classical_training_seconds": training["seconds"],
        "swap_test_seconds": swap["swap_test_seconds"],
        "swap_test_compile_seconds": swap["swap_test_compile_seconds"],
        "swap_test_run_seconds": swap["swap_test_run_seconds"],
        "classical_map_seconds": swap["classical_map_seconds"],
        "circuit_route_seconds": swap["circuit_route_seconds"],
        "classical_eval_accuracy": training["eval_accuracy"],
        "classical_train_accuracy": training["train_accuracy"],
        "classical_history": training["history"],
        "filter": training["filter"],
        "map_shape": list(np.asarray(swap["maps"]["exact"]).shape[1:]),
    }
    run.write_results(results)
    columns = (
        "index",
        "label",
        "n_occupied",
        "correlation",
        "rmse",
        "expected_shot_rmse",
        "max_abs_error",
        "exact_vs_classical_max_diff",
    )
    run.write_csv("per_image.csv", columns, [[r[c] for c in columns] for r in per_image])
    maps = {k: np.asarray(v, np.float32) for k, v in swap["maps"].items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **maps, filter=np.asarray(training["filter"], np.float32))
    atomic_write_bytes(run.file("maps.npz"), buffer.getvalue())
    run.save_figure(plot_maps(maps, results), "maps.png")
    run.log("done")
    return ExperimentRun(config, run.path, results)


def plot_maps(maps: dict, results: dict):
    """Paper Fig. 3 layout: per image the digit, the classical map and the quantum (shot) map,
    four images per row; both maps on the same colour scale ``[0, 1]``."""
    from matplotlib.figure import Figure

    n = len(maps["images"])
    per_row = min(4, n)
    rows = -(-n // per_row)
    fig = Figure(figsize=(3 * per_row * 1.05, rows * 1.25 + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, 3 * per_row, squeeze=False))
    for ax in axes.ravel():
        ax.set_axis_off()
    for b in range(n):
        r, c = divmod(b, per_row)
        panels = (
            (
                maps["images"][b],
                "gray_r",
                f"#{results['image_indices'][b]} ({results['labels'][b]})",
            ),
            (maps["classical"][b], "viridis", "classical"),
            (maps["quantum"][b], "viridis", f"quantum r={results['correlation'][b]:.4f}"),
        )
        for j, (data, cmap, title) in enumerate(panels):
            ax = axes[r, 3 * c + j]
            ax.imshow(data, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(title, fontsize=7)
    shots = results["config"]["shots"]
    fig.suptitle(
        f"QuCNN forward pass: normalised squared classical convolution vs SWAP tests "
        f"({shots} shots), classical filter trained to {results['classical_eval_accuracy']:.1%}",
        fontsize=9,
    )
    return fig


def report(run: ExperimentRun) -> list[str]:
    r = run.results
    corr = np.asarray(r["correlation"])
    rmse, expected = np.mean(r["rmse"]), np.mean(r["expected_shot_rmse"])
    return [
        f"classical one-filter net: eval accuracy {r['classical_eval_accuracy']:.3f} "
        f"(training {r['classical_training_seconds']:.1f} s)",
        f"correlation quantum (shots) vs classical over {len(corr)} images: mean "
        f"{corr.mean():.4f}, min {corr.min():.4f}",
        f"RMSE {rmse:.2e} (shot-noise prediction {expected:.2e}); max |exact - classical| "
        f"{r['exact_vs_classical_max_diff']:.1e}",
        f"circuit route (Mottonen filter + data, statevector) vs fast path: max error "
        f"{r['circuit_route_max_error']:.1e} over {r['circuit_route_checked_windows']} windows",
        f"SWAP-test step: {r['swap_test_seconds']:.2f} s including compilation "
        f"({r['swap_test_compile_seconds']:.2f} s compile, {r['swap_test_run_seconds']:.3f} s run)",
    ]
