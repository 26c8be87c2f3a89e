"""Engines: interpreters of one :class:`~qnnlab.circuits.Circuit`.

Every engine implements the :class:`Engine` protocol (:mod:`qnnlab.engines.protocol`): a
required core (``prepare``, ``angles``, ``expval_fn``, ``expval``, ``cached``, ...) plus
optional ``capabilities``. Everything else here is written against that protocol only.

* :class:`StatevectorEngine`: batched pure states (JAX), adjoint or backprop gradients.
* :class:`DensityMatrixEngine`: batched mixed states (JAX), partial trace at discards.
* :class:`PauliPropagationEngine`: Heisenberg-picture Pauli propagation (NumPy + Numba), exact
  or truncated, on dense states, MPS, shadows and product states.
* Finite shots (:func:`sample_expval`, :func:`sample_bitstrings`) and parameter-shift gradients
  (:func:`parameter_shift_jacobian`), exact or from shots, for any engine.

:data:`ENGINES` is the registry: :func:`make_engine` builds an engine by name, and callers that
let users choose (``engine=`` of experiment configs, of :class:`~qnnlab.training.QCNNClassifier`)
check the name with :func:`check_engine_name`.
"""

from qnnlab.engines.density import DensityMatrixEngine
from qnnlab.engines.gradients import parameter_shift_jacobian, parameter_shift_jacobian_fn
from qnnlab.engines.pauliprop.engine import PauliPropagationEngine
from qnnlab.engines.plan import Plan, compile_circuit
from qnnlab.engines.protocol import CAPABILITIES, Engine, require
from qnnlab.engines.shots import sample_bitstrings, sample_expval, shot_expval_fn
from qnnlab.engines.statevector import StatevectorEngine
from qnnlab.engines.validation import InputError

#: Engine classes by name; every one implements :class:`Engine`.
ENGINES: dict[str, type] = {
    "statevector": StatevectorEngine,
    "density": DensityMatrixEngine,
    "pauliprop": PauliPropagationEngine,
}


def check_engine_name(engine) -> str:
    """``engine`` if it names a registered engine, else :class:`InputError` listing them."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}.")
    return engine


def check_trainable_engine(engine, what: str) -> str:
    """``engine`` if it names a registered engine whose functions JAX can differentiate (the
    ``"traceable"`` capability, which gradient training needs), else :class:`InputError`."""
    require(ENGINES[check_engine_name(engine)], "traceable", what)
    return engine


def make_engine(circuit, engine: str = "statevector", **options):
    """Build the engine registered as ``engine`` in :data:`ENGINES` for ``circuit``;
    ``options`` (e.g. ``dtype``) go to its constructor."""
    return ENGINES[check_engine_name(engine)](circuit, **options)


__all__ = [
    "CAPABILITIES",
    "ENGINES",
    "DensityMatrixEngine",
    "Engine",
    "InputError",
    "PauliPropagationEngine",
    "Plan",
    "StatevectorEngine",
    "check_engine_name",
    "check_trainable_engine",
    "compile_circuit",
    "make_engine",
    "parameter_shift_jacobian",
    "parameter_shift_jacobian_fn",
    "require",
    "sample_bitstrings",
    "sample_expval",
    "shot_expval_fn",
]
