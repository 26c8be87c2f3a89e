"""``qnnlab audit``: one report that answers, for one model and one dataset, the two questions of
the seed papers.

* **Is it trainable?** (dqnn-trainability; Sharma et al., PRL 128, 180505): how the variance of
  the gradient ``dC/dtheta`` over random parameters scales with the number of qubits, fitted as
  exponential (barren plateau) or power-law decay.
* **Does it need a quantum computer?** (qcnn-simulability, Results 1-2, Fig. 1): whether a
  classical surrogate, the model's own Pauli propagation cut at weight ``k`` and trained on
  features estimated from classical shadows of the input states, classifies as well as the exact
  model, and where the readout operator's coefficient mass lives.

Sections (each checkpointed in ``out/checkpoints/`` as soon as it is done, so a killed audit
resumes where it stopped and a rerun only rewrites the report):

a. *Trainability* (``trainability-n{n}``, one task per size): ``draws`` parameter vectors
   ``theta ~ U[0, 2 pi)^P`` per qubit count ``n``, the full gradient of ``C = <O>`` on
   ``|0..0>`` (:func:`qnnlab.analysis.audit_checks.gradient_draws`), the variance of parameter
   ``param_index`` and the mean over all parameters, fits ``b^n`` vs ``n^-p``.
b. *Locality* (``locality-random``, ``locality-trained``): the squared coefficient mass ``W_k``
   of ``U^dag O U`` on weight-``k`` Pauli strings (:func:`qnnlab.analysis.locality
   .locality_spectrum`) at random parameters and at the trained ones; exact up to
   ``EXACT_PROPAGATION_MAX_QUBITS`` circuit qubits, else with the largest weight cut up to
   ``LOCALITY_MAX_WEIGHT`` that keeps at most ``RANDOM_LOCALITY_MAX_TERMS`` (random draws) or
   ``LOCALITY_MAX_TERMS`` (trained) strings; the dropped mass is reported. With dense states
   and a trained exact model also the accuracy of its weight-``k`` truncations (Result 2,
   :func:`qnnlab.analysis.locality.truncation_accuracy`).
c. *Exact model* (``exact-model``): the circuit trained on the states of a stratified
   train/test split (statevector engine, Adam on the MSE, ``epochs`` epochs, mini-batches of
   ``BATCH_SIZE``); needs dense states and at most ``EXACT_MODEL_MAX_QUBITS`` circuit qubits.
d. *Classical surrogate* (``surrogate-k{k}``, ``surrogate-exact-k{K}``): ``T = shots_budget``
   snapshots per state (sampled from the states with seed ``[seed, i]``, or the user's shadows),
   the weight-``k`` surrogate (:class:`qnnlab.surrogate.SurrogateClassifier`) trained with the
   exact model's settings and initial parameters on the same split, and the scikit-learn
   logistic baseline on the same features, for ``k = max_weight`` and, where affordable, ``1``
   and ``max_weight + 1``; the surrogate on exact features of the states as the
   ``T -> infinity`` reference.
e. *Verdict*: the decision rules of :mod:`qnnlab.analysis.audit_checks` on these numbers.

Outputs in ``out``: ``report.md`` and ``report.html`` (self-contained), ``audit.json`` (every
number, the verdicts and the rules' thresholds), ``trainability.png``, ``locality.png``,
``accuracy.png``, ``config.json``, ``log.txt`` and ``checkpoints/``.

Model specs (``NAME[:ITEM,ITEM...]``, each item ``key=value`` or a bare block name):

* ``qcnn`` -- :func:`qnnlab.models.qcnn` read out by ``Z`` on its last qubit; ``qcnn:so4``,
  ``qcnn:ry-cnot``; keys ``block`` (su4, so4, ry-cnot), ``pool`` (crz-crx, cry, crz),
  ``layers`` (convolution layers per scale), ``periodic`` and ``share`` (true/false).
* ``hea`` -- :func:`qnnlab.models.hardware_efficient`; keys ``layers`` (default
  ``ceil(log2 n)``) and ``block`` (ry-cz, su4; also as a bare item); read out by ``Z0``.
* ``dqnn`` -- a DQNN of parametrized perceptrons (:func:`qnnlab.models.dqnn_circuit`): ``layers``
  (default 1) layers of ``n`` nodes after the ``n`` input nodes, each output node a perceptron on
  ``window`` consecutive inputs (default 2, local; ``global`` for every input: the barren-plateau
  case of Theorem 1) plus its output, built as ``depth`` (default 1) layers of RY, RZ and a CNOT
  chain; read out by ``Z`` on the first node of the last layer. Its circuit holds
  ``n (layers + 1)`` qubits, so its scan defaults to ``n = 2..6``.

A model may also be a :class:`~qnnlab.circuits.Circuit` (one size: the scaling needs a builder)
or a function ``n -> Circuit`` returning a circuit with ``n`` input qubits. Default observable:
``Z`` on the last alive qubit for QCNNs, ``Z`` on the first alive qubit otherwise; any label,
Pauli string, Pauli sum or basis projector on the alive qubits, or a function ``circuit ->
observable``, may be given instead.

Dataset specs: ``FAMILY[:key=value,...]`` with ``FAMILY`` one of ``xxx``, ``cluster-ising``,
``toric-vs-semion`` (or an alias) and keys ``qubits`` (default 12), ``samples`` (default 100),
``seed`` (default 0) and the family's options (``ratio_range=[0.2,1.8]``); or a dataset folder;
or a folder of shadow ``.npz`` files (:meth:`qnnlab.shadows.ClassicalShadow.save`, taken in file
name order) with ``labels.txt`` (one 0/1 per line), ``labels.npy`` or ``labels.json``. In Python
also a :class:`~qnnlab.data.Dataset`, ``(states, labels)`` with states a ``(B, 2**n)`` array or a
list of MPS, or ``(shadows, labels)`` with a list of shadows or a shadow folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qnnlab.analysis.audit_checks import (
    DECISIVE_DELTA_AIC,
    EXTRAPOLATE_TO,
    LEAN_DELTA_AIC,
    LEARNED_MARGIN,
    LEARNED_SIGMAS,
    MATCH_MARGIN,
    MATCH_SIGMAS,
    MAX_FLAT_BASE_ERR,
    MIN_SIZES,
    SIGNIFICANCE_SIGMAS,
    ZERO_VARIANCE,
    Finding,
    assess_simulability,
    assess_trainability,
    gradient_draws,
    gradient_statistics,
    shots_to_resolve,
    summary_sentence,
)
from qnnlab.checks import check_int, check_real, check_seed
from qnnlab.circuits.circuit import Circuit, Discard
from qnnlab.circuits.paulis import BasisProjector, PauliString, PauliSum
from qnnlab.runtime.checkpoint import TaskCheckpoint, atomic_write_bytes, write_json

#: Gradient draws per qubit count (standard error of the variance ~ sqrt((kurtosis - 1) / N)).
DEFAULT_DRAWS = 500
#: Training epochs of the exact model and of every surrogate (same protocol for both).
DEFAULT_EPOCHS = 100
DEFAULT_LEARNING_RATE = 0.05
BATCH_SIZE = 32
#: Weight cut ``k`` of the main surrogate (qcnn-simulability uses weight-2 features).
DEFAULT_MAX_WEIGHT = 2
#: Snapshots per state.
DEFAULT_SHOTS_BUDGET = 10_000
MAX_SHOTS_BUDGET = 1_000_000
#: Bytes the snapshots of all states may take (bits and recipes, one byte each).
MAX_SHADOW_BYTES = 2 * 2**30
#: Fraction of the states held out for testing (stratified).
TEST_FRACTION = 0.3
#: Parameter draws of the random-parameter locality spectrum.
LOCALITY_DRAWS = 8
#: Up to this many input qubits the readout operator is propagated without a cut (``4^n``
#: strings at most: ~2 s per draw at 8 qubits, ~25 s at 10, ~8 min at 12).
EXACT_PROPAGATION_MAX_QUBITS = 8
#: Beyond that, the locality spectrum uses the largest weight cut up to this ...
LOCALITY_MAX_WEIGHT = 6
#: ... whose strings, ``sum_j binom(n, j) 3^j``, number at most this at the trained parameters
#: (one propagation: cut 6 on 12 qubits, 9e5 strings, ~3 s; cut 2 on 100 qubits) ...
LOCALITY_MAX_TERMS = 1_000_000
#: ... and at most this for each random draw (cut 5 on 12 qubits, 2.4e5 strings, ~1 s); never
#: below ``max_weight``.
RANDOM_LOCALITY_MAX_TERMS = 250_000
#: Weight cuts of the trained model's truncation accuracies (each evaluated on dense states).
TRUNCATION_MAX_WEIGHT = 4
#: Most circuit qubits of the exact (statevector) model and of a gradient scan.
EXACT_MODEL_MAX_QUBITS = 16
MAX_SCAN_CIRCUIT_QUBITS = 16
#: The extra surrogate at ``max_weight + 1`` runs when the count of weight-``<= k + 1`` strings on
#: the input qubits, ``sum_j binom(n, j) 3^j``, is at most this.
EXTRA_WEIGHT_MAX_TERMS = 20_000
#: Most exact Pauli expectation values (states x strings) computed on MPS data for the
#: exact-feature reference: measured ~0.8 ms each on 100 qubits at bond dimension 64 (weight-2
#: strings of a 100-qubit QCNN: 44,850 per state, 36 s), so about three minutes.
MPS_REFERENCE_MAX_EVALUATIONS = 200_000
#: Default qubit counts of the trainability scan.
DEFAULT_SCAN = (4, 6, 8, 10, 12)
DQNN_DEFAULT_SCAN = (2, 3, 4, 5, 6)
DEFAULT_DATA_QUBITS = 12
DEFAULT_SAMPLES = 100

AUDIT_FORMAT = "qnnlab-audit"
OWNER = "qnnlab audit"

MODEL_HELP = (
    "give qcnn[:BLOCK][,key=value...] (block su4|so4|ry-cnot, pool, layers, periodic, share), "
    "hea[:layers=L,block=ry-cz|su4], dqnn[:layers=L,window=M|global,depth=D], a Circuit or a "
    "function n -> Circuit"
)


class AuditError(ValueError):
    """Bad input to :func:`audit`; the one-line message names the fix."""


# ---------------------------------------------------------------------------------------------
# specs


def _split_items(text: str) -> list[str]:
    """Split ``a=1,b=[2,3],c`` on the commas outside brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_spec(text: str, what: str) -> tuple[str, list[str], dict]:
    """``NAME[:ITEM,...]`` as ``(name, bare items, {key: value})``; values are JSON where they
    parse (``3``, ``true``, ``[0.2,1.8]``) and strings otherwise; dashes in keys become
    underscores."""
    if not isinstance(text, str) or not text.strip():
        raise AuditError(f"{what} spec must be a non-empty string, got {text!r}.")
    name, _, rest = text.strip().partition(":")
    bare, options = [], {}
    for item in _split_items(rest):
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not key:
                raise AuditError(f"{what} spec {text!r}: item {item!r} has no key before '='.")
            if key in options:
                raise AuditError(f"{what} spec {text!r} sets {key!r} twice.")
            options[key] = _value(value.strip())
        else:
            bare.append(item)
    return name.strip().lower(), bare, options


def _option_int(spec: str, options: dict, key: str, default, minimum: int = 1):
    if key not in options:
        return default
    return check_int(
        f"{key} in model spec {spec!r}", options.pop(key), minimum=minimum, error=AuditError
    )


def _option_bool(spec: str, options: dict, key: str, default: bool) -> bool:
    if key not in options:
        return default
    value = options.pop(key)
    if not isinstance(value, bool):
        raise AuditError(f"{key} in model spec {spec!r} must be true or false, got {value!r}.")
    return value


def _option_choice(spec: str, options: dict, key: str, default: str, choices) -> str:
    if key not in options:
        return default
    value = options.pop(key)
    if value not in choices:
        raise AuditError(
            f"{key}={value!r} in model spec {spec!r} is unknown; choose one of {sorted(choices)}."
        )
    return value


def _no_leftovers(spec: str, options: dict, valid: Sequence[str]) -> None:
    if options:
        raise AuditError(
            f"unknown option(s) {sorted(options)} in model spec {spec!r}; valid: {list(valid)}."
        )


def _model_from_spec(spec: str) -> tuple[str, Callable[[int], Circuit], dict, tuple[int, ...]]:
    from qnnlab.models.ansatz import BLOCKS, hardware_efficient
    from qnnlab.models.dqnn import dqnn_architecture, dqnn_circuit
    from qnnlab.models.qcnn import CONV_BLOCKS, POOLS, qcnn

    name, bare, options = parse_spec(spec, "model")
    if name == "qcnn":
        if len(bare) > 1:
            raise AuditError(f"model spec {spec!r}: give at most one bare block name.")
        if bare:
            if "block" in options:
                raise AuditError(f"model spec {spec!r} names the block twice.")
            options["block"] = bare[0]
        settings = {
            "conv_block": _option_choice(spec, options, "block", "su4", CONV_BLOCKS),
            "pool": _option_choice(spec, options, "pool", "crz-crx", POOLS),
            "layers_per_scale": _option_int(spec, options, "layers", 1),
            "periodic": _option_bool(spec, options, "periodic", False),
            "share_weights": _option_bool(spec, options, "share", True),
        }
        _no_leftovers(spec, options, ("block", "pool", "layers", "periodic", "share"))
        return "qcnn", lambda n: qcnn(n, **settings), settings, DEFAULT_SCAN
    if name == "hea":
        if len(bare) > 1:
            raise AuditError(f"model spec {spec!r}: give at most one bare block name.")
        if bare:
            if "block" in options:
                raise AuditError(f"model spec {spec!r} names the block twice.")
            options["block"] = bare[0]
        settings = {
            "layers": _option_int(spec, options, "layers", None),
            "block": _option_choice(spec, options, "block", "ry-cz", BLOCKS),
        }
        _no_leftovers(spec, options, ("layers", "block"))
        return "hea", lambda n: hardware_efficient(n, **settings), settings, DEFAULT_SCAN
    if name == "dqnn":
        if bare:
            raise AuditError(
                f"model spec {spec!r}: dqnn takes key=value items only (layers, window, depth)."
            )
        layers = _option_int(spec, options, "layers", 1)
        depth = _option_int(spec, options, "depth", 1)
        window = options.pop("window", 2)
        if window != "global":
            window = check_int(
                f"window in model spec {spec!r}",
                window,
                minimum=1,
                hint="Use an integer or 'global'.",
                error=AuditError,
            )
        _no_leftovers(spec, options, ("layers", "window", "depth"))
        settings = {"layers": layers, "window": window, "depth": depth}

        def build(n: int) -> Circuit:
            arch = dqnn_architecture(
                [n] * (layers + 1), window=None if window == "global" else window
            )
            return dqnn_circuit(arch, "layered", depth=depth, name=f"dqnn-{n}x{layers}")

        return "dqnn", build, settings, DQNN_DEFAULT_SCAN
    raise AuditError(f"unknown model {spec!r}; {MODEL_HELP}.")


# ---------------------------------------------------------------------------------------------
# the model


def circuit_fingerprint(circuit: Circuit) -> str:
    """Content hash of a circuit: qubits, inputs, parameter names, every operation."""
    ops = []
    for op in circuit.operations:
        if isinstance(op, Discard):
            ops.append(["discard", op.qubit])
        else:
            angles = [[a.slot, repr(a.scale), repr(a.offset)] for a in op.angles]
            ops.append([op.name, list(op.qubits), angles, op.paulis, op.matrix_digest])
    blob = json.dumps(
        [circuit.n_qubits, list(circuit.input_qubits), circuit.param_names, ops],
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def observable_text(observable) -> str:
    """A stable, exact text of an observable (for fingerprints and the report)."""
    if isinstance(observable, PauliSum):
        if all(c == 1.0 for c, _ in observable.terms) and len(observable.terms) == 1:
            return str(observable.terms[0][1])
        return " + ".join(f"{c!r}*{p}" for c, p in observable.terms)
    if isinstance(observable, BasisProjector):
        bits = "".join(map(str, observable.bits))
        return f"|{bits}><{bits}| on qubits {list(observable.qubits)}"
    return str(observable)


@dataclass
class AuditModel:
    """A model to audit: a builder ``n -> Circuit`` (spec or function) or one fixed circuit."""

    name: str
    family: str
    builder: Callable[[int], Circuit] | None
    fixed: Circuit | None
    observable: object
    default_qubits: tuple[int, ...]
    settings: dict = field(default_factory=dict)

    def circuit(self, n: int) -> Circuit:
        if self.fixed is not None:
            if n != len(self.fixed.input_qubits):
                raise AuditError(
                    f"the circuit takes {len(self.fixed.input_qubits)} input qubits, not {n}: "
                    "give data of that size or a builder n -> Circuit."
                )
            return self.fixed
        try:
            circuit = self.builder(n)
        except ValueError as err:
            raise AuditError(f"model {self.name} cannot be built on {n} qubits: {err}") from None
        if not isinstance(circuit, Circuit):
            raise AuditError(
                f"the model builder returned {type(circuit).__name__} for n = {n}; it must "
                "return a qnnlab Circuit."
            )
        if len(circuit.input_qubits) != n:
            raise AuditError(
                f"the model builder returned a circuit with {len(circuit.input_qubits)} input "
                f"qubits for n = {n}; it must take n input qubits."
            )
        return circuit

    def readout(self, circuit: Circuit):
        """The observable measured on ``circuit`` (module docstring), checked to act only on
        alive qubits."""
        from qnnlab.models.qcnn import qcnn_readout

        obs = self.observable
        if callable(obs) and not isinstance(obs, str | PauliString | PauliSum | BasisProjector):
            obs = obs(circuit)
        try:
            if obs is None:
                if self.family == "qcnn":
                    return qcnn_readout(circuit)
                return PauliSum.single(f"Z{circuit.alive_qubits[0]}")
            return qcnn_readout(circuit, obs)
        except ValueError as err:
            raise AuditError(f"observable: {err}") from None

    @property
    def fixed_size(self) -> int | None:
        return None if self.fixed is None else len(self.fixed.input_qubits)


def resolve_model(model, observable=None) -> AuditModel:
    """An :class:`AuditModel` from a spec string, a :class:`Circuit` or a builder function."""
    if isinstance(model, str):
        family, builder, settings, scan = _model_from_spec(model)
        return AuditModel(model.strip(), family, builder, None, observable, scan, settings)
    if isinstance(model, Circuit):
        n = len(model.input_qubits)
        return AuditModel(model.name or "circuit", "circuit", None, model, observable, (n,))
    if callable(model):
        name = getattr(model, "__name__", "builder")
        return AuditModel(name, "builder", model, None, observable, DEFAULT_SCAN)
    raise AuditError(f"model must be a spec string, a Circuit or a function; {MODEL_HELP}.")


# ---------------------------------------------------------------------------------------------
# the data


@dataclass
class AuditData:
    """Labelled input states: dense vectors or MPS (``states``), or only their shadows."""

    description: str
    n_qubits: int
    labels: np.ndarray
    key: dict
    states: object = None
    shadows: list | None = None
    dataset: object = None
    label_names: tuple[str, str] = ("0", "1")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dense(self) -> bool:
        return isinstance(self.states, np.ndarray)

    def shadow(self, index: int, n_snapshots: int, seed: int):
        """Snapshots of state ``index``: the user's (first ``n_snapshots``), or sampled with the
        seed ``[seed, index]`` (as :meth:`qnnlab.data.Dataset.shadow`)."""
        if self.shadows is not None:
            return self.shadows[index][:n_snapshots]
        if self.dataset is not None:
            return self.dataset.shadow(index, n_snapshots, seed=seed)
        from qnnlab.shadows import sample_shadow

        state_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        return sample_shadow(self.states[index], n_snapshots, seed=state_seed)


def _labels(labels, count: int, where: str) -> np.ndarray:
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError):
        raise AuditError(f"labels of {where} are not an array of 0/1.") from None
    if y.ndim != 1 or len(y) != count:
        raise AuditError(
            f"{where}: {count} states but {y.size} labels (shape {y.shape}); give one 0/1 label "
            "per state."
        )
    if not np.all((y == 0) | (y == 1)):
        raise AuditError(f"labels of {where} must be 0 or 1.")
    y = y.astype(np.int32)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise AuditError(
            f"{where}: {counts[0]} states of class 0 and {counts[1]} of class 1; a train/test "
            "split needs at least 2 of each."
        )
    return y


def _sha(*arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(str((a.dtype.str, a.shape)).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:16]


def _data_from_dataset(dataset) -> AuditData:
    states = list(dataset.states())
    dense = isinstance(states[0], np.ndarray)
    config = dataset.config
    options = ",".join(f"{k}={json.dumps(v)}" for k, v in config.get("options", {}).items())
    return AuditData(
        description=(
            f"{config['name']} ({config['n_qubits']} qubits, {len(dataset)} states, seed "
            f"{config['seed']}{', ' + options if options else ''})"
        ),
        n_qubits=dataset.n_qubits,
        labels=_labels(dataset.labels, len(dataset), f"dataset {dataset.folder}"),
        key={"dataset": config},
        states=np.stack(states) if dense else states,
        dataset=dataset,
        label_names=tuple(dataset.label_names),
    )


def _data_from_states(states, labels) -> AuditData:
    from qnnlab.data.mps import MPS

    if isinstance(states, list | tuple) and states and all(isinstance(s, MPS) for s in states):
        n = states[0].n_qubits
        if any(s.n_qubits != n for s in states):
            raise AuditError("the MPS states cover different qubit counts.")
        y = _labels(labels, len(states), "the states")
        key = {"mps_sha256": _sha(*[t for s in states for t in s.tensors], y)}
        return AuditData(f"{len(states)} MPS states ({n} qubits)", n, y, key, states=list(states))
    try:
        psi = np.asarray(states, dtype=np.complex128)
    except (TypeError, ValueError):
        raise AuditError(
            "states must be a (B, 2**n) array of pure states, a list of MPS or a list of "
            "ClassicalShadow."
        ) from None
    if psi.ndim != 2 or psi.shape[1] < 2 or psi.shape[1] & (psi.shape[1] - 1):
        raise AuditError(f"states must be a (B, 2**n) array of pure states, got shape {psi.shape}.")
    if not np.all(np.isfinite(psi)):
        raise AuditError("states hold NaN or infinite amplitudes.")
    norms = np.linalg.norm(psi, axis=1)
    if np.max(np.abs(norms - 1.0)) > 1e-6:
        raise AuditError(
            f"states must be normalised (largest |norm - 1| = {np.max(np.abs(norms - 1)):.2g})."
        )
    n = int(psi.shape[1]).bit_length() - 1
    y = _labels(labels, len(psi), "the states")
    return AuditData(
        f"{len(psi)} user states ({n} qubits)", n, y, {"states_sha256": _sha(psi, y)}, states=psi
    )


def _read_labels_file(folder: Path, count: int) -> np.ndarray:
    for name in ("labels.txt", "labels.npy", "labels.json"):
        path = folder / name
        if path.exists():
            try:
                if name == "labels.txt":
                    labels = np.loadtxt(path, dtype=np.int64, ndmin=1)
                elif name == "labels.npy":
                    labels = np.load(path)
                else:
                    labels = np.asarray(json.loads(path.read_text()))
            except (OSError, ValueError) as err:
                raise AuditError(f"cannot read {path}: {err}") from None
            return _labels(labels, count, str(folder))
    raise AuditError(
        f"{folder} holds shadow files but no labels.txt, labels.npy or labels.json; add one "
        "0/1 label per shadow file (in file-name order)."
    )


def _shadow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.npz") if p.is_file())


def _data_from_shadows(shadows, labels, where: str) -> AuditData:
    from qnnlab.shadows import ClassicalShadow, ShadowFormatError

    if isinstance(shadows, str | Path):
        folder = Path(shadows)
        files = _shadow_files(folder)
        if not files:
            raise AuditError(f"{folder} holds no shadow .npz files.")
        try:
            shadows = [ClassicalShadow.load(p) for p in files]
        except ShadowFormatError as err:
            raise AuditError(f"{err}") from None
        where = str(folder)
        if labels is None:
            labels = _read_labels_file(folder, len(shadows))
    shadows = list(shadows)
    sizes = {s.n_qubits for s in shadows}
    if len(sizes) != 1:
        raise AuditError(f"the shadows cover different qubit counts {sorted(sizes)}.")
    y = _labels(labels, len(shadows), where)
    n = sizes.pop()
    t_min = min(s.n_snapshots for s in shadows)
    key = {"shadows_sha256": _sha(*[a for s in shadows for a in (s.bits, s.recipes)], y)}
    return AuditData(
        f"{len(shadows)} classical shadows ({n} qubits, ≥ {t_min:,} snapshots each)",
        n,
        y,
        key,
        shadows=shadows,
    )


def _family_names() -> list[str]:
    from qnnlab.data.phases import ALIASES, FAMILIES

    return sorted(FAMILIES) + sorted(ALIASES)


def _data_from_spec(spec: str, *, cache_dir, workers, progress) -> AuditData:
    from qnnlab.data import build_dataset
    from qnnlab.data.phases import family

    name, bare, options = parse_spec(spec, "dataset")
    if bare:
        raise AuditError(
            f"dataset spec {spec!r}: items must be key=value (qubits, samples, seed, family "
            "options), got {bare}."
        )
    fam = family(name)
    default_n = fam.fixed_qubits or DEFAULT_DATA_QUBITS
    n = options.pop("qubits", default_n)
    samples = options.pop("samples", DEFAULT_SAMPLES)
    seed = options.pop("seed", 0)
    try:
        dataset = build_dataset(
            fam.name,
            n_qubits=n,
            n_samples=samples,
            seed=seed,
            cache_dir=cache_dir,
            workers=workers,
            progress=progress,
            **options,
        )
    except ValueError as err:
        raise AuditError(f"dataset spec {spec!r}: {err}") from None
    return _data_from_dataset(dataset)


def resolve_data(dataset, *, cache_dir=None, workers=None, progress=True) -> AuditData | None:
    """An :class:`AuditData` from any accepted dataset form (module docstring); ``None`` for
    ``None``."""
    from qnnlab.data import Dataset, load_dataset
    from qnnlab.shadows import ClassicalShadow

    if dataset is None:
        return None
    if isinstance(dataset, Dataset):
        return _data_from_dataset(dataset)
    if isinstance(dataset, str | Path):
        text = str(dataset)
        head = text.partition(":")[0].strip().lower()
        if head in _family_names() and not Path(text).exists():
            return _data_from_spec(text, cache_dir=cache_dir, workers=workers, progress=progress)
        folder = Path(text)
        if folder.is_dir():
            if (folder / "dataset.json").exists():
                return _data_from_dataset(load_dataset(folder))
            if _shadow_files(folder):
                return _data_from_shadows(folder, None, text)
        raise AuditError(
            f"unknown dataset {text!r}: give a spec such as 'xxx:qubits=12,samples=100' "
            f"(families: {', '.join(_family_names())}), a dataset folder, or a folder of shadow "
            ".npz files with labels.txt."
        )
    if isinstance(dataset, tuple | list) and len(dataset) == 2:
        data, labels = dataset
        if isinstance(data, str | Path):
            return _data_from_shadows(data, labels, str(data))
        if isinstance(data, ClassicalShadow):
            data = [data]
        if isinstance(data, list | tuple) and data and isinstance(data[0], ClassicalShadow):
            if not all(isinstance(s, ClassicalShadow) for s in data):
                raise AuditError("a list of shadows must hold ClassicalShadow objects only.")
            return _data_from_shadows(data, labels, "the shadows")
        return _data_from_states(data, labels)
    raise AuditError(
        "dataset must be a spec string, a dataset or shadow folder, a Dataset, (states, labels) "
        f"or (shadows, labels); got {type(dataset).__name__}."
    )


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class AuditVerdict:
    """Both answers and one sentence joining them (``str(verdict)``)."""

    trainability: Finding
    simulability: Finding
    summary: str

    def __str__(self) -> str:
        return self.summary

    def to_dict(self) -> dict:
        return {
            "summary": self.summary,
            "trainability": self.trainability.to_dict(),
            "simulability": self.simulability.to_dict(),
        }


@dataclass
class AuditResult:
    """What :func:`audit` returns.

    Attributes:
        verdict: the two findings and their summary sentence.
        sections: every number by section (``trainability``, ``locality``, ``exact_model``,
            ``surrogate``), as written to ``audit.json``.
        report_paths: ``markdown``, ``html``, ``json`` and the figure PNGs.
        out: the run folder.
        resumed: the checkpointed tasks that were loaded instead of computed.
        timings: seconds per section (this call; loaded sections cost ~0).
    """

    verdict: AuditVerdict
    sections: dict
    report_paths: dict
    out: Path
    resumed: tuple[str, ...]
    timings: dict


# ---------------------------------------------------------------------------------------------
# run context


def _clean(obj):
    """JSON-safe copy: NumPy scalars and arrays to Python, non-finite floats to ``None``."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


@dataclass
class _Context:
    run: object
    checkpoint: TaskCheckpoint
    progress: bool
    resumed: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def say(self, message: str) -> None:
        self.run.log(message)
        if self.progress:
            print(f"audit: {message}", file=sys.stderr, flush=True)

    def task(self, name: str, compute: Callable[[], dict]) -> dict:
        """``compute()`` unless ``name`` is checkpointed; saved as soon as it is done."""
        record = self.checkpoint.load(name)
        if record is not None:
            self.resumed.append(name)
            self.say(f"{name}: loaded from the checkpoint")
            return record
        start = time.perf_counter()
        record = compute()
        record["seconds"] = round(time.perf_counter() - start, 3)
        record = json.loads(json.dumps(_clean(record)))
        self.checkpoint.save(name, record)
        self.say(f"{name}: done in {record['seconds']:.1f} s")
        return record


# ---------------------------------------------------------------------------------------------
# a. trainability


def _gradient_record(model: AuditModel, n: int, draws: int, seed: int, param_index: int) -> dict:
    circuit = model.circuit(n)
    observable = model.readout(circuit)
    index = param_index % circuit.n_params
    grads = gradient_draws(circuit, observable, draws=draws, seed=seed)
    stats = gradient_statistics(grads, index)
    return {
        "n": n,
        "circuit_qubits": circuit.n_qubits,
        "n_params": circuit.n_params,
        "param_index": index,
        "param_name": circuit.param_names[index],
        "draws": draws,
        **stats,
    }


def _fit_dict(fits) -> dict | None:
    return None if fits is None else fits.to_dict()


def _trainability(ctx: _Context, model: AuditModel, sizes, settings: dict) -> dict:
    records = []
    for n in sizes["scan"]:
        records.append(
            ctx.task(
                f"trainability-n{n}",
                lambda n=n: _gradient_record(
                    model, n, settings["draws"], settings["seed"], settings["param_index"]
                ),
            )
        )
    qubits = [r["n"] for r in records]
    series = {
        "param": ([r["variance"] for r in records], [r["stderr"] for r in records]),
        "mean": (
            [r["mean_variance"] for r in records],
            [r["mean_variance_stderr"] for r in records],
        ),
    }
    param_ok = all(
        (v or 0) > ZERO_VARIANCE and (s or 0) > 0 for v, s in zip(*series["param"], strict=True)
    )
    primary = "param" if param_ok else "mean"
    name = records[0]["param_name"] if records else "?"
    whats = {
        "param": f"Var[∂C/∂θ] of parameter `{name}`",
        "mean": "the mean of Var[∂C/∂θ] over all parameters",
    }
    finding, fits = assess_trainability(qubits, *series[primary], what=whats[primary])
    other = "mean" if primary == "param" else "param"
    other_finding, other_fits = assess_trainability(qubits, *series[other], what=whats[other])
    return {
        "status": "done",
        "qubits": qubits,
        "skipped_sizes": sizes["skipped"],
        "records": records,
        "primary_series": primary,
        "fits": _fit_dict(fits),
        "fits_other_series": _fit_dict(other_fits),
        "finding": finding.to_dict(),
        "other_series_finding": other_finding.to_dict(),
        "note": sizes["note"],
    }


def _trainability_finding(section: dict) -> Finding:
    f = section["finding"]
    reasons = list(f["reasons"])
    other = section.get("other_series_finding")
    if other and other["rule"] != f["rule"] and other["label"] != f["label"]:
        series = "mean over parameters" if section["primary_series"] == "param" else "parameter"
        reasons.append(f"the {series} series reads differently: {other['label'].lower()}")
    if section.get("note"):
        reasons.append(section["note"])
    return Finding(f["level"], f["label"], tuple(reasons), f["rule"], f["numbers"])


# ---------------------------------------------------------------------------------------------
# b. locality


def locality_cut(
    circuit: Circuit, max_weight: int, max_terms: int = LOCALITY_MAX_TERMS
) -> int | None:
    """``None`` (exact) up to ``EXACT_PROPAGATION_MAX_QUBITS`` circuit qubits, else the largest
    weight cut ``K <= LOCALITY_MAX_WEIGHT`` with at most ``max_terms`` strings on the circuit's
    qubits, and at least ``max_weight``."""
    if circuit.n_qubits <= EXACT_PROPAGATION_MAX_QUBITS:
        return None
    k = LOCALITY_MAX_WEIGHT
    while k > max_weight and weight_cut_terms(circuit.n_qubits, k) > max_terms:
        k -= 1
    return max(k, max_weight)


def _locality_random(circuit, observable, draws: int, seed: int, max_weight: int) -> dict:
    from qnnlab.analysis.locality import fit_decay, locality_spectrum

    cut = locality_cut(circuit, max_weight, RANDOM_LOCALITY_MAX_TERMS)
    spec = locality_spectrum(circuit, observable, draws=draws, seed=seed, max_weight=cut)
    decay = fit_decay(spec.per_string, spec.per_string_stderr)
    return {
        "status": "done",
        "n_qubits": len(circuit.input_qubits),
        "exact": cut is None,
        "max_weight": cut,
        "draws": draws,
        "mass": spec.mass,
        "mass_stderr": spec.mass_stderr,
        "per_string": spec.per_string,
        "dropped": spec.dropped,
        "dropped_stderr": spec.dropped_stderr,
        "mean_terms": spec.mean_terms,
        "per_string_decay": None if decay is None else decay.to_dict(),
    }


def _mass_below(mass, dropped: float, k: int) -> float:
    """Fraction of the operator's squared mass on weight ``<= k``; under a weight cut, of the
    paths that never exceeded the cut (the dropped mass counts in the total)."""
    mass = np.asarray(mass, dtype=float)
    total = float(mass.sum() + dropped) or 1.0
    return float(mass[: k + 1].sum() / total)


def _locality_trained(
    circuit,
    observable,
    theta,
    source: str,
    data: AuditData | None,
    split,
    exact: dict | None,
    max_weight: int,
) -> dict:
    from qnnlab.analysis.locality import truncation_accuracy
    from qnnlab.engines.pauliprop import propagate

    cut = locality_cut(circuit, max_weight)
    theta = np.asarray(theta, dtype=np.float64)
    result = propagate(circuit, observable, theta, max_weight=cut)
    top = circuit.n_qubits if cut is None else cut
    record = {
        "status": "done",
        "source": source,
        "exact": cut is None,
        "max_weight": cut,
        "mass": result.weight_mass(top),
        "dropped": result.dropped_mass,
        "n_terms": result.n_terms,
        "truncation": None,
    }
    if data is not None and data.dense and exact is not None and exact.get("status") == "done":
        test = split["test"]
        weights = tuple(range(1, min(top, TRUNCATION_MAX_WEIGHT) + 1))
        record["truncation"] = truncation_accuracy(
            circuit,
            observable,
            theta,
            data.states[test],
            data.labels[test],
            weights=weights,
            fractions_at=weights,
            reference_values=np.asarray(exact["test_values"], dtype=np.float64),
            exact_max_qubits=EXACT_PROPAGATION_MAX_QUBITS,
        )
    return record


# ---------------------------------------------------------------------------------------------
# c. exact model


def _exact_model(circuit, observable, data: AuditData, split, settings: dict) -> dict:
    import jax.numpy as jnp

    from qnnlab.engines import make_engine
    from qnnlab.training.fit import evaluate, fit, init_params, predict_expvals

    model_fn = make_engine(circuit, "statevector").expval_fn(observable)
    X = jnp.asarray(data.states, dtype=jnp.complex64)
    y = data.labels
    train, test = split["train"], split["test"]
    theta0 = init_params(circuit.n_params, settings["seed"])
    result = fit(
        model_fn,
        theta0,
        X[train],
        y[train],
        learning_rate=settings["learning_rate"],
        epochs=settings["epochs"],
        batch_size=BATCH_SIZE,
        seed=settings["seed"],
    )
    test_metrics = evaluate(model_fn, result.params, X[test], y[test])
    init_metrics = evaluate(model_fn, theta0, X[test], y[test])
    values = predict_expvals(model_fn, result.params, X[test])
    return {
        "status": "done",
        "circuit_qubits": circuit.n_qubits,
        "n_params": circuit.n_params,
        "n_train": len(train),
        "n_test": len(test),
        "epochs": settings["epochs"],
        "train_accuracy": result.metrics["train_acc"],
        "train_loss": result.metrics["train_loss"],
        "test_accuracy": test_metrics["accuracy"],
        "test_loss": test_metrics["loss"],
        "init_test_accuracy": init_metrics["accuracy"],
        "train_loss_curve": result.history["train_loss"],
        "params": np.asarray(result.params, dtype=np.float64),
        "test_values": np.asarray(values, dtype=np.float64),
    }


def _exact_model_skip(circuit: Circuit, data: AuditData | None) -> str | None:
    if data is None:
        return "no dataset"
    if data.states is None:
        return "only shadows of the states were given, no state vectors"
    if not data.dense:
        return "the states are MPS; the statevector model needs dense states (n <= 16)"
    if circuit.n_qubits > EXACT_MODEL_MAX_QUBITS:
        return (
            f"the circuit holds {circuit.n_qubits} qubits, more than the statevector limit "
            f"{EXACT_MODEL_MAX_QUBITS} of the audit"
        )
    return None


# ---------------------------------------------------------------------------------------------
# d. classical surrogate


def weight_cut_terms(n_qubits: int, k: int) -> int:
    """``sum_{j <= k} binom(n, j) 3^j``: Pauli strings of weight at most ``k`` on ``n`` qubits."""
    return sum(math.comb(n_qubits, j) * 3**j for j in range(min(k, n_qubits) + 1))


def surrogate_weights(n_qubits: int, max_weight: int) -> list[int]:
    """The weight cuts of section d: ``max_weight``, ``1``, and ``max_weight + 1`` when it has
    at most ``EXTRA_WEIGHT_MAX_TERMS`` strings and fits on the qubits."""
    ks = {max_weight, 1}
    if max_weight + 1 <= n_qubits and weight_cut_terms(n_qubits, max_weight + 1) <= (
        EXTRA_WEIGHT_MAX_TERMS
    ):
        ks.add(max_weight + 1)
    return sorted(ks)


def _exact_reference_skip(data: AuditData, k: int) -> str | None:
    """Why the surrogate on exact features is not run, or ``None``: it needs the states, and on
    MPS at most ``MPS_REFERENCE_MAX_EVALUATIONS`` string expectation values."""
    if data.states is None:
        return "only shadows of the states were given"
    if not data.dense:
        count = len(data) * weight_cut_terms(data.n_qubits, k)
        if count > MPS_REFERENCE_MAX_EVALUATIONS:
            return (
                f"{count:,} exact Pauli expectation values on MPS states exceed the budget of "
                f"{MPS_REFERENCE_MAX_EVALUATIONS:,} (~0.8 ms each on 100 qubits at bond "
                "dimension 64)"
            )
    return None


def _surrogate_classifier(ctx: _Context, circuit, observable, k: int):
    from qnnlab.surrogate import SurrogateClassifier

    key = ("surrogate", k)
    if key not in ctx.cache:
        start = time.perf_counter()
        clf = SurrogateClassifier.from_circuit(circuit, observable, max_weight=k)
        ctx.cache[key] = (clf, time.perf_counter() - start)
    return ctx.cache[key]


def _shadows(ctx: _Context, data: AuditData, snapshots: int, seed: int) -> list:
    if "shadows" not in ctx.cache:
        start = time.perf_counter()
        ctx.say(f"shadows: {snapshots:,} snapshots of each of {len(data)} states")
        from tqdm.auto import tqdm

        states = tqdm(range(len(data)), desc="shadows", disable=not ctx.progress, leave=False)
        ctx.cache["shadows"] = [data.shadow(i, snapshots, seed) for i in states]
        ctx.cache["shadow_seconds"] = round(time.perf_counter() - start, 3)
    return ctx.cache["shadows"]


def _surrogate_run(
    ctx: _Context,
    circuit,
    observable,
    data: AuditData,
    split,
    k: int,
    features: str,
    settings: dict,
) -> dict:
    from qnnlab.surrogate import baseline_score, fit_baseline

    clf, compile_seconds = _surrogate_classifier(ctx, circuit, observable, k)
    if features == "shadows":
        shadows = _shadows(ctx, data, settings["snapshots"], settings["seed"])
        start = time.perf_counter()
        X = clf.features(shadows, n_snapshots=settings["snapshots"])
    else:
        start = time.perf_counter()
        X = clf.features(data.states)
    feature_seconds = time.perf_counter() - start
    values, y = X.values, data.labels
    train, test = split["train"], split["test"]
    start = time.perf_counter()
    clf.fit(
        values[train],
        y[train],
        seed=settings["seed"],
        epochs=settings["epochs"],
        learning_rate=settings["learning_rate"],
        batch_size=BATCH_SIZE,
    )
    fit_seconds = time.perf_counter() - start
    base = fit_baseline(values[train], y[train], "logistic", seed=settings["seed"])
    errors = None if X.std_errors is None else float(np.mean(X.std_errors))
    return {
        "status": "done",
        "k": k,
        "features": features,
        "snapshots": settings["snapshots"] if features == "shadows" else None,
        "n_terms": clf.n_terms,
        "test_accuracy": clf.score(values[test], y[test]),
        "train_accuracy": clf.score(values[train], y[train]),
        "baseline_test_accuracy": baseline_score(base, values[test], y[test]),
        "baseline_train_accuracy": baseline_score(base, values[train], y[train]),
        "mean_feature_stderr": errors,
        "shadow_seconds": ctx.cache.get("shadow_seconds") if features == "shadows" else None,
        "compile_seconds": round(compile_seconds, 3),
        "feature_seconds": round(feature_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "params": np.asarray(clf.params_, dtype=np.float64),
    }


# ---------------------------------------------------------------------------------------------
# verdict


def _best_classical(surrogate: dict, k: int) -> tuple[float | None, str]:
    """The main cut's surrogate and baseline on shadow features: the better one and its name."""
    runs = [r for r in surrogate.get("runs", []) if r["k"] == k and r["features"] == "shadows"]
    if not runs:
        return None, "classical learner"
    r = runs[0]
    candidates = [
        (r["test_accuracy"], f"weight-{k} surrogate"),
        (r["baseline_test_accuracy"], "logistic baseline"),
    ]
    candidates = [(a, name) for a, name in candidates if a is not None]
    if not candidates:
        return None, "classical learner"
    return max(candidates, key=lambda c: c[0])


def _verdict(sections: dict, settings: dict, n_states: int | None) -> AuditVerdict:
    train = _trainability_finding(sections["trainability"])
    surrogate, exact = sections["surrogate"], sections["exact_model"]
    k = settings["max_weight"]
    classical, name = _best_classical(surrogate, k)
    ref = [r for r in surrogate.get("runs", []) if r["k"] == k and r["features"] == "exact"]
    reference = None
    if ref:
        scores = [ref[0]["test_accuracy"], ref[0]["baseline_test_accuracy"]]
        scores = [a for a in scores if a is not None]
        reference = max(scores) if scores else None
    done = exact.get("status") == "done"
    simulability = assess_simulability(
        exact=exact["test_accuracy"] if done else None,
        classical=classical,
        chance=surrogate.get("chance", 0.5),
        n_test=surrogate.get("n_test", 1),
        snapshots=surrogate.get("snapshots") or settings["shots_budget"],
        max_weight=k,
        classical_name=name,
        reference=reference,
        exact_train=exact["train_accuracy"] if done else None,
        exact_reason=None if done else exact.get("reason"),
        n_states=n_states,
    )
    trained = sections["locality"].get("trained") or {}
    trunc = trained.get("truncation")
    if simulability.rule != "no-data" and trained.get("status") == "done":
        frac = _mass_below(trained["mass"], trained["dropped"], k)
        paths = (
            "" if trained["exact"] else f" (paths that stay at weight ≤ {trained['max_weight']})"
        )
        extra = (
            f"the trained readout operator holds {frac:.0%} of its squared coefficient mass on "
            f"weight-≤{k} Pauli strings{paths}"
        )
        rows = (trunc or {}).get("by_weight", [])
        if rows:
            ks = ", ".join(str(r["k"]) for r in rows)
            accs = ", ".join(f"{r['truncated_accuracy']:.2f}" for r in rows)
            extra += (
                f"; propagated with the weight cut k = {ks} (every path kept at weight ≤ k) it "
                f"classifies the test states at {accs} (full model {trunc['full_accuracy']:.2f})"
            )
        simulability = Finding(
            simulability.level,
            simulability.label,
            (*simulability.reasons, extra),
            simulability.rule,
            simulability.numbers,
        )
    return AuditVerdict(train, simulability, summary_sentence(train, simulability))


# ---------------------------------------------------------------------------------------------
# plots (matplotlib Figure objects: no pyplot, no backend switch)


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    axes = fig.subplots(1, ncols)
    return fig, axes


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def plot_trainability(section: dict):
    """Variance of the tracked parameter and mean over parameters vs ``n``, both fits."""
    fig, ax = _figure(6.4, 4.4)
    records = section["records"]
    n = np.asarray([r["n"] for r in records], dtype=float)
    styles = (
        ("param", "variance", "stderr", "tab:blue", f"parameter {records[0]['param_name']}"),
        ("mean", "mean_variance", "mean_variance_stderr", "tab:orange", "mean over parameters"),
    )
    for series, key, err, color, label in styles:
        v = np.asarray([r[key] or 0.0 for r in records], dtype=float)
        se = np.asarray([r[err] or 0.0 for r in records], dtype=float)
        keep = v > 0
        lower = np.minimum(se, 0.999 * v)
        ax.errorbar(
            n[keep],
            v[keep],
            yerr=[lower[keep], se[keep]],
            fmt="o",
            ms=5,
            capsize=3,
            color=color,
            label=label,
        )
        fits = section["fits"] if series == section["primary_series"] else None
        if fits is None and series != section["primary_series"]:
            fits = section.get("fits_other_series")
        if fits and len(n) > 1:
            grid = np.linspace(n.min(), n.max(), 100)
            exp, pw = fits["exponential"], fits["power_law"]
            best = fits["better"]
            ax.plot(
                grid,
                np.exp(exp["intercept"] + exp["slope"] * grid),
                "--",
                color=color,
                alpha=1.0 if best == "exponential" else 0.35,
                label=f"  {exp['b']:.3g}^n" + (" (preferred)" if best == "exponential" else ""),
            )
            ax.plot(
                grid,
                np.exp(pw["intercept"] + pw["slope"] * np.log(grid)),
                ":",
                color=color,
                lw=1.6,
                alpha=1.0 if best == "power_law" else 0.35,
                label=f"  n^-{pw['p']:.3g}" + (" (preferred)" if best == "power_law" else ""),
            )
    ax.set_yscale("log")
    ax.set_xticks(n)
    ax.set_xlabel("qubits n")
    ax.set_ylabel("Var[∂C/∂θ]")
    ax.set_title("Gradient variance over random parameters")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return fig


def plot_locality(section: dict):
    """``W_k`` (left) and the mass per string ``m_k`` (right) at random and trained
    parameters."""
    fig, (left, right) = _figure(10.0, 4.0, 2)
    random, trained = section.get("random") or {}, section.get("trained") or {}
    n = section.get("n_qubits")
    for rec, color, label in ((random, "tab:blue", "random θ"), (trained, "tab:red", "trained θ")):
        if rec.get("status") != "done":
            continue
        mass = np.asarray(rec["mass"], dtype=float)
        k = np.arange(len(mass))
        keep = (k >= 1) & (mass > 0)
        se = np.asarray(rec.get("mass_stderr") or np.zeros_like(mass), dtype=float)
        se = np.nan_to_num(se)
        left.errorbar(
            k[keep],
            mass[keep],
            yerr=np.minimum(se[keep], 0.999 * mass[keep]),
            fmt="o-",
            ms=4,
            capsize=2,
            color=color,
            label=label,
        )
        if n:
            counts = np.asarray([math.comb(n, int(j)) * 3.0 ** int(j) for j in k], dtype=float)
            right.plot(k[keep], mass[keep] / counts[keep], "o-", ms=4, color=color, label=label)
    for ax, title, ylabel in (
        (left, "Mass on weight-k strings", "W_k: sum of c_P² over weight-k strings"),
        (right, "Mass per weight-k string", "m_k = W_k / (C(n,k) 3^k)"),
    ):
        ax.set_yscale("log")
        ax.set_xlabel("Pauli weight k")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.25)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig


def plot_accuracy(exact: dict, surrogate: dict):
    """Test accuracy of every learner, chance as a line."""
    labels, values, colors = [], [], []
    if exact.get("status") == "done":
        labels.append("exact model")
        values.append(exact["test_accuracy"])
        colors.append("tab:red")
    for r in surrogate.get("runs", []):
        src = f"T={r['snapshots']:,}" if r["features"] == "shadows" else "exact features"
        labels.append(f"surrogate k={r['k']} ({src})")
        values.append(r["test_accuracy"] or 0.0)
        colors.append("tab:blue" if r["features"] == "shadows" else "tab:cyan")
        labels.append(f"logistic k={r['k']} ({src})")
        values.append(r["baseline_test_accuracy"] or 0.0)
        colors.append("tab:green" if r["features"] == "shadows" else "tab:olive")
    fig, ax = _figure(7.0, 0.45 * max(len(labels), 2) + 1.2)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colors)
    for yi, v in zip(y, values, strict=True):
        ax.text(min(v + 0.01, 0.93), yi, f"{v:.2f}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    chance = surrogate.get("chance")
    if chance is not None:
        ax.axvline(chance, color="k", ls="--", lw=1, label=f"chance {chance:.2f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy")
    ax.set_title("Exact model vs classical learners on the same test states")
    return fig


# ---------------------------------------------------------------------------------------------
# report


def _write_report(out: Path, sections: dict, verdict: AuditVerdict, meta: dict) -> dict:
    from qnnlab.experiments.report import Report

    figures = {}
    tr, loc = sections["trainability"], sections["locality"]
    ex, sg = sections["exact_model"], sections["surrogate"]
    if tr.get("records"):
        figures["trainability"] = atomic_write_bytes(
            out / "trainability.png", _png(plot_trainability(tr))
        )
    if (loc.get("random") or {}).get("status") == "done":
        figures["locality"] = atomic_write_bytes(out / "locality.png", _png(plot_locality(loc)))
    if sg.get("runs") or ex.get("status") == "done":
        figures["accuracy"] = atomic_write_bytes(out / "accuracy.png", _png(plot_accuracy(ex, sg)))

    report = Report(
        f"QNN audit: {meta['model']}",
        f"on {meta['dataset']} · qnnlab {meta['version']} · seed {meta['seed']}",
    )
    report.heading("Verdict")
    report.paragraph(f"**In short:** {verdict.summary}")
    for finding, question in (
        (verdict.trainability, "Is it trainable?"),
        (verdict.simulability, "Does it need a quantum computer?"),
    ):
        report.verdict(f"{question} {finding.label}", finding.level, finding.reasons)

    report.heading("Setup")
    rows = [
        ["model", f"`{meta['model']}`"],
        ["circuit at the data size", meta["circuit"]],
        ["observable", f"`{meta['observable']}`"],
        ["dataset", meta["dataset"]],
        ["labels", meta["labels"]],
        ["train / test split", meta["split"]],
        ["shots budget (snapshots per state)", f"{meta['shots_budget']:,}"],
        ["surrogate weight cut k", str(meta["max_weight"])],
        ["gradient draws per size", str(meta["draws"])],
        ["training", meta["training"]],
    ]
    report.table(["setting", "value"], rows)

    # a
    report.heading("1. Trainability: how do gradients scale with qubits?")
    report.paragraph(
        "For each qubit count n, parameters are drawn uniformly from [0, 2π) and the exact "
        "gradient of the model output C = ⟨O⟩ on |0…0⟩ is computed (statevector, adjoint "
        "method). A barren plateau is an exponential decay Var ~ b^n; polynomial decay "
        "Var ~ n^-p keeps the model trainable. Both laws are fitted to ln Var (weighted least "
        "squares) and compared by AIC, discounted when even the better fit scatters beyond the "
        "error bars. *Shots* is 1/(2 Var), the shots per expectation value below which "
        "parameter-shift noise exceeds a typical gradient component."
    )
    if tr.get("records"):
        recs = tr["records"]
        wide = any(r["circuit_qubits"] != r["n"] for r in recs)
        zeros = any(r["zero_fraction"] > 0 for r in recs)
        header = ["n", "params", "Var[∂C/∂θ]", "± SE", "mean Var (all θ)", "± SE", "shots"]
        header += ["kurtosis"] + (["circuit qubits"] if wide else [])
        header += ["zero-gradient params"] if zeros else []
        rows = []
        for r in recs:
            row = [r["n"], r["n_params"], r["variance"], r["stderr"], r["mean_variance"]]
            row += [r["mean_variance_stderr"], shots_to_resolve(r["variance"] or 0.0)]
            row += [r["kurtosis"]] + ([r["circuit_qubits"]] if wide else [])
            row += [f"{r['zero_fraction']:.0%}"] if zeros else []
            rows.append(row)
        report.table(
            header,
            rows,
            caption=f"Gradient statistics; tracked parameter `{recs[0]['param_name']}`",
        )
        fit_rows = []
        other = "mean" if tr["primary_series"] == "param" else "param"
        for series, fits, finding in (
            (tr["primary_series"], tr.get("fits"), tr.get("finding")),
            (other, tr.get("fits_other_series"), tr.get("other_series_finding")),
        ):
            if fits:
                exp, pw, numbers = fits["exponential"], fits["power_law"], finding["numbers"]
                fit_rows.append(
                    [
                        "tracked parameter" if series == "param" else "mean over parameters",
                        f"{exp['b']:.3g} ± {exp['b_err']:.2g}",
                        exp["chi2"],
                        f"{pw['p']:.3g} ± {pw['p_err']:.2g}",
                        pw["chi2"],
                        fits["better"].replace("_", " "),
                        numbers["overdispersion"],
                        numbers["delta_aic"],
                    ]
                )
        if fit_rows:
            report.table(
                ["series", "b in b^n", "χ² exp", "p in n^-p", "χ² power", "preferred", "ĉ", "ΔAIC"],
                fit_rows,
                caption=(
                    "Scaling fits (the verdict uses the first row); ΔAIC = |Δχ²| / ĉ with the "
                    "overdispersion ĉ = max(1, χ²/dof) of the better fit"
                ),
            )
        report.figure(
            figures["trainability"],
            "Gradient variance vs qubits with both fits (the preferred one opaque).",
            "Log-scale plot of gradient variance against qubit count with exponential and "
            "power-law fits",
        )
    if tr.get("note"):
        report.paragraph(tr["note"])

    # b
    report.heading("2. Locality: where does the readout operator live?")
    report.paragraph(
        "The readout O is propagated backwards through the circuit (Pauli propagation), "
        "U†OU = Σ c_P P, and its squared coefficient mass is summed per Pauli weight k: W_k. "
        "A model whose operator lives on low weights only sees its input through local "
        "expectation values, which classical shadows estimate efficiently (qcnn-simulability, "
        "Results 1-2). m_k = W_k / (C(n,k) 3^k) is the mean mass per weight-k string."
    )
    rnd, trd = loc.get("random") or {}, loc.get("trained") or {}
    if rnd.get("status") == "done":

        def how(rec: dict) -> str:
            return "exactly" if rec["exact"] else f"with the weight cut {rec['max_weight']}"

        trained_text = (
            f" and {how(trd)} at the trained parameters (from the {trd['source']})"
            if trd.get("status") == "done"
            else f"; trained parameters: {trd.get('reason', 'not available')}"
        )
        report.paragraph(
            f"Propagated {how(rnd)} at {rnd['draws']} random parameter vectors{trained_text}. "
            "A weight cut drops every string that grows above it (its mass is reported as "
            "dropped), so W_k below the cut counts only the paths that never exceed it."
        )
        top = max(len(rnd["mass"]), len(trd.get("mass") or []))
        rows = []
        for j in range(1, top):
            row = [j, None, None, None]
            if j < len(rnd["mass"]):
                row[1:] = [rnd["mass"][j], rnd["mass_stderr"][j], rnd["per_string"][j]]
            has_trained = trd.get("status") == "done" and j < len(trd["mass"])
            row.append(trd["mass"][j] if has_trained else None)
            rows.append(row)
        rows.append(
            [
                "dropped",
                rnd["dropped"],
                rnd["dropped_stderr"],
                None,
                trd.get("dropped") if trd.get("status") == "done" else None,
            ]
        )
        report.table(
            ["k", "W_k random", "± SE", "m_k random", "W_k trained"],
            rows,
            caption="Squared coefficient mass by Pauli weight",
        )
        report.figure(
            figures["locality"],
            "Mass by Pauli weight (left) and per string (right), random vs trained parameters.",
            "Log-scale plots of Pauli-weight mass against weight for random and trained parameters",
        )
    else:
        report.paragraph(f"Skipped: {rnd.get('reason', 'no circuit')}.")
    trunc = trd.get("truncation") if trd.get("status") == "done" else None
    if trunc:
        report.table(
            ["k", "mass at weight ≤ k", "accuracy of the weight-k truncation", "terms"],
            [
                [
                    r["k"],
                    trunc["mass_below"].get(str(r["k"])),
                    r["truncated_accuracy"],
                    r["truncated_terms"],
                ]
                for r in trunc["by_weight"]
            ],
            caption=(
                f"Trained operator truncated at weight k, on the test states (full model: "
                f"{trunc['full_accuracy']:.2f})"
            ),
        )

    # c
    report.heading("3. The exact model")
    if ex.get("status") == "done":
        report.paragraph(
            f"Trained on the states with the statevector engine: {ex['epochs']} epochs of Adam "
            f"(learning rate {meta['learning_rate']:g}, mini-batches of {BATCH_SIZE}) on the "
            "mean squared error, from the same initial parameters as the surrogates."
        )
        report.table(
            ["train accuracy", "test accuracy", "untrained test accuracy", "test loss", "seconds"],
            [
                [
                    ex["train_accuracy"],
                    ex["test_accuracy"],
                    ex["init_test_accuracy"],
                    ex["test_loss"],
                    ex["seconds"],
                ]
            ],
        )
    else:
        report.paragraph(f"Skipped: {ex.get('reason')}.")

    # d
    report.heading("4. Classical surrogate from classical shadows")
    if sg.get("runs"):
        report.paragraph(
            f"Each state is measured {sg['snapshots']:,} times in random Pauli bases (classical "
            "shadows); from these snapshots the expectation values of every Pauli string the "
            "weight-k surrogate needs are estimated once (median of means). The surrogate is "
            "the model's own Pauli propagation cut at weight k, trained on these features with "
            "the exact model's settings; the logistic baseline (scikit-learn, standardised, "
            "L2, cross-validated) sees the same features. Exact features (T → ∞) are the "
            "reference when the states are known."
        )
        report.table(
            [
                "k",
                "features",
                "strings",
                "surrogate test",
                "surrogate train",
                "logistic test",
                "mean feature SE",
                "seconds",
            ],
            [
                [
                    r["k"],
                    f"{r['snapshots']:,} snapshots" if r["features"] == "shadows" else "exact",
                    r["n_terms"],
                    r["test_accuracy"],
                    r["train_accuracy"],
                    r["baseline_test_accuracy"],
                    r["mean_feature_stderr"],
                    r["seconds"],
                ]
                for r in sg["runs"]
            ],
            caption=f"Test accuracy on {sg['n_test']} states (chance {sg['chance']:.2f})",
        )
        report.figure(
            figures["accuracy"],
            "Test accuracy of the exact model and the classical learners.",
            "Horizontal bars of test accuracy per learner with a dashed chance line",
        )
        if sg.get("exact_reference_skipped"):
            report.paragraph(
                f"Surrogate on exact features skipped: {sg['exact_reference_skipped']}."
            )
        quantum = meta.get("hardware_training")
        if quantum:
            report.paragraph(quantum)
    else:
        report.paragraph(f"Skipped: {sg.get('reason')}.")

    # e
    report.heading("5. How the verdict is decided")
    report.paragraph(
        f"Trainability (fits of ln Var over ≥ {MIN_SIZES} sizes): no significant decay when "
        f"b + {SIGNIFICANCE_SIGMAS:g}σ_b ≥ 1 (flat if σ_b ≤ {MAX_FLAT_BASE_ERR:g}, else "
        f"inconclusive); exponential preferred with ΔAIC > {DECISIVE_DELTA_AIC:g}: barren "
        f"plateau; with ΔAIC ≥ {LEAN_DELTA_AIC:g}: likely barren plateau; power law preferred "
        f"with ΔAIC ≥ {LEAN_DELTA_AIC:g}: trainable; otherwise inconclusive. Extrapolations go "
        f"to n = {EXTRAPOLATE_TO}."
    )
    report.paragraph(
        f"Need for a quantum computer: an accuracy is learned when it exceeds chance by "
        f"max({LEARNED_MARGIN:g}, {LEARNED_SIGMAS:g}·sqrt(c(1-c)/n_test)); a classical accuracy "
        f"matches the exact model within max({MATCH_MARGIN:g}, {MATCH_SIGMAS:g}·SE of the "
        "difference). Classical learner = the better of the weight-k surrogate and the "
        "logistic baseline on the shadow features at the main cut. Learned and matching: "
        "classically simulable; neither learned: not learned by either; exact ahead: needs the "
        "quantum model unless the surrogate on exact features matches it (then the gap is "
        "shot noise). Rule that fired: "
        f"`{verdict.trainability.rule}` and `{verdict.simulability.rule}`."
    )

    report.heading("Reproduce")
    report.code(meta["command"], "bash" if meta["command"].startswith("qnnlab") else "python")
    computed = {
        "trainability": [r.get("seconds") for r in tr.get("records", [])],
        "locality": [(loc.get(key) or {}).get("seconds") for key in ("random", "trained")],
        "exact_model": [ex.get("seconds")],
        "surrogate": [r.get("seconds") for r in sg.get("runs", [])],
    }
    report.table(
        ["section", "seconds to compute", "seconds in this run", "loaded from checkpoints"],
        [
            [
                name,
                sum(x for x in values if x is not None),
                meta["timings"].get(name),
                "yes" if name in meta["loaded"] else "no",
            ]
            for name, values in computed.items()
        ],
        caption="Cost; rerunning into the same folder loads every finished section",
    )
    md, html = report.write(out)
    return {"markdown": md, "html": html, "figures": figures}


# ---------------------------------------------------------------------------------------------
# the audit


def _scan_sizes(model: AuditModel, qubits) -> dict:
    from qnnlab.analysis.variance import parse_qubits

    if model.fixed is not None:
        if qubits is not None:
            raise AuditError(
                "qubits sets the sizes of the trainability scan, which needs a builder: a fixed "
                "Circuit has one size; drop qubits or pass a spec or a function n -> Circuit."
            )
        n = model.fixed_size
        return {
            "scan": [n],
            "skipped": [],
            "note": f"the model is one fixed circuit of {n} input qubits: the gradient variance "
            "is measured at that size only; pass a spec or a builder n -> Circuit for the scaling",
        }
    if qubits is None:
        sizes = list(model.default_qubits)
    else:
        if not isinstance(qubits, str):
            try:
                qubits = list(qubits)
            except TypeError:
                raise AuditError(
                    f"qubits must be a list of counts or '4..12:2', got {qubits!r}."
                ) from None
            for q in qubits:
                check_int("qubits", q, minimum=1, maximum=4096, error=AuditError)
        try:
            sizes = parse_qubits(qubits, maximum=4096)
        except ValueError as err:
            raise AuditError(f"qubits: {err}") from None
        if any(q < 1 for q in sizes):
            raise AuditError(f"qubit counts must be positive, got {qubits!r}.")
    sizes = sorted(set(sizes))
    scan, skipped = [], []
    for n in sizes:
        circuit = model.circuit(n)
        model.readout(circuit)
        if circuit.n_qubits > MAX_SCAN_CIRCUIT_QUBITS:
            skipped.append(n)
        else:
            scan.append(n)
    note = ""
    if skipped:
        note = (
            f"sizes {skipped} were skipped: their circuits exceed {MAX_SCAN_CIRCUIT_QUBITS} "
            "qubits, beyond the audit's statevector gradient scan"
        )
    if not scan:
        raise AuditError(
            f"no qubit count of {sizes} fits the gradient scan (at most "
            f"{MAX_SCAN_CIRCUIT_QUBITS} circuit qubits); pass smaller qubits."
        )
    return {"scan": scan, "skipped": skipped, "note": note}


def _split(data: AuditData, seed: int, test_fraction: float) -> dict:
    from qnnlab.training.splits import train_val_test_split

    train, _val, test = train_val_test_split(
        len(data), val=0.0, test=test_fraction, seed=seed, stratify=data.labels
    )
    return {"train": train, "test": test}


def _command_text(command: str | None, model, dataset) -> str:
    if command:
        return command
    m = repr(model) if isinstance(model, str) else "<your model>"
    d = repr(dataset) if isinstance(dataset, str) or dataset is None else "<your data>"
    return f"import qnnlab\nresult = qnnlab.audit({m}, dataset={d})\nprint(result.verdict)"


def audit(
    model,
    observable=None,
    dataset=None,
    *,
    shots_budget: int = DEFAULT_SHOTS_BUDGET,
    out=None,
    qubits=None,
    max_weight: int | None = None,
    seed: int = 0,
    progress: bool = True,
    draws: int = DEFAULT_DRAWS,
    epochs: int = DEFAULT_EPOCHS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    param_index: int = 0,
    locality_draws: int = LOCALITY_DRAWS,
    test_fraction: float = TEST_FRACTION,
    cache_dir=None,
    workers: int | None = None,
    command: str | None = None,
) -> AuditResult:
    """Audit ``model`` on ``dataset``: is it trainable, and does it need a quantum computer?

    Args:
        model: a spec (``"qcnn"``, ``"qcnn:so4"``, ``"hea:layers=4,block=su4"``,
            ``"dqnn:window=global"``; module docstring), a :class:`Circuit`, or a function
            ``n -> Circuit`` with ``n`` input qubits.
        observable: the readout (label such as ``"Z3"``, Pauli string or sum, basis projector,
            or a function ``circuit -> observable``); default ``Z`` on the last alive qubit of a
            QCNN, on the first alive qubit otherwise.
        dataset: a spec (``"xxx:qubits=12,samples=100"``, ``"toric-vs-semion"``), a dataset
            folder, a folder of shadow ``.npz`` files with ``labels.txt``, a
            :class:`~qnnlab.data.Dataset`, ``(states, labels)`` or ``(shadows, labels)``;
            ``None`` audits the model alone (trainability and random-parameter locality).
        shots_budget: snapshots per state for the classical shadows (``T``).
        out: run folder (default ``runs/audit-<model>-<time>``); rerunning into it resumes.
        qubits: sizes of the trainability scan (``"4..12:2"``, ``[4, 6, 8]``); default
            ``4, 6, ..., 12`` (``2..6`` for ``dqnn``); a fixed circuit is scanned at its size.
        max_weight: weight cut ``k`` of the main surrogate (default 2).
        seed: every random draw (gradient draws, initial parameters, split, shadows).
        progress: print one line per step on stderr.
        draws: parameter draws per size for the gradient variance.
        epochs, learning_rate: training of the exact model and of every surrogate.
        param_index: the tracked parameter of the trainability section (negative from the
            end).
        locality_draws: random parameter vectors of the locality spectrum.
        test_fraction: fraction of the states held out (stratified).
        cache_dir, workers: dataset cache folder and processes for a dataset build.
        command: the command line to show in the report's *Reproduce* section.

    Returns:
        :class:`AuditResult`; ``str(result.verdict)`` is the plain-words answer.
    """
    from qnnlab.runtime.rundir import RunDirectory, default_run_dir
    from qnnlab.version import __version__

    started = time.perf_counter()
    check_int("shots_budget", shots_budget, minimum=1, maximum=MAX_SHOTS_BUDGET, error=AuditError)
    check_seed("seed", seed, error=AuditError)
    check_int("draws", draws, minimum=4, maximum=10**6, error=AuditError)
    check_int("epochs", epochs, minimum=1, maximum=10**5, error=AuditError)
    check_real("learning_rate", learning_rate, minimum=0, min_open=True, error=AuditError)
    check_int("param_index", param_index, error=AuditError)
    check_int("locality_draws", locality_draws, minimum=1, maximum=10**4, error=AuditError)
    check_real(
        "test_fraction",
        test_fraction,
        minimum=0,
        maximum=1,
        min_open=True,
        max_open=True,
        error=AuditError,
    )
    if max_weight is None:
        max_weight = DEFAULT_MAX_WEIGHT
    check_int("max_weight", max_weight, minimum=1, error=AuditError)

    spec = resolve_model(model, observable)
    sizes = _scan_sizes(spec, qubits)
    data = resolve_data(dataset, cache_dir=cache_dir, workers=workers, progress=progress)
    if data is not None:
        n_model = data.n_qubits
        if spec.fixed is not None and n_model != spec.fixed_size:
            raise AuditError(
                f"the dataset has {n_model} qubits but the circuit takes {spec.fixed_size} input "
                "qubits; give data of that size or a builder n -> Circuit."
            )
        if max_weight > n_model:
            raise AuditError(
                f"max_weight {max_weight} exceeds the {n_model} qubits of the data; use at most "
                f"{n_model}."
            )
        snapshots = shots_budget
        if data.shadows is not None:
            snapshots = min(shots_budget, min(s.n_snapshots for s in data.shadows))
        elif len(data) * snapshots * n_model * 2 > MAX_SHADOW_BYTES:
            raise AuditError(
                f"{len(data)} states x {snapshots:,} snapshots x {n_model} qubits exceed "
                f"{MAX_SHADOW_BYTES / 2**30:.0f} GiB of snapshots; lower the shots budget."
            )
    else:
        n_model = spec.fixed_size or max(sizes["scan"])
        snapshots = shots_budget
    circuit = spec.circuit(n_model)
    observable_ = spec.readout(circuit)
    for n in {*sizes["scan"], n_model}:
        count = spec.circuit(n).n_params
        if not -count <= param_index < count:
            raise AuditError(
                f"param_index {param_index} is out of range: the model has {count} parameters "
                f"on {n} qubits."
            )

    fingerprints = {str(n): circuit_fingerprint(spec.circuit(n)) for n in sizes["scan"]}
    fingerprints[f"data-{n_model}"] = circuit_fingerprint(circuit)
    settings = {
        "model": spec.name,
        "model_settings": spec.settings,
        "circuits": fingerprints,
        "observable": observable_text(observable_),
        "observables": {
            str(n): observable_text(spec.readout(spec.circuit(n))) for n in sizes["scan"]
        },
        "dataset": None if data is None else data.key,
        "shots_budget": shots_budget,
        "snapshots": snapshots,
        "max_weight": max_weight,
        "qubits": sizes["scan"],
        "seed": seed,
        "draws": draws,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "param_index": param_index,
        "locality_draws": locality_draws,
        "locality_cuts": [
            locality_cut(circuit, max_weight, RANDOM_LOCALITY_MAX_TERMS),
            locality_cut(circuit, max_weight),
        ],
        "batch_size": BATCH_SIZE,
        "test_fraction": test_fraction,
    }
    settings = json.loads(json.dumps(_clean(settings)))
    if out is None:
        label = spec.name.replace(":", "-").replace(",", "-").replace("=", "")
        out = default_run_dir(f"audit-{label}")
    run = RunDirectory(out)
    run.write_config(settings, command, owner=OWNER)
    ctx = _Context(run, TaskCheckpoint(run.checkpoints, settings), progress)
    ctx.say(f"start: {spec.name} on {'no data' if data is None else data.description} -> {out}")

    # a. trainability
    start = time.perf_counter()
    trainability = _trainability(ctx, spec, sizes, settings)
    ctx.timings["trainability"] = round(time.perf_counter() - start, 2)

    # b (random). locality
    start = time.perf_counter()
    random_rec = ctx.task(
        "locality-random",
        lambda: _locality_random(circuit, observable_, locality_draws, seed, max_weight),
    )
    ctx.timings["locality"] = round(time.perf_counter() - start, 2)

    # c. exact model
    split = _split(data, seed, test_fraction) if data is not None else None
    start = time.perf_counter()
    skip = _exact_model_skip(circuit, data)
    if skip is None:
        exact = ctx.task(
            "exact-model",
            lambda: _exact_model(circuit, observable_, data, split, settings),
        )
    else:
        exact = {"status": "skipped", "reason": skip}
        ctx.say(f"exact model skipped: {skip}")
    ctx.timings["exact_model"] = round(time.perf_counter() - start, 2)

    # d. classical surrogate
    start = time.perf_counter()
    if data is None:
        surrogate = {"status": "skipped", "reason": "no dataset"}
    else:
        ks = surrogate_weights(n_model, max_weight)
        runs = []
        sur_settings = {**settings, "snapshots": snapshots}
        for k in ks:
            runs.append(
                ctx.task(
                    f"surrogate-k{k}",
                    lambda k=k: _surrogate_run(
                        ctx, circuit, observable_, data, split, k, "shadows", sur_settings
                    ),
                )
            )
        reference_skip = _exact_reference_skip(data, max_weight)
        if reference_skip is None:
            runs.append(
                ctx.task(
                    f"surrogate-exact-k{max_weight}",
                    lambda: _surrogate_run(
                        ctx, circuit, observable_, data, split, max_weight, "exact", sur_settings
                    ),
                )
            )
        else:
            ctx.say(f"surrogate on exact features skipped: {reference_skip}")
        test_labels = data.labels[split["test"]]
        surrogate = {
            "status": "done",
            "snapshots": snapshots,
            "weights": ks,
            "n_train": len(split["train"]),
            "n_test": len(split["test"]),
            "chance": float(np.bincount(test_labels, minlength=2).max() / len(test_labels)),
            "runs": runs,
            "exact_reference_skipped": reference_skip,
        }
    ctx.timings["surrogate"] = round(time.perf_counter() - start, 2)

    # b (trained). locality at the trained parameters
    start = time.perf_counter()
    if exact.get("status") == "done":
        theta, source = exact["params"], "exact model"
    else:
        mains = [r for r in surrogate.get("runs", []) if r["k"] == max_weight]
        theta, source = (
            (mains[0]["params"], f"weight-{max_weight} surrogate") if mains else (None, None)
        )
    if theta is not None:
        trained = ctx.task(
            "locality-trained",
            lambda: _locality_trained(
                circuit, observable_, theta, source, data, split, exact, max_weight
            ),
        )
    else:
        trained = {"status": "skipped", "reason": "no trained parameters (no dataset)"}
    ctx.timings["locality"] += round(time.perf_counter() - start, 2)

    sections = {
        "trainability": trainability,
        "locality": {"n_qubits": n_model, "random": random_rec, "trained": trained},
        "exact_model": exact,
        "surrogate": surrogate,
    }
    verdict = _verdict(sections, settings, None if data is None else len(data))
    meta = _report_meta(
        spec,
        circuit,
        observable_,
        data,
        split,
        settings,
        exact,
        surrogate,
        __version__,
        _command_text(command, model, dataset),
        ctx,
    )
    paths = _write_report(Path(out), sections, verdict, meta)
    ctx.timings["total"] = round(time.perf_counter() - started, 2)
    document = {
        "format": AUDIT_FORMAT,
        "version": 1,
        "model": {
            "spec": spec.name,
            "family": spec.family,
            "settings": spec.settings,
            "n_qubits": n_model,
            "circuit_qubits": circuit.n_qubits,
            "n_params": circuit.n_params,
            "observable": observable_text(observable_),
        },
        "dataset": None
        if data is None
        else {
            "description": data.description,
            "n_qubits": data.n_qubits,
            "n_states": len(data),
            "label_names": list(data.label_names),
            "class_counts": np.bincount(data.labels, minlength=2).tolist(),
            "key": data.key,
        },
        "settings": settings,
        "thresholds": _thresholds(),
        "verdict": verdict.to_dict(),
        "sections": sections,
        "timings": ctx.timings,
        "resumed": ctx.resumed,
    }
    json_path = write_json(Path(out) / "audit.json", _clean(document))
    paths["json"] = json_path
    ctx.say(f"verdict: {verdict.summary}")
    ctx.say(f"report: {paths['html']}")
    return AuditResult(
        verdict=verdict,
        sections=_clean(sections),
        report_paths=paths,
        out=Path(out),
        resumed=tuple(ctx.resumed),
        timings=dict(ctx.timings),
    )


def _thresholds() -> dict:
    return {
        "min_sizes": MIN_SIZES,
        "lean_delta_aic": LEAN_DELTA_AIC,
        "decisive_delta_aic": DECISIVE_DELTA_AIC,
        "significance_sigmas": SIGNIFICANCE_SIGMAS,
        "max_flat_base_err": MAX_FLAT_BASE_ERR,
        "extrapolate_to": EXTRAPOLATE_TO,
        "learned_margin": LEARNED_MARGIN,
        "learned_sigmas": LEARNED_SIGMAS,
        "match_margin": MATCH_MARGIN,
        "match_sigmas": MATCH_SIGMAS,
    }


def _report_meta(
    spec, circuit, observable, data, split, settings, exact, surrogate, version, command, ctx
) -> dict:
    labels = "n/a"
    split_text = "n/a (no dataset)"
    hardware = None
    if data is not None:
        counts = np.bincount(data.labels, minlength=2)
        labels = f"{counts[0]} {data.label_names[0]}, {counts[1]} {data.label_names[1]}"
        split_text = (
            f"{len(split['train'])} / {len(split['test'])} states (stratified, seed "
            f"{settings['seed']})"
        )
        if surrogate.get("status") == "done":
            T, B = surrogate["snapshots"], len(data)
            evaluations = settings["epochs"] * len(split["train"]) * 2 * circuit.n_params
            hardware = (
                f"Quantum resources: the classical route measures each of the {B} states "
                f"{T:,} times once ({T * B:,} single-shot measurements). Training the model on "
                f"a device by parameter shift would take about epochs × training states × 2 × "
                f"parameters = {evaluations:,} circuit evaluations (more for shared or "
                f"controlled-rotation parameters), each repeated for its shots: at {T:,} shots "
                f"that is {evaluations * T:.2g} shots."
            )
    return {
        "model": spec.name,
        "circuit": (
            f"{len(circuit.input_qubits)} input qubits, {circuit.n_qubits} circuit qubits, "
            f"{len(circuit.gates)} gates, {circuit.n_params} parameters"
        ),
        "observable": observable_text(observable),
        "dataset": "no dataset" if data is None else data.description,
        "labels": labels,
        "split": split_text,
        "shots_budget": settings["shots_budget"],
        "max_weight": settings["max_weight"],
        "draws": settings["draws"],
        "training": (
            f"{settings['epochs']} epochs, Adam, learning rate {settings['learning_rate']:g}, "
            f"mini-batches of {BATCH_SIZE}, MSE loss"
        ),
        "learning_rate": settings["learning_rate"],
        "seed": settings["seed"],
        "version": version,
        "command": command,
        "timings": ctx.timings,
        "loaded": _loaded_sections(ctx.resumed),
        "hardware_training": hardware,
    }


def _loaded_sections(resumed: list[str]) -> set[str]:
    names = set()
    for task in resumed:
        if task.startswith("trainability"):
            names.add("trainability")
        elif task.startswith("locality"):
            names.add("locality")
        elif task.startswith("exact"):
            names.add("exact_model")
        elif task.startswith("surrogate"):
            names.add("surrogate")
    return names
