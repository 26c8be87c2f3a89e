"""A small image classifier with a QuCNN layer or a classical convolution of equal size.

The network (one convolution, average pooling, a linear softmax head):

    maps  = conv(images)                          (B, F, H', W')
    feats = avgpool_{p x p}(maps).reshape(B, -1)  (B, F (H'/p)(W'/p))
    logits = feats W + c,  loss = cross-entropy(logits, labels)

with ``conv`` one of (:data:`CONVS`):

* ``"qucnn"``: the QuCNN layer (:class:`qnnlab.models.qucnn.QuCNNLayer`),
  ``y = |<f(theta)|x>|^2``, ``2 k L`` angles per filter (16 for a 4x4 window and 2 layers);
* ``"classical-squared"``: the same function with a free real filter ``w`` (``kh kw`` weights),
  ``y = (w . x / (||w|| ||x||))^2``: what QuCNN computes when its filter may be any real state;
* ``"classical-relu"``: the textbook ``y = relu(w . x)`` (no bias), ``kh kw`` weights.

A 4x4 window with a 2-layer ansatz has 16 angles, as many as a 4x4 classical filter, so the
three networks have equal parameter counts. ``train_conv=False`` freezes the convolution at its
random initialisation (only the head learns): the reference that says what training the filters
adds.

Gradients of the QuCNN filters: ``"autodiff"`` (exact expectations, JAX reverse mode, equal to
the exact parameter-shift and ancilla-routine values), or, with ``shots``, the forward maps are
SWAP-test estimates and the filter gradient is measured by ``"ancilla"`` (the entangled-ancilla
routine) or ``"parameter-shift"`` (post-processed), both from
:func:`qnnlab.training.ancilla_backprop.sampled_ancilla_gradient_fn`; the head is trained on the
classical computer with ``g = dL/dy`` from reverse mode.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qnnlab.data.images import as_image_batch, check_window
from qnnlab.engines.validation import InputError
from qnnlab.models.qucnn import QuCNNLayer, overlap_maps, sample_swap_tests
from qnnlab.training.ancilla_backprop import sampled_ancilla_gradient_fn

CONVS = ("qucnn", "classical-squared", "classical-relu")
GRADIENTS = ("autodiff", "ancilla", "parameter-shift")


@dataclass(frozen=True)
class ConvNetSpec:
    """Architecture of the classifier (module docstring)."""

    conv: str = "qucnn"
    n_filters: int = 4
    kernel_size: int = 4
    stride: int = 1
    layers: int = 2
    pool: int = 5
    n_classes: int = 10
    image_shape: tuple[int, int] = (28, 28)

    def __post_init__(self):
        if self.conv not in CONVS:
            raise InputError(f"conv must be one of {CONVS}, got {self.conv!r}.")
        check_window(self.kernel_size, self.stride, 0)
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 1:
            raise InputError(f"pool must be a positive integer, got {self.pool!r}.")
        h, w = self.map_shape
        if h < self.pool or w < self.pool:
            raise InputError(f"pool {self.pool} is larger than the {h}x{w} feature map.")

    @property
    def layer(self) -> QuCNNLayer:
        return QuCNNLayer(
            kernel_size=self.kernel_size,
            stride=self.stride,
            n_filters=self.n_filters,
            layers=self.layers,
        )

    @property
    def map_shape(self) -> tuple[int, int]:
        return self.layer.output_shape(*self.image_shape)

    @property
    def n_features(self) -> int:
        h, w = self.map_shape
        return self.n_filters * (h // self.pool) * (w // self.pool)

    @property
    def conv_param_shape(self) -> tuple[int, ...]:
        if self.conv == "qucnn":
            return self.layer.param_shape
        return (self.n_filters, 1, self.kernel_size, self.kernel_size)

    def n_params(self) -> dict[str, int]:
        conv = int(np.prod(self.conv_param_shape))
        head = self.n_features * self.n_classes + self.n_classes
        return {"conv": conv, "head": head, "total": conv + head}


def init_params(spec: ConvNetSpec, seed: int) -> dict:
    """Conv parameters (angles uniform on ``[0, 2 pi)``, or He-normal filters) and a zero head."""
    key = jax.random.key(seed)
    if spec.conv == "qucnn":
        conv = spec.layer.init(seed)
    else:
        fan_in = spec.kernel_size**2
        conv = jax.random.normal(key, spec.conv_param_shape, jnp.float32) * math.sqrt(2.0 / fan_in)
    head = {
        "w": jnp.zeros((spec.n_features, spec.n_classes), jnp.float32),
        "b": jnp.zeros((spec.n_classes,), jnp.float32),
    }
    return {"conv": conv, "head": head}


def conv_maps(spec: ConvNetSpec, conv, images):
    """``(B, F, H', W')`` maps of the network's convolution (pure)."""
    layer = spec.layer
    if spec.conv == "qucnn":
        return layer.apply(conv, images)
    if spec.conv == "classical-squared":
        w = conv.reshape(spec.n_filters, -1)
        states = w / jnp.linalg.norm(w, axis=1, keepdims=True)
        return overlap_maps(states, *layer.encode(images))
    out = jax.lax.conv_general_dilated(
        images,
        jnp.asarray(conv, images.dtype),
        (spec.stride, spec.stride),
        "VALID",
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,
    )
    return jax.nn.relu(out)


def head_logits(spec: ConvNetSpec, head, maps):
    """Average pooling ``p x p`` (stride ``p``, VALID) then the linear head."""
    p = spec.pool
    pooled = jax.lax.reduce_window(maps, 0.0, jax.lax.add, (1, 1, p, p), (1, 1, p, p), "VALID")
    feats = pooled.reshape(maps.shape[0], -1) / (p * p)
    return feats @ head["w"] + head["b"]


def logits_fn(spec: ConvNetSpec) -> Callable:
    """Pure ``f(params, images (B, 1, H, W)) -> (B, n_classes)``."""
    return lambda params, images: head_logits(
        spec, params["head"], conv_maps(spec, params["conv"], images)
    )


def cross_entropy(logits, labels):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@dataclass
class ConvNetResult:
    """Parameters after training and the per-epoch history (epoch-end metrics on all data)."""

    params: dict
    history: dict[str, list[float]] = field(default_factory=dict)


def _exact_step(spec, optimizer, train_conv: bool):
    logits = logits_fn(spec)

    def loss(params, x, y):
        return cross_entropy(logits(params, x), y)

    def step(params, opt_state, x, y, key):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        if not train_conv:
            grads = {**grads, "conv": jnp.zeros_like(grads["conv"])}
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def _shot_step(spec, optimizer, shots: int, gradient: str, train_conv: bool):
    layer = spec.layer
    filter_grad = sampled_ancilla_gradient_fn(
        layer.n_qubits,
        layer.layers,
        shots,
        routine="ancilla" if gradient == "ancilla" else "parameter-shift",
    )

    def step(params, opt_state, x, y, key):
        k_forward, k_backward = jax.random.split(key)
        encoded, occupied = layer.encode(x)
        exact = layer.apply_encoded(params["conv"], encoded, occupied)
        maps = sample_swap_tests(exact, occupied, shots, k_forward)

        def loss(head, m):
            return cross_entropy(head_logits(spec, head, m), y)

        value, (g_head, g_maps) = jax.value_and_grad(loss, argnums=(0, 1))(params["head"], maps)
        g_conv = filter_grad(params["conv"], encoded, occupied, g_maps, k_backward)
        if not train_conv:
            g_conv = jnp.zeros_like(g_conv)
        grads = {"conv": g_conv, "head": g_head}
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


@functools.lru_cache(maxsize=64)
def _logits_program(spec: ConvNetSpec, shots: int | None):
    """One compiled ``f(params, images, key) -> logits`` per architecture and shot count."""
    layer = spec.layer
    exact = logits_fn(spec)

    def f(params, x, key):
        if shots is None:
            return exact(params, x)
        encoded, occupied = layer.encode(x)
        maps = layer.apply_encoded(params["conv"], encoded, occupied)
        return head_logits(spec, params["head"], sample_swap_tests(maps, occupied, shots, key))

    return jax.jit(f)


def evaluate(
    spec: ConvNetSpec, params, images, labels, *, batch_size: int = 500, shots=None, seed=0
):
    """``(loss, accuracy)`` over a dataset, in chunks (exact maps, or SWAP tests with ``shots``)."""
    program = _logits_program(spec, shots)
    images = np.asarray(as_image_batch(images))
    labels = np.asarray(labels, np.int32)
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        y = jnp.asarray(labels[start : start + batch_size])
        key = jax.random.fold_in(jax.random.key(seed), start)
        out = program(params, jnp.asarray(images[start : start + batch_size]), key)
        total_loss += float(cross_entropy(out, y)) * len(y)
        correct += int(jnp.sum(jnp.argmax(out, axis=1) == y))
    return total_loss / len(labels), correct / len(labels)


def train_convnet(
    spec: ConvNetSpec,
    images,
    labels,
    eval_images=None,
    eval_labels=None,
    *,
    epochs: int = 5,
    batch_size: int = 100,
    learning_rate: float = 0.01,
    seed: int = 0,
    shots: int | None = None,
    gradient: str = "autodiff",
    train_conv: bool = True,
    params: dict | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> ConvNetResult:
    """Adam on the cross-entropy; history keys ``train_loss, train_acc, eval_loss, eval_acc,
    epoch_seconds`` (train metrics are epoch-end values on the whole training set;
    ``epoch_seconds[0]`` includes compilation). Each epoch uses ``N // batch_size`` full batches
    of a fresh permutation (the remaining ``N mod batch_size`` images sit that epoch out).
    The head starts at zero, so the filters' first gradient is 0; Adam moves them from the
    second step on.

    Images are used as given (integers become floats): QuCNN and ``classical-squared`` do not
    depend on their scale, ``classical-relu`` does (scale ``uint8`` pixels to ``[0, 1]``).

    ``shots``/``gradient`` select the QuCNN measurement model (module docstring); they are
    refused for the classical convolutions. The batch order comes from
    ``numpy.random.default_rng(seed)``; shot noise from ``jax.random.key(seed)``.
    """
    if gradient not in GRADIENTS:
        raise InputError(f"gradient must be one of {GRADIENTS}, got {gradient!r}.")
    if (shots is None) != (gradient == "autodiff"):
        raise InputError(
            "use gradient='autodiff' with exact expectations (shots=None), and 'ancilla' or "
            "'parameter-shift' with a shot count."
        )
    if shots is not None and spec.conv != "qucnn":
        raise InputError("shots apply to the QuCNN layer only (conv='qucnn').")
    x_all = np.asarray(as_image_batch(images))
    y_all = np.asarray(labels, np.int32)
    if len(y_all) != len(x_all):
        raise InputError(f"{len(x_all)} images but {len(y_all)} labels.")
    if eval_images is not None:
        eval_images = np.asarray(as_image_batch(eval_images))
        eval_labels = np.asarray(eval_labels, np.int32)
    params = init_params(spec, seed) if params is None else params
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(params)
    step = (
        _exact_step(spec, optimizer, train_conv)
        if shots is None
        else _shot_step(spec, optimizer, shots, gradient, train_conv)
    )
    step = jax.jit(step)
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    history: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_acc", "eval_loss", "eval_acc", "epoch_seconds")
    }
    n = len(y_all)
    n_batches = n // batch_size
    if n_batches == 0:
        raise InputError(f"batch_size {batch_size} exceeds the {n} training images.")
    for epoch in range(epochs):
        start = time.perf_counter()
        order = rng.permutation(n)
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            key, sub = jax.random.split(key)
            params, opt_state, _ = step(params, opt_state, x_all[idx], y_all[idx], sub)
        jax.block_until_ready(params)
        history["epoch_seconds"].append(time.perf_counter() - start)
        loss, acc = evaluate(spec, params, x_all, y_all)
        history["train_loss"].append(loss)
        history["train_acc"].append(acc)
        if eval_images is not None:
            loss, acc = evaluate(spec, params, eval_images, eval_labels)
        else:
            loss, acc = float("nan"), float("nan")
        history["eval_loss"].append(loss)
        history["eval_acc"].append(acc)
        if on_epoch is not None:
            on_epoch(epoch, {k: v[-1] for k, v in history.items()})
    return ConvNetResult(params=params, history=history)
