"""Quantum convolutional neural network (Cong, Choi & Lukin, Nat. Phys. 15, 1273 (2019)).

Structure, repeated at each *scale* until ``final_qubits`` qubits are left (any ``n >= 2``, not
only powers of two). Write ``a_0, ..., a_{m-1}`` for the ``m`` active (not yet pooled) qubits.

* **Convolution**: ``layers_per_scale`` brick layers of two-qubit blocks over the active qubits,
  first on pairs ``(a_0, a_1), (a_2, a_3), ...`` then on ``(a_1, a_2), (a_3, a_4), ...`` (open
  chain, :func:`brick_pairs`). On a periodic chain (``periodic=True``) and ``m > 2`` the
  wrap-around pair ``(a_{m-1}, a_0)`` is appended at the end of the layer: for even ``m`` it
  completes the odd sub-layer (every qubit is then in exactly two blocks), for odd ``m`` it is a
  third sub-layer (``a_{m-1}`` sits in the odd bond ``(a_{m-2}, a_{m-1})`` already). For ``m = 2``
  the wrap pair would repeat ``(a_0, a_1)`` and is not added. With ``share_weights=True`` all
  blocks of one brick layer share their parameters (translation invariance); otherwise every
  block has its own. The block is chosen by ``conv_block`` (see :data:`CONV_BLOCKS`).
* **Pooling**: pairs ``(c, t) = (a_0, a_1), (a_2, a_3), ...``: measuring the control ``c`` in the
  ``Z`` basis and applying a rotation ``V`` to the target ``t`` when the outcome is 1 is, by the
  principle of deferred measurement (Nielsen & Chuang, Sec. 4.4), the same channel as the
  controlled rotation ``|0><0|_c (x) I + |1><1|_c (x) V_t`` followed by tracing ``c`` out:

      rho -> Tr_c[ CV rho CV^dag ] = Tr_c[P0 rho P0] + V Tr_c[P1 rho P1] V^dag.

  This is how it is simulated: controlled rotations, then :meth:`Circuit.discard` of ``c``. An
  unpaired last qubit stays. In the last scale only as many pairs are pooled as needed to leave
  exactly ``final_qubits`` qubits. The rotation is chosen by ``pool`` (see :data:`POOLS`);
  parameters are shared within the layer unless ``share_weights=False``.
* **Readout**: ``Z`` on the last remaining qubit, or any observable on the alive qubits
  (:func:`qcnn_readout`).

Parameter count with ``m_s`` active qubits at scale ``s`` (``m_0 = n``), ``p_c`` parameters per
block, ``p_p`` per pooling, ``L = layers_per_scale``:

* shared weights: ``S * (L * p_c + p_p)`` for ``S`` scales (``S = ceil(log2 n)`` when
  ``final_qubits = 1``);
* no sharing: ``sum_s (L * B(m_s) * p_c + K_s * p_p)`` with ``B(m)`` blocks per brick layer
  (``m - 1`` open, ``m`` periodic for ``m > 2``) and ``K_s`` pooled pairs at scale ``s``.

``qcnn(n)`` with no options is the original builder (SU(4) blocks, CRZ/CRX pooling, one qubit
left), gate for gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qnnlab.circuits.circuit import Circuit, CircuitError, Param, check_circuit_size
from qnnlab.circuits.paulis import BasisProjector, Observable, PauliString, PauliSum, pauli

Block = Callable[[Circuit, int, int, Sequence[Param]], object]


def brick_pairs(active: list[int], periodic: bool = False) -> list[tuple[int, int]]:
    """Pairs of a brick layer: even bonds, then odd bonds, then (periodic, ``m > 2``) the
    wrap-around bond ``(a_{m-1}, a_0)``."""
    even = [(active[i], active[i + 1]) for i in range(0, len(active) - 1, 2)]
    odd = [(active[i], active[i + 1]) for i in range(1, len(active) - 1, 2)]
    wrap = [(active[-1], active[0])] if periodic and len(active) > 2 else []
    return even + odd + wrap


# ---------------------------------------------------------------------------------- conv blocks
def _su4_block(circuit: Circuit, a: int, b: int, p: Sequence[Param]) -> None:
    """General ``SU(4)`` in KAK form, 15 parameters (:meth:`Circuit.su4`)."""
    circuit.su4(a, b, p)


def _so4_block(circuit: Circuit, a: int, b: int, p: Sequence[Param]) -> None:
    """``(RY (x) RY) CNOT (RY (x) RY) CNOT (RY (x) RY)``, 6 parameters (Hur et al. Fig. 2(h))."""
    circuit.ry(a, p[0]).ry(b, p[1]).cnot(a, b)
    circuit.ry(a, p[2]).ry(b, p[3]).cnot(a, b)
    circuit.ry(a, p[4]).ry(b, p[5])


def _ry_cnot_block(circuit: Circuit, a: int, b: int, p: Sequence[Param]) -> None:
    """``CNOT(a, b) (RY(p0)_a (x) RY(p1)_b)``, 2 parameters (Hur et al. Fig. 2(a))."""
    circuit.ry(a, p[0]).ry(b, p[1]).cnot(a, b)


@dataclass(frozen=True)
class ConvBlock:
    """A named two-qubit convolution block: ``apply(circuit, a, b, params)``."""

    n_params: int
    apply: Block
    reference: str


#: Convolution blocks. "Hur et al." is T. Hur, L. Kim, D. K. Park, "Quantum convolutional neural
#: network for classical data classification", Quantum Mach. Intell. 4, 3 (2022),
#: arXiv:2108.00661.
#:
#: * ``"su4"`` (15): any two-qubit unitary up to phase, KAK form (Khaneja & Glaser, Chem. Phys.
#:   267, 11 (2001); Vatan & Williams, PRA 69, 032315 (2004)); Hur et al. Fig. 2(i).
#: * ``"so4"`` (6): ``RY RY - CNOT - RY RY - CNOT - RY RY`` (Hur et al. Fig. 2(h), their "SO(4)"
#:   ansatz). Every gate is real, so the block is a real orthogonal matrix of determinant 1; its
#:   Jacobian has rank 6 = dim SO(4) at generic angles, so it covers an open neighbourhood of
#:   SO(4) around every generic point (the tests check both).
#: * ``"ry-cnot"`` (2): ``RY`` on each qubit then ``CNOT(a, b)`` (Hur et al. Fig. 2(a),
#:   "circuit 1", the tree-tensor-network block of Grant et al., npj QI 4, 65 (2018)).
CONV_BLOCKS: dict[str, ConvBlock] = {
    "su4": ConvBlock(15, _su4_block, "Hur et al. Fig. 2(i); Vatan & Williams 2004"),
    "so4": ConvBlock(6, _so4_block, "Hur et al. Fig. 2(h)"),
    "ry-cnot": ConvBlock(2, _ry_cnot_block, "Hur et al. Fig. 2(a); Grant et al. 2018"),
}


# ---------------------------------------------------------------------------------- pooling
def _pool_crz_crx(circuit: Circuit, c: int, t: int, p: Sequence[Param]) -> None:
    circuit.crz(c, t, p[0]).crx(c, t, p[1])


def _pool_cry(circuit: Circuit, c: int, t: int, p: Sequence[Param]) -> None:
    circuit.cry(c, t, p[0])


def _pool_crz(circuit: Circuit, c: int, t: int, p: Sequence[Param]) -> None:
    circuit.crz(c, t, p[0])


#: Pooling rotations ``V`` applied to the target when the measured control reads 1 (deferred:
#: controlled ``V`` then discard): ``"crz-crx"`` ``V = RX(p1) RZ(p0)`` (default, 2 parameters),
#: ``"cry"`` ``V = RY(p0)``, ``"crz"`` ``V = RZ(p0)`` (1 parameter each). (Hur et al.'s own
#: pooling, ``CRZ``, ``X`` on the control, ``CRX``, rotates the target on both outcomes; it is
#: not offered here.)
POOLS: dict[str, tuple[int, Callable[[Circuit, int, int, Sequence[Param]], None]]] = {
    "crz-crx": (2, _pool_crz_crx),
    "cry": (1, _pool_cry),
    "crz": (1, _pool_crz),
}


def _resolve_block(conv_block, n_block_params) -> tuple[int, Block]:
    if callable(conv_block):
        if (
            not isinstance(n_block_params, int)
            or isinstance(n_block_params, bool)
            or n_block_params < 0
        ):
            raise CircuitError(
                "a callable conv_block needs n_block_params, the number of angles it takes "
                f"(a non-negative int), got {n_block_params!r}."
            )
        return n_block_params, conv_block
    if not isinstance(conv_block, str) or conv_block not in CONV_BLOCKS:
        raise CircuitError(
            f"unknown conv_block {conv_block!r}; choose one of {sorted(CONV_BLOCKS)} or pass a "
            "callable block(circuit, a, b, params) with n_block_params."
        )
    spec = CONV_BLOCKS[conv_block]
    if n_block_params is not None and n_block_params != spec.n_params:
        raise CircuitError(
            f"conv_block {conv_block!r} takes {spec.n_params} parameters; n_block_params="
            f"{n_block_params!r} is only for callable blocks."
        )
    return spec.n_params, spec.apply


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise CircuitError(f"{name} must be an integer >= {low}, got {value!r}.")
    return value


def qcnn(
    n_qubits: int,
    *,
    conv_block: str | Block = "su4",
    n_block_params: int | None = None,
    pool: str = "crz-crx",
    periodic: bool = False,
    share_weights: bool = True,
    final_qubits: int = 1,
    layers_per_scale: int = 1,
) -> Circuit:
    """A QCNN on ``n_qubits`` qubits (module docstring for the structure and parameter count).

    Args:
        n_qubits: chain length, at least 2.
        conv_block: a name from :data:`CONV_BLOCKS` (``"su4"``, ``"so4"``, ``"ry-cnot"``) or a
            callable ``block(circuit, a, b, params)`` appending gates on qubits ``a, b`` with the
            ``n_block_params`` angles ``params``.
        n_block_params: number of angles of a callable ``conv_block``.
        pool: a name from :data:`POOLS` (``"crz-crx"``, ``"cry"``, ``"crz"``).
        periodic: add the wrap-around pair ``(a_{m-1}, a_0)`` to each brick layer when ``m > 2``.
        share_weights: one parameter set per brick layer / pooling layer (True) or per block.
        final_qubits: pool until exactly this many qubits are alive (``1 <= final_qubits < n``).
        layers_per_scale: convolution brick layers before each pooling.

    Parameters are named ``conv{s}[k]`` / ``pool{s}[k]`` (scale ``s``); with several layers per
    scale ``conv{s}.{l}[k]``; without sharing the block's qubits are appended, e.g.
    ``conv0@2-3[k]`` and ``pool0@0-1[k]``.
    """
    if not isinstance(n_qubits, int) or isinstance(n_qubits, bool) or n_qubits < 2:
        raise CircuitError(f"a QCNN needs at least 2 qubits, got {n_qubits!r}.")
    n_conv, block = _resolve_block(conv_block, n_block_params)
    if not isinstance(pool, str) or pool not in POOLS:
        raise CircuitError(f"unknown pool {pool!r}; choose one of {sorted(POOLS)}.")
    n_pool, pool_fn = POOLS[pool]
    for name, flag in (("periodic", periodic), ("share_weights", share_weights)):
        if not isinstance(flag, bool):
            raise CircuitError(f"{name} must be True or False, got {flag!r}.")
    _check_int("final_qubits", final_qubits, 1)
    if final_qubits >= n_qubits:
        raise CircuitError(
            f"final_qubits={final_qubits} leaves nothing to pool on {n_qubits} qubits; "
            f"choose 1 <= final_qubits < {n_qubits}."
        )
    _check_int("layers_per_scale", layers_per_scale, 1)
    # the first scale alone holds layers_per_scale brick layers of n - 1 blocks
    check_circuit_size(
        n_qubits,
        layers_per_scale * (n_qubits - 1),
        f"a QCNN on {n_qubits} qubits with {layers_per_scale} layers per scale",
    )

    circuit = Circuit(n_qubits, name=f"qcnn-{n_qubits}")
    active = list(range(n_qubits))
    scale = 0
    while len(active) > final_qubits:
        for layer in range(layers_per_scale):
            tag = f"conv{scale}" if layers_per_scale == 1 else f"conv{scale}.{layer}"
            shared = circuit.parameters(n_conv, tag) if share_weights else None
            for a, b in brick_pairs(active, periodic):
                params = shared if share_weights else circuit.parameters(n_conv, f"{tag}@{a}-{b}")
                block(circuit, a, b, params)
        n_pairs = min(len(active) // 2, len(active) - final_qubits)
        shared = circuit.parameters(n_pool, f"pool{scale}") if share_weights else None
        pooled = set()
        for i in range(0, 2 * n_pairs, 2):
            control, target = active[i], active[i + 1]
            if share_weights:
                params = shared
            else:
                params = circuit.parameters(n_pool, f"pool{scale}@{control}-{target}")
            pool_fn(circuit, control, target, params)
            circuit.discard(control)
            pooled.add(control)
        active = [q for q in active if q not in pooled]
        scale += 1
    return circuit


def qcnn_readout(circuit: Circuit, observable: Observable | str | None = None) -> Observable:
    """Observable measured at the end of a QCNN, checked to act only on alive qubits.

    Args:
        circuit: the QCNN (any circuit with discards).
        observable: ``None``: ``Z`` on the last alive qubit. A string of letters ``I, X, Y, Z``
            (spaces ignored), one per alive qubit in ascending order: ``"Z Z"`` is ``Z (x) Z`` on
            the two alive qubits. Otherwise a sparse label over circuit qubits (``"Z3 Z7"``), a
            :class:`PauliString`, a :class:`PauliSum` or a :class:`BasisProjector`.

    Raises:
        CircuitError: the observable touches a discarded qubit, or a dense label has the wrong
            length.
    """
    alive = circuit.alive_qubits
    if not alive:
        raise CircuitError("the circuit has no alive qubit to read out.")
    if observable is None:
        return PauliSum.single(f"Z{alive[-1]}")
    if isinstance(observable, str):
        letters = observable.replace(" ", "")
        if letters and set(letters) <= set("IXYZ"):
            if len(letters) != len(alive):
                raise CircuitError(
                    f"readout label {observable!r} has {len(letters)} letter(s) but the circuit "
                    f"has {len(alive)} alive qubit(s) {list(alive)}; give one letter per alive "
                    "qubit, or a sparse label such as 'Z3'."
                )
            ops = {q: p for q, p in zip(alive, letters, strict=True) if p != "I"}
            if not ops:
                raise CircuitError(f"readout label {observable!r} is the identity.")
            return PauliSum.single(PauliString(tuple(sorted(ops.items()))))
        try:
            observable = pauli(observable)
        except (TypeError, ValueError) as exc:
            raise CircuitError(f"cannot read readout observable {observable!r}: {exc}") from exc
    if isinstance(observable, PauliString):
        observable = PauliSum.single(observable)
    if not isinstance(observable, PauliSum | BasisProjector):
        raise CircuitError(
            "readout observable must be None, a label, a PauliString, a PauliSum or a "
            f"BasisProjector, got {type(observable).__name__}."
        )
    qubits = observable.qubits
    outside = sorted(set(qubits) - set(alive))
    if outside:
        raise CircuitError(
            f"readout observable {observable} acts on qubit(s) {outside} that are discarded or "
            f"outside the circuit; the alive qubits are {list(alive)}."
        )
    return observable
