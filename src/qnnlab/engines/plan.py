"""Compile a :class:`~qnnlab.circuits.Circuit` into an execution plan shared by the dense engines.

Two things happen here:

1. **Angle table.** Every angle argument of every gate becomes one entry of a flat *angle vector*
   ``a = scale * theta[slot] + offset``. Engines are functions of ``a``; weight sharing is the
   gather ``theta[slot]``, so autodiff sums over the gates a slot feeds, and parameter shift can
   shift each use of a slot on its own.
2. **Gate fusion.** Consecutive gates are merged into blocks of at most ``max_fused_qubits``
   qubits whose ``2**m x 2**m`` matrix is computed once per call from the angles (tiny) and
   applied to the state once (the expensive part). A gate joins the most recent block touching
   any of its qubits when the union stays small enough; this only moves gates past blocks on
   disjoint qubits, so it never changes the circuit's unitary. A 15-rotation SU(4) block becomes
   one 4x4 matrix.

The plan also records where each discarded qubit can be traced out: right after the last block
that touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.gates import Gate, gate_matrix
from qnnlab.engines.tensor_ops import apply_matrix


@dataclass(frozen=True)
class Member:
    """A gate inside a fused block: its positions among the block's qubits and its angle entries."""

    gate: Gate
    positions: tuple[int, ...]
    angle_index: tuple[int, ...]


@dataclass(frozen=True)
class Block:
    qubits: tuple[int, ...]
    members: tuple[Member, ...]

    @property
    def n_qubits(self) -> int:
        return len(self.qubits)

    def matrix(self, angles, dtype):
        """``prod_members embed(G)`` as a ``2**m x 2**m`` array (later members act last)."""
        m = self.n_qubits
        if len(self.members) == 1 and self.members[0].positions == tuple(range(m)):
            member = self.members[0]
            return gate_matrix(
                member.gate, angles[np.asarray(member.angle_index, dtype=np.int32)], dtype
            )
        # Columns of the identity, viewed as a batch of m-qubit states, pushed through the gates.
        cols = jnp.eye(2**m, dtype=dtype).reshape((2**m,) + (2,) * m)
        for member in self.members:
            g = gate_matrix(
                member.gate, angles[np.asarray(member.angle_index, dtype=np.int32)], dtype
            )
            cols = apply_matrix(cols, g, [1 + p for p in member.positions])
        return cols.reshape(2**m, 2**m).T


@dataclass(frozen=True)
class AngleTable:
    """Map ``theta -> a``: ``a[u] = scales[u] * theta[slots[u]] + offsets[u]``."""

    slots: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray
    shift_rules: tuple[str | None, ...]

    @property
    def size(self) -> int:
        return len(self.slots)

    def evaluate(self, theta):
        if self.size == 0:
            return jnp.zeros((0,), dtype=jnp.result_type(theta))
        dtype = jnp.result_type(theta)
        gathered = theta[self.slots] if theta.shape[-1] > 0 else jnp.zeros(self.size, dtype)
        return gathered * self.scales.astype(dtype) + self.offsets.astype(dtype)


@dataclass(frozen=True)
class Plan:
    n_qubits: int
    n_params: int
    input_qubits: tuple[int, ...]
    alive_qubits: tuple[int, ...]
    blocks: tuple[Block, ...]
    #: ``discards_after[i]``: qubits that can be traced out once block ``i`` is done;
    #: ``discards_after[-1]`` (key -1): qubits discarded before any block.
    discards_after: dict[int, tuple[int, ...]]
    angle_table: AngleTable


def compile_circuit(circuit: Circuit, max_fused_qubits: int = 2) -> Plan:
    """Build the :class:`Plan` of ``circuit`` (see module docstring)."""
    if max_fused_qubits < 1:
        raise ValueError(f"max_fused_qubits must be >= 1, got {max_fused_qubits}.")
    slots, scales, offsets, rules = [], [], [], []
    blocks: list[dict] = []
    last_block_of: dict[int, int] = {}
    for op in circuit.operations:
        if isinstance(op, Discard):
            continue
        index = []
        for angle in op.angles:
            index.append(len(slots))
            slots.append(0 if angle.slot is None else angle.slot)
            scales.append(0.0 if angle.slot is None else angle.scale)
            offsets.append(angle.offset)
            rules.append(None if angle.slot is None else op.spec.shift_rule)
        target = _fusion_target(blocks, last_block_of, op.qubits, max_fused_qubits)
        if target is None:
            blocks.append({"qubits": list(op.qubits), "members": []})
            target = len(blocks) - 1
        block = blocks[target]
        for q in op.qubits:
            if q not in block["qubits"]:
                block["qubits"].append(q)
            last_block_of[q] = target
        block["members"].append((op, tuple(index)))

    frozen = tuple(
        Block(
            tuple(b["qubits"]),
            tuple(
                Member(g, tuple(b["qubits"].index(q) for q in g.qubits), idx)
                for g, idx in b["members"]
            ),
        )
        for b in blocks
    )
    discards_after: dict[int, list[int]] = {}
    for q in circuit.discarded:
        discards_after.setdefault(last_block_of.get(q, -1), []).append(q)
    return Plan(
        n_qubits=circuit.n_qubits,
        n_params=circuit.n_params,
        input_qubits=circuit.input_qubits,
        alive_qubits=circuit.alive_qubits,
        blocks=frozen,
        discards_after={k: tuple(v) for k, v in discards_after.items()},
        angle_table=AngleTable(
            np.asarray(slots, dtype=np.int32),
            np.asarray(scales, dtype=np.float64),
            np.asarray(offsets, dtype=np.float64),
            tuple(rules),
        ),
    )


def _fusion_target(blocks, last_block_of, qubits, limit) -> int | None:
    """Index of the block a gate on ``qubits`` can join, or None for a new block."""
    touching = [last_block_of[q] for q in qubits if q in last_block_of]
    if touching:
        candidate = max(touching)
    elif blocks:
        candidate = len(blocks) - 1  # the gate commutes with every block so far
    else:
        return None
    union = set(blocks[candidate]["qubits"]) | set(qubits)
    return candidate if len(union) <= limit else None
