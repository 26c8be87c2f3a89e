"""How the dense statevector engine walks a plan's blocks: unrolled, or as one compiled loop.

A *sweep* applies the fused block matrices ``M_0, ..., M_{K-1}`` of a :class:`Plan` to a register
(forward), and walks them back for the adjoint method (backward: ``psi <- M^dag psi``,
``lambda <- M^dag lambda`` and ``dC/dM_k = 2 sum conj(lambda_k) psi_{k-1}^T``). Two sweeps give
the same numbers:

- :class:`UnrolledSweep` emits one kernel call per block (``slices``, ``dot`` or ``stacked``,
  :mod:`qnnlab.engines.tensor_ops`). Static qubit positions let XLA specialise every block, which
  is fastest to run, but the program grows with the depth, and so does its compile time.
- :class:`ScanSweep` runs each run of equal-size blocks as one ``lax.scan`` whose body applies a
  ``2**m x 2**m`` matrix at qubit positions given as *data*: the register ``(N, B)`` is gathered
  into the block-major view ``(2**m, N / 2**m, B)``, multiplied, and gathered back. The index
  maps are computed in the loop body from the positions with integer bit operations (inserting or
  removing the block's bits of a flat index), so nothing of size ``N`` per block is stored. The
  compiled program has the same size for 5 or 500 blocks; each block costs two gathers more than
  the slice kernel, which matters only on large registers.

Flat indices are big-endian: qubit ``q`` of ``n`` is bit ``n - 1 - q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.engines.plan import Plan
from qnnlab.engines.tensor_ops import pair_contraction

#: Runs of fewer equal-size blocks than this are applied unrolled even by the scan sweep.
MIN_SCAN_RUN = 3

#: A segment whose index maps hold at most this many entries (blocks x 2**n) gets them as
#: precomputed constants (two gathers per block, nothing else); larger ones compute them in the
#: loop body from the qubit positions (no memory per block, a few integer passes more).
MAX_TABLED_INDICES = 1 << 22


def _insert_bits(r, bit_positions_ascending):
    """Spread ``r``'s bits to make room: a zero bit at each position (ascending order)."""
    for p in bit_positions_ascending:
        low = r & ((1 << p) - 1)
        r = ((r >> p) << (p + 1)) | low
    return r


def _remove_bits(i, bit_positions_descending):
    """Drop the bits of ``i`` at the given positions (descending order), closing the gaps."""
    for p in bit_positions_descending:
        low = i & ((1 << p) - 1)
        i = ((i >> (p + 1)) << p) | low
    return i


def block_view_indices(qubits, n: int, m: int, xp=jnp):
    """``(gather_in, gather_out)`` for a block on ``qubits`` (an ``(m,)`` int array, traced, or
    a NumPy array with ``xp=np``).

    ``x[gather_in].reshape(2**m, N / 2**m, ...)`` holds the block's basis index first (matrix
    order: ``qubits[0]`` most significant) and the other qubits' index second;
    ``view.reshape(N, ...)[gather_out]`` puts such a view back in register order.
    """
    n_rest = 2 ** (n - m)
    bits = (n - 1) - qubits  # bit position of each block qubit, matrix order
    ascending = xp.sort(bits)
    flat = xp.arange(2**n, dtype=xp.int32)
    row, rest = flat // n_rest, flat % n_rest
    gather_in = _insert_bits(rest, [ascending[k] for k in range(m)])
    for k in range(m):
        gather_in = gather_in | (((row >> (m - 1 - k)) & 1) << bits[k])
    out_row = xp.zeros_like(flat)
    for k in range(m):
        out_row = out_row | (((flat >> bits[k]) & 1) << (m - 1 - k))
    out_rest = _remove_bits(flat, [ascending[k] for k in range(m - 1, -1, -1)])
    return gather_in, out_row * n_rest + out_rest


def _apply_view(flat_state, matrix, gather_in, gather_out, d: int):
    view = flat_state[gather_in].reshape(d, -1)
    return (matrix @ view).reshape(flat_state.shape)[gather_out]


def _pair_view(left, right, gather_in, d: int):
    a = left[gather_in].reshape(d, -1)
    b = right[gather_in].reshape(d, -1)
    return a @ b.T


def _zero_cotangents(tables):
    return [jnp.zeros_like(t) for t in tables]


def _block_backward(plan: Plan, apply, i: int, tables, grads: list, state, lam):
    """One adjoint step back through block ``i`` with a kernel: ``psi <- M^dag psi``, adds
    ``2 sum conj(lambda) psi^T`` to the block's table row of ``grads``, ``lambda <- M^dag
    lambda``; returns the new ``(psi, lambda)``."""
    axes = plan.blocks[i].qubits
    t, row = plan.block_rows[i]
    m_dag = jnp.conj(tables[t][row].T)
    state = apply(state, m_dag, axes)
    grads[t] = grads[t].at[row].add(2 * pair_contraction(jnp.conj(lam), state, axes))
    return state, apply(lam, m_dag, axes)


@dataclass(frozen=True)
class UnrolledSweep:
    """One kernel call per block (see module docstring).

    ``tables`` are the plan's stacked distinct block matrices (:meth:`Plan.table_matrices`);
    block ``k`` uses ``tables[t][row]`` with ``(t, row) = plan.block_rows[k]``.
    """

    plan: Plan
    apply: object

    def forward(self, tables, tensor):
        for block, (t, row) in zip(self.plan.blocks, self.plan.block_rows, strict=True):
            tensor = self.apply(tensor, tables[t][row], block.qubits)
        return tensor

    def backward(self, tables, state, lam):
        """``(psi_0, lambda_0, dC/dtables)`` from the final state and the adjoint state; a
        table row used by several blocks collects the sum of their gradients."""
        grads = _zero_cotangents(tables)
        for i in range(len(self.plan.blocks) - 1, -1, -1):
            state, lam = _block_backward(self.plan, self.apply, i, tables, grads, state, lam)
        return state, lam, tuple(grads)


@dataclass(frozen=True)
class ScanSweep:
    """Runs of equal-size blocks as one ``lax.scan`` each (see module docstring)."""

    plan: Plan
    apply: object

    def segments(self) -> list[tuple[int, int]]:
        """``[start, stop)`` block ranges of equal size; short runs are split per block."""
        out, start = [], 0
        blocks = self.plan.blocks
        for i in range(1, len(blocks) + 1):
            if i == len(blocks) or blocks[i].n_qubits != blocks[start].n_qubits:
                if i - start >= MIN_SCAN_RUN:
                    out.append((start, i))
                else:
                    out.extend((j, j + 1) for j in range(start, i))
                start = i
        return out

    def _segment(self, start, stop):
        """``(table, rows, index source)`` of a segment (blocks of one size share one table).

        The index source is the scan input that :meth:`_indices` turns into one block's index
        maps: the maps themselves when they are small enough to store, else the qubits.
        """
        rows = self.plan.block_rows[start:stop]
        qubits = np.asarray([b.qubits for b in self.plan.blocks[start:stop]], np.int32)
        n, m = self.plan.n_qubits, qubits.shape[1]
        if (stop - start) * 2**n <= MAX_TABLED_INDICES:
            maps = [block_view_indices(np.asarray(q), n, m, xp=np) for q in qubits]
            source = (np.stack([g for g, _ in maps]), np.stack([o for _, o in maps]))
        else:
            source = jnp.asarray(qubits)
        return rows[0][0], np.asarray([r for _, r in rows], np.int32), source

    def _indices(self, source, m):
        if isinstance(source, tuple):
            return source
        return block_view_indices(source, self.plan.n_qubits, m)

    def forward(self, tables, tensor):
        n = self.plan.n_qubits
        for start, stop in self.segments():
            if stop - start == 1:
                t, row = self.plan.block_rows[start]
                tensor = self.apply(tensor, tables[t][row], self.plan.blocks[start].qubits)
                continue
            m = self.plan.blocks[start].n_qubits
            t, rows, source = self._segment(start, stop)

            def body(flat, x, m=m):
                matrix, source = x
                gin, gout = self._indices(source, m)
                return _apply_view(flat, matrix, gin, gout, 2**m), None

            flat, _ = jax.lax.scan(body, tensor.reshape(2**n, -1), (tables[t][rows], source))
            tensor = flat.reshape(tensor.shape)
        return tensor

    def backward(self, tables, state, lam):
        """As :meth:`UnrolledSweep.backward`."""
        n = self.plan.n_qubits
        shape = state.shape
        grads = _zero_cotangents(tables)
        for start, stop in reversed(self.segments()):
            if stop - start == 1:
                state, lam = _block_backward(
                    self.plan, self.apply, start, tables, grads, state, lam
                )
                continue
            m = self.plan.blocks[start].n_qubits
            t, rows, source = self._segment(start, stop)

            def body(carry, x, m=m):
                psi, adj = carry
                matrix, source = x
                gin, gout = self._indices(source, m)
                m_dag = jnp.conj(matrix.T)
                psi = _apply_view(psi, m_dag, gin, gout, 2**m)
                grad = 2 * _pair_view(jnp.conj(adj), psi, gin, 2**m)
                adj = _apply_view(adj, m_dag, gin, gout, 2**m)
                return (psi, adj), grad

            carry = (state.reshape(2**n, -1), lam.reshape(2**n, -1))
            (psi, adj), seg_grads = jax.lax.scan(
                body, carry, (tables[t][rows], source), reverse=True
            )
            state, lam = psi.reshape(shape), adj.reshape(shape)
            grads[t] = grads[t].at[rows].add(seg_grads)
        return state, lam, tuple(grads)


def make_sweep(plan: Plan, kernel: str, apply) -> UnrolledSweep | ScanSweep:
    """The sweep for a kernel name: ``"scan"`` gives :class:`ScanSweep` (short runs use
    ``apply``), any other name :class:`UnrolledSweep`."""
    return ScanSweep(plan, apply) if kernel == "scan" else UnrolledSweep(plan, apply)
