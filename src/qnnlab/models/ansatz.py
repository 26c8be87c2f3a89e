"""Ansatzes used to study trainability: the product-of-RY toy model and the layered
hardware-efficient ansatz.

* :func:`toy_ry` builds ``V(theta) = prod_j RY_j(theta_j)`` on ``|0...0>``: the toy model of
  Cerezo et al., Nat. Commun. 12, 1791 (2021), and the ``m = 1`` dissipative perceptron of
  Fig. 3(a) of Sharma et al., PRL 128, 180505 (2022) (SWAP then RY), written without the
  ancillas. With the costs of Eqs. (3)-(4) and angles uniform on ``[0, 2 pi)``,
  ``Var[dC_G/dtheta_1] = (1/8)(3/8)^(n-1)`` and ``Var[dC_L/dtheta_1] = 1/(8 n^2)``.
* :func:`qnnlab.models.dqnn.fig3a_dqnn` is the same model as a DQNN on ``2n`` qubits (input
  layer, output layer, SWAP + RY perceptrons, input layer discarded); ``dqnn-swap-ry`` here.
* :func:`hardware_efficient` is the alternating layered ansatz of Cerezo et al. (their Fig. 3):
  each layer is a brick of two-qubit blocks ``W = CZ (RY (x) RY)`` on pairs ``(0,1), (2,3), ...``
  followed by pairs ``(1,2), (3,4), ...``. Two DQNN layers of the Fig. 3(b) perceptrons map onto
  one such layer.
"""

from __future__ import annotations

import math

from qnnlab.circuits.circuit import Circuit, CircuitError, check_circuit_size


def _check_n(n_qubits: int) -> int:
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 1:
        raise CircuitError(f"n_qubits must be a positive integer, got {n_qubits!r}.")
    check_circuit_size(n_qubits, 0, f"an ansatz on {n_qubits} qubits")
    return n_qubits


def toy_ry(n_qubits: int) -> Circuit:
    """``prod_j RY_j(theta_j)`` on ``n_qubits`` qubits; slot ``j`` drives qubit ``j``."""
    circuit = Circuit(_check_n(n_qubits), name=f"toy-ry-{n_qubits}")
    for q in range(n_qubits):
        circuit.ry(q, circuit.parameter(f"theta[{q}]"))
    return circuit


def log_depth(n_qubits: int) -> int:
    """``ceil(log2 n)`` layers (at least 1): the depth where local costs stay trainable."""
    return max(1, math.ceil(math.log2(max(n_qubits, 2))))


def hardware_efficient(n_qubits: int, layers: int | None = None, block: str = "ry-cz") -> Circuit:
    """Alternating layered ansatz of two-qubit blocks ``W`` (module docstring).

    Args:
        n_qubits: number of qubits (1 gives a single RY per layer).
        layers: number of layers; default :func:`log_depth`.
        block: ``"ry-cz"`` (``W = CZ (RY (x) RY)``, default) or ``"su4"``
            (:func:`two_qubit_block`).
    """
    n = _check_n(n_qubits)
    layers = log_depth(n) if layers is None else layers
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise CircuitError(f"layers must be a positive integer, got {layers!r}.")
    if block not in BLOCKS:
        raise CircuitError(f"unknown two-qubit block {block!r}; choose one of {list(BLOCKS)}.")
    gates = layers if n == 1 else layers * (n - 1) * BLOCK_GATES[block]
    check_circuit_size(n, gates, f"hea on {n} qubits with {layers} layers of {block} blocks")
    circuit = Circuit(n, name=f"hea-{n}x{layers}")
    for layer in range(layers):
        if n == 1:
            circuit.ry(0, circuit.parameter(f"l{layer}.q0"))
            continue
        for start in (0, 1):
            for a in range(start, n - 1, 2):
                two_qubit_block(circuit, a, a + 1, f"l{layer}.s{start}", block)
    return circuit


#: Two-qubit blocks ``W`` of the layered ansatz.
BLOCKS = ("ry-cz", "su4")
#: Gates and parameters of one block ``W``.
BLOCK_GATES = {"ry-cz": 3, "su4": 15}
BLOCK_PARAMS = {"ry-cz": 2, "su4": 15}


def two_qubit_block(
    circuit: Circuit, a: int, b: int, prefix: str, block: str = "ry-cz", labels=None
) -> None:
    """Append ``W`` on qubits ``(a, b)``; parameters ``{prefix}.q{label}`` (``ry-cz``) or
    ``{prefix}.q{label_a}.su4[k]`` (``su4``), with ``labels`` defaulting to ``(a, b)``.

    * ``ry-cz``: ``W = CZ (RY (x) RY)``, the block of Cerezo et al.'s Fig. 3.
    * ``su4``: a general two-qubit unitary (15 angles, :meth:`Circuit.su4`).
    """
    la, lb = (a, b) if labels is None else labels
    if block == "ry-cz":
        circuit.ry(a, circuit.parameter(f"{prefix}.q{la}"))
        circuit.ry(b, circuit.parameter(f"{prefix}.q{lb}"))
        circuit.cz(a, b)
    elif block == "su4":
        circuit.su4(a, b, circuit.parameters(15, f"{prefix}.q{la}.su4"))
    else:
        raise CircuitError(f"unknown two-qubit block {block!r}; choose one of {list(BLOCKS)}.")


def _fig3a(n_qubits: int) -> Circuit:
    from qnnlab.models.dqnn import fig3a_dqnn  # dqnn builds on this module's blocks

    return fig3a_dqnn(n_qubits)


ANSATZES = {"toy-ry": toy_ry, "dqnn-swap-ry": _fig3a, "hea": hardware_efficient}
#: Ansatzes with the closed-form variances of the toy model (Fig. 3(a)).
TOY_MODELS = ("toy-ry", "dqnn-swap-ry")


def build_ansatz(
    name: str, n_qubits: int, layers: int | None = None, block: str = "ry-cz"
) -> Circuit:
    """Build an ansatz by its command-line name (``toy-ry``, ``dqnn-swap-ry`` or ``hea``)."""
    if name not in ANSATZES:
        raise CircuitError(f"unknown ansatz {name!r}; choose one of {sorted(ANSATZES)}.")
    if name in TOY_MODELS:
        if layers not in (None, 1):
            raise CircuitError(f"the {name} ansatz has exactly one layer; drop --layers.")
        if block != "ry-cz":
            raise CircuitError(f"the {name} ansatz has no two-qubit blocks; drop --block.")
        return ANSATZES[name](n_qubits)
    return hardware_efficient(n_qubits, layers, block)


def ansatz_n_params(
    name: str, n_qubits: int, layers: int | None = None, block: str = "ry-cz"
) -> int:
    """Parameters of ``build_ansatz(name, n_qubits, layers, block)``, from the arguments alone
    (to size arrays before anything is built): ``n`` for the toy models; for ``hea``
    ``layers * (n - 1)`` blocks of :data:`BLOCK_PARAMS` each (``layers`` for ``n = 1``)."""
    if name not in ANSATZES:
        raise CircuitError(f"unknown ansatz {name!r}; choose one of {sorted(ANSATZES)}.")
    if name in TOY_MODELS:
        return n_qubits
    if block not in BLOCKS:
        raise CircuitError(f"unknown two-qubit block {block!r}; choose one of {list(BLOCKS)}.")
    layers = log_depth(n_qubits) if layers is None else layers
    return layers if n_qubits == 1 else layers * (n_qubits - 1) * BLOCK_PARAMS[block]
