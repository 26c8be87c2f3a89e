"""QuCNN (Stein et al., "QuCNN: A Quantum Convolutional Neural Network with Entanglement Based
Backpropagation", ``papers/qucnn.md``): a convolution whose filters are quantum states and whose
inner product is a SWAP test.

**The layer.** Each image patch ``x`` (flattened window, :mod:`qnnlab.data.images`) is
amplitude-encoded into ``k`` qubits, ``|x> = x / ||x||``. Each of ``F`` filters is a state
``|f_i(theta_i)> = V(theta_i) |0..0>`` prepared by :func:`filter_ansatz` (paper Fig. 1: layers
of RX and RZ rotations on every filter qubit, then a ring of CNOTs), one parameter vector per
filter. The SWAP test (paper Eq. 2) between the filter and data registers,

    H_a  prod_j CSWAP(a, f_j, x_j)  H_a,   <Z_a> = P(a=0) - P(a=1) = |<f|x>|^2,

gives the feature ``y_{i,h,w} = |<f_i|x_{h,w}>|^2`` (paper Eq. 3), a map shaped like a
``Conv2d``'s output ``(batch, F, H', W')``. For a real filter ``f = w / ||w||`` this is the
classical convolution squared and normalised, ``(w . x / (||w|| ||x||))^2``. With ``S`` shots the
ancilla gives ``n_0 ~ Binomial(S, (1 + y) / 2)`` zeros and ``2 n_0 / S - 1`` is unbiased for
``y`` with variance ``(1 - y^2) / S``. Empty patches give ``y = 0`` exactly (the rule of
:mod:`qnnlab.data.images`).

**Two routes, one circuit.** :func:`swap_test_circuit` builds the whole test as a
:class:`~qnnlab.circuits.Circuit` (ancilla ``a`` = qubit 0, filter register ``1..k``, data
register ``k+1..2k``): the data either enter as the engine's input state on the data register
(``data="input"``) or are prepared by Mottonen's circuit with the data angles in parameter
slots (``data="circuit"``), which every engine runs and OpenQASM 3 exports. :class:`QuCNNLayer`
evaluates the same quantity fast: it asks the statevector engine for the filter states
``V(theta_i)|0>`` (a ``k``-qubit circuit) and contracts them with all patches at once, so the
layer is a pure JAX function of ``theta`` (``jit``, ``grad``, ``vmap``) that an optax-trained
classical head composes with. Tests hold the routes to agree to 1e-6 on every engine.

**Backpropagation (paper Eqs. 4-17).** :func:`ancilla_backprop_circuit` appends a second
ancilla ``b``: ``RY(phi)`` makes ``<Z_b> = cos(phi) = g`` and ``CNOT(a, b)`` maps ``Z_b`` to
``Z_a Z_b``, so on the product state ``<Z_b>_out = <Z_a><Z_b> = g |<f|x>|^2``; the
parameter-shift rule on the filter angles of that circuit then measures ``g d|<f|x>|^2 /
d theta`` (:mod:`qnnlab.training.ancilla_backprop`, derivation in ``docs/qucnn.md``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit, CircuitError
from qnnlab.circuits.state_prep import append_state_prep, n_state_prep_angles
from qnnlab.data.images import (
    amplitude_encode,
    as_image_batch,
    check_window,
    extract_patches,
    n_encoding_qubits,
    output_size,
)
from qnnlab.engines.validation import InputError

#: Most ansatz layers the paper uses (Fig. 6: 1, 2 and 3); more are allowed.
PAPER_LAYERS = (1, 2, 3)
#: Filter registers larger than this are refused: the SWAP test then needs 2k + 2 > 26 qubits.
MAX_FILTER_QUBITS = 12


def _check_int(value, what: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(f"{what} must be an integer >= {low}, got {value!r}.")
    return int(value)


def n_filter_params(n_qubits: int, layers: int) -> int:
    """``2 k L``: one RX and one RZ angle per qubit per layer."""
    return 2 * n_qubits * layers


def append_filter_ansatz(circuit: Circuit, qubits, params) -> Circuit:
    """Append the filter ansatz (paper Fig. 1) on ``qubits`` with angles ``params``.

    Layer ``l`` applies ``RZ(params[2(l k + q) + 1]) RX(params[2(l k + q)])`` on qubit ``q`` of
    the register, then ``CNOT(q, q+1)`` for ``q = 0..k-2`` and, for ``k > 2``, ``CNOT(k-1, 0)``
    (a ring). ``params`` may be floats or :class:`~qnnlab.circuits.Param` handles.
    """
    qubits = list(qubits)
    k = len(qubits)
    if len(params) % (2 * k):
        raise CircuitError(f"the filter ansatz on {k} qubits takes 2*{k}*layers angles.")
    for layer in range(len(params) // (2 * k)):
        for q, qubit in enumerate(qubits):
            circuit.rx(qubit, params[2 * (layer * k + q)])
            circuit.rz(qubit, params[2 * (layer * k + q) + 1])
        for q in range(k - 1):
            circuit.cnot(qubits[q], qubits[q + 1])
        if k > 2:
            circuit.cnot(qubits[-1], qubits[0])
    return circuit


def filter_ansatz(n_qubits: int, layers: int = 2) -> Circuit:
    """``V(theta)`` on ``n_qubits`` qubits with ``2 n_qubits layers`` slots
    (:func:`append_filter_ansatz`)."""
    n = _check_int(n_qubits, "n_qubits")
    layers = _check_int(layers, "layers")
    circuit = Circuit(n, name=f"qucnn-filter-{n}q-{layers}l")
    return append_filter_ansatz(circuit, range(n), circuit.parameters(2 * n * layers, "theta"))


def swap_test_register(n_qubits: int) -> dict[str, object]:
    """Qubit layout of the SWAP test: ``a`` = 0, filter ``1..k``, data ``k+1..2k``, ``b`` = 2k+1."""
    k = n_qubits
    return {
        "ancilla": 0,
        "filter": tuple(range(1, k + 1)),
        "data": tuple(range(k + 1, 2 * k + 1)),
        "backprop_ancilla": 2 * k + 1,
    }


def swap_test_circuit(
    n_qubits: int,
    *,
    layers: int = 2,
    filter: str = "ansatz",
    data: str = "input",
    backprop: bool = False,
) -> Circuit:
    """The SWAP test between a filter state and a data state, ``<Z_0> = |<f|x>|^2``.

    Args:
        n_qubits: ``k``, qubits per register.
        layers: ansatz layers when ``filter="ansatz"``.
        filter: ``"ansatz"`` (slots ``0 .. 2kL-1`` are the filter angles) or ``"state"`` (an
            ideal filter prepared by Mottonen's circuit; its ``2**k - 1`` angles,
            :func:`qnnlab.circuits.state_prep.state_prep_angles` of the unit vector, are the
            first slots).
        data: ``"input"`` (the data state is the engine's input state on the data register)
            or ``"circuit"`` (Mottonen's preparation, its ``2**k - 1`` angles in the next slots;
            the engine's input is then ``|0..0>``).
        backprop: add the ancilla ``b`` (qubit ``2k+1``): ``RY(phi)`` on it, with ``phi`` the
            last slot, and ``CNOT(a, b)`` after the SWAP test, so ``<Z_{2k+1}> = cos(phi)
            |<f|x>|^2`` (:func:`ancilla_backprop_circuit`).
    """
    k = _check_int(n_qubits, "n_qubits")
    if k > MAX_FILTER_QUBITS:
        raise InputError(
            f"{k} filter qubits make a {2 * k + 1}-qubit SWAP test; at most {MAX_FILTER_QUBITS} "
            "are supported (use smaller patches)."
        )
    if filter not in ("ansatz", "state"):
        raise InputError(f"filter must be 'ansatz' or 'state', got {filter!r}.")
    if data not in ("input", "circuit"):
        raise InputError(f"data must be 'input' or 'circuit', got {data!r}.")
    reg = swap_test_register(k)
    n_total = 2 * k + 1 + int(backprop)
    circuit = Circuit(
        n_total, input_qubits=reg["data"], name=f"qucnn-swap-test-{k}q-{filter}-{data}"
    )
    if filter == "ansatz":
        theta = circuit.parameters(n_filter_params(k, _check_int(layers, "layers")), "theta")
        append_filter_ansatz(circuit, reg["filter"], theta)
    else:
        angles = circuit.parameters(n_state_prep_angles(k), "filter_angle")
        append_state_prep(circuit, reg["filter"], angles)
    if data == "circuit":
        angles = circuit.parameters(n_state_prep_angles(k), "data_angle")
        append_state_prep(circuit, reg["data"], angles)
    a = reg["ancilla"]
    circuit.h(a)
    for f, x in zip(reg["filter"], reg["data"], strict=True):
        circuit.cswap(a, f, x)
    circuit.h(a)
    if backprop:
        b = reg["backprop_ancilla"]
        circuit.ry(b, circuit.parameter("phi"))
        circuit.cnot(a, b)
    return circuit


def ancilla_backprop_circuit(n_qubits: int, *, layers: int = 2, data: str = "input") -> Circuit:
    """The SWAP test with the entangled ancilla of paper Eqs. 7-17; measure ``Z`` on qubit
    ``2k+1``. Slots: the filter angles, then (``data="circuit"``) the data angles, then
    ``phi = arccos(g)``."""
    return swap_test_circuit(n_qubits, layers=layers, data=data, backprop=True)


def backprop_observable(n_qubits: int) -> str:
    """``"Z{2k+1}"``: the readout of :func:`ancilla_backprop_circuit`."""
    return f"Z{swap_test_register(n_qubits)['backprop_ancilla']}"


@functools.lru_cache(maxsize=32)
def _filter_state_fn(n_qubits: int, layers: int, dtype: str):
    from qnnlab.engines import make_engine

    engine = make_engine(filter_ansatz(n_qubits, layers), "statevector", dtype=dtype)
    state = engine.state_fn()
    zero = np.zeros((1, 2**n_qubits), engine.dtype)
    zero[0, 0] = 1  # NumPy, not JAX: this memo may first run inside a trace
    return jax.vmap(lambda theta: state(theta, zero)[0])


def filter_states(theta, n_qubits: int, layers: int, *, dtype: str = "complex64"):
    """``(F, 2**k)`` states ``V(theta_i)|0..0>`` for ``theta`` of shape ``(F, 2kL)`` (pure JAX,
    computed by the statevector engine on :func:`filter_ansatz`)."""
    return _filter_state_fn(n_qubits, layers, dtype)(theta)


def overlap_maps(states, encoded, occupied):
    """Pure ``|<f_i|x_{b,h,w}>|^2``: ``(F, D)`` filter states, ``(B, H', W', D)`` real encoded
    patches and ``(B, H', W')`` occupancy -> ``(B, F, H', W')`` (0 at empty patches)."""
    re = jnp.einsum("bhwd,fd->bfhw", encoded, jnp.real(states), precision="highest")
    im = jnp.einsum("bhwd,fd->bfhw", encoded, jnp.imag(states), precision="highest")
    return jnp.where(occupied[:, None], re * re + im * im, 0.0)


def binomial_on_host(key, shots: int, p):
    """``n ~ Binomial(shots, p)`` elementwise, drawn by NumPy's exact sampler from a seed taken
    from the JAX ``key`` (reproducible, jit-able through ``jax.pure_callback``).

    Same distribution as ``jax.random.binomial``, whose sampler takes about 10 s to compile
    on a 2-core machine; this one compiles in well under a second, which is what makes a fresh
    Fig. 3 reproduction take seconds.
    """
    seed = jax.random.bits(key, (4,), jnp.uint32)

    def draw(seed, p):
        rng = np.random.default_rng(np.asarray(seed).tolist())
        probs = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
        return rng.binomial(shots, probs).astype(np.asarray(p).dtype)

    shape = jax.ShapeDtypeStruct(p.shape, p.dtype)
    return jax.pure_callback(draw, shape, seed, p, vmap_method="sequential")


def sample_swap_tests(maps, occupied, shots: int, key):
    """Finite-shot SWAP tests: ``2 n_0 / S - 1`` with ``n_0 ~ Binomial(S, (1 + y) / 2)`` for
    every occupied patch (the measurement model of :mod:`qnnlab.engines.shots`), 0 elsewhere."""
    n_zero = binomial_on_host(key, shots, (1.0 + maps) / 2.0)
    return jnp.where(occupied[:, None], 2.0 * n_zero / shots - 1.0, 0.0)


@functools.lru_cache(maxsize=64)
def _layer_program(layer: QuCNNLayer, shots: int | None):
    """One compiled ``f(theta, images, key) -> maps`` per layer and shot count."""

    def f(theta, images, key):
        encoded, occupied = layer.encode(images)
        maps = layer.apply_encoded(theta, encoded, occupied)
        return maps if shots is None else sample_swap_tests(maps, occupied, shots, key)

    return jax.jit(f)


@dataclass(frozen=True)
class QuCNNLayer:
    """A QuCNN convolution: ``n_filters`` ansatz filters over ``kernel_size`` windows.

    Example:
        >>> layer = QuCNNLayer(kernel_size=4, n_filters=2, layers=2)
        >>> theta = layer.init(seed=0)                   # (2, 16)
        >>> maps = layer(theta, images)                  # (B, 2, 25, 25) for 28x28 images
        >>> loss = lambda t: jnp.mean(layer.apply(t, batch) ** 2)   # pure: jit/grad/vmap
    """

    kernel_size: int | tuple[int, int] = 4
    stride: int | tuple[int, int] = 1
    padding: int | str | tuple[int, int] = 0
    in_channels: int = 1
    n_filters: int = 1
    layers: int = 2
    dtype: str = "complex64"

    def __post_init__(self):
        for name in ("kernel_size", "stride", "padding"):  # lists -> tuples: layers are hashed
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_window(self.kernel_size, self.stride, self.padding)
        _check_int(self.in_channels, "in_channels")
        _check_int(self.n_filters, "n_filters")
        _check_int(self.layers, "layers")
        if self.dtype not in ("complex64", "complex128"):
            raise InputError(f"dtype must be 'complex64' or 'complex128', got {self.dtype!r}.")
        if self.n_qubits > MAX_FILTER_QUBITS:
            raise InputError(
                f"{self.patch_size}-pixel patches need {self.n_qubits} qubits per register; at "
                f"most {MAX_FILTER_QUBITS} are supported: use a smaller kernel_size."
            )

    @property
    def window(self):
        return check_window(self.kernel_size, self.stride, self.padding)

    @property
    def patch_size(self) -> int:
        (kh, kw), _, _ = self.window
        return self.in_channels * kh * kw

    @property
    def n_qubits(self) -> int:
        """Qubits per register: ``ceil(log2(C kh kw))`` (patches are zero-padded to ``2**k``)."""
        return n_encoding_qubits(self.patch_size)

    @property
    def n_params_per_filter(self) -> int:
        return n_filter_params(self.n_qubits, self.layers)

    @property
    def param_shape(self) -> tuple[int, int]:
        return (self.n_filters, self.n_params_per_filter)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        return output_size(height, width, self.kernel_size, self.stride, self.padding)

    def init(self, seed: int):
        """Angles uniform on ``[0, 2 pi)``, shape :attr:`param_shape`."""
        real = jnp.float64 if self.dtype == "complex128" else jnp.float32
        key = jax.random.key(_check_int(seed, "seed", 0))
        return jax.random.uniform(key, self.param_shape, real, 0.0, 2 * math.pi)

    def filter_circuit(self) -> Circuit:
        return filter_ansatz(self.n_qubits, self.layers)

    def swap_test_circuit(self, data: str = "input", backprop: bool = False) -> Circuit:
        return swap_test_circuit(self.n_qubits, layers=self.layers, data=data, backprop=backprop)

    # ---------------------------------------------------------------- pure functions
    def filter_states(self, theta):
        """``(F, 2**k)`` filter states (pure)."""
        return filter_states(theta, self.n_qubits, self.layers, dtype=self.dtype)

    def encode(self, images):
        """Pure ``(B, C, H, W)`` (or ``(B, H, W)`` with one channel) ``-> (encoded (B, H', W',
        2**k), occupied (B, H', W'))``."""
        images = jnp.asarray(images)
        if images.ndim == 3 and self.in_channels == 1:
            images = images[:, None]
        patches = extract_patches(images, self.kernel_size, self.stride, self.padding)
        return amplitude_encode(patches, 2**self.n_qubits)

    def apply_encoded(self, theta, encoded, occupied):
        """Pure feature maps ``(B, F, H', W')`` from pre-encoded patches (reuse across epochs)."""
        return overlap_maps(self.filter_states(theta), encoded, occupied)

    def apply(self, theta, images):
        """Pure ``(theta (F, P), images (B, C, H, W)) -> (B, F, H', W')``, exact ``|<f|x>|^2``."""
        return self.apply_encoded(theta, *self.encode(images))

    def apply_states(self, states, images):
        """Feature maps of given filter states ``(F, 2**k)`` (ideal filters, unit vectors)."""
        return overlap_maps(states, *self.encode(images))

    # ---------------------------------------------------------------- checked entry point
    def __call__(self, theta, images, *, shots: int | None = None, seed=None):
        """Checked feature maps: exact, or SWAP-test estimates from ``shots`` shots each."""
        theta = self.check_theta(theta)
        batch = as_image_batch(images, self.in_channels)
        self.output_shape(batch.shape[2], batch.shape[3])
        if shots is None:
            return _layer_program(self, None)(theta, batch, jax.random.key(0))
        from qnnlab.engines.shots import as_key, check_shots

        return _layer_program(self, check_shots(shots))(theta, batch, as_key(seed))

    def check_theta(self, theta):
        arr = np.asarray(theta)
        if arr.shape != self.param_shape:
            raise InputError(
                f"filter parameters have shape {arr.shape}; this layer takes {self.param_shape} "
                "(n_filters, 2 * qubits * layers): use layer.init(seed)."
            )
        if not np.all(np.isfinite(arr)):
            raise InputError("filter parameters contain NaN or inf.")
        real = jnp.float64 if self.dtype == "complex128" else jnp.float32
        return jnp.asarray(theta, real)
