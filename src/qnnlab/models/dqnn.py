"""Dissipative perceptron QNNs (DQNNs): Beer et al., Nat. Commun. 11, 808 (2020); Sharma et al.,
PRL 128, 180505 (2022) (arXiv:2005.12458).

A DQNN with layer widths ``[n_0, n_1, ..., n_L]`` holds one qubit per node. The input state
enters layer 0; every other qubit starts in ``|0>``. Layer ``l`` is a sequence of *perceptrons*,
each a unitary on some qubits of layer ``l-1`` (its inputs) and some of layer ``l`` (its
outputs), applied in a fixed order; afterwards layer ``l-1`` is traced out (Eq. 1):

    rho_l = Tr_{l-1}[ V^l_{last} ... V^l_1 (rho_{l-1} (x) |0><0|_l) V^l_1^dag ... V^l_{last}^dag ].

So simulation needs only two adjacent layers at a time. Perceptrons may be

* *global* (inputs = all of layer ``l-1``, ``m = n_{l-1}``, Fig. 2a) or *local* (a window of
  ``m`` consecutive inputs, Fig. 2b);
* single-output (``k = 1``, the paper's main text) or ``k``-output (its Supplemental Material):
  outputs are groups of ``k`` consecutive qubits of layer ``l``.

This module describes the wiring (:class:`DQNNArchitecture`) and builds it as a
:class:`~qnnlab.circuits.Circuit` with parametrized perceptrons (Eq. 5) for the circuit engines.
Perceptrons given as unitary matrices (Beer et al.'s parameter-matrix training) live in
:mod:`qnnlab.engines.perceptrons`, which reads the wiring through its structural
:class:`~qnnlab.engines.perceptrons.PerceptronNetwork` protocol (``widths``, and per layer each
perceptron's ``inputs`` and ``outputs``): a :class:`DQNNArchitecture` is passed as it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qnnlab.circuits.circuit import Circuit, CircuitError, check_circuit_size
from qnnlab.models.ansatz import two_qubit_block


@dataclass(frozen=True)
class Perceptron:
    """A perceptron of layer ``layer`` (1-based): node indices in layers ``layer-1``, ``layer``."""

    layer: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    @property
    def n_qubits(self) -> int:
        return len(self.inputs) + len(self.outputs)


@dataclass(frozen=True)
class DQNNArchitecture:
    """Layer widths and the perceptrons of each layer in the order they act.

    Qubit numbering (used by :func:`dqnn_circuit`): layer ``l``, node ``j`` is qubit
    ``sum(widths[:l]) + j``.
    """

    widths: tuple[int, ...]
    layers: tuple[tuple[Perceptron, ...], ...]

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    @property
    def n_qubits(self) -> int:
        return sum(self.widths)

    @property
    def n_in(self) -> int:
        return self.widths[0]

    @property
    def n_out(self) -> int:
        return self.widths[-1]

    def offset(self, layer: int) -> int:
        return sum(self.widths[:layer])

    def qubit(self, layer: int, node: int) -> int:
        return self.offset(layer) + node

    def output_qubits(self) -> tuple[int, ...]:
        return tuple(range(self.offset(self.n_layers), self.n_qubits))

    def perceptrons(self):
        """All perceptrons in application order."""
        for layer in self.layers:
            yield from layer

    @property
    def max_layer_qubits(self) -> int:
        """Qubits alive at once in a layer-by-layer simulation: ``max_l n_{l-1} + n_l``."""
        return max(a + b for a, b in itertools.pairwise(self.widths))

    def describe(self) -> str:
        kinds = []
        for layer, perceptrons in zip(self.widths[:-1], self.layers, strict=True):
            m = {len(p.inputs) for p in perceptrons}
            k = {len(p.outputs) for p in perceptrons}
            scope = "global" if m == {layer} else f"local m={sorted(m)}"
            kinds.append(f"{scope}, k={sorted(k)}")
        return f"DQNN {list(self.widths)} ({'; '.join(kinds)})"


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """At least two positive integer widths, ``sum(widths)`` within ``MAX_QUBITS``."""
    widths = tuple(widths)
    if len(widths) < 2 or any(
        isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
    ):
        raise CircuitError(
            f"widths must list at least two positive integer layer sizes, e.g. [2, 3, 2]; "
            f"got {list(widths)}."
        )
    check_circuit_size(sum(widths), 0, f"a DQNN of widths {list(widths)}")
    return widths


def _window(start_of: int, m: int, n_prev: int) -> tuple[int, ...]:
    start = min(max(start_of, 0), n_prev - m)
    return tuple(range(start, start + m))


def dqnn_architecture(
    widths: Sequence[int], *, window: int | None = None, outputs_per_perceptron: int = 1
) -> DQNNArchitecture:
    """Wiring of a DQNN.

    Args:
        widths: ``[n_0, ..., n_L]``.
        window: ``None`` for global perceptrons (every input of the previous layer); else each
            perceptron sees ``m = window`` consecutive inputs (a window wider than the layer is
            the whole layer). For equal widths the perceptron whose first output is ``j`` reads
            inputs ``j .. j+m-1``, shifted back at the edge; otherwise the windows' starts are
            spread evenly from the first to the last input.
        outputs_per_perceptron: ``k``; outputs are groups of ``k`` consecutive qubits (the last
            group is smaller when ``k`` does not divide the width).
    """
    widths = _check_widths(widths)
    k = outputs_per_perceptron
    if not isinstance(k, int) or k < 1:
        raise CircuitError(f"outputs_per_perceptron must be a positive integer, got {k!r}.")
    layers = []
    for layer in range(1, len(widths)):
        n_prev, n_here = widths[layer - 1], widths[layer]
        if window is not None and not (isinstance(window, int) and 1 <= window):
            raise CircuitError(f"window must be a positive integer or None, got {window!r}.")
        m = n_prev if window is None else min(window, n_prev)
        groups = [tuple(range(j, min(j + k, n_here))) for j in range(0, n_here, k)]
        perceptrons = []
        for g, outputs in enumerate(groups):
            if m == n_prev:
                inputs = tuple(range(n_prev))
            elif n_prev == n_here:
                inputs = _window(outputs[0], m, n_prev)
            elif len(groups) == 1:
                inputs = _window(0, m, n_prev)
            else:
                inputs = _window(round(g * (n_prev - m) / (len(groups) - 1)), m, n_prev)
            perceptrons.append(Perceptron(layer, inputs, outputs))
        unread = sorted(set(range(n_prev)) - {i for p in perceptrons for i in p.inputs})
        if unread:
            raise CircuitError(
                f"inputs {unread} of layer {layer - 1} feed no perceptron of layer {layer} "
                f"(window {m}, {len(groups)} perceptron(s)): they would be traced out unread. "
                "Use a wider window, fewer outputs per perceptron or a wider next layer."
            )
        layers.append(tuple(perceptrons))
    return DQNNArchitecture(widths, tuple(layers))


# ---------------------------------------------------------------------- parametrized perceptrons
#: ``builder(circuit, qubits, prefix)`` appends one perceptron on ``qubits`` (inputs first, then
#: outputs) with parameter names starting with ``prefix``.
PerceptronBuilder = Callable[[Circuit, Sequence[int], str], None]


def layered_perceptron(depth: int = 2) -> PerceptronBuilder:
    """Eq. (5) with a hardware-efficient alphabet: ``depth`` times [RY, RZ on every qubit, then a
    CNOT chain], then a final RY, RZ layer. ``2 q (depth + 1)`` parameters on ``q`` qubits."""
    if not isinstance(depth, int) or depth < 1:
        raise CircuitError(f"perceptron depth must be a positive integer, got {depth!r}.")

    def build(circuit: Circuit, qubits: Sequence[int], prefix: str) -> None:
        for d in range(depth + 1):
            for q in qubits:
                circuit.ry(q, circuit.parameter(f"{prefix}.d{d}.q{q}.ry"))
                circuit.rz(q, circuit.parameter(f"{prefix}.d{d}.q{q}.rz"))
            if d < depth:
                for a, b in itertools.pairwise(qubits):
                    circuit.cnot(a, b)

    return build


def swap_ry_perceptron(circuit: Circuit, qubits: Sequence[int], prefix: str) -> None:
    """Fig. 3(a): ``m = 1``: SWAP(input, output), then ``RY`` on the output."""
    if len(qubits) != 2:
        raise CircuitError("the SWAP + RY perceptron of Fig. 3(a) needs window=1 and k=1.")
    circuit.swap(qubits[0], qubits[1]).ry(qubits[1], circuit.parameter(f"{prefix}.ry"))


PERCEPTRONS: dict[str, Callable[..., PerceptronBuilder]] = {
    "layered": layered_perceptron,
    "swap-ry": lambda: swap_ry_perceptron,
}


def dqnn_circuit(
    architecture: DQNNArchitecture,
    perceptron: str | PerceptronBuilder = "layered",
    *,
    name: str | None = None,
    **perceptron_options,
) -> Circuit:
    """The DQNN as a :class:`Circuit` on ``sum(widths)`` qubits, layer 0 as input.

    Layer ``l-1`` is discarded right after the last perceptron of layer ``l``, so the
    density-matrix engine keeps at most two adjacent layers alive. Output: the last layer.
    """
    if isinstance(perceptron, str):
        if perceptron not in PERCEPTRONS:
            raise CircuitError(
                f"unknown perceptron {perceptron!r}; choose one of {sorted(PERCEPTRONS)} "
                "or pass a builder function."
            )
        builder = PERCEPTRONS[perceptron](**perceptron_options)
    else:
        builder = perceptron
    arch = architecture
    circuit = Circuit(
        arch.n_qubits,
        input_qubits=tuple(range(arch.n_in)),
        name=name or f"dqnn-{'-'.join(map(str, arch.widths))}",
    )
    for l_index, perceptrons in enumerate(arch.layers, start=1):
        for j, p in enumerate(perceptrons):
            qubits = [arch.qubit(l_index - 1, i) for i in p.inputs]
            qubits += [arch.qubit(l_index, o) for o in p.outputs]
            builder(circuit, qubits, f"l{l_index}.p{j}")
        circuit.discard(*range(arch.offset(l_index - 1), arch.offset(l_index)))
    return circuit


# ---------------------------------------------------------------------- Fig. 3
def fig3a_dqnn(n_qubits: int) -> Circuit:
    """Fig. 3(a): ``[n, n]`` with ``m = 1`` perceptrons SWAP(in_j, out_j) then ``RY(out_j)``.

    The output is ``prod_j RY_j |0...0>`` rotated by the same angles as
    :func:`qnnlab.models.ansatz.toy_ry` (parameter ``j`` drives output ``j``): the toy model of
    Cerezo et al., with ``Var[dC_G] = (1/8)(3/8)^(n-1)`` and ``Var[dC_L] = 1/(8 n^2)``.
    """
    if not isinstance(n_qubits, int) or n_qubits < 1:
        raise CircuitError(f"n_qubits must be a positive integer, got {n_qubits!r}.")
    arch = dqnn_architecture([n_qubits, n_qubits], window=1)
    return dqnn_circuit(arch, "swap-ry", name=f"dqnn-fig3a-{n_qubits}")


def fig3b_dqnn(n_qubits: int, dqnn_layers: int, *, block: str = "ry-cz") -> Circuit:
    """Fig. 3(b): ``[n, n, ..., n]`` with ``m = 2`` local perceptrons, exactly a layered HEA.

    In DQNN layer ``l`` (1-based) the two-qubit blocks ``W`` act on pairs ``(j, j+1)`` of the
    input layer with ``j = 0, 2, 4, ...`` for ``l`` odd and ``j = 1, 3, ...`` for ``l`` even
    (0-based nodes). Perceptron ``V_1`` (on inputs ``j, j+1`` and output ``j`` of a pair's first
    node) applies ``W`` then SWAPs input ``j`` into output ``j``; ``V_2`` (on the other nodes)
    only SWAPs its input into its output. The ``V_1`` act first, then the ``V_2``: so ``V_1``
    sits on odd nodes (1-based) in odd layers and on even nodes in even layers, as in the paper.
    Each layer thus applies one brick of ``W`` and moves the register one layer on; two DQNN
    layers are one layer of :func:`qnnlab.models.ansatz.hardware_efficient` with the same
    parameter names, which tests check gate for gate and cost for cost.

    The text of the paper does not spell out the figure's wiring beyond these properties; the
    ordering "``V_1`` first" is what makes the map onto the HEA exact.
    """
    if not isinstance(n_qubits, int) or n_qubits < 2:
        raise CircuitError(f"Fig. 3(b) needs at least 2 qubits per layer, got {n_qubits!r}.")
    if not isinstance(dqnn_layers, int) or dqnn_layers < 1:
        raise CircuitError(f"dqnn_layers must be a positive integer, got {dqnn_layers!r}.")
    n = n_qubits
    check_circuit_size(
        n * (dqnn_layers + 1), 0, f"the Fig. 3(b) DQNN of {dqnn_layers} layers of {n} qubits"
    )
    circuit = Circuit(
        n * (dqnn_layers + 1), input_qubits=tuple(range(n)), name=f"dqnn-fig3b-{n}x{dqnn_layers}"
    )
    for layer in range(1, dqnn_layers + 1):
        start = 0 if layer % 2 == 1 else 1
        first = [j for j in range(start, n - 1, 2)]
        rest = [j for j in range(n) if j not in first]
        src, dst = (layer - 1) * n, layer * n
        hea_layer, half = (layer - 1) // 2, start
        for j in first:
            two_qubit_block(
                circuit, src + j, src + j + 1, f"l{hea_layer}.s{half}", block, (j, j + 1)
            )
            circuit.swap(src + j, dst + j)
        for j in rest:
            circuit.swap(src + j, dst + j)
        circuit.discard(*range(src, dst))
    return circuit
