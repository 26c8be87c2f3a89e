"""Engines: interpreters of one :class:`~qnnlab.circuits.Circuit`.

* :class:`StatevectorEngine`: batched pure states (JAX), adjoint or backprop gradients.
* :class:`DensityMatrixEngine`: batched mixed states (JAX), partial trace at discards.
* Finite shots (:func:`sample_expval`, :func:`sample_bitstrings`) and parameter-shift gradients
  (:func:`parameter_shift_jacobian`), exact or from shots.
"""

from qnnlab.engines.density import DensityMatrixEngine
from qnnlab.engines.gradients import parameter_shift_jacobian, parameter_shift_jacobian_fn
from qnnlab.engines.plan import Plan, compile_circuit
from qnnlab.engines.shots import sample_bitstrings, sample_expval, shot_expval_fn
from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.engines.validation import InputError

ENGINES = {"statevector": StatevectorEngine, "density": DensityMatrixEngine}


def make_engine(circuit, engine: str = "statevector", **options):
    """Build the engine called ``engine`` (``"statevector"`` or ``"density"``) for ``circuit``."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}.")
    return ENGINES[engine](circuit, **options)


__all__ = [
    "ENGINES",
    "DensityMatrixEngine",
    "InputError",
    "Plan",
    "StatevectorEngine",
    "compile_circuit",
    "make_engine",
    "parameter_shift_jacobian",
    "parameter_shift_jacobian_fn",
    "sample_bitstrings",
    "sample_expval",
    "shot_expval_fn",
]
