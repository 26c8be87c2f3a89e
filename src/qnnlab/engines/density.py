"""Density-matrix engine: batched mixed states in JAX, partial trace at every discard.

Picture: Schrödinger, ``rho -> M rho M^dag`` per fused block. The register holds only the qubits
that are *live*: input qubits from the start, every other qubit tensored in as ``|0><0|`` just
before the first block that touches it, and every discarded qubit traced out right after the last
block that touches it. So memory follows the qubits alive at each point, ``4**m`` per state for
``m`` live qubits, not ``4**n``: a dissipative QNN layer costs two adjacent layers (Eq. 1 of
arXiv:2005.12458).

The tensor layout is ``rho[b, k_1..k_m, l_1..l_m]`` (kets then bras) over the live qubits in the
order kept in ``live``. Differentiation is JAX autodiff.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qnnlab.circuits.circuit import Circuit
from qnnlab.circuits.paulis import BasisProjector, Observable
from qnnlab.engines.plan import compile_circuit
from qnnlab.engines.tensor_ops import apply_matrix, pauli_apply
from qnnlab.engines.validation import (
    InputError,
    check_density_matrices,
    check_observable,
    check_theta,
    resolve_dtype,
)


def _add_fresh_qubit(rho, m: int, dtype):
    """``rho (x) |0><0|`` with the new qubit placed last among kets and among bras."""
    batch = rho.shape[0]
    flat = rho.reshape(batch, 2**m, 2**m)
    out = jnp.zeros((batch, 2**m, 2, 2**m, 2), dtype=dtype).at[:, :, 0, :, 0].set(flat)
    return out.reshape((batch,) + (2,) * (2 * (m + 1)))


def _trace_out(rho, m: int, position: int):
    return jnp.trace(rho, axis1=1 + position, axis2=1 + m + position)


class DensityMatrixEngine:
    """Exact mixed-state simulation of a :class:`Circuit` (see module docstring).

    Args:
        circuit: the circuit, compiled once here.
        dtype: ``"complex64"`` (default) or ``"complex128"``.
        max_fused_qubits: largest fused block.
    """

    name = "density"
    #: :mod:`qnnlab.engines.protocol` capabilities.
    capabilities = frozenset({"traceable", "shots", "probs", "density_matrix"})

    def __init__(self, circuit: Circuit, *, dtype="complex64", max_fused_qubits: int = 2):
        self.circuit = circuit
        self.dtype, self.real_dtype = resolve_dtype(dtype)
        self.plan = compile_circuit(circuit, max_fused_qubits)
        self.n_qubits = circuit.n_qubits
        self.n_params = circuit.n_params
        self._memo: dict = {}

    @property
    def angle_table(self):
        """The circuit's angle table (:func:`qnnlab.circuits.angles.angle_table`)."""
        return self.plan.angle_table

    def angles(self, theta):
        """Angle vector (one entry per angle use) from the parameter vector."""
        return self.plan.angle_table.evaluate(theta)

    @property
    def max_live_qubits(self) -> int:
        """Most qubits held at once (memory is ``16 * 4**max_live_qubits`` bytes per state in
        complex128): inputs plus qubits allocated at first use, minus those already traced out.
        For a DQNN this is at most ``max_l n_{l-1} + n_l``, two adjacent layers."""
        plan = self.plan
        live = set(plan.input_qubits) - set(plan.discards_after.get(-1, ()))
        peak = len(live)
        for i, block in enumerate(plan.blocks):
            live |= set(block.qubits)
            peak = max(peak, len(live))
            live -= set(plan.discards_after.get(i, ()))
        return peak

    def final_from_angles(self, angles, rho_batch):
        """Evolve ``(B, 2**k, 2**k)`` density matrices (or ``(B, 2**k)`` pure states, turned
        into ``|psi><psi|``); returns ``(rho tensor, live qubit order)``."""
        plan, dtype = self.plan, self.dtype
        if rho_batch.ndim == 2:
            rho_batch = jnp.einsum("bi,bj->bij", rho_batch, jnp.conj(rho_batch))
        batch = rho_batch.shape[0]
        live = list(plan.input_qubits)
        m = len(live)
        rho = rho_batch.reshape((batch,) + (2,) * (2 * m))
        for q in plan.discards_after.get(-1, ()):
            if q in live:
                rho = _trace_out(rho, m, live.index(q))
                live.remove(q)
                m -= 1
        matrices = plan.block_matrices(angles, dtype)
        for i, block in enumerate(plan.blocks):
            for q in block.qubits:
                if q not in live:
                    rho = _add_fresh_qubit(rho, m, dtype)
                    live.append(q)
                    m += 1
            matrix = matrices[i]
            kets = [1 + live.index(q) for q in block.qubits]
            rho = apply_matrix(rho, matrix, kets)
            rho = apply_matrix(rho, jnp.conj(matrix), [a + m for a in kets])
            for q in plan.discards_after.get(i, ()):
                rho = _trace_out(rho, m, live.index(q))
                live.remove(q)
                m -= 1
        return rho, tuple(live)

    def _complete(self, rho, live):
        """Tensor in any still-untouched alive qubits as ``|0><0|`` (they were never needed)."""
        live = list(live)
        for q in self.circuit.alive_qubits:
            if q not in live:
                rho = _add_fresh_qubit(rho, len(live), self.dtype)
                live.append(q)
        return rho, live

    def expval_from_angles_fn(self, observable: Observable):
        observable = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)

        def f(angles, rho_batch):
            rho, live = self._complete(*self.final_from_angles(angles, rho_batch))
            return _expval_rho(observable, rho, live)

        return f

    def expval_fn(self, observable):
        """Pure ``f(theta, rho_batch (B, 2**k, 2**k) or psi_batch (B, 2**k)) -> (B,)``."""
        g = self.expval_from_angles_fn(observable)
        return lambda theta, rho_batch: g(self.angles(theta), rho_batch)

    def density_matrix_from_angles_fn(self):
        """Pure ``f(angles, rho_batch) -> (B, 2**a, 2**a)``: the output on the alive qubits."""
        alive = self.circuit.alive_qubits

        def f(angles, rho_batch):
            rho, live = self._complete(*self.final_from_angles(angles, rho_batch))
            m = len(live)
            perm = [live.index(q) for q in alive]
            rho = jnp.transpose(rho, [0] + [1 + p for p in perm] + [1 + m + p for p in perm])
            return rho.reshape(rho.shape[0], 2**m, 2**m)

        return f

    def density_matrix_fn(self):
        """Pure ``f(theta, rho_batch) -> (B, 2**a, 2**a)``: the output on the alive qubits."""
        g = self.density_matrix_from_angles_fn()
        return lambda theta, rho_batch: g(self.angles(theta), rho_batch)

    def probs_fn(self, qubits=None):
        """Pure ``f(theta, rho_batch) -> (B, 2**len(qubits))`` outcome probabilities."""
        alive = self.circuit.alive_qubits
        qubits = alive if qubits is None else tuple(int(q) for q in qubits)
        if any(q not in alive for q in qubits) or len(set(qubits)) != len(qubits):
            raise InputError(f"can only measure distinct alive qubits {list(alive)}, got {qubits}.")
        dm = self.density_matrix_fn()

        def f(theta, rho_batch):
            rho = dm(theta, rho_batch)
            diag = jnp.real(jnp.diagonal(rho, axis1=1, axis2=2))
            diag = diag.reshape((diag.shape[0],) + (2,) * len(alive))
            rest = tuple(1 + i for i, q in enumerate(alive) if q not in qubits)
            if rest:
                diag = jnp.sum(diag, axis=rest)
            kept = [q for q in alive if q in qubits]
            diag = jnp.moveaxis(
                diag, [1 + kept.index(q) for q in qubits], list(range(1, len(qubits) + 1))
            )
            return diag.reshape(diag.shape[0], -1)

        return f

    # ------------------------------------------------------------------ checked conveniences
    def prepare(self, theta, rho):
        """``(theta, batch (B, 2**k, 2**k), single)``: checked parameters and input density
        matrices (pure states are turned into ``|psi><psi|``; ``None``: ``|0..0>``)."""
        theta = check_theta(theta, self.n_params, self.real_dtype)
        k = len(self.circuit.input_qubits)
        if rho is None:
            rho = jnp.zeros((2**k, 2**k), dtype=self.dtype).at[0, 0].set(1)
        batch, single = check_density_matrices(rho, k, self.dtype)
        return theta, batch, single

    def cached(self, key, make):
        """``jax.jit(make())``, built once per ``key`` and engine."""
        if key not in self._memo:
            self._memo[key] = jax.jit(make())
        return self._memo[key]

    def expval(self, theta, rho=None, observable="Z0"):
        """``Tr[O rho_out]`` per input (density matrices or pure states); validated."""
        theta, batch, single = self.prepare(theta, rho)
        obs = check_observable(observable, self.n_qubits, self.circuit.alive_qubits)
        out = self.cached(("expval", obs), lambda: self.expval_fn(obs))(theta, batch)
        return out[0] if single else out

    def density_matrix(self, theta, rho=None):
        theta, batch, single = self.prepare(theta, rho)
        out = self.cached(("dm",), self.density_matrix_fn)(theta, batch)
        return out[0] if single else out

    def probs(self, theta, rho=None, qubits=None):
        theta, batch, single = self.prepare(theta, rho)
        key = ("probs", None if qubits is None else tuple(qubits))
        out = self.cached(key, lambda: self.probs_fn(qubits))(theta, batch)
        return out[0] if single else out


def _expval_rho(observable: Observable, rho, live):
    """``Tr[O rho]`` per batch entry for a live-qubit tensor."""
    m = len(live)
    batch = rho.shape[0]
    if isinstance(observable, BasisProjector):
        index = [slice(None)] * (1 + 2 * m)
        for q, b in zip(observable.qubits, observable.bits, strict=True):
            index[1 + live.index(q)] = b
            index[1 + m + live.index(q)] = b
        sub = rho[tuple(index)]
        rest = m - len(observable.qubits)
        sub = sub.reshape(batch, 2**rest, 2**rest)
        return jnp.real(jnp.trace(sub, axis1=1, axis2=2))
    total = jnp.zeros(batch, dtype=jnp.finfo(rho.dtype).dtype)
    for coeff, p in observable.terms:
        moved = pauli_apply(rho, [(1 + live.index(q), letter) for q, letter in p.ops])
        flat = moved.reshape(batch, 2**m, 2**m)
        total = total + coeff * jnp.real(jnp.trace(flat, axis1=1, axis2=2))
    return total
