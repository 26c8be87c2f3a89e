"""qnnlab: build, train and audit quantum neural networks on quantum data.

One circuit description (:class:`Circuit`), several engines (statevector, density matrix, finite
shots, parameter shift), and analyses such as gradient-variance (barren plateau) scans.
:func:`qnnlab.audit` answers, for one model and one dataset, whether it is trainable and whether
it needs a quantum computer.
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


def __getattr__(name: str):
    """``qnnlab.audit`` (:func:`qnnlab.experiments.audit.audit`), imported on first use so that
    ``import qnnlab`` stays cheap."""
    if name == "audit":
        from qnnlab.experiments.audit import audit

        return audit
    raise AttributeError(f"module 'qnnlab' has no attribute {name!r}")


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
    "audit",
    "make_engine",
    "parameter_shift_jacobian",
    "pauli",
    "sample_bitstrings",
    "sample_expval",
]
