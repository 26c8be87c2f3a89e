"""The circuit IR: :class:`Circuit`, gates, parameter slots, observables, OpenQASM 3 export."""

from qnnlab.circuits.angles import AngleTable, angle_table
from qnnlab.circuits.circuit import Circuit, CircuitError, Discard, Param
from qnnlab.circuits.gates import (
    GATE_SPECS,
    Angle,
    Gate,
    gate_factors,
    gate_matrix,
    gate_matrix_numpy,
)
from qnnlab.circuits.paulis import (
    BasisProjector,
    Observable,
    PauliString,
    PauliSum,
    as_observable,
    pauli,
)
from qnnlab.circuits.qasm import qasm_parameter_names, to_qasm3

__all__ = [
    "GATE_SPECS",
    "Angle",
    "AngleTable",
    "BasisProjector",
    "Circuit",
    "CircuitError",
    "Discard",
    "Gate",
    "Observable",
    "Param",
    "PauliString",
    "PauliSum",
    "angle_table",
    "as_observable",
    "gate_factors",
    "gate_matrix",
    "gate_matrix_numpy",
    "pauli",
    "qasm_parameter_names",
    "to_qasm3",
]
