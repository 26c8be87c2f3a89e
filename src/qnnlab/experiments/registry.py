"""Experiments by name, for ``qnnlab reproduce NAME``.

An experiment is a frozen dataclass *config* (every number that defines the run, with the
paper's values as defaults and a ``quick`` preset small enough for tests and demos) and a
function ``run(config, out, *, progress, command, workers, scheduler, cache_dir)`` that writes
``config.json``, ``results.json``, CSV tables and PNG plots into the folder ``out`` and
checkpoints each finished task there, so rerunning the same command resumes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

from qnnlab.checks import check_int, check_real, check_seed

#: Largest value of an integer setting (epochs, draws, samples, runs, ...): a bound on time and
#: memory that no paper figure comes near.
MAX_COUNT = 10**6


def _is_seed(name: str) -> bool:
    return name == "seed" or name.endswith("_seed")


def _check_typed(name: str, value, hint) -> None:
    """Check ``value`` against the type hint ``hint`` (see :func:`check_numbers`)."""
    if hint is int:
        if _is_seed(name):
            check_seed(name, value)
        else:
            check_int(name, value, minimum=0, maximum=MAX_COUNT)
    elif hint is float:
        check_real(name, value)
    elif typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            if not isinstance(value, list | tuple):
                raise ValueError(f"{name} must be a list, got {value!r}.")
            for item in value:
                _check_typed(name, item, args[0])
    elif isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is not None and len(args) == 1:
            _check_typed(name, value, args[0])


def check_numbers(config) -> None:
    """Check every numeric field of an experiment config from its type hint.

    ``int`` fields (also inside ``tuple[int, ...]`` and ``int | None``) must be integers, not
    ``bool``, in ``[0, MAX_COUNT]``; fields named ``seed`` or ``*_seed`` in
    ``[0, 2**63 - 1]``. ``float`` fields must be finite real numbers (``NaN``, ``inf`` and
    strings are refused). Each config's ``validate()`` calls this first, then checks the
    domains (``learning_rate > 0``, fractions in ``[0, 1)``, ...) and relations between fields.

    Raises:
        ValueError: naming the field, the expected range and the value.
    """
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        _check_typed(f.name, getattr(config, f.name), hints[f.name])


class ExperimentConfig:
    """Mixin for experiment configs (frozen dataclasses): overrides by name, JSON export.

    Each config class also defines ``validate()`` (returns ``self`` or raises ``ValueError``
    naming the fix; it starts with :func:`check_numbers`) and the classmethod ``quick()`` (a
    small version, seconds to a minute, for tests and demos); ``qnnlab reproduce`` calls both.
    """

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict):
        """A copy with ``overrides`` applied (lists become tuples for tuple fields), validated.

        Raises:
            ValueError: an unknown field name (the valid names are listed) or a bad value.
        """
        hints = typing.get_type_hints(type(self))
        names = [f.name for f in dataclasses.fields(self)]
        changes = {}
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(
                    f"unknown setting {key!r} for {type(self).__name__}; valid: {', '.join(names)}."
                )
            origin = typing.get_origin(hints[key])
            if origin is tuple and isinstance(value, list | tuple):
                value = tuple(value)
            elif origin is tuple:
                value = (value,)
            changes[key] = value
        return dataclasses.replace(self, **changes).validate()


@dataclass
class ExperimentRun:
    """A finished run: its config, folder and the ``results.json`` content."""

    config: object
    directory: object
    results: dict


@dataclass(frozen=True)
class Experiment:
    """A reproducible experiment: ``name``, one-line ``summary``, its config type, the runner
    ``run(config, out, **options)`` and ``report(result) -> list[str]`` (a text summary)."""

    name: str
    summary: str
    config_type: type
    run: Callable
    report: Callable


def _registry() -> dict[str, Experiment]:
    from qnnlab.experiments import (
        dqnn_learning,
        dqnn_trainability,
        qcnn_locality,
        qcnn_phases,
        qcnn_shadows,
        qcnn_shadows_toric,
        qcnn_topological,
        qucnn_forward,
        qucnn_gradient,
        qucnn_state_learning,
        qucnn_train,
    )

    experiments = [
        Experiment(
            "dqnn-learning",
            "DQNNs learning a Haar-random unitary: parameter-matrix training curves, "
            "generalisation vs N, noisy pairs, gradient training (Beer et al. 2020)",
            dqnn_learning.DQNNLearningConfig,
            dqnn_learning.run_dqnn_learning,
            dqnn_learning.report,
        ),
        Experiment(
            "dqnn-trainability",
            "DQNN gradient variance vs qubits: Theorems 1-2 (Haar global perceptrons), Fig. 3(a) "
            "closed forms, Fig. 3(b) global vs local cost (Sharma et al. 2022)",
            dqnn_trainability.DQNNTrainabilityConfig,
            dqnn_trainability.run_dqnn_trainability,
            dqnn_trainability.report,
        ),
        Experiment(
            "qcnn-phases",
            "QCNN test accuracy on the XXX and cluster-Ising phase datasets vs qubit count "
            "(control: local order parameters)",
            qcnn_phases.QCNNPhasesConfig,
            qcnn_phases.run_qcnn_phases,
            qcnn_phases.report,
        ),
        Experiment(
            "qcnn-topological",
            "QCNN on toric code vs double semion: train and test accuracy vs training-set size "
            "(qcnn-simulability Fig. 2)",
            qcnn_topological.QCNNTopologicalConfig,
            qcnn_topological.run_qcnn_topological,
            qcnn_topological.report,
        ),
        Experiment(
            "qcnn-locality",
            "Locality spectrum W_k of QCNN readout operators: random SU(4)/SO(4)/RY-CNOT QCNNs "
            "(exact, weight-cut, Haar chain) and trained QCNNs' accuracy vs weight cut "
            "(qcnn-simulability Results 1-2)",
            qcnn_locality.QCNNLocalityConfig,
            qcnn_locality.run_qcnn_locality,
            qcnn_locality.report,
        ),
        Experiment(
            "qcnn-shadows",
            "QCNN replaced by its weight-cut Pauli-propagation surrogate trained on classical "
            "shadows: test accuracy vs snapshots x training states, with a scikit-learn baseline "
            "and the statevector QCNN beside it (qcnn-simulability Fig. 1)",
            qcnn_shadows.QCNNShadowsConfig,
            qcnn_shadows.run_qcnn_shadows,
            qcnn_shadows.report,
        ),
        Experiment(
            "qcnn-shadows-toric",
            "Toric code vs double semion seen through classical shadows: QCNN surrogate, "
            "scikit-learn baselines and the weight-6 plaquette reference vs weight cut and "
            "snapshots: does the adversarial dataset of qcnn-simulability need a quantum "
            "computer?",
            qcnn_shadows_toric.QCNNShadowsToricConfig,
            qcnn_shadows_toric.run_qcnn_shadows_toric,
            qcnn_shadows_toric.report,
        ),
        Experiment(
            "qucnn-forward",
            "QuCNN forward pass vs a classical convolution: a trained one-filter CNN's 4x4 "
            "filter as a quantum state, SWAP tests (10,000 shots) over 16 MNIST images vs the "
            "normalised squared convolution (QuCNN Fig. 3)",
            qucnn_forward.QuCNNForwardConfig,
            qucnn_forward.run_qucnn_forward,
            qucnn_forward.report,
        ),
        Experiment(
            "qucnn-gradient",
            "QuCNN entangled-ancilla backpropagation vs exact and post-processed parameter-shift "
            "gradients: error vs shots on MNIST windows, I/16 and |+>^4 data (QuCNN Fig. 4)",
            qucnn_gradient.QuCNNGradientConfig,
            qucnn_gradient.run_qucnn_gradient,
            qucnn_gradient.report,
        ),
        Experiment(
            "qucnn-state-learning",
            "QuCNN filter ansatz (1-3 layers) learning ideal filter states: fidelity vs Adam "
            "iterations for a trained classical net's MNIST filters and Haar-random real "
            "controls, with SWAP-test shots and a circuit check (QuCNN Fig. 6)",
            qucnn_state_learning.QuCNNStateLearningConfig,
            qucnn_state_learning.run_qucnn_state_learning,
            qucnn_state_learning.report,
        ),
        Experiment(
            "qucnn-train",
            "QuCNN trained end to end on MNIST (10 classes) against frozen filters and classical "
            "convolutions with the same number of parameters, with shots (ancilla / "
            "parameter-shift filter gradients), and filter-gradient variance vs filter qubits "
            "(barren plateau; beyond the QuCNN paper)",
            qucnn_train.QuCNNTrainConfig,
            qucnn_train.run_qucnn_train,
            qucnn_train.report,
        ),
    ]
    return {e.name: e for e in experiments}


def experiment_names() -> list[str]:
    return sorted(_registry())


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ``ValueError`` listing the known names otherwise."""
    registry = _registry()
    if name not in registry:
        raise ValueError(
            f"unknown experiment {name!r}; known: {', '.join(sorted(registry))} "
            "(see `qnnlab reproduce --list`)."
        )
    return registry[name]
