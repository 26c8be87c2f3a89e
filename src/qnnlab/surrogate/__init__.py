"""Classical surrogates of quantum models: Pauli-propagated observables compiled into JAX
programs (:mod:`.compiled`), evaluated on per-state feature vectors (expectation values of a
fixed list of Pauli strings, exact, from an MPS or estimated from shadows)."""

from qnnlab.surrogate.compiled import CompiledSurrogate, SurrogateError, compile_surrogate

__all__ = ["CompiledSurrogate", "SurrogateError", "compile_surrogate"]
