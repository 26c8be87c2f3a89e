"""Model builders: functions that return a :class:`~qnnlab.circuits.Circuit`."""

from qnnlab.models.ansatz import (
    ANSATZES,
    build_ansatz,
    hardware_efficient,
    log_depth,
    toy_ry,
    toy_ry_dissipative,
)
from qnnlab.models.qcnn import CONV_BLOCKS, POOLS, brick_pairs, qcnn, qcnn_readout

__all__ = [
    "ANSATZES",
    "CONV_BLOCKS",
    "POOLS",
    "brick_pairs",
    "build_ansatz",
    "hardware_efficient",
    "log_depth",
    "qcnn",
    "qcnn_readout",
    "toy_ry",
    "toy_ry_dissipative",
]
