"""Pauli propagation: the Heisenberg-picture engine (:mod:`.propagate`), its steps and kernels."""

from qnnlab.engines.pauliprop.propagate import (
    LayerTrace,
    PauliOperator,
    PropagationError,
    PropagationResult,
    PropagationTrace,
    Truncation,
    observable_table,
    propagate,
)
from qnnlab.engines.pauliprop.steps import StepProgram, backward_layers, build_steps

__all__ = [
    "LayerTrace",
    "PauliOperator",
    "PropagationError",
    "PropagationResult",
    "PropagationTrace",
    "StepProgram",
    "Truncation",
    "backward_layers",
    "build_steps",
    "observable_table",
    "propagate",
]
