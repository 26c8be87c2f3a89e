"""Statevector engine: batched pure states in JAX, jit/vmap/grad-able.

Picture: Schrödinger. The register is a tensor ``psi[q_0, ..., q_{n-1}, b]`` (qubit 0 most
significant, batch *last*: whatever qubits a gate acts on, the innermost memory axis is the batch,
so every gate streams contiguous vectors). The input state fills ``circuit.input_qubits``; the
other qubits start in
``|0>``. Fused gate blocks (:mod:`qnnlab.engines.plan`) are applied in order. Discarded qubits need
no work here: no gate touches them again, and an expectation value of an observable on the alive
qubits of the full pure state equals the one of the reduced state (the partial trace commutes
with everything that follows).

Expectation values ``<psi|U^dag O U|psi>`` are differentiated either by JAX reverse mode
(``diff_method="backprop"``, which stores every intermediate state) or by the **adjoint method**
(``"adjoint"``, the default): with ``psi_k = M_k psi_{k-1}`` and ``lambda_K = c O psi_K`` for the
output cotangent ``c``, walking back through the blocks gives

    dC/dM_k[a, b] = 2 sum conj(lambda_k[a, ...]) psi_{k-1}[b, ...],
    psi_{k-1} = M_k^dag psi_k,   lambda_{k-1} = M_k^dag lambda_k,

so memory stays at two states whatever the depth (Jones & Gacon, arXiv:2009.02823).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.paulis import BasisProjector, Observable
from qnnlab.engines.plan import Plan, compile_circuit
from qnnlab.engines.sweeps import make_sweep
from qnnlab.engines.tensor_ops import KERNELS, apply_matrix, pauli_apply, z_signs
from qnnlab.engines.validation import (
    InputError,
    check_observable,
    check_pure_states,
    check_theta,
    resolve_dtype,
)


def _embed_inputs(plan: Plan, psi_in, dtype):
    """Register tensor ``(2, ..., 2, B)``: inputs on ``input_qubits``, ``|0>`` elsewhere."""
    batch = psi_in.shape[0]
    k = len(plan.input_qubits)
    tensor = psi_in.T.reshape((2,) * k + (batch,))
    fresh = [q for q in range(plan.n_qubits) if q not in plan.input_qubits]
    if fresh:
        zero = jnp.zeros((2 ** len(fresh),), dtype=dtype).at[0].set(1)
        tensor = jnp.tensordot(zero.reshape((2,) * len(fresh)), tensor, axes=0)
    order = fresh + list(plan.input_qubits)
    if order != list(range(plan.n_qubits)):
        tensor = jnp.moveaxis(tensor, list(range(plan.n_qubits)), order)
    return tensor


#: With ``kernel="auto"``, registers of at most this many qubits use the ``scan`` sweep (compiles
#: in about a second whatever the depth; a few ms per step more on 10 qubits), larger ones the
#: ``slices`` kernel (fastest to run).
AUTO_SCAN_MAX_QUBITS = 10


def resolve_kernel(kernel: str, n_qubits: int) -> str:
    """The kernel name ``kernel`` stands for on ``n_qubits`` qubits (``"auto"`` resolved)."""
    choices = sorted([*KERNELS, "scan", "auto"])
    if kernel not in choices:
        raise InputError(f"kernel must be one of {choices}, got {kernel!r}.")
    if kernel == "auto":
        return "scan" if n_qubits <= AUTO_SCAN_MAX_QUBITS else "slices"
    return kernel


def expval_tensor(observable: Observable, tensor):
    """``<psi|O|psi>`` per batch entry of a register tensor ``(2, ..., 2, B)`` (real)."""
    n = tensor.ndim - 1
    axes = tuple(range(n))
    if isinstance(observable, BasisProjector):
        index = [slice(None)] * (n + 1)
        for q, b in zip(observable.qubits, observable.bits, strict=True):
            index[q] = b
        amp = tensor[tuple(index)]
        return jnp.sum(jnp.abs(amp) ** 2, axis=tuple(range(amp.ndim - 1)))
    real = jnp.finfo(tensor.dtype).dtype
    total = jnp.zeros(tensor.shape[-1], dtype=real)
    probs = None
    for coeff, p in observable.terms:
        if set(p.letters) <= {"Z"}:
            if probs is None:
                probs = jnp.abs(tensor) ** 2
            signs = z_signs(n, p.qubits, tensor.ndim, 0, real)
            total = total + coeff * jnp.sum(probs * signs, axis=axes)
        else:
            moved = pauli_apply(tensor, p.ops)
            total = total + coeff * jnp.real(jnp.sum(jnp.conj(tensor) * moved, axis=axes))
    return total


def apply_observable(observable: Observable, tensor):
    """``O psi`` for a register tensor (used for the adjoint state)."""
    if isinstance(observable, BasisProjector):
        mask = jnp.ones((1,) * tensor.ndim, dtype=tensor.dtype)
        for q, b in zip(observable.qubits, observable.bits, strict=True):
            shape = [1] * tensor.ndim
            shape[q] = 2
            mask = mask * jnp.asarray([1 - b, b], dtype=tensor.dtype).reshape(shape)
        return tensor * mask
    out = jnp.zeros_like(tensor)
    for coeff, p in observable.terms:
        out = out + coeff * pauli_apply(tensor, p.ops)
    return out


class StatevectorEngine:
    """Exact pure-state simulation of a :class:`Circuit`.

    Args:
        circuit: the circuit; it is compiled (fused) once here, later edits are not seen.
        dtype: ``"complex64"`` (default) or ``"complex128"``.
        diff_method: ``"adjoint"`` (default, O(1) memory in depth) or ``"backprop"``
            (JAX reverse mode; also supports forward mode ``jax.jvp``).
        kernel: ``"auto"`` (default: ``"scan"`` up to ``AUTO_SCAN_MAX_QUBITS`` qubits, else
            ``"slices"``), ``"slices"`` (fastest to run), ``"scan"`` (one compiled loop over the
            blocks: compile time independent of depth, :mod:`qnnlab.engines.sweeps`),
            ``"dot"`` or ``"stacked"`` (few XLA operations per block).
        max_fused_qubits: largest fused block (2 is fastest on CPUs for QCNN-like circuits).

    Example:
        >>> engine = StatevectorEngine(circuit)
        >>> f = engine.expval_fn("Z0")           # pure function f(theta, psi) -> (B,)
        >>> loss = lambda t: jnp.mean((f(t, psi) - y) ** 2)
        >>> jax.grad(loss)(theta)
    """

    name = "statevector"
    #: :mod:`qnnlab.engines.protocol` capabilities.
    capabilities = frozenset({"traceable", "shots", "probs", "state"})

    def __init__(
        self,
        circuit: Circuit,
        *,
        dtype="complex64",
        diff_method: str = "adjoint",
        max_fused_qubits: int = 2,
        kernel: str = "auto",
    ):
        self.kernel = resolve_kernel(kernel, circuit.n_qubits)
        self.apply = KERNELS.get(self.kernel, apply_matrix)
        if diff_method not in ("adjoint", "backprop"):
            raise InputError(f"diff_method must be 'adjoint' or 'backprop', got {diff_method!r}.")
        self.circuit = circuit
        self.dtype, self.real_dtype = resolve_dtype(dtype)
        self.diff_method = diff_method
        self.plan = compile_circuit(circuit, max_fused_qubits)
        self.sweep = make_sweep(self.plan, self.kernel, self.apply)
        self.n_qubits = circuit.n_qubits
        self.n_params = circuit.n_params
        self._memo: dict = {}

    # ------------------------------------------------------------------ pure functions
    @property
    def angle_table(self):
        """The circuit's angle table (:func:`qnnlab.circuits.angles.angle_table`)."""
        return self.plan.angle_table

    def angles(self, theta):
        """Angle vector (one entry per angle use) from the parameter vector."""
        return self.plan.angle_table.evaluate(theta)

    def initial_tensor(self, psi_batch):
        return _embed_inputs(self.plan, psi_batch, self.dtype)

    def final_tensor_from_angles(self, angles, psi_batch):
        tables = self.plan.table_matrices(angles, self.dtype)
        return self.sweep.forward(tables, self.initial_tensor(psi_batch))

    def expval_from_angles_fn(self, observable: Observable):
        """Pure ``f(angles, psi_batch) -> (B,)``; the primitive that gradients build on."""
        observable = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)
        if self.diff_method == "backprop":

            def f(angles, psi_batch):
                return expval_tensor(observable, self.final_tensor_from_angles(angles, psi_batch))

            return f
        return _adjoint_expval(self.plan, observable, self.dtype, self.sweep)

    def expval_fn(self, observable):
        """Pure ``f(theta, psi_batch (B, 2**k)) -> (B,)``, differentiable in both arguments."""
        g = self.expval_from_angles_fn(observable)
        return lambda theta, psi_batch: g(self.angles(theta), psi_batch)

    def state_fn(self):
        """Pure ``f(theta, psi_batch) -> (B, 2**n)``: the final pure state of all qubits.

        With discards, this is a purification of the output: discarded qubits are still in it.
        """

        def f(theta, psi_batch):
            out = self.final_tensor_from_angles(self.angles(theta), psi_batch)
            return out.reshape(-1, out.shape[-1]).T

        return f

    def probs_fn(self, qubits=None):
        """Pure ``f(theta, psi_batch) -> (B, 2**len(qubits))``: outcome probabilities.

        ``qubits`` defaults to the alive qubits; the others are summed over (marginal).
        """
        qubits = self._check_measured(qubits)

        def f(theta, psi_batch):
            out = self.final_tensor_from_angles(self.angles(theta), psi_batch)
            p = jnp.abs(out) ** 2
            rest = [q for q in range(self.n_qubits) if q not in qubits]
            if rest:
                p = jnp.sum(p, axis=tuple(rest))
            kept = sorted(qubits)
            p = jnp.moveaxis(p, [kept.index(q) for q in qubits], list(range(len(qubits))))
            return p.reshape(-1, p.shape[-1]).T

        return f

    def _check_measured(self, qubits):
        alive = self.circuit.alive_qubits
        qubits = alive if qubits is None else tuple(int(q) for q in qubits)
        gone = [q for q in qubits if q not in alive]
        if gone or len(set(qubits)) != len(qubits):
            raise InputError(
                f"can only measure distinct alive qubits {list(alive)}; got {list(qubits)}."
            )
        return qubits

    # ------------------------------------------------------------------ checked conveniences
    def prepare(self, theta, psi):
        """``(theta, batch (B, 2**k), single)``: checked parameters and pure input states
        (``None``: ``|0..0>`` on the input qubits)."""
        theta = check_theta(theta, self.n_params, self.real_dtype)
        if psi is None:
            k = len(self.circuit.input_qubits)
            psi = jnp.zeros((2**k,), dtype=self.dtype).at[0].set(1)
        batch, single = check_pure_states(psi, len(self.circuit.input_qubits), self.dtype)
        return theta, batch, single

    def cached(self, key, make):
        """``jax.jit(make())``, built once per ``key`` and engine."""
        if key not in self._memo:
            self._memo[key] = jax.jit(make())
        return self._memo[key]

    def expval(self, theta, psi=None, observable="Z0"):
        """``<O>`` for each input state (scalar for a single state); inputs are validated."""
        theta, batch, single = self.prepare(theta, psi)
        obs = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)
        out = self.cached(("expval", obs), lambda: self.expval_fn(obs))(theta, batch)
        return out[0] if single else out

    def probs(self, theta, psi=None, qubits=None):
        theta, batch, single = self.prepare(theta, psi)
        qubits = self._check_measured(qubits)
        out = self.cached(("probs", qubits), lambda: self.probs_fn(qubits))(theta, batch)
        return out[0] if single else out

    def state(self, theta, psi=None):
        theta, batch, single = self.prepare(theta, psi)
        out = self.cached(("state",), self.state_fn)(theta, batch)
        return out[0] if single else out


def _adjoint_expval(plan: Plan, observable: Observable, dtype, sweep):
    """``f(angles, psi_batch) -> (B,)`` with an adjoint-method VJP (see module docstring)."""

    def forward(angles, psi_batch):
        tables = plan.table_matrices(angles, dtype)
        final = sweep.forward(tables, _embed_inputs(plan, psi_batch, dtype))
        return final, tables

    @jax.custom_vjp
    def f(angles, psi_batch):
        final, _ = forward(angles, psi_batch)
        return expval_tensor(observable, final)

    def f_fwd(angles, psi_batch):
        final, matrices = forward(angles, psi_batch)
        return expval_tensor(observable, final), (angles, psi_batch, final, matrices)

    def f_bwd(residuals, ct):
        angles, psi_batch, state, tables = residuals
        ct = ct.astype(state.real.dtype)
        lam = apply_observable(observable, state) * ct.reshape((1,) * plan.n_qubits + (-1,))
        state, lam, ct_tables = sweep.backward(tables, state, lam)
        _, pullback = jax.vjp(functools.partial(plan.table_matrices, dtype=dtype), angles)
        (ct_angles,) = pullback(ct_tables)
        ct_psi = _extract_inputs(plan, 2 * jnp.conj(lam), psi_batch.shape)
        return ct_angles.astype(angles.dtype), ct_psi.astype(psi_batch.dtype)

    f.defvjp(f_fwd, f_bwd)
    return f


def _extract_inputs(plan: Plan, tensor, shape):
    """Restrict a register tensor to the input qubits (fresh qubits at |0>): inverse of embed."""
    fresh = [q for q in range(plan.n_qubits) if q not in plan.input_qubits]
    if fresh:
        index = [slice(None)] * tensor.ndim
        for q in fresh:
            index[q] = 0
        tensor = tensor[tuple(index)]
    kept = [q for q in range(plan.n_qubits) if q in plan.input_qubits]
    if kept != list(plan.input_qubits):
        k = len(kept)
        tensor = jnp.moveaxis(tensor, [kept.index(q) for q in plan.input_qubits], list(range(k)))
    return tensor.reshape(-1, tensor.shape[-1]).T.reshape(shape)
