"""A circuit as a sequence of Heisenberg-picture *steps*, each with its Pauli transfer matrix.

A step is a unitary ``U`` on ``s`` qubits. In the Heisenberg picture a local Pauli ``P_a``
becomes

    U^dag P_a U = sum_b R_ba P_b,      R_ba = Re Tr(P_b U^dag P_a U) / 2^s,

with ``R`` real orthogonal (the Pauli transfer matrix, PTM) and ``R_00 = 1``: identity stays
identity and a non-identity local string never becomes the identity. Local index
``a = sum_j code_j 4^(s-1-j)`` over the step's qubits in order (code ``x + 2 z``: I, X, Z, Y).

Two ways to cut a circuit into steps:

* ``"blocks"`` (default): the fused blocks of :func:`~qnnlab.engines.plan.compile_circuit`
  (at most two qubits; a 15-rotation SU(4) is one 16 x 16 PTM), so a string branches once per
  block instead of once per rotation.
* ``"gates"``: one step per Pauli rotation (``u3`` is ``RZ RY RZ``; a controlled rotation
  ``CR_P(a) = R_P(a/2) R_{Z(x)P}(-a/2)``), one per fixed gate (Clifford gates give signed
  permutations; ``cswap`` and ``unitary`` their PTM on their support). A rotation branches an
  anticommuting string into a ``cos`` and a ``sin`` path, which is what the frequency cut
  (LOWESA, arXiv 2306.05400) counts; frequency truncation therefore needs this form.

The numeric PTMs of all steps are one flat vector (:meth:`StepProgram.ptm_values`), computed
with NumPy for the interpreted engine or with ``jax.numpy`` for the compiled surrogate from the
same angle vector, so both read identical entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.gates import fixed_matrix
from qnnlab.circuits.paulis import PAULI_MATRICES
from qnnlab.engines.plan import compile_circuit

#: Pauli matrix of each per-qubit code ``x + 2 z``
_CODE_MATRICES = np.stack([PAULI_MATRICES[c] for c in "IXZY"])
#: widest step (qubits) whose 4^s x 4^s transfer matrix is formed
MAX_STEP_QUBITS = 5


def pauli_basis(s: int) -> np.ndarray:
    """``(4^s, 2^s, 2^s)``: the local Pauli strings on ``s`` qubits, index ``a`` as above."""
    out = np.ones((1, 1, 1), dtype=np.complex128)
    for _ in range(s):
        out = np.einsum("aij,bkl->abikjl", out, _CODE_MATRICES).reshape(
            out.shape[0] * 4, out.shape[1] * 2, out.shape[2] * 2
        )
    return out


def transfer_matrices(unitaries, xp=np):
    """``(K, 4^s, 4^s)`` real PTMs ``R[k, b, a]`` of ``(K, 2^s, 2^s)`` unitaries (``xp`` is
    ``numpy`` or ``jax.numpy``)."""
    d = unitaries.shape[-1]
    s = d.bit_length() - 1
    basis = xp.asarray(pauli_basis(s), dtype=unitaries.dtype)
    heis = xp.einsum("kji,ajl,klm->kaim", xp.conj(unitaries), basis, unitaries)
    return xp.real(xp.einsum("bmi,kaim->kba", basis, heis)) / d


def _rotation_matrices(generators, phis, xp):
    """``cos(phi/2) I - i sin(phi/2) P`` for stacked generators ``P`` and angles ``phi``."""
    d = generators.shape[-1]
    eye = xp.eye(d, dtype=generators.dtype)
    c = xp.cos(phis / 2).astype(generators.dtype)[:, None, None]
    s = xp.sin(phis / 2).astype(generators.dtype)[:, None, None]
    return c * eye - 1j * s * generators


@dataclass(frozen=True)
class MatrixSource:
    """Where the unitaries of a group of equal-size steps come from.

    ``kind`` is ``"table"`` (a plan's :class:`~qnnlab.engines.plan.MatrixTable`), ``"rotation"``
    (generators ``P`` with angle ``phi = factor * a[angle]``) or ``"fixed"`` (constant
    matrices).
    """

    kind: str
    n_qubits: int
    table: object = None
    generators: np.ndarray | None = None
    angle: np.ndarray | None = None
    factor: np.ndarray | None = None
    matrices: np.ndarray | None = None

    @property
    def size(self) -> int:
        if self.kind == "table":
            return len(self.table.unique_ids)
        return len(self.generators if self.kind == "rotation" else self.matrices)

    def unitaries(self, angles, xp=np):
        if self.kind == "fixed":
            return xp.asarray(self.matrices)
        if self.kind == "rotation":
            phis = xp.asarray(self.factor) * angles[xp.asarray(self.angle)]
            return _rotation_matrices(xp.asarray(self.generators), phis, xp)
        if xp is np:
            return _table_matrices_numpy(self.table, angles)
        complex_dtype = xp.complex128 if angles.dtype == xp.float64 else xp.complex64
        return self.table.matrices(angles, complex_dtype)


def _table_matrices_numpy(table, angles) -> np.ndarray:
    """NumPy twin of ``MatrixTable.matrices`` (complex128): ``F_{G-1} ... F_0`` per block."""
    padded = np.concatenate([np.asarray(angles, np.float64), [0.0]])
    half = padded[table.factor_angles] / 2
    terms = table.terms
    factors = (
        terms[:, :, 0]
        + np.cos(half)[..., None, None] * terms[:, :, 1]
        + np.sin(half)[..., None, None] * terms[:, :, 2]
    )
    out = factors[:, 0]
    for g in range(1, factors.shape[1]):
        out = factors[:, g] @ out
    return out


@dataclass(frozen=True)
class Step:
    """One Heisenberg step: its qubits, its matrix source and row, and which qubits start in
    ``|0>`` and are touched here for the first time (evaluated right after this step)."""

    qubits: tuple[int, ...]
    source: int
    row: int
    fold: tuple[int, ...] = ()


@dataclass(frozen=True)
class StepProgram:
    """The steps of a circuit in circuit order, with their structure and PTM layout."""

    n_qubits: int
    input_qubits: tuple[int, ...]
    alive_qubits: tuple[int, ...]
    mode: str
    steps: tuple[Step, ...]
    sources: tuple[MatrixSource, ...]
    #: offset of each source's PTMs in the flat vector of :meth:`ptm_values`
    source_offsets: tuple[int, ...]
    #: per step: offset of its PTM in the flat vector; its CSR column offset
    step_entry: np.ndarray
    step_col: np.ndarray
    colptr: np.ndarray
    rows: np.ndarray
    inc: np.ndarray
    #: fresh qubits never touched by a gate (evaluated before anything else)
    untouched_fresh: tuple[int, ...]
    #: the circuit's angle table (``a = scale * theta[slot] + offset`` per angle argument)
    angle_table: object = None

    @property
    def n_entries(self) -> int:
        return self.source_offsets[-1]

    def ptm_values(self, angles, xp=np):
        """Flat vector of every step's transfer matrix (``R[b, a]`` at ``b * D + a``)."""
        parts = [
            transfer_matrices(src.unitaries(angles, xp), xp).reshape(-1) for src in self.sources
        ]
        return xp.concatenate(parts) if parts else xp.zeros((0,))


def _gate_steps(gate, index):
    """``(qubits, kind, payload)`` Heisenberg steps of one gate in gates mode."""
    name = gate.name
    if name in ("rx", "ry", "rz"):
        return [(gate.qubits, "rotation", (name[1].upper(), index[0], 1.0))]
    if name == "pauli_rot":
        return [(gate.qubits, "rotation", (gate.paulis, index[0], 1.0))]
    if name == "u3":  # e^{i(phi+lam)/2} RZ(phi) RY(theta) RZ(lam); the phase drops out
        q = gate.qubits
        return [
            (q, "rotation", ("Z", index[2], 1.0)),
            (q, "rotation", ("Y", index[0], 1.0)),
            (q, "rotation", ("Z", index[1], 1.0)),
        ]
    if name in ("crx", "cry", "crz"):
        letter = name[2].upper()
        c, t = gate.qubits
        return [
            ((t,), "rotation", (letter, index[0], 0.5)),
            ((c, t), "rotation", ("Z" + letter, index[0], -0.5)),
        ]
    return [(gate.qubits, "fixed", fixed_matrix(gate))]


def _letters_matrix(letters: str) -> np.ndarray:
    out = np.eye(1, dtype=np.complex128)
    for ch in letters:
        out = np.kron(out, PAULI_MATRICES[ch])
    return out


def build_steps(circuit: Circuit, mode: str = "blocks", seed: int = 1234) -> StepProgram:
    """Cut ``circuit`` into steps (module docstring) and work out their sparsity structure.

    The structurally non-zero PTM entries are those non-zero at two random angle draws (a
    trigonometric polynomial that vanishes at random points vanishes identically, with
    probability one); the compiled surrogate relies on this pattern not depending on angles.
    """
    if mode not in ("blocks", "gates"):
        raise ValueError(f"step mode must be 'blocks' or 'gates', got {mode!r}.")
    plan = compile_circuit(circuit)
    raw: list[tuple[tuple[int, ...], str, object]] = []
    if mode == "blocks":
        rows = plan.block_rows
        sources = [MatrixSource("table", t.n_qubits, table=t) for t in plan.matrix_tables]
        for block, (t, row) in zip(plan.blocks, rows, strict=True):
            raw.append((block.qubits, "table", (t, row)))
    else:
        index = 0
        for op in circuit.operations:
            if isinstance(op, Discard):
                continue
            entries = tuple(range(index, index + len(op.angles)))
            index += len(op.angles)
            raw.extend(_gate_steps(op, entries))
        sources = []
    for qubits, _kind, _payload in raw:
        if len(qubits) > MAX_STEP_QUBITS:
            raise ValueError(
                f"a gate on {len(qubits)} qubits has a {4 ** len(qubits)}-square Pauli transfer "
                f"matrix; Pauli propagation handles gates on at most {MAX_STEP_QUBITS} qubits."
            )

    steps_src: list[tuple[int, int]] = []
    if mode == "gates":
        groups: dict[tuple[str, int], list] = {}
        for qubits, kind, payload in raw:
            groups.setdefault((kind, len(qubits)), []).append(payload)
        keys = sorted(groups)
        for kind, s in keys:
            items = groups[(kind, s)]
            if kind == "rotation":
                sources.append(
                    MatrixSource(
                        "rotation",
                        s,
                        generators=np.stack([_letters_matrix(p[0]) for p in items]),
                        angle=np.asarray([p[1] for p in items], np.int64),
                        factor=np.asarray([p[2] for p in items], np.float64),
                    )
                )
            else:
                sources.append(MatrixSource("fixed", s, matrices=np.stack(items)))
        counters = {key: 0 for key in keys}
        for qubits, kind, _payload in raw:
            key = (kind, len(qubits))
            steps_src.append((keys.index(key), counters[key]))
            counters[key] += 1
    else:
        steps_src = [payload for _q, _k, payload in raw]

    offsets = [0]
    for src in sources:
        d2 = 16**src.n_qubits
        offsets.append(offsets[-1] + src.size * d2)

    # structure from two random angle draws
    n_angles = plan.angle_table.size
    rng = np.random.default_rng(seed)
    pattern = None
    for _ in range(2):
        values = np.abs(_ptms(sources, rng.uniform(0, 2 * np.pi, n_angles)))
        pattern = values > 1e-9 if pattern is None else pattern | (values > 1e-9)

    first_touch: dict[int, int] = {}
    for k, (qubits, _kind, _payload) in enumerate(raw):
        for q in qubits:
            first_touch.setdefault(q, k)
    inputs = set(circuit.input_qubits)
    fold_at: dict[int, list[int]] = {}
    for q, k in first_touch.items():
        if q not in inputs:
            fold_at.setdefault(k, []).append(q)

    step_entry, step_col, colptr, rows, inc, steps = [], [], [0], [], [], []
    for k, ((qubits, _kind, _payload), (src, row)) in enumerate(zip(raw, steps_src, strict=True)):
        s = len(qubits)
        dim = 4**s
        entry = offsets[src] + row * dim * dim
        step_entry.append(entry)
        step_col.append(len(colptr) - 1)
        block = pattern[entry : entry + dim * dim].reshape(dim, dim)
        is_rotation = sources[src].kind == "rotation"
        for a in range(dim):
            nz = np.nonzero(block[:, a])[0]
            rows.extend(nz.tolist())
            colptr.append(len(rows))
            inc.append(1 if (is_rotation and len(nz) > 1) else 0)
        steps.append(Step(tuple(qubits), src, row, tuple(sorted(fold_at.get(k, ())))))
    untouched = tuple(
        q for q in range(circuit.n_qubits) if q not in inputs and q not in first_touch
    )
    return StepProgram(
        n_qubits=circuit.n_qubits,
        input_qubits=tuple(circuit.input_qubits),
        alive_qubits=tuple(circuit.alive_qubits),
        mode=mode,
        steps=tuple(steps),
        sources=tuple(sources),
        source_offsets=tuple(offsets),
        step_entry=np.asarray(step_entry, np.int64),
        step_col=np.asarray(step_col, np.int64),
        colptr=np.asarray(colptr, np.int64),
        rows=np.asarray(rows, np.int64),
        inc=np.asarray(inc, np.int64),
        untouched_fresh=untouched,
        angle_table=plan.angle_table,
    )


def _ptms(sources, angles) -> np.ndarray:
    parts = [transfer_matrices(src.unitaries(angles, np), np).reshape(-1) for src in sources]
    return np.concatenate(parts) if parts else np.zeros(0)


def backward_layers(program: StepProgram) -> list[list[int]]:
    """Steps in Heisenberg (reverse) order, scheduled as early as possible into layers of steps
    on disjoint qubits: a step goes one layer after the last layer that used any of its qubits.
    Steps in one layer act on disjoint qubits and commute, and steps that share a qubit keep
    their order, so a layer is applied in one pass; there are as many layers as the circuit is
    deep, not as it has gates."""
    last_layer: dict[int, int] = {}
    layers: list[list[int]] = []
    for k in range(len(program.steps) - 1, -1, -1):
        qubits = program.steps[k].qubits
        layer = 1 + max((last_layer.get(q, -1) for q in qubits), default=-1)
        if layer == len(layers):
            layers.append([])
        layers[layer].append(k)
        for q in qubits:
            last_layer[q] = layer
    return layers
