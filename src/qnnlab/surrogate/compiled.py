"""The compiled surrogate: a Pauli propagation frozen into a static, differentiable JAX program.

With a weight cut (``max_weight``) and a frequency cut (``max_freq``) the strings that survive
Pauli propagation and the way they branch and merge do not depend on the angles; only the
coefficients do. :func:`compile_surrogate` runs the interpreted engine
(:func:`qnnlab.engines.pauliprop.propagate`) once with ``record=True`` and turns the recorded
linear structure (:class:`~qnnlab.engines.pauliprop.LayerTrace`) into a JAX program

    theta -> a (angle table) -> R (every step's Pauli transfer matrix, ``StepProgram.ptm_values``)
          -> per layer and stage: gather, multiply by R entries, segment_sum -> c (T,)

over a fixed list of ``T`` input-side Pauli strings (:attr:`CompiledSurrogate.table`). All
sizes are static, so the program jits, differentiates (``grad``, ``jacobian``) and vmaps over
``theta``. :meth:`CompiledSurrogate.expval_fn` gives ``model_fn(theta, X) = X @ c(theta)``,
with ``X (B, T)`` each input state's expectation values of those strings: the form
:func:`qnnlab.training.fit` trains.

Each layer becomes one operation per stage (the ``p``-th touched block of the strings, see
:mod:`qnnlab.engines.pauliprop.kernel`); the layer's input selection, pass-through strings,
fold of fresh qubits and ``max_terms`` selection are composed on the host into the index arrays
of the first and last operation, so a layer of ``P`` stages costs ``P`` gather / multiply /
segment_sum triples (edges sorted by destination). Operations that only move strings (factor
1, one source per destination) become plain gathers.

Which cuts, and what the surrogate then is:

* no cut, ``max_weight``, ``max_freq``: the structure is angle independent; the engine runs at
  ``reference_theta`` (default: random angles, seed 0) and the surrogate equals the interpreted
  engine at *every* ``theta`` (exact when no cut is active).
* ``min_coeff`` and ``max_terms`` depend on the angles: they need ``reference_theta`` and then
  define a *frozen-support* surrogate: the strings and paths kept at ``reference_theta``, with
  coefficients recomputed at any ``theta``. It equals the interpreted truncated engine exactly
  at ``reference_theta`` and is a fixed sub-expansion of the exact operator elsewhere (the
  interpreted engine would drop other strings there).

Precision: ``float32`` by default (like ``complex64`` engines); ``dtype="float64"`` switches on
JAX's 64-bit mode when asked (:func:`qnnlab.engines.validation.resolve_dtype`), never on
import.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.engines.pauliprop import PropagationResult, propagate
from qnnlab.engines.plan import compile_circuit
from qnnlab.engines.validation import resolve_dtype

#: seed of the random reference angles used when only angle-independent cuts are active
REFERENCE_SEED = 0
_DTYPES = {"float32": "complex64", "float64": "complex128"}
#: where an operation reads from: the layer's input, the previous stage, or both (concatenated)
_INPUT, _STAGE, _BOTH = 0, 1, 2


class SurrogateError(ValueError):
    """A surrogate request that cannot be carried out; the message names the fix."""


@dataclass(frozen=True)
class _Op:
    """``out[dst] += source[src] * R_ext[entry]`` (static part; the arrays live in a pytree)."""

    source: int
    size: int
    weighted: bool  # False: every factor is 1, skip the multiply
    gather_only: bool  # True: dst == arange(size), so out = source[src] (* R)


@dataclass(frozen=True)
class _Program:
    ops: tuple[tuple[_Op, ...], ...]
    n_terms: int
    n_edges: int


def _sentinel_entries(entry: np.ndarray, n_entries: int) -> np.ndarray:
    return np.where(entry < 0, n_entries, entry)


def _make_op(source, src, entry, dst, size, n_entries):
    """Drop vanished edges (``dst < 0``), sort by destination, and classify the operation."""
    keep = dst >= 0
    src, entry, dst = src[keep], entry[keep], dst[keep]
    order = np.argsort(dst, kind="stable")
    src, entry, dst = src[order], _sentinel_entries(entry[order], n_entries), dst[order]
    weighted = bool(np.any(entry != n_entries))
    gather_only = len(dst) == size and bool(np.all(dst == np.arange(size)))
    op = _Op(source, int(size), weighted, gather_only)
    arrays = (
        src.astype(np.int32),
        entry.astype(np.int32) if weighted else None,
        None if gather_only else dst.astype(np.int32),
    )
    return op, arrays


def _layer_ops(layer, n_entries: int):
    """The operations of one recorded layer (module docstring): ``[(op, arrays), ...]``."""
    sizes = np.asarray(layer.stage_sizes, np.int64)
    n_stages = max(len(sizes) - 1, 0)
    n_pass = len(layer.pass_src)
    n_last = int(sizes[-1]) if len(sizes) else 0
    n_out = n_pass + n_last
    # output index of every string of concat(pass, v_P): fold, then keep
    final, size = np.arange(n_out), n_out
    if layer.fold_dst is not None:
        final, size = np.asarray(layer.fold_dst, np.int64), int(layer.fold_size)
    if layer.keep is not None:
        where = np.full(size, -1, np.int64)
        where[np.asarray(layer.keep)] = np.arange(len(layer.keep))
        final = np.where(final >= 0, where[np.maximum(final, 0)], -1)
        size = len(layer.keep)
    pass_src = np.asarray(layer.pass_src, np.int64)
    active_src = np.asarray(layer.active_src, np.int64)
    no_factor = np.full(n_pass, -1, np.int64)
    if n_stages == 0:  # output = concat(input[pass_src], input[active_src])
        src = np.concatenate([pass_src, active_src[:n_last]])
        entry = np.full(len(src), -1, np.int64)
        return [_make_op(_INPUT, src, entry, final, size, n_entries)]
    edges = np.asarray(layer.edges, np.int64)
    stage_of = edges[:, 0]
    ops = []
    for p in range(n_stages):
        e = edges[stage_of == p]
        src, dst, entry = e[:, 1], e[:, 2], e[:, 3]
        source = _INPUT if p == 0 else _STAGE
        if p == 0:
            src = active_src[src]
        if p < n_stages - 1:
            ops.append(_make_op(source, src, entry, dst, int(sizes[p + 1]), n_entries))
            continue
        # last stage: add the pass-through strings and map into the layer's output
        dst = final[n_pass + dst]
        if source == _STAGE:
            source, offset = _BOTH, int(sizes[p])  # read concat(v_p, input)
        else:
            offset = 0  # one stage: both read the input
        ops.append(
            _make_op(
                source,
                np.concatenate([src, pass_src + offset]),
                np.concatenate([entry, no_factor]),
                np.concatenate([dst, final[:n_pass]]),
                size,
                n_entries,
            )
        )
    return ops


def _build_program(trace) -> tuple[_Program, tuple]:
    n_entries = int(trace.program.n_entries)
    ops, arrays = [], []
    n_edges = 0
    for layer in trace.layers:
        pairs = _layer_ops(layer, n_entries)
        ops.append(tuple(op for op, _ in pairs))
        arrays.append(tuple(a for _, a in pairs))
        n_edges += sum(len(a[0]) for _, a in pairs)
    n_terms = ops[-1][-1].size if ops else len(trace.initial_coeffs)
    return _Program(tuple(ops), int(n_terms), n_edges), tuple(arrays)


def _run_program(program: _Program, arrays, r_ext, v):
    """Apply every layer's operations to the coefficient vector ``v`` (traceable)."""
    for layer_ops, layer_arrays in zip(program.ops, arrays, strict=True):
        inp, cur = v, None
        for op, (src, entry, dst) in zip(layer_ops, layer_arrays, strict=True):
            if op.source == _INPUT:
                base = inp
            elif op.source == _STAGE:
                base = cur
            else:
                base = jnp.concatenate([cur, inp])
            vals = base.at[src].get(mode="promise_in_bounds")
            if op.weighted:
                vals = vals * r_ext.at[entry].get(mode="promise_in_bounds")
            if op.gather_only:
                cur = vals
            else:
                cur = jax.ops.segment_sum(vals, dst, op.size, indices_are_sorted=True)
        v = cur
    return v


@dataclass(frozen=True, eq=False)
class CompiledSurrogate:
    """``theta -> coefficients`` of the propagated observable over :attr:`table` (module doc).

    Call it (``surrogate(theta)``, ``(T,)`` in :attr:`dtype`) inside or outside ``jax.jit``,
    ``jax.grad``, ``jax.vmap``; :meth:`expval_fn` gives the trainable model function.

    Attributes:
        table: the ``T`` input-side strings, remapped so that qubit ``k`` is the circuit's
            ``k``-th input qubit (``circuit.input_qubits[k]``).
        reference: the interpreted engine's result at :attr:`reference_theta` (its coefficients
            equal ``surrogate(reference_theta)``; ``dropped`` / ``error_bound`` tell how much a
            cut removed there). Its ``trace`` is dropped after compiling.
        reference_theta: the angles the structure was recorded at.
        dtype: ``"float32"`` or ``"float64"``.
        n_edges: gather-multiply-add entries of the program (its cost per evaluation).
        propagation_seconds, build_seconds: time to record the structure and to build the
            program (without JAX compilation, which happens on the first jitted call).
    """

    table: PauliTable
    reference: PropagationResult = field(repr=False)
    reference_theta: np.ndarray = field(repr=False)
    dtype: str
    n_params: int
    n_edges: int
    propagation_seconds: float
    build_seconds: float
    _program: _Program = field(repr=False)
    _arrays: tuple = field(repr=False)
    _angles: Callable = field(repr=False)
    _ptm: Callable = field(repr=False)
    _initial: jax.Array = field(repr=False)

    @property
    def n_terms(self) -> int:
        return self._program.n_terms

    def __call__(self, theta):
        """``(T,)`` coefficients of the propagated observable at ``theta`` (``(n_params,)``)."""
        real = jnp.float64 if self.dtype == "float64" else jnp.float32
        theta = jnp.asarray(theta, real)
        if theta.shape != (self.n_params,):
            raise SurrogateError(
                f"theta has shape {theta.shape} but the circuit has {self.n_params} parameters; "
                "pass a (n_params,) vector (use jax.vmap for batches)."
            )
        return self._jitted(theta, self._arrays, self._initial)

    @functools.cached_property
    def _jitted(self):
        """One XLA program for the whole evaluation, with the index arrays as its arguments:
        called eagerly, the per-layer gathers and sums would each compile on their own, and as
        constants inside the program XLA would try to fold them."""
        return jax.jit(self._evaluate)

    def _evaluate(self, theta, arrays, initial):
        real = theta.dtype
        r = self._ptm(self._angles(theta)).astype(real)
        r_ext = jnp.concatenate([r, jnp.ones((1,), real)])
        # Inside a caller's jit the index arrays are constants of the outer program: the
        # barrier keeps XLA from constant-folding the gathers and scatters over them (minutes
        # for 10^6 edges).
        arrays, initial = jax.lax.optimization_barrier((arrays, initial))
        return _run_program(self._program, arrays, r_ext, initial.astype(real))

    def expval_fn(self) -> Callable:
        """Pure ``model_fn(theta, X) -> (B,)``, ``X @ self(theta)`` with ``X`` of shape ``(B, T)``:
        each row the expectation values of :attr:`table`'s strings on one input state.

        The same function object on every call, so :func:`qnnlab.training.fit` (which caches
        its compiled step per model function) compiles once per surrogate, not once per fit."""
        return self._model_fn

    @functools.cached_property
    def _model_fn(self) -> Callable:
        n_terms = self.n_terms

        def model_fn(theta, X):
            X = jnp.asarray(X)
            if X.ndim != 2 or X.shape[1] != n_terms:
                raise SurrogateError(
                    f"features X must have shape (B, {n_terms}) (one expectation value per "
                    f"string of surrogate.table per state), got {X.shape}."
                )
            coeffs = self(theta)
            return X.astype(coeffs.dtype) @ coeffs

        return model_fn


def _uses_coefficient_cut(min_coeff, max_terms) -> bool:
    return min_coeff is not None or max_terms is not None


def compile_surrogate(
    circuit: Circuit,
    observable,
    *,
    max_weight: int | None = None,
    max_freq: int | None = None,
    min_coeff: float | None = None,
    max_terms: int | None = None,
    reference_theta=None,
    mode: str | None = None,
    dtype: str = "float32",
) -> CompiledSurrogate:
    """Propagate ``observable`` through ``circuit`` once and compile the result (module doc).

    Args:
        circuit, observable: as for :func:`qnnlab.engines.pauliprop.propagate`.
        max_weight, max_freq: angle-independent cuts; the surrogate equals the interpreted
            engine with the same cuts at every ``theta``.
        min_coeff, max_terms: angle-dependent cuts; they require ``reference_theta`` and give a
            frozen-support surrogate, exact (equal to the truncated engine) at
            ``reference_theta`` only.
        reference_theta: ``(n_params,)`` angles at which the structure is recorded; default
            random angles (seed :data:`REFERENCE_SEED`), allowed only without
            ``min_coeff``/``max_terms``.
        mode: ``"blocks"`` or ``"gates"`` (default: ``"gates"`` with ``max_freq``).
        dtype: ``"float32"`` (default) or ``"float64"``.
    """
    if dtype not in _DTYPES:
        raise SurrogateError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    if _uses_coefficient_cut(min_coeff, max_terms) and reference_theta is None:
        raise SurrogateError(
            "min_coeff and max_terms depend on the angles: pass reference_theta, the angles at "
            "which the kept strings are frozen (the surrogate is exact there only)."
        )
    resolve_dtype(_DTYPES[dtype])  # float64: switch on JAX's 64-bit mode now
    start = time.perf_counter()
    if reference_theta is None:
        rng = np.random.default_rng(REFERENCE_SEED)
        reference_theta = rng.uniform(0.0, 2 * np.pi, circuit.n_params)
    reference_theta = np.asarray(reference_theta, np.float64)
    result = propagate(
        circuit,
        observable,
        reference_theta,
        max_weight=max_weight,
        max_freq=max_freq,
        min_coeff=min_coeff,
        max_terms=max_terms,
        mode=mode,
        record=True,
    )
    middle = time.perf_counter()
    trace = result.trace
    program, arrays = _build_program(trace)
    inputs = tuple(circuit.input_qubits)
    table = result.operator.table.remap(inputs, len(inputs))
    angle_table = compile_circuit(circuit).angle_table
    step_program = trace.program
    n_params = circuit.n_params

    def angles(theta):
        return angle_table.evaluate(theta)

    def ptm(a):
        return step_program.ptm_values(a, jnp)

    device_arrays = jax.tree_util.tree_map(jnp.asarray, arrays)
    reference = PropagationResult(**{**result.__dict__, "trace": None})
    return CompiledSurrogate(
        table=table,
        reference=reference,
        reference_theta=reference_theta,
        dtype=dtype,
        n_params=n_params,
        n_edges=program.n_edges,
        propagation_seconds=middle - start,
        build_seconds=time.perf_counter() - middle,
        _program=program,
        _arrays=device_arrays,
        _angles=angles,
        _ptm=ptm,
        _initial=jnp.asarray(trace.initial_coeffs, jnp.float64 if dtype == "float64" else None),
    )
