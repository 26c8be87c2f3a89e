"""qnnlab: build, train and audit quantum neural networks on quantum data.

One circuit description (:class:`Circuit`), several engines (statevector, density matrix, finite
shots, parameter shift), and analyses such as gradient-variance (barren plateau) scans.
"""

from qnnlab.circuits import BasisProjector, Circuit, CircuitError, PauliString, PauliSum, pauli
from qnnlab.engines import (
    DensityMatrixEngine,
    InputError,
    StatevectorEngine,
    make_engine,
    parameter_shift_jacobian,
    sample_bitstrings,
    sample_expval,
)
from qnnlab.version import __version__

__all__ = [
    "BasisProjector",
    "Circuit",
    "CircuitError",
    "DensityMatrixEngine",
    "InputError",
    "PauliString",
    "PauliSum",
    "StatevectorEngine",
    "__version__",
    "make_engine",
    "parameter_shift_jacobian",
    "pauli",
    "sample_bitstrings",
    "sample_expval",
]
