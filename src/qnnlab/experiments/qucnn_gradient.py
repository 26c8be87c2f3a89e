"""``qnnlab reproduce qucnn-gradient``: the entangled-ancilla backpropagation of QuCNN against the
exact gradient and the post-processed parameter-shift gradient, vs shots (Stein et al., QuCNN,
``papers/qucnn.md`` Sec. V-B and Fig. 4).

**The quantity.** A filter ``|f(theta)>`` (paper Fig. 1 ansatz, ``k = 4`` qubits, 2 layers, 16
angles drawn uniformly on ``[0, 2 pi)``), data states ``rho_p`` and backpropagated values
``g_p = dL/dy_p`` give

    G(theta) = sum_p g_p d y_p / d theta,     y_p = Tr(|f><f| rho_p)  (= |<f|x_p>|^2 if pure).

*Ancilla routine* (:func:`qnnlab.training.ancilla_backprop.ancilla_gradient`): per patch the
SWAP test with the extra ancilla ``b`` (``RY(arccos(g_p / s))``, ``CNOT(a, b)``, ``s = max |g|``),
``<Z_b> = (g_p / s) y_p``; parameter shift ``+-pi/2`` on every filter angle, each shifted
circuit measured with ``S`` shots, ``G_j = s sum_p [<Z_b>(+) - <Z_b>(-)] / 2``.
*Post-processed* (:func:`~qnnlab.training.ancilla_backprop.postprocessed_gradient`): the same
shifts on the plain SWAP test (``<Z_a> = y_p``), times ``g_p`` classically.
Each shifted circuit's estimate is ``2 n / S - 1`` with ``n ~ Binomial(S, (1 + <Z>) / 2)``, so

    E ||G_hat - G||^2 = sum_j sum_p c_p^2 [(1 - z_{p,j+}^2) + (1 - z_{p,j-}^2)] / (4 S)

(``c_p = s`` for the ancilla routine with ``z = <Z_b>``, ``c_p = g_p`` post-processed with
``z = y``): the error falls as ``S^(-1/2)``; results give this prediction (``expected_rms_error``)
beside the measured root-mean-square error, and the fitted log-log slope (``-1/2``).

**Cases.**

a. ``"mnist"``: the occupied 4x4 windows (stride 1) of ``n_images`` MNIST images (drawn from
   the evaluation part of :func:`~qnnlab.data.mnist.mnist_split`, as in ``qucnn-forward``),
   amplitude-encoded. ``g`` is a realistic backpropagated vector: the gradient ``dL/dy`` of the
   cross-entropy at the image's label through a *random* linear head (entries ``N(0, 1)``,
   seeded, zero bias) on the 5x5-average-pooled maps (``ConvNetSpec(conv="qucnn",
   n_filters=1)``). Exact ``G``: ``jax.grad`` of ``sum_p g_p y_p`` through
   :meth:`QuCNNLayer.apply_encoded`, checked against ``ancilla_gradient(..., shots=None)`` and
   ``postprocessed_gradient(..., shots=None)``. ``relative_error[S]`` is the mean over repeats
   of ``||G_hat - G|| / ||G||``.
b. ``"maximally-mixed"`` (the paper's setup): one data state ``rho = I/16`` on the density
   engine, ``g = backprop_value`` (0.5). Physics: ``y = Tr(|f><f| I/16) = 1/16`` for every
   ``theta``, so the exact gradient is exactly 0 and the paper's curves can only show shot
   noise shrinking; reported as the absolute error ``||G_hat||`` vs ``S``.
c. ``"uniform-superposition"``: the pure state ``|+>^4`` (all amplitudes 1/4), ``g =
   backprop_value``: the likely intended non-trivial version (``y`` depends on ``theta``), with
   relative errors.

All cases share one filter ``theta`` (``QuCNNLayer.init(seed)``).

**Ancilla vs post-processed noise.** Per shifted circuit the ancilla routine's estimate is
scaled by ``s = max |g|`` for *every* patch, the post-processed one by ``|g_p|``: with one patch
(cases b, c) the two have the same noise, but when ``g`` varies over patches (case a) the
ancilla routine is noisier by about ``sqrt(N s^2 / sum_p g_p^2)`` at equal shots (both
predictions are in the results).

**How the shots are simulated.** ``ancilla_gradient`` compiles one program per shot count
(the count is static in the engines' shot model): tens of seconds each on a small machine, for
every case, routine and shot count. The experiment therefore evaluates, once per case, the
exact expectation of every shifted circuit
of the *same* circuits on the same engines and draws the binomial counts itself:

* statevector cases: the ancilla circuit's ``<Z_b>`` and the plain SWAP test's ``<Z_a>`` with
  the shift rows, parameters and inputs exactly as ``ancilla_gradient`` /
  ``postprocessed_gradient`` build them (``shift_table`` / ``shifted_evaluations`` of
  :mod:`qnnlab.engines.gradients`); the ``|+>`` case is padded with zero states to the MNIST
  case's size so both share the compiled programs;
* density case: one pass of the ancilla circuit gives the joint distribution of ``a`` and ``b``,
  hence both ``<Z_b>`` and ``<Z_a>`` (the SWAP test's readout, untouched by the ``CNOT(a, b)``
  after it): the 10-qubit density program is the costly one to compile;
* the counts: the same ``jax.random.binomial`` call as
  :func:`qnnlab.engines.shots.sample_from_exact` with the same keys (:func:`sample_estimates`),
  one compiled sampler for every case and shot count (``S`` is an argument).

The ``sampler-check`` task (``verify_shots``; skipped by ``quick()``, covered by a slow test)
calls ``ancilla_gradient(..., shots=verify_shots, seed=key)`` itself with the key of the
MNIST case's first repeat: the counts are identical and the estimates agree to float32
rounding (``sampler_check.max_abs_diff``, about 1e-8).

Checkpointed tasks: ``exact-<case>`` (inputs, ``g``, exact gradients and shifted-circuit
values), ``<case>-shots<S>`` (all repeats of both routines) and ``sampler-check``.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import as_observable
from qnnlab.data.images import n_encoding_qubits
from qnnlab.data.mnist import load_mnist_split
from qnnlab.engines import make_engine
from qnnlab.engines.gradients import shift_table, shifted_evaluations
from qnnlab.engines.shots import term_expvals_fn
from qnnlab.experiments.classification import cache_arg, call_task, open_run, run_tasks
from qnnlab.experiments.qucnn_forward import SPLIT, test_image_indices
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers
from qnnlab.models.qucnn import (
    QuCNNLayer,
    ancilla_backprop_circuit,
    backprop_observable,
    swap_test_circuit,
    swap_test_register,
)
from qnnlab.runtime.caches import default_compilation_cache
from qnnlab.training.ancilla_backprop import (
    ancilla_gradient,
    backprop_scale,
    postprocessed_gradient,
)
from qnnlab.training.conv_net import ConvNetSpec, cross_entropy, head_logits

CASES = ("mnist", "maximally-mixed", "uniform-superposition")
ROUTINES = ("ancilla", "postprocessed")
#: Cases whose exact gradient is nonzero: their errors are relative, the mixed case's absolute.
RELATIVE_CASES = ("mnist", "uniform-superposition")


@dataclass(frozen=True)
class QuCNNGradientConfig(ExperimentConfig):
    """Paper Fig. 4 settings (module docstring). ``verify_shots``: the shot count of the one
    real ``ancilla_gradient`` call that checks the sampler (None skips it)."""

    shots: tuple[int, ...] = (10, 100, 1_000, 10_000, 100_000)
    repeats: int = 20
    layers: int = 2
    kernel_size: int = 4
    n_images: int = 1
    backprop_value: float = 0.5
    verify_shots: int | None = 100
    seed: int = 0
    mnist_dir: str | None = None

    @classmethod
    def quick(cls) -> QuCNNGradientConfig:
        return cls(shots=(100, 1_000, 10_000), repeats=4, verify_shots=None)

    def validate(self) -> QuCNNGradientConfig:
        check_numbers(self)
        s = list(self.shots)
        if len(s) < 2 or min(s) < 1 or any(b <= a for a, b in itertools.pairwise(s)):
            raise ValueError(
                f"shots must be at least two strictly increasing positive integers, got {s}."
            )
        if self.repeats < 2:
            raise ValueError(f"repeats must be >= 2 (a mean and a spread), got {self.repeats}.")
        if not 1 <= self.layers <= 8:
            raise ValueError(f"layers must lie in 1..8, got {self.layers}.")
        if not 2 <= self.kernel_size <= 4:
            raise ValueError(
                f"kernel_size must lie in 2..4 (k <= 4 qubits: a 10-qubit ancilla circuit), got "
                f"{self.kernel_size}."
            )
        if not 1 <= self.n_images <= 16:
            raise ValueError(f"n_images must lie in 1..16, got {self.n_images}.")
        if self.backprop_value == 0:
            raise ValueError("backprop_value must be nonzero (g = 0 has a zero gradient).")
        if self.verify_shots is not None and self.verify_shots < 1:
            raise ValueError(f"verify_shots must be >= 1 or None, got {self.verify_shots}.")
        if self.mnist_dir is not None and not isinstance(self.mnist_dir, str):
            raise ValueError(f"mnist_dir must be a folder path or None, got {self.mnist_dir!r}.")
        return self

    @property
    def n_qubits(self) -> int:
        return n_encoding_qubits(self.kernel_size**2)


# ----------------------------------------------------------------------- the problems
@functools.partial(jax.jit, static_argnums=4)
def _mnist_windows_and_g(theta, images, labels, head_w, spec: ConvNetSpec):
    """Encoded windows, occupancy and ``g = dL/dy`` (cross-entropy through the linear head
    ``head_w``, zero bias, on the pooled maps at ``theta``), one compiled program."""
    layer = spec.layer
    encoded, occupied = layer.encode(images)
    maps = layer.apply_encoded(theta[None], encoded, occupied)
    head = {"w": head_w, "b": jnp.zeros((spec.n_classes,), head_w.dtype)}
    g = jax.grad(lambda m: cross_entropy(head_logits(spec, head, m), labels))(maps)
    return encoded, occupied, g[:, 0]


def _mnist_images(cfg: QuCNNGradientConfig, cache: str | None):
    """The ``n_images`` test images (as ``qucnn-forward`` draws them) in ``[0, 1]`` and labels."""
    images, labels, _, eval_idx = load_mnist_split(
        *SPLIT, seed=cfg.seed, root=cfg.mnist_dir, cache_dir=cache, download=True
    )
    picked = test_image_indices(eval_idx, cfg.n_images, cfg.seed)
    return picked, images[picked][:, None], labels[picked]


def count_windows(cfg: QuCNNGradientConfig, cache: str | None) -> int:
    """Occupied (not all-zero) windows of the MNIST case, counted in NumPy."""
    _, images, _ = _mnist_images(cfg, cache)
    k = cfg.kernel_size
    sums = np.lib.stride_tricks.sliding_window_view(images[:, 0], (k, k), axis=(1, 2))
    return int(np.count_nonzero(sums.sum(axis=(-1, -2)) > 0))


def _mnist_problem(cfg: QuCNNGradientConfig, theta, cache: str | None) -> dict:
    """Occupied windows of the test images and ``g`` from a random linear head (docstring)."""
    picked, images, labels = _mnist_images(cfg, cache)
    spec = ConvNetSpec(conv="qucnn", n_filters=1, kernel_size=cfg.kernel_size, layers=cfg.layers)
    rng = np.random.default_rng([cfg.seed, 7])
    head_w = jnp.asarray(rng.standard_normal((spec.n_features, spec.n_classes)), jnp.float32)
    encoded, occupied, g = _mnist_windows_and_g(
        jnp.asarray(theta, jnp.float32),
        jnp.asarray(images),
        jnp.asarray(labels, jnp.int32),
        head_w,
        spec,
    )
    mask = np.asarray(occupied)
    return {
        "inputs": np.asarray(encoded)[mask],
        "g": np.asarray(g, np.float64)[mask],
        "engine": "statevector",
        "image_indices": [int(i) for i in picked],
        "labels": [int(v) for v in labels],
    }


def case_problem(cfg: QuCNNGradientConfig, case: str, cache: str | None) -> dict:
    """``theta`` (shared by every case), data ``inputs`` ((N, D) states or (N, D, D) density
    matrices), ``g`` (N,) and the engine of a case."""
    theta = np.asarray(QuCNNLayer(kernel_size=cfg.kernel_size, layers=cfg.layers).init(cfg.seed))
    theta = theta[0].astype(np.float64)
    dim = 2**cfg.n_qubits
    g = np.array([float(cfg.backprop_value)])
    if case == "mnist":
        problem = _mnist_problem(cfg, theta, cache)
    elif case == "maximally-mixed":
        problem = {"inputs": np.eye(dim)[None] / dim, "g": g, "engine": "density"}
    elif case == "uniform-superposition":
        problem = {"inputs": np.full((1, dim), dim**-0.5), "g": g, "engine": "statevector"}
    else:
        raise ValueError(f"unknown case {case!r}; choose one of {CASES}.")
    return {"theta": theta, **problem}


def _padded(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with zero rows appended up to ``rows`` (padding shares compiled programs)."""
    extra = max(rows - array.shape[0], 0)
    return np.concatenate([array, np.zeros((extra, *array.shape[1:]), array.dtype)])


def autodiff_gradient(cfg: QuCNNGradientConfig, theta, states, g, pad_to: int = 0):
    """``jax.grad`` of ``sum_p g_p |<f(theta)|x_p>|^2`` through :meth:`QuCNNLayer.apply_encoded`
    (pure states ``(N, D)`` as one row of windows; zero rows up to ``pad_to`` add nothing)."""
    layer = QuCNNLayer(kernel_size=cfg.kernel_size, layers=cfg.layers)
    encoded = jnp.asarray(_padded(np.asarray(states), pad_to), jnp.float32)[None, None]
    occupied = jnp.ones(encoded.shape[:3], bool)
    weights = jnp.asarray(_padded(np.asarray(g), pad_to), jnp.float32)
    return np.asarray(_autodiff(layer, jnp.asarray(theta, jnp.float32), encoded, occupied, weights))


@functools.partial(jax.jit, static_argnums=0)
def _autodiff(layer: QuCNNLayer, theta, encoded, occupied, weights):
    def score(t):
        return jnp.sum(weights * layer.apply_encoded(t[None], encoded, occupied)[0, 0, 0])

    return jax.grad(score)(theta)


def _circuit(n_qubits: int, layers: int, kind: str):
    if kind == "ancilla":
        return ancilla_backprop_circuit(n_qubits, layers=layers)
    return swap_test_circuit(n_qubits, layers=layers)


@functools.lru_cache(maxsize=16)
def shift_rows(n_qubits: int, layers: int, kind: str):
    """``(angle_u, shifts, slots, weights)``: the rows of
    :func:`~qnnlab.engines.gradients.shift_table` of the ``kind`` circuit (``"ancilla"``:
    :func:`ancilla_backprop_circuit`, ``"swap"``: :func:`swap_test_circuit`)."""
    eng = make_engine(_circuit(n_qubits, layers, kind), "statevector")
    angle_u, shifts, weights = shift_table(eng)
    return angle_u, shifts, np.asarray(eng.angle_table.slots[angle_u]), np.asarray(weights)


@functools.lru_cache(maxsize=16)
def _expval_program(n_qubits: int, layers: int, kind: str, engine: str):
    """``(f, eng)``: ``f(thetas (N, n_params), inputs (N, 1, ...)) -> (N, rows)`` exact readout
    (``<Z_b>`` for the ancilla circuit, ``<Z_a>`` for the SWAP test) of every shifted circuit,
    computed as :func:`~qnnlab.engines.gradients.parameter_shift_jacobian_fn` does."""
    eng = make_engine(_circuit(n_qubits, layers, kind), engine)
    readout = backprop_observable(n_qubits) if kind == "ancilla" else "Z0"
    terms = term_expvals_fn(eng, as_observable(readout))
    angle_u, shifts, _, _ = shift_rows(n_qubits, layers, kind)

    def values(theta, x):
        return shifted_evaluations(eng, angle_u, shifts, lambda a: terms(a, x), theta)[:, 0, 0]

    return jax.jit(jax.vmap(values)), eng


@functools.lru_cache(maxsize=16)
def _joint_program(n_qubits: int, layers: int, engine: str):
    """``(f, eng)``: ``f(thetas, inputs) -> (N, rows, 2)``, ``(<Z_b>, <Z_a>)`` of every shifted
    ancilla circuit from one pass (the joint distribution of ``a`` and ``b``). Every shifted
    angle is a slot of its own with scale 1, so shifting the slot shifts exactly that angle."""
    eng = make_engine(_circuit(n_qubits, layers, "ancilla"), engine)
    table = eng.angle_table
    _, shifts, slots, _ = shift_rows(n_qubits, layers, "ancilla")
    uses = np.bincount(table.slots[table.is_parameter], minlength=eng.n_params)
    if not (np.all(table.scales[table.is_parameter] == 1.0) and np.all(uses == 1)):
        raise ValueError("the ancilla circuit no longer has one scale-1 angle per slot.")
    reg = swap_test_register(n_qubits)
    probs = eng.probs_fn((reg["ancilla"], reg["backprop_ancilla"]))
    signs = jnp.asarray([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])  # index 2a + b

    def values(theta, x):
        shifted = theta[None, :] + jnp.zeros((len(slots), 1), theta.dtype)
        shifted = shifted.at[jnp.arange(len(slots)), slots].add(shifts.astype(theta.dtype))
        p = jax.lax.map(lambda t: probs(t, x)[0], shifted)  # (rows, 4)
        return p @ signs.astype(p.dtype)

    return jax.jit(jax.vmap(values)), eng


def _thetas(problem: dict, kind: str, pad_to: int) -> np.ndarray:
    theta, g = problem["theta"], _padded(np.asarray(problem["g"]), pad_to)
    n = len(g)
    if kind == "swap":
        return np.broadcast_to(theta, (n, theta.size))
    _, phi = backprop_scale(g)  # padded rows: g = 0, phi = pi/2, nothing measured there
    return np.concatenate([np.broadcast_to(theta, (n, theta.size)), phi[:, None]], axis=1)


def shift_values(cfg: QuCNNGradientConfig, problem: dict, pad_to: int = 0):
    """``({routine: (N, rows) exact values}, {routine: circuit kind})`` of every shifted circuit.

    Statevector: the ancilla circuit's ``<Z_b>`` and the SWAP test's ``<Z_a>`` with parameters,
    inputs and shift rows exactly as ``ancilla_gradient``/``postprocessed_gradient`` build them
    (so the shot draws can use their keys). Density engine: one pass of the ancilla circuit
    gives both (``<Z_a>`` of the SWAP test is untouched by the ``CNOT(a, b)`` after it): the
    10-qubit density program is the costly one to compile.
    """
    n = len(problem["g"])
    if problem["engine"] == "density":
        pad_to = 0  # one density program per case anyway; padding would only cost run time
    inputs = _padded(np.asarray(problem["inputs"]), pad_to)
    if problem["engine"] == "density":
        fn, eng = _joint_program(cfg.n_qubits, cfg.layers, "density")
        thetas = jnp.asarray(_thetas(problem, "ancilla", pad_to), eng.real_dtype)
        out = np.asarray(fn(thetas, jnp.asarray(inputs, eng.dtype)[:, None]), np.float64)[:n]
        values = {"ancilla": out[..., 0], "postprocessed": out[..., 1]}
        return values, {"ancilla": "ancilla", "postprocessed": "ancilla"}
    values = {}
    kinds = {"ancilla": "ancilla", "postprocessed": "swap"}
    for routine, kind in kinds.items():
        fn, eng = _expval_program(cfg.n_qubits, cfg.layers, kind, problem["engine"])
        thetas = jnp.asarray(_thetas(problem, kind, pad_to), eng.real_dtype)
        out = fn(thetas, jnp.asarray(inputs, eng.dtype)[:, None])
        values[routine] = np.asarray(out, np.float64)[:n]
    return values, kinds


def slot_matrix(cfg: QuCNNGradientConfig, kind: str) -> np.ndarray:
    """``W (rows, n_theta)``: ``W[r, j]`` is the shift weight of row ``r`` of the ``kind``
    circuit if it shifts filter angle ``j`` (the ancilla's ``phi`` rows get no column)."""
    _, _, slots, weights = shift_rows(cfg.n_qubits, cfg.layers, kind)
    n_theta = 2 * cfg.n_qubits * cfg.layers
    w = np.zeros((len(slots), n_theta))
    keep = slots < n_theta
    w[np.flatnonzero(keep), slots[keep]] = weights[keep]
    return w


def combine(routine: str, estimates: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gradients ``(..., n_theta)`` from shifted-circuit values ``(..., N, rows)``: ``s sum_p``
    (ancilla) or ``sum_p g_p`` (post-processed) of ``values @ W``."""
    per_patch = estimates @ w  # (..., N, n_theta)
    if routine == "ancilla":
        s, _ = backprop_scale(g)
        return s * per_patch.sum(axis=-2)
    return np.einsum("p,...pj->...j", g, per_patch)


def expected_rms(routine: str, values: np.ndarray, g: np.ndarray, w: np.ndarray, shots: int):
    """``sqrt(E ||G_hat - G||^2)`` for ``shots`` shots per shifted circuit (module docstring)."""
    variance = (1.0 - values**2) / shots  # (N, rows)
    if routine == "ancilla":
        s, _ = backprop_scale(g)
        coeff = np.full(len(g), s)
    else:
        coeff = np.asarray(g, np.float64)
    total = np.sum(coeff[:, None] ** 2 * (variance @ (w**2)))
    return float(math.sqrt(total))


# ------------------------------------------------------------------------ sampling
@jax.jit
def sample_shifted(values, keys, shots):
    """``(R, M)`` estimates ``2 n / S - 1``, ``n ~ Binomial(S, (1 + v) / 2)``, for exact values
    ``(M,)`` and keys ``(R, M)``: the draw of :func:`qnnlab.engines.shots.sample_from_exact`
    (each value a ``(1, 1)`` term-by-batch array), with the shot count ``S`` an argument so one
    compiled program serves every shot count."""
    p_plus = jnp.clip((1.0 + values) / 2.0, 0.0, 1.0)

    def one(key, p):
        return jax.random.binomial(key, shots, p.reshape(1, 1)).astype(values.dtype)[0, 0]

    n_plus = jax.vmap(jax.vmap(one), in_axes=(0, None))(keys, p_plus)
    return 2.0 * n_plus / shots - 1.0


@functools.partial(jax.jit, static_argnums=(1, 2))
def shift_keys(keys, n_patches: int, rows: int):
    """For each key ``(R,)`` the keys ``ancilla_gradient`` gives its shifted circuits with
    ``seed=key`` on ``n_patches`` patches of ``rows`` shift rows: ``split(key, N)`` per patch,
    then ``split(k_p, rows)`` per row; ``(R, N, rows)``."""

    def one(key):
        return jax.vmap(lambda k: jax.random.split(k, rows))(jax.random.split(key, n_patches))

    return jax.vmap(one)(keys)


def repeat_key(seed: int, case: str, shots: int, repeat: int, routine: str):
    """The key of one estimate: ``seed`` folded with the case, shot count, repeat and routine."""
    key = jax.random.key(seed)
    for value in (CASES.index(case), shots, repeat, ROUTINES.index(routine)):
        key = jax.random.fold_in(key, value)
    return key


def sample_estimates(settings: dict, exact: dict, shots: int, routine: str, grid: tuple):
    """``(R, N, rows)`` shot estimates of every shifted circuit of a case for all repeats.

    Every case is drawn on one ``grid = (N_max, rows_max)`` of patches x shift rows (values
    zero-padded), so one compiled key program and one sampler serve the whole run. Patch ``p``,
    row ``r`` of repeat key ``k`` uses ``split(split(k, N_max)[p], rows_max)[r]``: for the MNIST
    ancilla routine (``N = N_max``, ``rows = rows_max``) exactly the key ``ancilla_gradient``
    gives that circuit, elsewhere a sub-block of the same structure (independent keys).
    """
    values = np.asarray(exact["values"][routine], np.float32)
    n, rows = values.shape
    n_max, rows_max = grid
    if n > n_max or rows > rows_max:
        raise ValueError(f"a ({n}, {rows}) problem does not fit the sampling grid {grid}.")
    base = jnp.stack(
        [
            repeat_key(settings["seed"], exact["case"], shots, r, routine)
            for r in range(settings["repeats"])
        ]
    )
    padded = np.zeros((n_max, rows_max), np.float32)
    padded[:n, :rows] = values
    keys = shift_keys(base, n_max, rows_max).reshape(len(base), -1)
    out = sample_shifted(jnp.asarray(padded.reshape(-1)), keys, jnp.int32(shots))
    return np.asarray(out, np.float64).reshape(-1, n_max, rows_max)[:, :n, :rows]


# ----------------------------------------------------------------------------- tasks
def exact_task(settings: dict, case: str, cache: str | None, pad_to: int) -> dict:
    """Inputs, ``g``, the exact gradient (autodiff; 0 for the mixed state) with its checks, and
    the exact value of every shifted circuit of both routines. Pure-state problems are padded
    with zero rows to ``pad_to`` windows, so the MNIST and ``|+>`` cases share compiled
    programs."""
    cfg = QuCNNGradientConfig(**settings)
    start = time.perf_counter()
    problem = case_problem(cfg, case, cache)
    theta, g = problem["theta"], problem["g"]
    values, kinds = shift_values(cfg, problem, pad_to)
    from_values = {r: combine(r, values[r], g, slot_matrix(cfg, kinds[r])) for r in ROUTINES}
    checks = {}
    if case == "maximally-mixed":
        exact = np.zeros_like(theta)  # Tr(|f><f| I/d) = 1/d for every theta
    else:
        exact = autodiff_gradient(cfg, theta, problem["inputs"], g, pad_to)
    for r in ROUTINES:
        checks[f"{r}_shift_values_vs_exact"] = float(np.max(np.abs(from_values[r] - exact)))
    if case == "mnist":
        options = {"n_qubits": cfg.n_qubits, "layers": cfg.layers, "shots": None}
        api = {
            "ancilla": ancilla_gradient(theta, problem["inputs"], g, **options),
            "postprocessed": postprocessed_gradient(theta, problem["inputs"], g, **options),
        }
        for r in ROUTINES:
            diff = np.asarray(api[r], np.float64) - exact
            checks[f"{r}_gradient_exact_vs_autodiff"] = float(np.max(np.abs(diff)))
    norm = float(np.linalg.norm(exact))
    scale = max(norm, float(np.max(np.abs(from_values["ancilla"]))), 1e-30)
    record = {
        "name": f"exact-{case}",
        "case": case,
        "engine": problem["engine"],
        "n_patches": len(g),
        "theta": theta.tolist(),
        "g": np.asarray(g, np.float64).tolist(),
        "exact_gradient": exact.tolist(),
        "exact_norm": norm,
        "gradient_from_circuit_values": {r: from_values[r].tolist() for r in ROUTINES},
        "checks": checks,
        "checks_relative": {k: v / scale for k, v in checks.items()},
        "values": {r: values[r].tolist() for r in ROUTINES},
        "circuits": kinds,
        "inputs": np.asarray(problem["inputs"], np.float64).tolist(),
        "seconds": time.perf_counter() - start,
    }
    for key in ("image_indices", "labels"):
        if key in problem:
            record[key] = problem[key]
    return record


def _routine_stats(case: str, routine: str, est, exact: dict, shots: int, w) -> dict:
    g = np.asarray(exact["g"])
    truth = np.asarray(exact["exact_gradient"])
    errors = np.linalg.norm(est - truth, axis=1)
    values = np.asarray(exact["values"][routine])
    stats = {
        "absolute_error": float(errors.mean()),
        "absolute_error_std": float(errors.std(ddof=1)),
        "rms_error": float(np.sqrt(np.mean(errors**2))),
        "expected_rms_error": expected_rms(routine, values, g, w, shots),
        "first_estimate": est[0].tolist(),
        "mean_estimate": est.mean(axis=0).tolist(),
    }
    if case in RELATIVE_CASES:
        rel = errors / exact["exact_norm"]
        stats["relative_error"] = float(rel.mean())
        stats["relative_error_std"] = float(rel.std(ddof=1))
    return stats


def shots_task(settings: dict, exact: dict, shots: int, grid: tuple) -> dict:
    """Every repeat of both routines at one shot count for one case."""
    cfg = QuCNNGradientConfig(**settings)
    start = time.perf_counter()
    g = np.asarray(exact["g"])
    record = {"name": f"{exact['case']}-shots{shots}", "case": exact["case"], "shots": shots}
    for routine in ROUTINES:
        w = slot_matrix(cfg, exact["circuits"][routine])
        est = combine(routine, sample_estimates(settings, exact, shots, routine, grid), g, w)
        record[routine] = _routine_stats(exact["case"], routine, est, exact, shots, w)
    record["seconds"] = time.perf_counter() - start
    return record


def sampler_check_task(settings: dict, exact: dict, grid: tuple) -> dict:
    """One real ``ancilla_gradient(..., shots=verify_shots, seed=key)`` call against the
    sampler's first repeat with the same key (module docstring)."""
    cfg = QuCNNGradientConfig(**settings)
    shots = cfg.verify_shots
    start = time.perf_counter()
    g = np.asarray(exact["g"])
    inputs = np.asarray(exact["inputs"])
    key = repeat_key(cfg.seed, exact["case"], shots, 0, "ancilla")
    api = np.asarray(
        ancilla_gradient(
            np.asarray(exact["theta"]),
            inputs,
            g,
            n_qubits=cfg.n_qubits,
            layers=cfg.layers,
            shots=shots,
            seed=key,
            engine=exact["engine"],
        ),
        np.float64,
    )
    w = slot_matrix(cfg, exact["circuits"]["ancilla"])
    mine = combine("ancilla", sample_estimates(settings, exact, shots, "ancilla", grid), g, w)[0]
    noise = np.linalg.norm(api - np.asarray(exact["exact_gradient"]))
    return {
        "name": "sampler-check",
        "case": exact["case"],
        "shots": shots,
        "max_abs_diff": float(np.max(np.abs(api - mine))),
        "api_error_norm": float(noise),
        "api_gradient": api.tolist(),
        "sampler_gradient": mine.tolist(),
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------------------- run
def fit_slope(shots, errors) -> float | None:
    """Least-squares slope of ``log(error)`` vs ``log(shots)`` (None with < 2 positive points)."""
    s, e = np.asarray(shots, float), np.asarray(errors, float)
    keep = e > 0
    if keep.sum() < 2:
        return None
    return float(np.polyfit(np.log(s[keep]), np.log(e[keep]), 1)[0])


def _case_summary(exact: dict, records: list[dict], shots: list[int]) -> dict:
    case = exact["case"]
    summary = {
        "engine": exact["engine"],
        "n_patches": exact["n_patches"],
        "g": exact["g"] if len(exact["g"]) <= 4 else None,
        "g_norm": float(np.linalg.norm(exact["g"])),
        "g_scale": float(np.max(np.abs(exact["g"]))),
        "theta": exact["theta"],
        "exact_gradient": exact["exact_gradient"],
        "exact_norm": exact["exact_norm"],
        "gradient_from_circuit_values": exact["gradient_from_circuit_values"],
        "checks": exact["checks"],
        "checks_relative": exact["checks_relative"],
        "error_metric": "relative" if case in RELATIVE_CASES else "absolute",
    }
    for key in ("image_indices", "labels"):
        if key in exact:
            summary[key] = exact[key]
    for routine in ROUTINES:
        stats = [r[routine] for r in records]
        block = {
            k: [s[k] for s in stats]
            for k in (
                "absolute_error",
                "absolute_error_std",
                "rms_error",
                "expected_rms_error",
                "first_estimate",
            )
        }
        if case in RELATIVE_CASES:
            block["relative_error"] = [s["relative_error"] for s in stats]
            block["relative_error_std"] = [s["relative_error_std"] for s in stats]
            block["slope"] = fit_slope(shots, block["relative_error"])
        else:
            block["slope"] = fit_slope(shots, block["absolute_error"])
        summary[routine] = block
    return summary


def run_qucnn_gradient(
    config: QuCNNGradientConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) the gradient-vs-shots study into ``out`` (module docstring).

    ``cache_dir`` is where MNIST files found in ``mnist_dir`` are kept (default: qnnlab's cache
    folder, :func:`qnnlab.data.mnist.load_mnist`).
    """
    config.validate()
    default_compilation_cache()
    settings = config.to_dict()
    cache = cache_arg(cache_dir)
    run = open_run("qucnn-gradient", settings, out, command)
    options = {"workers": workers, "scheduler": scheduler, "progress": progress}
    pad_to = count_windows(config, cache)
    exact_records = run_tasks(
        run,
        settings,
        call_task,
        [(exact_task, (settings, case, cache, pad_to)) for case in CASES],
        [f"exact-{case}" for case in CASES],
        desc="exact gradients",
        **options,
    )
    exact = dict(zip(CASES, exact_records, strict=True))
    # one sampling grid for every task: the most patches and shift rows of any case
    grid = (
        max(r["n_patches"] for r in exact_records),
        max(len(r["values"][k][0]) for r in exact_records for k in ROUTINES),
    )
    shots = list(config.shots)
    tasks = [(shots_task, (settings, exact[c], s, grid)) for c in CASES for s in shots]
    names = [f"{c}-shots{s}" for c in CASES for s in shots]
    if config.verify_shots is not None:
        tasks.append((sampler_check_task, (settings, exact["mnist"], grid)))
        names.append("sampler-check")
    records = run_tasks(run, settings, call_task, tasks, names, desc="shot estimates", **options)
    check = records[-1] if config.verify_shots is not None else None
    per_case = {c: records[i * len(shots) : (i + 1) * len(shots)] for i, c in enumerate(CASES)}
    cases = {c: _case_summary(exact[c], per_case[c], shots) for c in CASES}
    mnist = cases["mnist"]["ancilla"]
    results = {
        "experiment": "qucnn-gradient",
        "config": settings,
        "shots": shots,
        "relative_error": mnist["relative_error"],
        "relative_error_std": mnist["relative_error_std"],
        "slope": mnist["slope"],
        "postprocessed_relative_error": cases["mnist"]["postprocessed"]["relative_error"],
        "cases": cases,
        "sampler_check": None
        if check is None
        else {k: check[k] for k in ("case", "shots", "max_abs_diff", "api_error_norm", "seconds")},
        "seconds": {
            **{f"exact-{c}": exact[c]["seconds"] for c in CASES},
            **{r["name"]: r["seconds"] for r in records},
        },
    }
    run.write_results(results)
    _write_tables(run, results)
    run.save_figure(plot_gradients(results), "gradient.png")
    run.log("done")
    return ExperimentRun(config, run.path, results)


def _write_tables(run, results: dict) -> None:
    shots = results["shots"]
    rows = []
    for case, summary in results["cases"].items():
        metric = summary["error_metric"]
        for routine in ROUTINES:
            block = summary[routine]
            for i, s in enumerate(shots):
                rows.append(
                    [
                        case,
                        routine,
                        s,
                        metric,
                        block[f"{metric}_error"][i],
                        block[f"{metric}_error_std"][i],
                        block["rms_error"][i],
                        block["expected_rms_error"][i],
                    ]
                )
    header = ("case", "routine", "shots", "metric", "error", "error_std", "rms", "expected_rms")
    run.write_csv("errors.csv", header, rows)
    rows = []
    for case, summary in results["cases"].items():
        for j, value in enumerate(summary["exact_gradient"]):
            row = [case, j, value]
            for routine in ROUTINES:
                row += [summary[routine]["first_estimate"][i][j] for i in range(len(shots))]
            rows.append(row)
    header = ["case", "parameter", "exact"] + [
        f"{routine}_{s}" for routine in ROUTINES for s in shots
    ]
    run.write_csv("gradients.csv", header, rows)


def _picked_shots(shots: list[int]) -> list[int]:
    """Up to three shot counts for the per-parameter panels: smallest, middle, largest."""
    idx = sorted({0, len(shots) // 2, len(shots) - 1})
    return idx


def plot_gradients(results: dict):
    """(a) relative error vs shots (MNIST windows, |+>^4) with the ``1/sqrt(S)`` line, (b)
    ``||G_hat||`` vs shots for ``I/16`` (exact gradient 0), (c) per-parameter gradient of the
    MNIST case, exact vs ancilla routine, (d) the same for ``I/16``, ancilla vs post-processed."""
    from matplotlib.figure import Figure

    shots = np.asarray(results["shots"], float)
    cases = results["cases"]
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    colors = {"mnist": "tab:blue", "uniform-superposition": "tab:green", "maximally-mixed": "C3"}
    styles = {"ancilla": ("o", "-"), "postprocessed": ("s", "--")}

    def reference(ax, anchor):
        ax.plot(
            shots, anchor * np.sqrt(shots[0] / shots), ":", color="gray", lw=1.2, label="1/sqrt(S)"
        )

    for case in RELATIVE_CASES:
        for routine in ROUTINES:
            block = cases[case][routine]
            marker, line = styles[routine]
            ax_a.errorbar(
                shots,
                block["relative_error"],
                yerr=block["relative_error_std"],
                fmt=marker + line,
                ms=4,
                capsize=2,
                color=colors[case],
                mfc="white" if routine == "postprocessed" else colors[case],
                label=f"{case} {routine} (slope {block['slope']:.2f})",
            )
            expected = np.asarray(block["expected_rms_error"]) / cases[case]["exact_norm"]
            ax_a.plot(shots, expected, "x", color=colors[case], ms=5)
    reference(ax_a, results["relative_error"][0])
    ax_a.set(
        xscale="log",
        yscale="log",
        xlabel="shots per circuit S",
        ylabel="||G_hat - G|| / ||G||  (x: predicted rms)",
        title="(a) relative gradient error",
    )
    mixed = cases["maximally-mixed"]
    for routine in ROUTINES:
        block = mixed[routine]
        marker, line = styles[routine]
        ax_b.errorbar(
            shots,
            block["absolute_error"],
            yerr=block["absolute_error_std"],
            fmt=marker + line,
            ms=4,
            capsize=2,
            color=colors["maximally-mixed"],
            mfc="white" if routine == "postprocessed" else colors["maximally-mixed"],
            label=f"{routine} (slope {block['slope']:.2f})",
        )
        ax_b.plot(shots, block["expected_rms_error"], "x", color="k", ms=5)
    reference(ax_b, mixed["ancilla"]["absolute_error"][0])
    ax_b.set(
        xscale="log",
        yscale="log",
        xlabel="shots per circuit S",
        ylabel="||G_hat||  (exact G = 0; x: predicted rms)",
        title=f"(b) maximally mixed data I/16, g = {results['config']['backprop_value']}",
    )
    picked = _picked_shots(list(results["shots"]))
    params = np.arange(len(cases["mnist"]["exact_gradient"]))
    shades = ["tab:orange", "tab:purple", "tab:cyan"]
    ax_c.plot(params, cases["mnist"]["exact_gradient"], "k-", marker="o", ms=4, label="exact")
    for shade, i in zip(shades, picked, strict=False):
        ax_c.plot(
            params,
            cases["mnist"]["ancilla"]["first_estimate"][i],
            "^",
            color=shade,
            ms=5,
            label=f"ancilla, S={results['shots'][i]}",
        )
    ax_c.set(
        xlabel="filter parameter j",
        ylabel="dL/dtheta_j",
        title=f"(c) MNIST windows ({cases['mnist']['n_patches']} patches), one repeat",
    )
    ax_d.axhline(0.0, color="k", lw=1, label="exact (0)")
    for shade, i in zip(shades, picked, strict=False):
        for routine, marker in (("ancilla", "^"), ("postprocessed", "v")):
            ax_d.plot(
                params,
                mixed[routine]["first_estimate"][i],
                marker,
                color=shade,
                ms=5,
                mfc="white" if routine == "postprocessed" else shade,
                label=f"{routine}, S={results['shots'][i]}",
            )
    ax_d.set(
        xlabel="filter parameter j",
        ylabel="gradient estimate",
        title="(d) I/16: QuCNN ancilla vs post-processed, one repeat",
    )
    for ax in (ax_a, ax_b, ax_c, ax_d):
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=6.5)
    return fig


def report(run: ExperimentRun) -> list[str]:
    r = run.results
    lines = []
    for case, summary in r["cases"].items():
        metric = summary["error_metric"]
        for routine in ROUTINES:
            block = summary[routine]
            pts = ", ".join(
                f"{s}:{v:.2e}" for s, v in zip(r["shots"], block[f"{metric}_error"], strict=True)
            )
            slope = "n/a" if block["slope"] is None else f"{block['slope']:.2f}"
            lines.append(f"{case} {routine} {metric} error: {pts} (slope {slope})")
    checks = r["cases"]["mnist"]["checks"]
    lines.append(
        "MNIST exact checks (max |diff| vs autodiff): "
        + ", ".join(f"{k} {v:.1e}" for k, v in checks.items())
    )
    mixed = r["cases"]["maximally-mixed"]["gradient_from_circuit_values"]["ancilla"]
    lines.append(
        f"I/16 exact gradient from the density engine: max |G| = {np.max(np.abs(mixed)):.1e}"
    )
    if r["sampler_check"]:
        c = r["sampler_check"]
        lines.append(
            f"sampler vs ancilla_gradient(shots={c['shots']}): max |diff| {c['max_abs_diff']:.1e} "
            f"(shot error of that estimate {c['api_error_norm']:.2e})"
        )
    return lines
