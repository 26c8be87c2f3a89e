"""Compile a :class:`~qnnlab.circuits.Circuit` into an execution plan shared by the dense engines.

Two things happen here:

1. **Angle table.** Every angle argument of every gate becomes one entry of a flat *angle vector*
   ``a = scale * theta[slot] + offset``. Engines are functions of ``a``; weight sharing is the
   gather ``theta[slot]``, so autodiff sums over the gates a slot feeds, and parameter shift can
   shift each use of a slot on its own.
2. **Gate fusion.** Gates are merged into blocks of at most ``max_fused_qubits`` qubits whose
   ``2**m x 2**m`` matrix is computed once per call from the angles (tiny) and applied to the
   state once (the expensive part). Single-qubit gates wait and join the next multi-qubit block
   on their qubit (leftovers join the last block on it, or pair up); a multi-qubit gate joins
   the latest block when that block already holds all its qubits, else opens a new block. Gates
   only move past gates on disjoint qubits, so the circuit's unitary never changes. A
   15-rotation SU(4) becomes one 4x4 matrix, and repeated layers give identical blocks, whose
   matrices are computed once (weight sharing) and composed together (same structure).

The plan also records where each discarded qubit can be traced out: right after the last block
that touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.gates import Gate, fixed_matrix, rotation_terms


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
    #: blocks with equal ``unique_id`` have the same matrix (same gates, same angle expressions)
    unique_id: int = 0

    @property
    def n_qubits(self) -> int:
        return len(self.qubits)

    def structure(self) -> tuple:
        """What the matrix depends on besides the angles: the gates and their placement."""
        return (
            self.n_qubits,
            tuple(
                (m.gate.name, m.gate.paulis, m.positions, m.gate.matrix_digest)
                for m in self.members
            ),
        )


def _batched_gate_matrix(gate: Gate, angles, dtype):
    """``(K, d, d)`` matrices of one gate type for a ``(K, n_angles)`` batch of angles."""
    terms = rotation_terms(gate)
    if terms is not None:
        a, b, c = (jnp.asarray(t, dtype) for t in terms)
        half = angles[:, 0] / 2
        cos = jnp.cos(half).astype(dtype)[:, None, None]
        sin = jnp.sin(half).astype(dtype)[:, None, None]
        return a + cos * b + sin * c
    if gate.name == "u3":
        t, p, lam = angles[:, 0], angles[:, 1], angles[:, 2]
        c = jnp.cos(t / 2).astype(dtype)
        s = jnp.sin(t / 2).astype(dtype)
        ep = jnp.exp(1j * p.astype(dtype))
        el = jnp.exp(1j * lam.astype(dtype))
        return jnp.stack([c, -el * s, ep * s, ep * el * c], axis=-1).reshape(-1, 2, 2)
    fixed = fixed_matrix(gate)
    if fixed is None:
        raise KeyError(f"no matrix rule for gate {gate.name!r}")
    return jnp.asarray(fixed, dtype)[None]


@dataclass(frozen=True)
class BlockGroup:
    """Distinct blocks of one structure, composed together in a few batched operations.

    Row ``k`` of ``angle_index`` lists the angle-vector entries of unique block
    ``unique_ids[k]``, member after member.
    """

    n_qubits: int
    gates: tuple[Gate, ...]
    positions: tuple[tuple[int, ...], ...]
    angle_index: np.ndarray  # (K, total angles of one block)
    unique_ids: tuple[int, ...]

    def matrices(self, angles, dtype):
        """``(K, 2**m, 2**m)``: ``prod_members embed(G)`` (later members act last) per block.

        Single-qubit members are multiplied together per qubit first (``2x2`` products) and
        embedded as one Kronecker product just before the next multi-qubit member, so the traced
        program grows with the number of multi-qubit members, not of all gates.
        """
        m = self.n_qubits
        out = None
        singles: dict[int, object] = {}
        start = 0

        def flush(out):
            if not singles:
                return out
            factors = [singles.get(p) for p in range(m)]
            full = None
            for f in factors:
                f = jnp.asarray(np.eye(2), dtype)[None] if f is None else f
                full = f if full is None else _batched_kron(full, f)
            singles.clear()
            return full if out is None else full @ out

        for gate, positions in zip(self.gates, self.positions, strict=True):
            n_angles = len(gate.angles)
            columns = self.angle_index[:, start : start + n_angles]
            start += n_angles
            g = _batched_gate_matrix(gate, angles[columns], dtype)
            if len(positions) == 1 and m > 1:
                p = positions[0]
                singles[p] = g if p not in singles else g @ singles[p]
                continue
            out = flush(out)
            g = _embed(g, positions, m, dtype)
            out = g if out is None else g @ out
        out = flush(out)
        return jnp.broadcast_to(out, (len(self.unique_ids), 2**m, 2**m))


def _batched_kron(a, b):
    """Kronecker product of two batches of square matrices (broadcasting over the batch)."""
    k = max(a.shape[0], b.shape[0])
    da, db = a.shape[-1], b.shape[-1]
    out = a[:, :, None, :, None] * b[:, None, :, None, :]
    return out.reshape(k, da * db, da * db)


def _embed(g, positions: tuple[int, ...], m: int, dtype):
    """A batch of gates on ``positions`` as ``2**m x 2**m`` matrices of the whole block."""
    k = len(positions)
    if positions == tuple(range(m)):
        return g
    eye = jnp.asarray(np.eye(2 ** (m - k)), dtype)[None]
    full = _batched_kron(g, eye)
    rest = [p for p in range(m) if p not in positions]
    order = list(positions) + rest
    inverse = [order.index(p) for p in range(m)]
    perm = [0] + [1 + i for i in inverse] + [1 + m + i for i in inverse]
    full = jnp.transpose(full.reshape((-1,) + (2,) * (2 * m)), perm)
    return full.reshape(-1, 2**m, 2**m)


def _group_blocks(blocks: list[Block]) -> tuple[list[Block], tuple[BlockGroup, ...]]:
    """Label blocks with identical matrices by one ``unique_id`` and group distinct blocks by
    structure."""
    unique_of: dict[tuple, int] = {}
    representatives: list[Block] = []
    labelled = []
    for block in blocks:
        key = (
            block.structure(),
            tuple(tuple((a.slot, a.scale, a.offset) for a in m.gate.angles) for m in block.members),
        )
        if key not in unique_of:
            unique_of[key] = len(representatives)
            representatives.append(block)
        labelled.append(Block(block.qubits, block.members, unique_of[key]))
    by_structure: dict[tuple, list[int]] = {}
    for uid, block in enumerate(representatives):
        by_structure.setdefault(block.structure(), []).append(uid)
    groups = []
    for uids in by_structure.values():
        first = representatives[uids[0]]
        rows = [[i for m in representatives[u].members for i in m.angle_index] for u in uids]
        groups.append(
            BlockGroup(
                n_qubits=first.n_qubits,
                gates=tuple(m.gate for m in first.members),
                positions=tuple(m.positions for m in first.members),
                angle_index=np.asarray(rows, dtype=np.int32).reshape(len(uids), -1),
                unique_ids=tuple(uids),
            )
        )
    return labelled, tuple(groups)


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
        if theta.shape[-1] == 0:
            return jnp.asarray(self.offsets, dtype)
        # Constant angles must not read theta at all (a NaN there would leak into them).
        varying = jnp.where(self.is_parameter, theta[self.slots] * self.scales.astype(dtype), 0)
        return varying + self.offsets.astype(dtype)

    @property
    def is_parameter(self) -> np.ndarray:
        return np.asarray([rule is not None for rule in self.shift_rules], dtype=bool)


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
    block_groups: tuple[BlockGroup, ...]

    def block_matrices(self, angles, dtype) -> list:
        """The fused ``2**m x 2**m`` matrix of every block, from the angle vector.

        Each distinct matrix is computed once (weight sharing makes many blocks equal), and
        blocks of equal structure are composed together, so the traced program stays small.
        """
        unique = [None] * sum(len(g.unique_ids) for g in self.block_groups)
        for group in self.block_groups:
            stacked = group.matrices(angles, dtype)
            for k, uid in enumerate(group.unique_ids):
                unique[uid] = stacked[k]
        return [unique[block.unique_id] for block in self.blocks]


def compile_circuit(circuit: Circuit, max_fused_qubits: int = 2) -> Plan:
    """Build the :class:`Plan` of ``circuit`` (see module docstring)."""
    if max_fused_qubits < 1:
        raise ValueError(f"max_fused_qubits must be >= 1, got {max_fused_qubits}.")
    slots, scales, offsets, rules = [], [], [], []
    blocks: list[dict] = []
    last_block_of: dict[int, int] = {}
    pending: dict[int, list] = {}  # single-qubit gates waiting for the next block on their qubit

    def new_block(qubits) -> int:
        blocks.append({"qubits": list(qubits), "members": []})
        return len(blocks) - 1

    def add(target: int, gate, index) -> None:
        block = blocks[target]
        for q in gate.qubits:
            if q not in block["qubits"]:
                block["qubits"].append(q)
            last_block_of[q] = target
        block["members"].append((gate, index))

    def within_limit(target):
        if target is None or len(blocks[target]["qubits"]) > max_fused_qubits:
            return None
        return target

    def flush(q) -> None:
        """Put the single-qubit gates waiting on ``q`` where they can go now."""
        gates = pending.pop(q, [])
        if not gates:
            return
        target = within_limit(last_block_of.get(q))
        if target is None:
            target = new_block([q])
        for gate, idx in gates:
            add(target, gate, idx)

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
        qubits = op.qubits
        if len(qubits) == 1 and max_fused_qubits >= 2:
            pending.setdefault(qubits[0], []).append((op, tuple(index)))
            continue
        if len(qubits) > max_fused_qubits:  # a wide gate is a block of its own
            for q in qubits:
                flush(q)
            add(new_block(qubits), op, tuple(index))
            continue
        latest = [last_block_of[q] for q in qubits if q in last_block_of]
        target = max(latest) if latest else None
        absorb = (
            target is not None
            and len(blocks[target]["qubits"]) <= max_fused_qubits
            and set(qubits) <= set(blocks[target]["qubits"])
            and all(last_block_of.get(q) == target for q in qubits)
        )
        if not absorb:
            target = new_block(qubits)
        for q in qubits:
            for gate, idx in pending.pop(q, []):
                add(target, gate, idx)
        add(target, op, tuple(index))

    # Leftover single-qubit gates join the last block on their qubit (they commute past every
    # later block, which acts on other qubits); qubits that never met a block are paired up.
    orphans = [q for q in sorted(pending) if within_limit(last_block_of.get(q)) is None]
    for q in sorted(pending):
        if q not in orphans:
            flush(q)
    for i in range(0, len(orphans), max_fused_qubits):
        group = orphans[i : i + max_fused_qubits]
        target = new_block(group)
        for q in group:
            for gate, idx in pending.pop(q):
                add(target, gate, idx)

    frozen = [
        Block(
            tuple(b["qubits"]),
            tuple(
                Member(g, tuple(b["qubits"].index(q) for q in g.qubits), idx)
                for g, idx in b["members"]
            ),
        )
        for b in blocks
    ]
    frozen, groups = _group_blocks(frozen)
    discards_after: dict[int, list[int]] = {}
    for q in circuit.discarded:
        discards_after.setdefault(last_block_of.get(q, -1), []).append(q)
    return Plan(
        n_qubits=circuit.n_qubits,
        n_params=circuit.n_params,
        input_qubits=circuit.input_qubits,
        alive_qubits=circuit.alive_qubits,
        blocks=tuple(frozen),
        discards_after={k: tuple(v) for k, v in discards_after.items()},
        angle_table=AngleTable(
            np.asarray(slots, dtype=np.int32),
            np.asarray(scales, dtype=np.float64),
            np.asarray(offsets, dtype=np.float64),
            tuple(rules),
        ),
        block_groups=groups,
    )
