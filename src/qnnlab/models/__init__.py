"""Model builders: functions that return a :class:`~qnnlab.circuits.Circuit`."""

from qnnlab.models.ansatz import (
    ANSATZES,
    build_ansatz,
    hardware_efficient,
    log_depth,
    toy_ry,
    two_qubit_block,
)
from qnnlab.models.dqnn import (
    DQNNArchitecture,
    Perceptron,
    dqnn_architecture,
    dqnn_circuit,
    fig3a_dqnn,
    fig3b_dqnn,
    layered_perceptron,
)
from qnnlab.models.qcnn import CONV_BLOCKS, POOLS, brick_pairs, qcnn, qcnn_readout
from qnnlab.models.qucnn import (
    QuCNNLayer,
    ancilla_backprop_circuit,
    filter_ansatz,
    swap_test_circuit,
)

__all__ = [
    "ANSATZES",
    "CONV_BLOCKS",
    "POOLS",
    "DQNNArchitecture",
    "Perceptron",
    "QuCNNLayer",
    "ancilla_backprop_circuit",
    "brick_pairs",
    "build_ansatz",
    "dqnn_architecture",
    "dqnn_circuit",
    "fig3a_dqnn",
    "fig3b_dqnn",
    "filter_ansatz",
    "hardware_efficient",
    "layered_perceptron",
    "log_depth",
    "qcnn",
    "qcnn_readout",
    "swap_test_circuit",
    "toy_ry",
    "two_qubit_block",
]
