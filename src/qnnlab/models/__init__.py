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

__all__ = [
    "ANSATZES",
    "CONV_BLOCKS",
    "POOLS",
    "DQNNArchitecture",
    "Perceptron",
    "brick_pairs",
    "build_ansatz",
    "dqnn_architecture",
    "dqnn_circuit",
    "fig3a_dqnn",
    "fig3b_dqnn",
    "hardware_efficient",
    "layered_perceptron",
    "log_depth",
    "qcnn",
    "qcnn_readout",
    "toy_ry",
    "two_qubit_block",
]
