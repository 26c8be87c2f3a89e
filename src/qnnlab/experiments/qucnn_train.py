"""``qnnlab reproduce qucnn-train``: QuCNN trained end to end on MNIST (beyond the paper).

Stein et al. (``papers/qucnn.md``, Sec. V) never trained a QuCNN network end to end and blamed
barren plateaus. This experiment trains one and measures the gradient variance directly.

**Classifier** (:mod:`qnnlab.training.conv_net`): ``n_filters`` filters over ``k x k`` windows
(stride 1), ``p x p`` average pooling, a linear softmax head, Adam on the cross-entropy, all ten
digits, ``n_train`` / ``n_eval`` images of the MNIST test split (:func:`mnist_split`). Models:

* ``qucnn``: ``y = |<f(theta)|x>|^2`` with exact expectations (JAX reverse mode, equal to the exact
  parameter-shift and ancilla-routine gradients);
* ``qucnn-frozen``: the same network with its random filters frozen (only the head learns): what
  training the filters adds is the difference to ``qucnn``;
* ``classical-squared``: the same function with a free real filter, ``(w.x / |w||x|)^2``;
* ``classical-relu``: the textbook ``relu(w . x)``.

A 4x4 window is 4 qubits; 2 ansatz layers give ``2 * 4 * 2 = 16`` angles per filter, the 16
weights of a 4x4 classical filter, so the conv parameter counts are equal (checked: the config
refuses ``kernel_size``/``layers`` for which ``2 k L != kernel_size^2``). Images are scaled to
``[0, 1]``; the QuCNN and squared maps do not depend on the scale (patches are normalised),
``relu(w . x)`` does.

**Shots.** ``qucnn`` trained on ``shot_train_images`` images for ``shot_epochs`` epochs in
batches of ``shot_batch_size`` with SWAP-test estimates (``shots`` shots each) for the forward
maps and the filter gradient measured by the entangled-ancilla routine or by the parameter-shift
rule, beside the same budget trained with exact expectations (training seed 0, a seeded random
subset of the training images); each scored on the ``n_eval`` images exactly and with shots.
Every step samples one binomial per (image, patch, filter, shifted circuit),
``2 * 16 * 4 * 625 = 80k`` per image for the default layer, so this part uses fewer images and
epochs; its smaller batches give more Adam steps for the same number of circuits (the cost is
per image, not per step).

**Gradient variance vs filter qubits.** For a ``p x p`` window (``k = ceil(log2 p^2)`` qubits,
``d = 2^k``) and ``L`` ansatz layers (``L = 0`` in the config means ``L = k``), angles
``theta ~ U[0, 2 pi)^(2kL)`` (``variance_draws`` draws) and data states ``|x>`` that are
``variance_patches`` normalised occupied MNIST windows, or Haar-random states of ``C^d``:

    g_j(theta, x) = d |<f(theta)|x>|^2 / d theta_j        (forward-mode autodiff)
    Var_j = Var_theta[g_j]  averaged over the data states; reported for all j averaged, and j = 0.

Estimator: ``c_t = mean_{x, j} (g_j(theta_t, x) - gbar_j(x))^2 * D / (D - 1)`` per draw ``t``;
``Var = mean_t c_t`` and its standard error ``std_t(c_t) / sqrt(D)``. Also the variance of the
value ``|<f(theta)|x>|^2`` itself, against the Haar reference: for Haar-random ``|f>``,
``|<f|x>|^2 ~ Beta(1, d - 1)``, so ``Var = (d - 1) / (d^2 (d + 1)) ~ 1 / d^2 = 2^-2k``; an
ansatz whose value variance reaches it is a state 2-design on that question, and then its
gradients vanish like a barren plateau's. Finally ``Var`` of the classifier's loss gradient
``dL/dtheta`` at random filters with a Glorot-normal head (the network's own initial head is
zero, which makes this gradient exactly 0) over ``variance_loss_images`` images.

``ln Var`` is fitted against ``k`` by weighted least squares (:func:`weighted_line_fit`):
``Var ~ A b^k``, ``slope = ln b`` per qubit, ``alpha = -slope / ln 2`` in ``Var ~ 2^(-alpha k)``;
with three or more qubit counts the exponential and power-law models are compared
(:func:`qnnlab.analysis.fits.fit_scaling`).

Each model x seed, each shot routine and each (window, layers) variance point is a checkpointed
task: a rerun into the same folder resumes. Outputs: ``results.json`` (``models``, ``shots``,
``variance``, ``timing``, ``verdict``), ``models.csv``, ``curves.csv``, ``shots.csv``,
``variance.csv``, ``variance_fits.csv``, ``learning_curves.png``, ``variance.png``.
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

from qnnlab.analysis.fits import fit_scaling, weighted_line_fit
from qnnlab.circuits.haar import haar_states
from qnnlab.data.images import amplitude_encode, extract_patches, n_encoding_qubits
from qnnlab.data.mnist import load_mnist_split
from qnnlab.experiments.classification import cache_arg, call_task, mean_std, open_run, run_tasks
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers
from qnnlab.models.qucnn import filter_states
from qnnlab.training.conv_net import (
    ConvNetSpec,
    cross_entropy,
    evaluate,
    head_logits,
    init_params,
    train_convnet,
)

#: Model name -> (ConvNetSpec.conv, train the filters?).
MODELS = {
    "qucnn": ("qucnn", True),
    "qucnn-frozen": ("qucnn", False),
    "classical-squared": ("classical-squared", True),
    "classical-relu": ("classical-relu", True),
}
#: Shot-part runs: exact expectations on the same budget, then the two measured gradients.
SHOT_ROUTINES = ("exact", "ancilla", "parameter-shift")
N_CLASSES = 10
IMAGE_SIDE = 28
MNIST_SIZE = 10_000
#: Largest variance window: 16x16 = 256 pixels = 8 filter qubits.
MAX_VARIANCE_PATCH = 16
#: Training images whose windows the MNIST data states of the variance scan are drawn from.
PATCH_IMAGES = 100
#: Draws per compiled chunk of the loss-gradient variance (bounds memory).
LOSS_CHUNK = 25


@dataclass(frozen=True)
class QuCNNTrainConfig(ExperimentConfig):
    """Every number of the run (module docstring). ``variance_layers`` entry 0 means
    ``layers = n_qubits``; ``variance_loss_images = 0`` skips the classifier loss gradient."""

    models: tuple[str, ...] = tuple(MODELS)
    n_filters: int = 4
    kernel_size: int = 4
    layers: int = 2
    pool: int = 5
    epochs: int = 10
    batch_size: int = 100
    learning_rate: float = 0.01
    seeds: int = 3
    n_train: int = 8000
    n_eval: int = 2000
    split_seed: int = 0
    shots: int = 1000
    shot_train_images: int = 1000
    shot_batch_size: int = 20
    shot_epochs: int = 3
    variance_patch_sizes: tuple[int, ...] = (2, 4, 8)
    variance_layers: tuple[int, ...] = (2, 4, 0)
    variance_draws: int = 200
    variance_patches: int = 64
    variance_loss_images: int = 100
    variance_seed: int = 0
    mnist_dir: str | None = None

    @classmethod
    def quick(cls) -> QuCNNTrainConfig:
        return cls(
            epochs=2,
            seeds=1,
            n_train=1000,
            n_eval=500,
            shots=100,
            shot_train_images=100,
            shot_epochs=1,
            variance_patch_sizes=(2, 4),
            variance_layers=(2, 0),
            variance_draws=50,
            variance_loss_images=20,
        )

    def validate(self) -> QuCNNTrainConfig:
        check_numbers(self)
        if not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(f"models must be distinct names from {tuple(MODELS)}.")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown models {unknown}; choose from {tuple(MODELS)}.")
        for name in ("n_filters", "kernel_size", "layers", "pool", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("seeds", "shots", "shot_batch_size", "shot_epochs", "variance_patches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.kernel_size > IMAGE_SIDE - self.pool + 1:
            raise ValueError(
                f"a {self.kernel_size}x{self.kernel_size} window leaves a map smaller than the "
                f"{self.pool}x{self.pool} pooling; use a smaller kernel_size or pool."
            )
        k = n_encoding_qubits(self.kernel_size**2)
        if 2 * k * self.layers != self.kernel_size**2:
            raise ValueError(
                f"QuCNN filters have 2 * {k} qubits * {self.layers} layers = "
                f"{2 * k * self.layers} angles but a {self.kernel_size}x{self.kernel_size} "
                f"classical filter has {self.kernel_size**2} weights; choose kernel_size and "
                "layers with 2 * qubits * layers = kernel_size^2 (e.g. 4 and 2)."
            )
        if self.n_train + self.n_eval > MNIST_SIZE:
            raise ValueError(
                f"n_train + n_eval = {self.n_train + self.n_eval} exceeds the {MNIST_SIZE} "
                "images of the MNIST test split; ask for fewer."
            )
        if self.n_eval < 1 or self.n_train < self.batch_size:
            raise ValueError(
                f"need n_eval >= 1 and n_train >= batch_size ({self.batch_size}), got "
                f"n_train={self.n_train}, n_eval={self.n_eval}."
            )
        if not self.shot_batch_size <= self.shot_train_images <= self.n_train:
            raise ValueError(
                f"shot_train_images must lie in [shot_batch_size, n_train] = "
                f"[{self.shot_batch_size}, {self.n_train}], got {self.shot_train_images}."
            )
        sizes = self.variance_patch_sizes
        if len(set(sizes)) != len(sizes) or min(sizes, default=0) < 2:
            raise ValueError(f"variance_patch_sizes must be distinct integers >= 2, got {sizes}.")
        if max(sizes) > MAX_VARIANCE_PATCH:
            raise ValueError(
                f"variance_patch_sizes above {MAX_VARIANCE_PATCH} ({MAX_VARIANCE_PATCH**2} "
                f"pixels, 8 qubits) are not supported, got {max(sizes)}."
            )
        if len({n_encoding_qubits(p * p) for p in sizes}) < 2:
            raise ValueError(
                f"variance_patch_sizes {sizes} give fewer than 2 qubit counts; a slope needs "
                "two (e.g. 2, 4, 8 for 2, 4, 6 qubits)."
            )
        layers = self.variance_layers
        if not layers or len(set(layers)) != len(layers):
            raise ValueError(
                f"variance_layers must be distinct integers >= 0 (0: layers = qubits), got "
                f"{layers}."
            )
        if self.variance_draws < 4:
            raise ValueError(f"variance_draws must be >= 4, got {self.variance_draws}.")
        if self.variance_loss_images > self.n_train:
            raise ValueError(
                f"variance_loss_images ({self.variance_loss_images}) exceeds n_train "
                f"({self.n_train})."
            )
        if self.mnist_dir is not None and not isinstance(self.mnist_dir, str):
            raise ValueError(f"mnist_dir must be a folder path or None, got {self.mnist_dir!r}.")
        return self


# ------------------------------------------------------------------------------------ data
@functools.lru_cache(maxsize=2)
def mnist_arrays(mnist_dir, cache_dir, n_train: int, n_eval: int, split_seed: int):
    """``(x_train, y_train, x_eval, y_eval)``: float32 images in ``[0, 1]`` ``(N, 28, 28)`` and
    int32 labels of the stratified split of the MNIST test split."""
    images, labels, train, held = load_mnist_split(
        n_train, n_eval, seed=split_seed, root=mnist_dir, cache_dir=cache_dir, download=True
    )
    return images[train], labels[train], images[held], labels[held]


def _data(settings: dict, cache):
    return mnist_arrays(
        settings["mnist_dir"],
        cache,
        settings["n_train"],
        settings["n_eval"],
        settings["split_seed"],
    )


def network_spec(settings: dict, conv: str) -> ConvNetSpec:
    return ConvNetSpec(
        conv=conv,
        n_filters=settings["n_filters"],
        kernel_size=settings["kernel_size"],
        layers=settings["layers"],
        pool=settings["pool"],
        n_classes=N_CLASSES,
    )


def _metrics(spec, params, x, y, shots=None, seed=0) -> dict:
    loss, acc = evaluate(spec, params, x, y, shots=shots, seed=seed)
    return {"loss": float(loss), "accuracy": float(acc)}


def _steady_seconds(epoch_seconds: list[float]) -> float:
    """Seconds per epoch without the first epoch (which includes compiling the step)."""
    later = epoch_seconds[1:] or epoch_seconds
    return float(np.median(later))


# ------------------------------------------------------------------------------------ tasks
def model_task(settings: dict, model: str, seed: int, cache) -> dict:
    """Train one model from seed ``seed`` on the split; its curves, accuracies and timings."""
    x_tr, y_tr, x_ev, y_ev = _data(settings, cache)
    conv, train_conv = MODELS[model]
    spec = network_spec(settings, conv)
    params0 = init_params(spec, seed)
    start = time.perf_counter()
    result = train_convnet(
        spec,
        x_tr,
        y_tr,
        x_ev,
        y_ev,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        seed=seed,
        train_conv=train_conv,
        params=params0,
    )
    seconds = time.perf_counter() - start
    moved = float(jnp.max(jnp.abs(result.params["conv"] - params0["conv"])))
    h = result.history
    return {
        "model": model,
        "seed": int(seed),
        "conv": conv,
        "train_conv": train_conv,
        "n_params": spec.n_params(),
        "init_eval": _metrics(spec, params0, x_ev, y_ev),
        "final_eval_acc": h["eval_acc"][-1],
        "final_eval_loss": h["eval_loss"][-1],
        "final_train_acc": h["train_acc"][-1],
        "filter_change": moved,
        "history": {k: [float(v) for v in vals] for k, vals in h.items()},
        "epoch_seconds_steady": _steady_seconds(h["epoch_seconds"]),
        "n_train": len(y_tr),
        "seconds": round(seconds, 3),
    }


def shot_task(settings: dict, routine: str, cache) -> dict:
    """``qucnn`` on ``shot_train_images`` images: exact (``routine="exact"``) or with shots and
    the filter gradient measured by ``routine``; scored exactly and with shots."""
    x_tr, y_tr, x_ev, y_ev = _data(settings, cache)
    pick = np.random.default_rng(settings["split_seed"]).permutation(len(y_tr))
    pick = np.sort(pick[: settings["shot_train_images"]])
    spec = network_spec(settings, "qucnn")
    seed = 0
    params0 = init_params(spec, seed)
    shots = None if routine == "exact" else settings["shots"]
    start = time.perf_counter()
    result = train_convnet(
        spec,
        x_tr[pick],
        y_tr[pick],
        x_ev,
        y_ev,
        epochs=settings["shot_epochs"],
        batch_size=settings["shot_batch_size"],
        learning_rate=settings["learning_rate"],
        seed=seed,
        shots=shots,
        gradient="autodiff" if routine == "exact" else routine,
        params=params0,
    )
    seconds = time.perf_counter() - start
    h = result.history
    return {
        "routine": routine,
        "shots": shots,
        "n_train": len(pick),
        "epochs": settings["shot_epochs"],
        "init_eval": _metrics(spec, params0, x_ev, y_ev),
        "eval_exact": _metrics(spec, result.params, x_ev, y_ev),
        "eval_shots": _metrics(
            spec, result.params, x_ev, y_ev, shots=settings["shots"], seed=settings["split_seed"]
        ),
        "history": {k: [float(v) for v in vals] for k, vals in h.items()},
        "epoch_seconds_steady": _steady_seconds(h["epoch_seconds"]),
        "seconds": round(seconds, 3),
    }


def draw_statistics(g) -> dict:
    """``Var_theta`` of ``g`` ``(D, ...)`` averaged over the other axes, with its standard error
    (module docstring: per-draw contributions ``c_t``), and ``max |mean|`` over the other axes."""
    g = np.asarray(g, dtype=np.float64).reshape(g.shape[0], -1)
    d = g.shape[0]
    centred = g - g.mean(axis=0)
    per_draw = np.mean(centred**2, axis=1) * d / (d - 1)
    return {
        "variance": float(per_draw.mean()),
        "stderr": float(per_draw.std(ddof=1) / math.sqrt(d)),
        "max_abs_mean": float(np.max(np.abs(g.mean(axis=0)))),
    }


def haar_value_variance(n_qubits: int) -> float:
    """``Var |<f|x>|^2`` for Haar-random ``|f>`` in ``C^d`` (``d = 2^k``): ``|<f|x>|^2`` is
    ``Beta(1, d - 1)``, whose variance is ``(d - 1) / (d^2 (d + 1))``."""
    d = 2**n_qubits
    return (d - 1) / (d * d * (d + 1))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _overlap_grads(n_qubits: int, layers: int, theta, states):
    """``(values (D, M), grads (D, M, P))``: ``y = |<f(theta_t)|x_m>|^2`` and ``dy/dtheta_t,j``
    (forward mode: the tangent ``e_j`` on every draw's ``j``-th angle at once)."""
    n_p = theta.shape[1]

    def values(t):
        f = filter_states(t, n_qubits, layers)
        return jnp.abs(jnp.einsum("tn,mn->tm", jnp.conj(f), states, precision="highest")) ** 2

    def column(j):
        tangent = jnp.zeros_like(theta).at[:, j].set(1.0)
        return jax.jvp(values, (theta,), (tangent,))[1]

    grads = jax.lax.map(column, jnp.arange(n_p))  # (P, D, M)
    return values(theta), jnp.moveaxis(grads, 0, -1)


def mnist_patches(images, patch: int, count: int, seed: int) -> np.ndarray:
    """``count`` normalised occupied ``patch x patch`` windows (stride 1) of ``images``, chosen
    uniformly without replacement, amplitude-encoded into ``2^k`` real amplitudes."""
    windows = extract_patches(jnp.asarray(images)[:, None], patch, 1, 0)
    dim = 2 ** n_encoding_qubits(patch * patch)
    encoded, occupied = amplitude_encode(windows.reshape(-1, windows.shape[-1]), dim)
    encoded = np.asarray(encoded)[np.asarray(occupied)]
    if len(encoded) < count:
        raise ValueError(f"only {len(encoded)} occupied {patch}x{patch} windows; ask for fewer.")
    rng = np.random.default_rng([seed, patch])
    return encoded[rng.choice(len(encoded), count, replace=False)]


def _loss_gradient_variance(settings, patch, n_qubits, layers, images, labels, key) -> dict:
    """Var over random filter angles of the classifier's ``dL/dtheta`` (Glorot-normal head)."""
    spec = ConvNetSpec(
        conv="qucnn",
        n_filters=settings["n_filters"],
        kernel_size=patch,
        layers=layers,
        pool=settings["pool"],
        n_classes=N_CLASSES,
    )
    layer = spec.layer
    k_theta, k_head = jax.random.split(key)
    n_f = spec.n_features
    scale = math.sqrt(2.0 / (n_f + N_CLASSES))
    head = {
        "w": scale * jax.random.normal(k_head, (n_f, N_CLASSES)),
        "b": jnp.zeros((N_CLASSES,), jnp.float32),
    }
    draws = settings["variance_draws"]
    thetas = jax.random.uniform(k_theta, (draws, *layer.param_shape), jnp.float32, 0, 2 * math.pi)
    encoded, occupied = jax.jit(layer.encode)(jnp.asarray(images)[:, None])
    y = jnp.asarray(labels)

    def loss(theta):
        maps = layer.apply_encoded(theta, encoded, occupied)
        return cross_entropy(head_logits(spec, head, maps), y)

    grads = jax.jit(lambda t: jax.lax.map(jax.grad(loss), t, batch_size=LOSS_CHUNK))(thetas)
    return {**draw_statistics(grads), "n_params": int(np.prod(layer.param_shape))}


def resolved_layers(n_qubits: int, layers_setting: int) -> int:
    """Ansatz layers of a ``variance_layers`` entry: ``0`` means as many layers as qubits."""
    return n_qubits if layers_setting == 0 else layers_setting


def variance_task(settings: dict, patch: int, layers: int, cache) -> dict:
    """Gradient and value variances of one (window, layers) point, MNIST and Haar data."""
    k = n_encoding_qubits(patch * patch)
    n_p = 2 * k * layers
    key = jax.random.fold_in(
        jax.random.fold_in(jax.random.key(settings["variance_seed"]), k), layers
    )
    k_theta, k_loss = jax.random.split(key)
    theta = jax.random.uniform(
        k_theta, (settings["variance_draws"], n_p), jnp.float32, 0, 2 * np.pi
    )
    x_tr, y_tr, _, _ = _data(settings, cache)
    count = settings["variance_patches"]
    data = {
        "mnist": mnist_patches(x_tr[:PATCH_IMAGES], patch, count, settings["variance_seed"]),
        "haar": haar_states(count, 2**k, np.random.default_rng([settings["variance_seed"], k])),
    }
    start = time.perf_counter()
    record = {
        "patch_size": patch,
        "n_qubits": k,
        "layers": layers,
        "n_params": n_p,
        "haar_value_reference": haar_value_variance(k),
    }
    for name, states in data.items():
        values, grads = _overlap_grads(k, layers, theta, jnp.asarray(states, jnp.complex64))
        record[name] = {
            "gradient_all": draw_statistics(grads),
            "gradient_j0": draw_statistics(grads[..., 0]),
            "value": draw_statistics(values),
            "value_mean": float(jnp.mean(values)),
        }
    n_img = settings["variance_loss_images"]
    if n_img:
        record["loss"] = _loss_gradient_variance(
            settings, patch, k, layers, x_tr[:n_img], y_tr[:n_img], k_loss
        )
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


# ------------------------------------------------------------------------------------ summary
def summarize_models(records: list[dict], models) -> dict:
    """Per model: eval accuracy over seeds, initial accuracy, epoch time, parameters, curves."""
    out = {}
    for model in models:
        mine = [r for r in records if r.get("model") == model]
        if not mine:
            continue
        curves = {
            key: np.asarray([r["history"][key] for r in mine], dtype=float)
            for key in ("train_loss", "train_acc", "eval_loss", "eval_acc")
        }
        out[model] = {
            "eval_accuracy": mean_std([r["final_eval_acc"] for r in mine]),
            "eval_loss": mean_std([r["final_eval_loss"] for r in mine]),
            "train_accuracy": mean_std([r["final_train_acc"] for r in mine]),
            "init_eval_accuracy": mean_std([r["init_eval"]["accuracy"] for r in mine]),
            "epoch_seconds": float(np.median([r["epoch_seconds_steady"] for r in mine])),
            "first_epoch_seconds": float(
                np.median([r["history"]["epoch_seconds"][0] for r in mine])
            ),
            "n_train": mine[0]["n_train"],
            "n_params": mine[0]["n_params"],
            "filter_change": max(r["filter_change"] for r in mine),
            "seeds": [r["seed"] for r in mine],
            "curves": {
                **{f"{k}_mean": v.mean(axis=0).tolist() for k, v in curves.items()},
                **{f"{k}_std": v.std(axis=0).tolist() for k, v in curves.items()},
                "per_seed": {str(r["seed"]): r["history"] for r in mine},
            },
        }
    counts = {m: s["n_params"]["conv"] for m, s in out.items()}
    if len(set(counts.values())) > 1:
        raise RuntimeError(f"conv parameter counts differ between models: {counts}.")
    return out


def _series(points: list[dict], data: str, quantity: str, layers_setting: int):
    mine = sorted(
        (
            p
            for p in points
            if p["layers"] == resolved_layers(p["n_qubits"], layers_setting) and data in p
        ),
        key=lambda p: p["n_qubits"],
    )
    if data == "loss":
        stats = [p["loss"] for p in mine]
    else:
        stats = [p[data][quantity] for p in mine]
    return [p["n_qubits"] for p in mine], stats, mine


def fit_series(qubits, stats) -> dict | None:
    """Weighted fit ``ln Var = ln A + slope k`` (and the exp-vs-power comparison with 3+ counts)."""
    if len(set(qubits)) < 2:
        return None
    v = np.array([s["variance"] for s in stats])
    se = np.array([s["stderr"] for s in stats])
    if np.any(v <= 0) or np.any(se <= 0):
        return None
    line = weighted_line_fit("exponential", qubits, np.log(v), se / v)
    out = {
        "slope": line.slope,
        "slope_err": line.slope_err,
        "intercept": line.intercept,
        "base": math.exp(line.slope),
        "alpha": -line.slope / math.log(2),
        "alpha_err": line.slope_err / math.log(2),
    }
    if len(set(qubits)) >= 3:
        scaling = fit_scaling(qubits, v, se)
        out["better_model"] = scaling.better
        out["delta_aic"] = scaling.delta_aic
    return out


def summarize_variance(points: list[dict], layer_settings) -> dict:
    qubits = sorted({p["n_qubits"] for p in points})
    ref = [haar_value_variance(k) for k in qubits]
    ref_slope = float(np.polyfit(qubits, np.log(ref), 1)[0])
    fits = []
    for layers_setting in layer_settings:
        for data, quantities in (
            ("mnist", ("gradient_all", "gradient_j0", "value")),
            ("haar", ("gradient_all", "gradient_j0", "value")),
            ("loss", ("gradient_all",)),
        ):
            for quantity in quantities:
                ks, stats, _ = _series(points, data, quantity, layers_setting)
                fit = fit_series(ks, stats)
                if fit is not None:
                    fits.append(
                        {"data": data, "quantity": quantity, "layers_setting": layers_setting}
                        | {"layers": "n_qubits" if layers_setting == 0 else layers_setting}
                        | fit
                    )
    return {
        "points": points,
        "fits": fits,
        "haar_value_reference": {
            "n_qubits": qubits,
            "variance": ref,
            "formula": "(d-1)/(d^2 (d+1)), d = 2^k",
            "slope": ref_slope,
            "alpha": -ref_slope / math.log(2),
        },
    }


def _compare(a: dict, b: dict) -> tuple[str, float]:
    """``("beats" | "is below" | "matches", difference)`` of two mean-std accuracy summaries:
    a difference counts when it exceeds twice its standard error and half a point."""
    diff = a["mean"] - b["mean"]
    err = math.sqrt(a["stderr"] ** 2 + b["stderr"] ** 2)
    if abs(diff) > max(2 * err, 0.005):
        return ("beats" if diff > 0 else "is below"), diff
    return "matches", diff


def _fit_of(fits, data, quantity, layers_setting):
    return next(
        (
            f
            for f in fits
            if f["data"] == data
            and f["quantity"] == quantity
            and f["layers_setting"] == layers_setting
        ),
        None,
    )


def make_verdict(models: dict, shots: dict, variance: dict, settings: dict) -> str:
    """A plain-language verdict computed from the numbers."""
    parts = []
    q = models.get("qucnn")
    if q:
        acc, init = q["eval_accuracy"], q["init_eval_accuracy"]["mean"]
        trains = acc["mean"] > max(init, 1 / N_CLASSES) + 0.05
        parts.append(
            f"QuCNN {'trains' if trains else 'does not train'} end to end: eval accuracy "
            f"{acc['mean']:.3f} +- {acc['std']:.3f} over {acc['n']} seed(s) after "
            f"{settings['epochs']} epochs on {q['n_train']} images (initially {init:.3f}, "
            f"chance {1 / N_CLASSES:.2f})."
        )
        for other, label in (
            ("qucnn-frozen", "frozen random filters (head only)"),
            ("classical-squared", "the classical squared-normalised conv"),
            ("classical-relu", "the classical ReLU conv"),
        ):
            if other in models:
                word, diff = _compare(acc, models[other]["eval_accuracy"])
                parts.append(
                    f"It {word} {label} ({models[other]['eval_accuracy']['mean']:.3f}; "
                    f"difference {diff:+.3f})."
                )
        parts.append(
            f"One exact QuCNN epoch takes {q['epoch_seconds']:.1f} s on {q['n_train']} images."
        )
    if shots:
        ref = shots.get("exact")
        bits = []
        for routine in ("ancilla", "parameter-shift"):
            if routine in shots:
                r = shots[routine]
                bits.append(
                    f"{routine} {r['eval_exact']['accuracy']:.3f} (scored with shots "
                    f"{r['eval_shots']['accuracy']:.3f})"
                )
        if bits and ref:
            parts.append(
                f"With {settings['shots']} shots on {ref['n_train']} images x "
                f"{settings['shot_epochs']} epoch(s), eval accuracy: "
                + ", ".join(bits)
                + f"; exact training on the same budget {ref['eval_exact']['accuracy']:.3f}."
            )
    fits = variance["fits"]
    ref = variance["haar_value_reference"]
    for layers_setting in settings["variance_layers"]:
        fit = _fit_of(fits, "mnist", "gradient_all", layers_setting)
        if fit is None:
            continue
        ks, stats, _ = _series(variance["points"], "mnist", "gradient_all", layers_setting)
        decays = fit["slope"] + 2 * fit["slope_err"] < 0
        lname = "layers = qubits" if layers_setting == 0 else f"{layers_setting} layers"
        text = (
            f"Gradient variance on MNIST patches ({lname}): {stats[0]['variance']:.2e} at "
            f"{ks[0]} qubits to {stats[-1]['variance']:.2e} at {ks[-1]} qubits, Var ~ "
            f"2^(-{fit['alpha']:.2f} k) (slope {fit['slope']:.2f} +- {fit['slope_err']:.2f} per "
            f"qubit): "
        )
        if decays:
            text += "it decays exponentially in the filter qubits (a barren plateau)"
        else:
            text += "no significant exponential decay"
        haar = _fit_of(fits, "haar", "gradient_all", layers_setting)
        if haar is not None:
            text += f"; on Haar-random data 2^(-{haar['alpha']:.2f} k)"
        value = _fit_of(fits, "mnist", "value", layers_setting)
        if value is not None:
            text += (
                f"; the value |<f|x>|^2 varies as 2^(-{value['alpha']:.2f} k) against "
                f"2^(-{ref['alpha']:.2f} k) for a Haar-random filter state"
            )
        text += "."
        parts.append(text)
    k_layer = n_encoding_qubits(settings["kernel_size"] ** 2)
    here = [
        p
        for p in variance["points"]
        if p["n_qubits"] == k_layer and p["layers"] == settings["layers"]
    ]
    if here:
        v = here[0]["mnist"]["gradient_all"]["variance"]
        text = (
            f"At the trained layer's {k_layer} qubits and {settings['layers']} layers the "
            f"filter-gradient variance is {v:.2e} (typical component {math.sqrt(v):.3f}; about "
            f"{1 / v:.0f} shots per circuit resolve one)"
        )
        fit = _fit_of(fits, "mnist", "gradient_all", settings["layers"])
        if fit is not None and fit["slope"] < 0:
            k_big = n_encoding_qubits(MAX_VARIANCE_PATCH**2)
            v_big = math.exp(fit["intercept"] + fit["slope"] * k_big)
            text += (
                f"; the fit extrapolates to {v_big:.1e} at {k_big} qubits "
                f"({MAX_VARIANCE_PATCH}x{MAX_VARIANCE_PATCH} windows, about {1 / v_big:.0e} "
                "shots per gradient component)"
            )
        parts.append(text + ".")
    return " ".join(parts)


# ------------------------------------------------------------------------------------ plots
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_learning_curves(models: dict, shots: dict):
    """Eval accuracy and train loss per epoch (mean +- std over seeds; epoch 0 is the untrained
    network's eval accuracy), and the shot-trained runs."""
    fig = _figure(13, 4)
    axes = fig.subplots(1, 3)
    for name, s in models.items():
        c = s["curves"]
        for ax, key in ((axes[0], "eval_acc"), (axes[1], "train_loss")):
            mean, std = np.array(c[f"{key}_mean"]), np.array(c[f"{key}_std"])
            epochs = np.arange(1, len(mean) + 1)
            if key == "eval_acc":
                init = s["init_eval_accuracy"]
                mean, std = np.r_[init["mean"], mean], np.r_[init["std"], std]
                epochs = np.r_[0, epochs]
            (line,) = ax.plot(epochs, mean, "o-", ms=3, label=name)
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    for name, r in shots.items():
        acc = [r["init_eval"]["accuracy"], *r["history"]["eval_acc"]]
        label = f"{name} ({r['shots']} shots)" if r["shots"] else "exact"
        axes[2].plot(np.arange(len(acc)), acc, "o-", ms=3, label=label)
    axes[0].set(xlabel="epoch", ylabel="eval accuracy", title="MNIST, 10 classes")
    axes[1].set(xlabel="epoch", ylabel="train loss", title="cross-entropy")
    n = next(iter(shots.values()))["n_train"] if shots else 0
    axes[2].set(xlabel="epoch", ylabel="eval accuracy (exact)", title=f"QuCNN on {n} images")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_variance(variance: dict, layer_settings):
    fig = _figure(11, 8)
    axes = fig.subplots(2, 2).ravel()
    panels = (
        ("mnist", "gradient_all", "Var dy/dtheta_j, MNIST patches"),
        ("haar", "gradient_all", "Var dy/dtheta_j, Haar-random data"),
        ("mnist", "value", "Var y = |<f|x>|^2, MNIST patches"),
        ("loss", "gradient_all", "Var dL/dtheta, classifier (random head)"),
    )
    ref = variance["haar_value_reference"]
    for ax, (data, quantity, title) in zip(axes, panels, strict=True):
        for layers_setting in layer_settings:
            ks, stats, _ = _series(variance["points"], data, quantity, layers_setting)
            if not ks:
                continue
            v = np.array([s["variance"] for s in stats])
            se = np.array([s["stderr"] for s in stats])
            label = "L = k" if layers_setting == 0 else f"L = {layers_setting}"
            bar = ax.errorbar(
                ks, v, yerr=[np.minimum(se, 0.999 * v), se], fmt="o", ms=4, capsize=2, label=label
            )
            fit = _fit_of(variance["fits"], data, quantity, layers_setting)
            if fit is not None:
                grid = np.linspace(min(ks), max(ks), 50)
                ax.plot(
                    grid,
                    np.exp(fit["intercept"] + fit["slope"] * grid),
                    "--",
                    lw=1,
                    color=bar[0].get_color(),
                    label=f"  2^(-{fit['alpha']:.2f} k)",
                )
        if data != "loss":
            label = "Haar filter: Var y = (d-1)/(d^2(d+1))"
            ax.plot(ref["n_qubits"], ref["variance"], "k:", lw=1.5, label=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_yscale("log")
        ax.set(xlabel="filter qubits k", ylabel="variance", title=title)
        ax.grid(True, which="both", alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # e.g. variance_loss_images = 0: that panel has no data
            ax.text(0.5, 0.5, "not computed", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ run
def run_qucnn_train(
    config: QuCNNTrainConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) every task into ``out`` and write the outputs (module docstring)."""
    config = config.validate()
    settings = config.to_dict()
    run = open_run("qucnn-train", settings, out, command)
    cache = cache_arg(cache_dir)
    _data(settings, cache)  # a missing or damaged MNIST fails now, with the loader's message
    tasks, names = [], []
    for patch in config.variance_patch_sizes:
        k = n_encoding_qubits(patch * patch)
        for layers in dict.fromkeys(resolved_layers(k, s) for s in config.variance_layers):
            tasks.append((variance_task, (settings, patch, layers, cache)))
            names.append(f"variance-p{patch}-L{layers}")
    for model in config.models:
        for seed in range(config.seeds):
            tasks.append((model_task, (settings, model, seed, cache)))
            names.append(f"{model}-seed{seed}")
    for routine in SHOT_ROUTINES:
        tasks.append((shot_task, (settings, routine, cache)))
        names.append(f"shots-{routine}")
    records = run_tasks(
        run,
        settings,
        call_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="qucnn-train",
    )
    models = summarize_models([r for r in records if "model" in r], config.models)
    shots = {r["routine"]: r for r in records if "routine" in r}
    variance = summarize_variance([r for r in records if "patch_size" in r], config.variance_layers)
    timing = {}
    if "qucnn" in models:
        q = models["qucnn"]
        timing = {
            "qucnn_epoch_seconds": q["epoch_seconds"],
            "n_train": q["n_train"],
            "seconds_per_8000_images": q["epoch_seconds"] * 8000 / q["n_train"],
            "first_epoch_seconds_with_compile": q["first_epoch_seconds"],
        }
    results = {
        "experiment": "qucnn-train",
        "config": settings,
        "models": models,
        "shots": shots,
        "variance": variance,
        "timing": timing,
        "verdict": make_verdict(models, shots, variance, settings),
    }
    run.write_results(results)
    _write_tables(run, models, shots, variance)
    for figure, name in (
        (plot_learning_curves(models, shots), "learning_curves.png"),
        (plot_variance(variance, config.variance_layers), "variance.png"),
    ):
        run.save_figure(figure, name)
    run.log("done")
    return ExperimentRun(config, run.path, results)


def _write_csv(run, name: str, rows: list[dict]) -> None:
    """A CSV whose columns are the keys of the first row."""
    header = list(rows[0]) if rows else []
    run.write_csv(name, header, [[row[k] for k in header] for row in rows])


def _write_tables(run, models: dict, shots: dict, variance: dict) -> None:
    rows = []
    for m, s in models.items():
        acc = s["eval_accuracy"]
        rows.append(
            {"model": m, "seeds": len(s["seeds"]), "eval_acc_mean": acc["mean"]}
            | {"eval_acc_std": acc["std"], "init_eval_acc": s["init_eval_accuracy"]["mean"]}
            | {"train_acc_mean": s["train_accuracy"]["mean"], "epoch_seconds": s["epoch_seconds"]}
            | {"n_train": s["n_train"], "conv_params": s["n_params"]["conv"]}
            | {"head_params": s["n_params"]["head"]}
        )
    _write_csv(run, "models.csv", rows)
    rows = []
    for m, s in models.items():
        for seed, h in s["curves"]["per_seed"].items():
            for e in range(len(h["eval_acc"])):
                rows.append(
                    {"model": m, "seed": seed, "epoch": e + 1} | {k: v[e] for k, v in h.items()}
                )
    _write_csv(run, "curves.csv", rows)
    rows = [
        {"routine": k, "shots": r["shots"] or "", "n_train": r["n_train"], "epochs": r["epochs"]}
        | {"init_eval_acc": r["init_eval"]["accuracy"]}
        | {"eval_acc_exact": r["eval_exact"]["accuracy"]}
        | {"eval_acc_shots": r["eval_shots"]["accuracy"]}
        | {"epoch_seconds": r["epoch_seconds_steady"]}
        for k, r in shots.items()
    ]
    _write_csv(run, "shots.csv", rows)
    rows = []
    for p in variance["points"]:
        where = {k: p[k] for k in ("patch_size", "n_qubits", "layers", "n_params")}
        for data in ("mnist", "haar", "loss"):
            stats = p.get(data, {})
            if data == "loss" and stats:
                stats = {"gradient_all": stats}
            for quantity, st in stats.items():
                if isinstance(st, dict):
                    rows.append(
                        {"data": data, "quantity": quantity}
                        | where
                        | {"variance": st["variance"], "stderr": st["stderr"]}
                        | {"haar_value_reference": p["haar_value_reference"]}
                    )
    _write_csv(run, "variance.csv", rows)
    keys = ("data", "quantity", "layers", "slope", "slope_err", "alpha", "alpha_err")
    rows = [
        {k: f[k] for k in keys}
        | {"better_model": f.get("better_model", ""), "delta_aic": f.get("delta_aic", "")}
        for f in variance["fits"]
    ]
    _write_csv(run, "variance_fits.csv", rows)


def report(run: ExperimentRun) -> list[str]:
    r = run.results
    lines = []
    for name, s in r["models"].items():
        a = s["eval_accuracy"]
        lines.append(
            f"{name:18s} eval acc {a['mean']:.3f} +- {a['std']:.3f} (init "
            f"{s['init_eval_accuracy']['mean']:.3f}), {s['epoch_seconds']:.2f} s/epoch on "
            f"{s['n_train']} images, params conv {s['n_params']['conv']} + head "
            f"{s['n_params']['head']}"
        )
    for name, s in r["shots"].items():
        lines.append(
            f"shots {name:15s} ({s['shots'] or 'exact'}, {s['n_train']} images, {s['epochs']} "
            f"epochs): eval acc exact {s['eval_exact']['accuracy']:.3f}, with shots "
            f"{s['eval_shots']['accuracy']:.3f}"
        )
    ref = r["variance"]["haar_value_reference"]
    for p in r["variance"]["points"]:
        g = p["mnist"]["gradient_all"]
        lines.append(
            f"variance p={p['patch_size']} k={p['n_qubits']} L={p['layers']}: grad MNIST "
            f"{g['variance']:.3e} +- {g['stderr']:.1e}, Haar data "
            f"{p['haar']['gradient_all']['variance']:.3e}, value MNIST "
            f"{p['mnist']['value']['variance']:.3e} vs Haar filter "
            f"{p['haar_value_reference']:.3e}"
            + (f", loss {p['loss']['variance']:.3e}" if "loss" in p else "")
        )
    for f in r["variance"]["fits"]:
        lines.append(
            f"fit {f['data']}/{f['quantity']} layers={f['layers']}: slope {f['slope']:.3f} +- "
            f"{f['slope_err']:.3f} per qubit (2^-{f['alpha']:.2f}k)"
            + (f", {f['better_model']} preferred" if "better_model" in f else "")
        )
    lines.append(
        f"Haar filter value variance slope {ref['slope']:.3f} per qubit (2^-{ref['alpha']:.2f}k)"
    )
    lines.append(r["verdict"])
    return lines
