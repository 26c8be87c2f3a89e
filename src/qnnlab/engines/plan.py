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
    #: index of each member's matrix in :meth:`Plan.member_matrices`
    member_ids: tuple[int, ...] = ()

    @property
    def n_qubits(self) -> int:
        return len(self.qubits)

    def compose(self, member_matrices, dtype):
        """``prod_members embed(G)`` as a ``2**m x 2**m`` array (later members act last)."""
        m = self.n_qubits
        out = None
        for member, mid in zip(self.members, self.member_ids, strict=True):
            g = member_matrices[mid]
            k = len(member.positions)
            if member.positions != tuple(range(m)):
                rest = [p for p in range(m) if p not in member.positions]
                full = jnp.kron(g, jnp.asarray(np.eye(2 ** (m - k)), dtype=dtype))
                order = list(member.positions) + rest
                inverse = [order.index(p) for p in range(m)]
                full = jnp.transpose(
                    full.reshape((2,) * (2 * m)), inverse + [m + i for i in inverse]
                )
                g = full.reshape(2**m, 2**m)
            out = g if out is None else g @ out
        return out


@dataclass(frozen=True)
class MatrixGroups:
    """All gate matrices of a plan, built group-wise in a few vectorised operations.

    * rotations of dimension ``d``: ``A + cos(a/2) B + sin(a/2) C`` (``rotation_terms``),
    * ``U3`` gates: closed form on stacked angles,
    * fixed gates: constants.
    """

    rotations: dict  # d -> (member ids, angle index, A, B, C)
    u3: tuple  # (member ids, angle index (K, 3))
    fixed: dict  # member id -> constant matrix
    n_members: int

    def evaluate(self, angles, dtype) -> list:
        out = [None] * self.n_members
        for ids, index, a, b, c in self.rotations.values():
            half = angles[index] / 2
            cos = jnp.cos(half).astype(dtype)[:, None, None]
            sin = jnp.sin(half).astype(dtype)[:, None, None]
            stacked = (
                jnp.asarray(a, dtype) + cos * jnp.asarray(b, dtype) + sin * jnp.asarray(c, dtype)
            )
            for j, mid in enumerate(ids):
                out[mid] = stacked[j]
        ids, index = self.u3
        if len(ids):
            t, p, l = (angles[index[:, i]] for i in range(3))
            c = jnp.cos(t / 2).astype(dtype)
            s = jnp.sin(t / 2).astype(dtype)
            ep = jnp.exp(1j * p.astype(dtype))
            el = jnp.exp(1j * l.astype(dtype))
            stacked = jnp.stack([c, -el * s, ep * s, ep * el * c], axis=-1).reshape(-1, 2, 2)
            for j, mid in enumerate(ids):
                out[mid] = stacked[j]
        for mid, matrix in self.fixed.items():
            out[mid] = jnp.asarray(matrix, dtype)
        return out


def _group_matrices(members: list[Member]) -> MatrixGroups:
    rotations: dict[int, list] = {}
    u3_ids, u3_index, fixed = [], [], {}
    for mid, member in enumerate(members):
        gate = member.gate
        terms = rotation_terms(gate)
        if terms is not None:
            entry = rotations.setdefault(terms[0].shape[0], [[], [], [], [], []])
            entry[0].append(mid)
            entry[1].append(member.angle_index[0])
            for slot, t in zip(entry[2:], terms, strict=True):
                slot.append(t)
        elif gate.name == "u3":
            u3_ids.append(mid)
            u3_index.append(member.angle_index)
        else:
            matrix = fixed_matrix(gate)
            if matrix is None:
                raise KeyError(f"no matrix rule for gate {gate.name!r}")
            fixed[mid] = matrix
    return MatrixGroups(
        rotations={
            d: (
                tuple(v[0]),
                np.asarray(v[1], np.int32),
                np.stack(v[2]),
                np.stack(v[3]),
                np.stack(v[4]),
            )
            for d, v in rotations.items()
        },
        u3=(tuple(u3_ids), np.asarray(u3_index, np.int32).reshape(-1, 3)),
        fixed=fixed,
        n_members=len(members),
    )


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
    matrix_groups: MatrixGroups

    def block_matrices(self, angles, dtype) -> list:
        """The fused ``2**m x 2**m`` matrix of every block, from the angle vector."""
        members = self.matrix_groups.evaluate(angles, dtype)
        return [block.compose(members, dtype) for block in self.blocks]


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

    frozen, flat = [], []
    for b in blocks:
        members = tuple(
            Member(g, tuple(b["qubits"].index(q) for q in g.qubits), idx) for g, idx in b["members"]
        )
        ids = tuple(range(len(flat), len(flat) + len(members)))
        flat.extend(members)
        frozen.append(Block(tuple(b["qubits"]), members, ids))
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
        matrix_groups=_group_matrices(flat),
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
