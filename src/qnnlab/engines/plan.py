"""Compile a :class:`~qnnlab.circuits.Circuit` into an execution plan shared by the dense engines.

Two things happen here:

1. **Angle table.** Every angle argument of every gate becomes one entry of a flat *angle vector*
   ``a = scale * theta[slot] + offset`` (:func:`qnnlab.circuits.angles.angle_table`, which
   depends on the circuit only and is shared by every engine; ``Plan.angle_table`` is it).
   Engines are functions of ``a``; weight sharing is the gather ``theta[slot]``, so autodiff
   sums over the gates a slot feeds, and parameter shift can shift each use of a slot on its
   own. Gate matrices come from :func:`qnnlab.circuits.gates.gate_factors` (re-exported here).
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

from qnnlab.circuits.angles import AngleTable, angle_table
from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.gates import Gate, gate_factors

__all__ = [
    "AngleTable",
    "Block",
    "MatrixTable",
    "Member",
    "Plan",
    "compile_circuit",
    "gate_factors",
    "ordered_product",
]


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


def _embed_constant(g: np.ndarray, positions: tuple[int, ...], m: int) -> np.ndarray:
    """A gate-local matrix on ``positions`` as the ``2**m x 2**m`` matrix of the whole block."""
    k = len(positions)
    if positions == tuple(range(m)):
        return g
    full = np.kron(g, np.eye(2 ** (m - k)))
    rest = [p for p in range(m) if p not in positions]
    order = list(positions) + rest
    inverse = [order.index(p) for p in range(m)]
    perm = inverse + [m + i for i in inverse]
    return np.transpose(full.reshape((2,) * (2 * m)), perm).reshape(2**m, 2**m)


def ordered_product(mats):
    """``M_{G-1} ... M_1 M_0`` for ``mats`` of shape ``(..., G, d, d)`` (later factors act last),
    as a balanced tree of ``ceil(log2 G)`` batched matrix products (identity-padded to a power of
    two), so the traced program does not grow with ``G``."""
    g, d = mats.shape[-3], mats.shape[-1]
    size = 1 << max(g - 1, 0).bit_length()
    if size > g:
        eye = jnp.broadcast_to(jnp.eye(d, dtype=mats.dtype), (*mats.shape[:-3], size - g, d, d))
        mats = jnp.concatenate([mats, eye], axis=-3)
    while mats.shape[-3] > 1:
        mats = mats[..., 1::2, :, :] @ mats[..., 0::2, :, :]
    return mats[..., 0, :, :]


def _block_factors(block: Block, rows: list[int]) -> tuple[list[list[np.ndarray]], list[int]]:
    """``(terms, angle entries)`` of every factor of ``block``'s matrix (:func:`gate_factors`
    embedded into its ``2**m`` space), given the block's angle entries ``rows``, member after
    member; ``-1`` marks a constant factor."""
    m = block.n_qubits
    terms, columns = [], []
    start = 0
    for member in block.members:
        for position, *abc in gate_factors(member.gate):
            terms.append([_embed_constant(t, member.positions, m) for t in abc])
            columns.append(-1 if position is None else rows[start + position])
        start += len(member.gate.angles)
    return terms, columns


@dataclass(frozen=True)
class MatrixTable:
    """The matrices of all distinct blocks of ``m`` qubits, built together.

    Distinct block ``k`` (``unique_ids[k]``) is ``F_{G-1} ... F_0`` with
    ``F_f = A + cos(a/2) B + sin(a/2) C``, ``(A, B, C) = terms[k, f]`` and
    ``a = angles[factor_angles[k, f]]`` (``-1``: a constant factor, fed ``a = 0``). Blocks with
    fewer factors are padded with identity factors, so one vectorised expression and
    ``log2 G`` batched products build every matrix: the traced program does not grow with the
    number of gates, which keeps XLA compile times short.
    """

    n_qubits: int
    terms: np.ndarray  # (K, G, 3, 2**m, 2**m) complex128
    factor_angles: np.ndarray  # (K, G) int32
    unique_ids: tuple[int, ...]

    @classmethod
    def build(cls, m: int, blocks: list[Block], rows: list[list[int]], unique_ids):
        factors = [_block_factors(b, r) for b, r in zip(blocks, rows, strict=True)]
        g = 1 << max(max(len(c) for _, c in factors) - 1, 0).bit_length()
        d = 2**m
        identity = [np.eye(d), np.zeros((d, d)), np.zeros((d, d))]
        terms = np.zeros((len(blocks), g, 3, d, d), dtype=np.complex128)
        angles = np.full((len(blocks), g), -1, dtype=np.int32)
        for k, (t, c) in enumerate(factors):
            terms[k, : len(t)] = t
            terms[k, len(t) :] = identity
            angles[k, : len(c)] = c
        return cls(m, terms, angles, tuple(unique_ids))

    def matrices(self, angles, dtype):
        """``(K, 2**m, 2**m)``: the matrix of every distinct block in the table."""
        padded = jnp.concatenate([angles, jnp.zeros((1,), dtype=jnp.result_type(angles))])
        half = padded[self.factor_angles] / 2  # index -1 reads the padding 0
        cos = jnp.cos(half).astype(dtype)[..., None, None]
        sin = jnp.sin(half).astype(dtype)[..., None, None]
        terms = jnp.asarray(self.terms, dtype)
        return ordered_product(terms[:, :, 0] + cos * terms[:, :, 1] + sin * terms[:, :, 2])


def _group_blocks(blocks: list[Block]) -> tuple[list[Block], tuple[MatrixTable, ...]]:
    """Label blocks with identical matrices by one ``unique_id`` and gather the distinct blocks
    into one :class:`MatrixTable` per block size."""
    unique_of: dict[tuple, int] = {}
    representatives: list[Block] = []
    labelled = []
    for block in blocks:
        # Blocks share a matrix only when they read the same angle entries: every entry must
        # feed its own gate, or shifting one use of a shared slot (parameter shift) would shift
        # every block that copies the representative's matrix.
        key = (block.structure(), tuple(m.angle_index for m in block.members))
        if key not in unique_of:
            unique_of[key] = len(representatives)
            representatives.append(block)
        labelled.append(Block(block.qubits, block.members, unique_of[key]))
    by_size: dict[int, list[int]] = {}
    for uid, block in enumerate(representatives):
        by_size.setdefault(block.n_qubits, []).append(uid)
    tables = []
    for m, uids in sorted(by_size.items()):
        members = [representatives[u] for u in uids]
        rows = [[i for mem in b.members for i in mem.angle_index] for b in members]
        tables.append(MatrixTable.build(m, members, rows, uids))
    return labelled, tuple(tables)


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
    matrix_tables: tuple[MatrixTable, ...]

    def table_matrices(self, angles, dtype) -> tuple:
        """One stacked ``(K, 2**m, 2**m)`` array per :class:`MatrixTable`: every distinct block
        matrix, computed once (weight sharing makes many blocks equal)."""
        return tuple(t.matrices(angles, dtype) for t in self.matrix_tables)

    @property
    def block_rows(self) -> tuple[tuple[int, int], ...]:
        """``(table, row)`` of each block's matrix in :meth:`table_matrices`."""
        where = {
            uid: (t, row)
            for t, table in enumerate(self.matrix_tables)
            for row, uid in enumerate(table.unique_ids)
        }
        return tuple(where[block.unique_id] for block in self.blocks)

    def block_matrices(self, angles, dtype) -> list:
        """The fused ``2**m x 2**m`` matrix of every block, from the angle vector (all distinct
        blocks of one size are built together, :class:`MatrixTable`)."""
        tables = self.table_matrices(angles, dtype)
        return [tables[t][row] for t, row in self.block_rows]


def compile_circuit(circuit: Circuit, max_fused_qubits: int = 2) -> Plan:
    """Build the :class:`Plan` of ``circuit`` (see module docstring)."""
    if max_fused_qubits < 1:
        raise ValueError(f"max_fused_qubits must be >= 1, got {max_fused_qubits}.")
    table = angle_table(circuit)
    entries = iter(table.gate_entries)
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
        index = list(next(entries))
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
        angle_table=table,
        matrix_tables=groups,
    )
