"""Classical surrogates of quantum models: Pauli-propagated observables compiled into JAX
programs (:mod:`.compiled`), evaluated on per-state feature vectors (expectation values of a
fixed list of Pauli strings, exact, from an MPS or estimated from shadows; :mod:`.features`),
and trained as classifiers beside a scikit-learn baseline (:mod:`.learners`)."""

from qnnlab.surrogate.compiled import CompiledSurrogate, SurrogateError, compile_surrogate
from qnnlab.surrogate.features import FeatureError, FeatureMatrix, surrogate_features
from qnnlab.surrogate.learners import (
    BASELINES,
    LearnerError,
    SurrogateClassifier,
    baseline_classifier,
    baseline_score,
    fit_baseline,
)

__all__ = [
    "BASELINES",
    "CompiledSurrogate",
    "FeatureError",
    "FeatureMatrix",
    "LearnerError",
    "SurrogateClassifier",
    "SurrogateError",
    "baseline_classifier",
    "baseline_score",
    "compile_surrogate",
    "fit_baseline",
    "surrogate_features",
]
