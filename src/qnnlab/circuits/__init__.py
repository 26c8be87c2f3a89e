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
from qnnlab.circuits.state_prep import (
    AmplitudeError,
    append_state_prep,
    check_amplitudes,
    n_state_prep_angles,
    state_prep_angles,
    state_prep_circuit,
)

__all__ = [
    "GATE_SPECS",
    "AmplitudeError",
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
    "append_state_prep",
    "as_observable",
    "check_amplitudes",
    "gate_factors",
    "gate_matrix",
    "gate_matrix_numpy",
    "n_state_prep_angles",
    "pauli",
    "qasm_parameter_names",
    "state_prep_angles",
    "state_prep_circuit",
    "to_qasm3",
]
