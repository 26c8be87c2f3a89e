"""``qcnn-shadows-toric``: does toric code vs double semion need a quantum computer? Classical
learners that see only classical shadows, on the adversarial dataset of qcnn-simulability.

Data: the ``toric-vs-semion`` dataset (:mod:`qnnlab.data.topological`) at every perturbation
``strength`` in ``strengths``: ``n_samples`` states of 12 qubits on the 2 x 2 honeycomb torus,
half toric code (label 0), half double semion (label 1). Every 1- and 2-qubit marginal is
maximally mixed and 3-qubit marginals agree; 4- and 5-qubit expectation values have the same
mean over the random sector phases in both classes, so a classifier *linear* in strings of
weight ``w < 6`` (the QCNN surrogate is one) sees no difference of class means. The label's
mean is in the four 6-body plaquettes ``X_p = prod_{e in p} X_e``: ``<X_p> = +1`` (toric code)
and ``-1/4`` (double semion) at ``strength = 0``. Its *spread* already shows at weight 4: the six
non-contractible 4-cycles ``C`` have ``<X_C> = (cos(phi_k - phi_l) + cos(phi_m - phi_n)) / 2``,
anywhere in ``[-1, 1]``, for the toric code but ``|<X_C>| <= 1/4`` for the double semion, which
a nonlinear learner can use. Strong random on-site rotations (``strength = 3``) turn every such
operator into a different one in every sample.

Features. For every state and weight cut ``k <= max_weight``: the expectation values of all
``sum_{w<=k} C(12, w) 3^w`` Pauli strings of weight at most ``k`` (912,717 for ``k = 6``),
exact (``T = infinity``; values below ``EXACT_ZERO`` in magnitude are set to 0, so strings whose
value is 0 up to rounding do not become standardised noise) or estimated from ``T`` random-Pauli
snapshots per state (``groups = 1``: the plain mean, unbiased; a median of ``K`` means sets a
weight-``w`` estimate to 0 whenever ``T / K`` is below ``3^w``). A weight-``w`` estimate has
variance ``3^w - <P>^2`` per snapshot, so weight 6 needs ``3^6 = 729`` times the snapshots of
weight 1 for the same error. The QCNN surrogate at cut ``k`` reaches exactly these strings.

Learners, every one trained on ``train_size`` states and scored on a balanced test set of
``test_size`` (:func:`qnnlab.experiments.qcnn_shadows.split_indices`, seed ``s``):

* ``surrogate``: the QCNN ``qcnn(12, conv_block)`` read out by ``Z``, Pauli-propagated with the
  weight cut ``k`` and compiled (:class:`qnnlab.surrogate.SurrogateClassifier`),
  ``f_theta(rho) = sum_j c_j(theta) <P_j>_rho``, trained on the features (``epochs`` full-batch
  Adam steps), for ``k <= surrogate_max_weight``. Measured on 2 cores: ``k = 4`` has 46,665
  strings, 1.7 M program edges, 0.15 s per gradient step; ``k = 5`` 239,121 / 10.8 M / 1.2 s;
  ``k = 6`` 912,717 / 50 M / 5.3 s and 4.9 GB to compile (about 50 s), so the default stops at
  ``k = 4`` and weight 6 is covered by the baselines and the plaquette reference.
* ``logistic`` and ``svm``: :func:`qnnlab.surrogate.learners.baseline_search` (standardisation +
  cross-validated L2 logistic regression or RBF SVM) on the same features. With ``D`` up to
  912,717 features and ``n`` states they are fitted *exactly* through the ``n x n`` Gram matrix
  ``G = Z Z^T`` of the standardised features ``Z = (X - mu_train) / sigma_train``
  (:func:`standardized_grams`, sklearn's scaler statistics): the L2 logistic model's weights lie
  in the span of the training rows, so it equals the same ``LogisticRegressionCV`` on the
  coordinates ``Lambda^{1/2} Q^T`` of the training rows in that span (``G_tt = Q Lambda Q^T``)
  and ``Lambda^{-1/2} Q^T G_{t,x}`` of any other row (:func:`span_coordinates`); the RBF kernel
  needs only ``|z_i - z_j|^2 = G_ii + G_jj - 2 G_ij`` and ``gamma = 1 / (D Var(Z_train))``
  (sklearn's ``"scale"``), fed to the same ``GridSearchCV`` as a precomputed kernel.
* ``loops`` (weight 4, a nonlinear physics-informed reference): the mean of the squared
  estimates of the six ``<X_C>``, thresholded as below (its shadow bias ``~ 3^4 / T`` is the
  same for both classes and moves the fitted threshold only).
* ``plaquette`` (weight 6, the physics-informed reference): the mean ``xbar`` of the four
  plaquette estimates, thresholded; threshold and side fitted on the training states
  (:func:`fit_threshold`). With ``T`` snapshots ``Var(xbar) ~ 3^6 / (4 T)`` (the four estimates
  are nearly independent: ``-<X_p>^2 <= 1`` and the covariances ``9 <X_{p+q}> - <X_p><X_q>``
  are below 9), so state ``i`` lands on its class's side of the threshold ``3/8`` (midway
  between ``+1`` and ``-1/4``) with probability ``Phi(s_i (xbar_i - 3/8) / sqrt(3^6 / (4 T)))``,
  ``s_i = +1`` for the toric code and ``-1`` for the double semion:
  :func:`predicted_plaquette_accuracy` is the mean of that Gaussian prediction over the states,
  recorded beside the measured curve.

Grid: (1) accuracy vs ``k = 1 .. max_weight`` with exact features and with ``k_snapshots``
snapshots, at every strength; (2) accuracy vs ``T`` in ``snapshots`` at ``k = max_weight``
(baselines) and for both references, at the strengths in ``sweep_strengths``. Mean and
standard deviation over ``seeds`` splits (the surrogate's ``theta0`` also from the seed).

Run folder: ``shadows/<strength>/state-*.npz`` (``max`` needed ``T`` snapshots per state, seed
``[shadow_seed, i]``, nested prefixes for smaller ``T``), ``features/<strength>/T<T>.npz`` and
``exact.npz`` (labels, plaquette and loop values, the per-weight Gram matrices of every seed's
split, and the surrogate's features where it runs; the 730 MB feature matrix of one point lives
only in memory), every learner's fit checkpointed, ``results.json`` (``cells``: one record per
strength, ``k``, ``snapshots`` (``null`` = exact) and learner with the test accuracy mean and
std over seeds), ``cells.csv``, ``accuracy_vs_weight.png`` and ``accuracy_vs_snapshots.png``.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnnlab.circuits.pauli_table import PauliTable
from qnnlab.data import build_dataset, load_dataset
from qnnlab.data.phases import DatasetConfigError, resolve_config
from qnnlab.data.topological import MAX_LAYERS, honeycomb_torus
from qnnlab.experiments.classification import (
    cache_arg,
    call_task,
    check_positive_int,
    mean_std,
    open_run,
    run_tasks,
)
from qnnlab.experiments.qcnn_shadows import acquire_shadows, family_surrogate, split_indices
from qnnlab.experiments.qcnn_topological import PLAQUETTE_THRESHOLD
from qnnlab.experiments.registry import ExperimentConfig, check_numbers
from qnnlab.models.qcnn import CONV_BLOCKS
from qnnlab.runtime.checkpoint import atomic_write_bytes
from qnnlab.runtime.tasks import make_runner
from qnnlab.shadows import ClassicalShadow, estimate_tables
from qnnlab.surrogate.learners import BASELINES, SurrogateClassifier, baseline_search
from qnnlab.training.losses import LOSSES

FAMILY = "toric-vs-semion"
N_QUBITS = 12
#: Heaviest weight cut: the plaquettes' weight (912,717 strings, a 730 MB float32 matrix for
#: 200 states).
MAX_FEATURE_WEIGHT = 6
#: Learners in the order of the tables: the QCNN surrogate, the two baselines, the references.
LEARNERS = ("surrogate", *BASELINES, "loops", "plaquette")
#: Weight of the physics-informed references' features.
REFERENCES = {"loops": 4, "plaquette": 6}
#: Exact expectation values below this magnitude are rounding noise of zero (set to 0).
EXACT_ZERO = 1e-10
#: Memory (bytes) of one block of shadow estimates (values and standard errors, float64).
ESTIMATE_MEMORY = 512 * 2**20
#: Columns standardised at once when building Gram matrices.
GRAM_CHUNK = 16384
#: Relative eigenvalue cut of the span of the training rows (``G_tt`` is positive semidefinite).
SPAN_RTOL = 1e-10


@dataclass(frozen=True)
class QCNNShadowsToricConfig(ExperimentConfig):
    """Settings of ``qcnn-shadows-toric`` (module doc). Defaults: strengths 0.1 and 3.0, 200
    states (100 train / 100 test, 3 seeds), weight cuts 1..6 exact and at 10,000 snapshots, the
    QCNN surrogate up to weight 4, snapshot sweep 100..30,000 at strength 0.1."""

    strengths: tuple[float, ...] = (0.1, 3.0)
    perturbation_layers: int = 1
    n_samples: int = 200
    dataset_seed: int = 0
    test_size: int = 100
    train_size: int = 100
    seeds: int = 3
    #: Weight cuts ``k = 1 .. max_weight`` of the features (at most 6).
    max_weight: int = 6
    #: Snapshots per state of the weight-cut sweep.
    k_snapshots: int = 10_000
    #: Snapshots per state of the snapshot sweep (at ``sweep_strengths``).
    snapshots: tuple[int, ...] = (100, 300, 1000, 3000, 10_000, 30_000)
    sweep_strengths: tuple[float, ...] = (0.1,)
    shadow_seed: int = 1
    #: Median-of-means groups of the shadow estimates; 1 is the plain mean (module doc).
    groups: int | None = 1
    #: The QCNN surrogate runs for ``k <= surrogate_max_weight`` (0: not at all).
    surrogate_max_weight: int = 4
    conv_block: str = "su4"
    epochs: int = 100
    learning_rate: float = 0.05
    loss: str = "mse"
    baselines: tuple[str, ...] = BASELINES

    @classmethod
    def quick(cls) -> QCNNShadowsToricConfig:
        """40 states, weight cuts up to 4 (exact weight-6 features cost about a second per
        state), the surrogate up to weight 2, 100 to 10,000 snapshots."""
        return cls(
            n_samples=40,
            test_size=20,
            train_size=20,
            seeds=2,
            max_weight=4,
            k_snapshots=1000,
            snapshots=(100, 1000, 10_000),
            surrogate_max_weight=2,
            epochs=40,
        )

    def validate(self) -> QCNNShadowsToricConfig:
        check_numbers(self)
        if not self.strengths:
            raise ValueError("strengths must list at least one perturbation strength.")
        if len(set(self.strengths)) != len(self.strengths):
            raise ValueError(f"strengths are repeated: {self.strengths}.")
        for strength in self.strengths:
            if strength < 0:
                raise ValueError(f"strengths must be >= 0, got {strength!r}.")
        missing = sorted(set(self.sweep_strengths) - set(self.strengths))
        if missing:
            raise ValueError(
                f"sweep_strengths {missing} are not in strengths {self.strengths}; add them there."
            )
        check_positive_int("perturbation_layers", self.perturbation_layers, 0)
        if self.perturbation_layers > MAX_LAYERS:
            raise ValueError(f"perturbation_layers must be <= {MAX_LAYERS}.")
        check_positive_int("n_samples", self.n_samples, 8)
        for name in ("n_samples", "test_size", "train_size"):
            check_positive_int(name, getattr(self, name), 2)
            if getattr(self, name) % 2:
                raise ValueError(
                    f"{name} must be even (balanced classes), got {getattr(self, name)}."
                )
        if self.test_size + self.train_size > self.n_samples:
            raise ValueError(
                f"test_size + train_size = {self.test_size + self.train_size} exceeds n_samples "
                f"= {self.n_samples}; use more samples or smaller sets."
            )
        check_positive_int("seeds", self.seeds)
        check_positive_int("max_weight", self.max_weight)
        if self.max_weight > MAX_FEATURE_WEIGHT:
            raise ValueError(
                f"max_weight must be at most {MAX_FEATURE_WEIGHT} (the plaquettes' weight; weight "
                f"6 is already 912,717 strings), got {self.max_weight}."
            )
        check_positive_int("surrogate_max_weight", self.surrogate_max_weight, 0)
        if self.surrogate_max_weight > self.max_weight:
            raise ValueError(
                f"surrogate_max_weight ({self.surrogate_max_weight}) must be at most max_weight "
                f"({self.max_weight})."
            )
        check_positive_int("k_snapshots", self.k_snapshots)
        if not self.snapshots or list(self.snapshots) != sorted(set(self.snapshots)):
            raise ValueError(f"snapshots must be increasing and distinct, got {self.snapshots}.")
        for t in self.snapshots:
            check_positive_int("snapshots", t)
        if self.groups is not None:
            check_positive_int("groups", self.groups)
            smallest = min(self.k_snapshots, *self.snapshots)
            if self.groups > smallest:
                raise ValueError(
                    f"groups={self.groups} exceeds the smallest snapshot count {smallest}; use "
                    "fewer groups (1 is the plain mean)."
                )
        check_positive_int("epochs", self.epochs)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        if self.conv_block not in CONV_BLOCKS:
            raise ValueError(f"conv_block must be one of {sorted(CONV_BLOCKS)}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}.")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown or len(set(self.baselines)) != len(self.baselines):
            raise ValueError(
                f"baselines must be distinct names from {BASELINES}, got {self.baselines}."
            )
        for strength in self.strengths:
            try:
                resolve_config(
                    FAMILY,
                    N_QUBITS,
                    self.n_samples,
                    self.dataset_seed,
                    strength=strength,
                    layers=self.perturbation_layers,
                )
            except DatasetConfigError as err:
                raise ValueError(f"dataset at strength {strength}: {err}") from None
        return self

    def points(self, strength: float) -> list[int | None]:
        """The feature points of one strength: ``None`` (exact), then the snapshot counts."""
        ts = {self.k_snapshots}
        if strength in self.sweep_strengths:
            ts |= set(self.snapshots)
        return [None, *sorted(ts)]


# ---------------------------------------------------------------------------------------------
# Pauli strings


@functools.lru_cache(maxsize=4)
def pauli_strings_up_to(n_qubits: int, max_weight: int) -> PauliTable:
    """All ``sum_{w=1..k} C(n, w) 3^w`` Pauli strings of weight ``1..max_weight`` on ``n``
    qubits: by weight, then support (lexicographic), then letters (codes 1, 2, 3 = X, Z, Y, the
    first qubit slowest)."""
    if not 1 <= n_qubits <= 64:
        raise ValueError(f"n_qubits must be in 1..64 (one packed word), got {n_qubits}.")
    xs, zs = [], []
    for w in range(1, max_weight + 1):
        supports = np.array(list(itertools.combinations(range(n_qubits), w)), np.uint64)
        codes = np.array(list(itertools.product((1, 2, 3), repeat=w)), np.uint64)
        bits = np.left_shift(np.uint64(1), supports)  # (S, w)
        x = ((codes & np.uint64(1))[None] * bits[:, None]).sum(axis=-1, dtype=np.uint64)
        z = ((codes >> np.uint64(1))[None] * bits[:, None]).sum(axis=-1, dtype=np.uint64)
        xs.append(x.reshape(-1))
        zs.append(z.reshape(-1))
    x = np.concatenate(xs) if xs else np.zeros(0, np.uint64)
    z = np.concatenate(zs) if zs else np.zeros(0, np.uint64)
    return PauliTable(n_qubits, x[:, None], z[:, None])


def weight_bounds(n_qubits: int, max_weight: int) -> np.ndarray:
    """Column ranges of :func:`pauli_strings_up_to`: weight ``w`` is ``[b[w-1], b[w])``."""
    sizes = [math.comb(n_qubits, w) * 3**w for w in range(1, max_weight + 1)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def table_columns(table: PauliTable, strings: PauliTable) -> np.ndarray:
    """Index in ``table`` of every string of ``strings`` (tables on at most 32 qubits, whose
    ``x | z << n`` fits one word); a string missing from ``table`` raises ``ValueError``."""
    if table.n_qubits > 32 or strings.n_qubits != table.n_qubits:
        raise ValueError(
            "table_columns needs two tables on the same number of qubits, at most 32; got "
            f"{table.n_qubits} and {strings.n_qubits}."
        )
    shift = np.uint64(table.n_qubits)

    def keys(t: PauliTable) -> np.ndarray:
        return t.x[:, 0] | (t.z[:, 0] << shift)

    reference = keys(table)
    order = np.argsort(reference, kind="stable")
    wanted = keys(strings)
    where = np.searchsorted(reference, wanted, sorter=order)
    where = np.minimum(where, len(reference) - 1)
    found = order[where]
    if len(reference) == 0 or np.any(reference[found] != wanted):
        raise ValueError("some strings are not in the table; widen the table's weight.")
    return found.astype(np.int64)


@functools.lru_cache(maxsize=1)
def plaquette_table() -> PauliTable:
    """The four plaquettes ``prod_{e in p} X_e`` of the 2 x 2 honeycomb torus (qubit = edge)."""
    lattice = honeycomb_torus()
    labels = [" ".join(f"X{e}" for e in sorted(edges)) for edges in lattice.plaquette_edges]
    return PauliTable.from_strings(labels, lattice.n_qubits)


@functools.lru_cache(maxsize=1)
def loop_table() -> PauliTable:
    """``prod_{e in C} X_e`` on every 4-cycle ``C`` of the 2 x 2 honeycomb torus (the six
    non-contractible loops: 4 edges meeting every touched vertex twice)."""
    lattice = honeycomb_torus()
    loops = []
    for edges in itertools.combinations(range(lattice.n_qubits), 4):
        degree: dict[int, int] = {}
        for e in edges:
            for v in lattice.edges[e]:
                degree[v] = degree.get(v, 0) + 1
        if len(degree) == 4 and all(d == 2 for d in degree.values()):
            loops.append(" ".join(f"X{e}" for e in edges))
    return PauliTable.from_strings(loops, lattice.n_qubits)


def reference_weight(learner: str, max_weight: int) -> int:
    """The weight cut a learner's records carry: its features' weight for the references,
    ``max_weight`` for the others."""
    return REFERENCES.get(learner, max_weight)


# ---------------------------------------------------------------------------------------------
# Gram matrices and the baselines fitted through them


def _standardize(block: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``(block - mean) / scale`` with sklearn ``StandardScaler`` statistics of the ``train``
    rows (population variance; a constant column, by sklearn's test, keeps scale 1)."""
    rows = block[train]
    mean = rows.mean(axis=0)
    var = rows.var(axis=0)
    n = len(train)
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    return (block - mean) / scale


def standardized_grams(
    matrix: np.ndarray, bounds: np.ndarray, trains: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per split and weight shell, the Gram matrix of the standardised features.

    Args:
        matrix: ``(B, D)`` features, columns ordered by weight (``bounds`` from
            :func:`weight_bounds`).
        bounds: ``W + 1`` column offsets; shell ``w`` is ``matrix[:, bounds[w]:bounds[w+1]]``.
        trains: one array of training-row indices per split.

    Returns:
        ``grams (S, W, B, B)``: ``Z_w Z_w^T`` with ``Z = (X - mu_train) / sigma_train`` (float64);
        the Gram of the cut ``k`` is the sum of shells ``0..k-1``. ``train_sq (S, W)``: the sum of
        ``Z^2`` over training rows of each shell (sklearn's ``gamma="scale"`` needs it).
    """
    n_states = matrix.shape[0]
    n_shells = len(bounds) - 1
    grams = np.zeros((len(trains), n_shells, n_states, n_states))
    train_sq = np.zeros((len(trains), n_shells))
    for w in range(n_shells):
        for lo in range(int(bounds[w]), int(bounds[w + 1]), GRAM_CHUNK):
            hi = min(lo + GRAM_CHUNK, int(bounds[w + 1]))
            block = np.asarray(matrix[:, lo:hi], dtype=np.float64)
            for s, train in enumerate(trains):
                z = _standardize(block, train)
                grams[s, w] += z @ z.T
                train_sq[s, w] += float(np.sum(z[train] ** 2))
    return grams, train_sq


def span_coordinates(
    gram: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the training and test rows in an orthonormal basis of the span of the
    training rows: ``Q Lambda^{1/2}`` and ``G_{x,t} Q Lambda^{-1/2}`` (``G_tt = Q Lambda Q^T``,
    eigenvalues below ``SPAN_RTOL`` times the largest dropped). Inner products with any vector
    of that span are exact, so L2 linear models fitted on them equal those fitted on the rows."""
    lam, q = np.linalg.eigh(gram[np.ix_(train, train)])
    top = lam.max() if lam.size else 0.0
    if not top > 0:  # every feature constant on the training rows
        return np.zeros((len(train), 1)), np.zeros((len(test), 1))
    keep = lam > SPAN_RTOL * top
    lam, q = lam[keep], q[:, keep]
    return q * np.sqrt(lam), gram[np.ix_(test, train)] @ q / np.sqrt(lam)


def _quiet_fit(model, X, y):
    """``model.fit(X, y)``; a solver's ``ConvergenceWarning`` is counted, not raised."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    other = [w for w in caught if not issubclass(w.category, ConvergenceWarning)]
    for w in other:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return len(caught) - len(other)


def gram_baseline(
    kind: str,
    gram: np.ndarray,
    train_sq: float,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
) -> dict:
    """``baseline_classifier(kind)`` fitted on the standardised features whose Gram matrix is
    ``gram`` (module doc): ``{"test_accuracy", "train_accuracy", "convergence_warnings"}``."""
    # Z is standardised once on all training rows (label-free; it only shapes the choice of C
    # inside the search, never the test rows)
    model = baseline_search(kind, y=y[train], seed=seed)
    if kind == "logistic":
        x_train, x_test = span_coordinates(gram, train, test)
    else:
        diag = np.diag(gram)
        dist = np.maximum(diag[:, None] + diag[None, :] - 2.0 * gram, 0.0)
        # sklearn's gamma="scale" is 1 / (D X.var()) with X.var() = sum z^2 / (n D) (Z_train
        # has column means 0), so gamma = n / sum z^2
        gamma = len(train) / train_sq if train_sq > 0 else 1.0
        kernel = np.exp(-gamma * dist)
        kernel_param = "estimator__kernel" if hasattr(model, "estimator") else "kernel"
        model.set_params(**{kernel_param: "precomputed"})
        x_train, x_test = kernel[np.ix_(train, train)], kernel[np.ix_(test, train)]
    n_warn = _quiet_fit(model, x_train, y[train])
    return {
        "test_accuracy": float(np.mean(model.predict(x_test) == y[test])),
        "train_accuracy": float(np.mean(model.predict(x_train) == y[train])),
        "convergence_warnings": n_warn,
    }


# ---------------------------------------------------------------------------------------------
# the physics-informed references


def fit_threshold(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Decision stump on a scalar feature: ``(t, side)`` predicting class 1 where
    ``side * (x - t) > 0``, with the highest training accuracy; among equally good thresholds
    of one side, the middle one (the widest margin for separable data)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    values = np.unique(x)
    cuts = np.concatenate([[values[0] - 1.0], (values[1:] + values[:-1]) / 2, [values[-1] + 1.0]])
    above = (x[None, :] > cuts[:, None]).astype(np.int64)  # predicted 1 with side +1
    best = None
    for side in (-1, 1):
        pred = above if side == 1 else 1 - above
        acc = np.mean(pred == y[None, :], axis=1)
        top = np.flatnonzero(acc == acc.max())
        candidate = (float(acc.max()), float(cuts[top[len(top) // 2]]), side)
        if best is None or candidate[0] > best[0]:
            best = candidate
    return best[1], best[2]


def threshold_predict(x: np.ndarray, threshold: float, side: int) -> np.ndarray:
    """Class 1 where ``side * (x - threshold) > 0``."""
    return (side * (np.asarray(x) - threshold) > 0).astype(np.int32)


def _stump_accuracy(x, y, threshold: float, side: int) -> float:
    return float(np.mean(threshold_predict(x, threshold, side) == y))


def predicted_plaquette_accuracy(xbar: np.ndarray, labels: np.ndarray, n_snapshots: int) -> float:
    """Gaussian prediction of the plaquette reference at ``T`` snapshots (module doc): mean over
    states of ``Phi(s_i (xbar_i - 3/8) / sqrt(3^6 / (4 T)))`` with the exact mean plaquettes
    ``xbar`` and ``s_i = +1`` for label 0 (toric code), ``-1`` for label 1."""
    sigma = math.sqrt(3.0**6 / (4.0 * n_snapshots))
    signs = 1.0 - 2.0 * np.asarray(labels, dtype=np.float64)
    margins = signs * (np.asarray(xbar, dtype=np.float64) - PLAQUETTE_THRESHOLD) / sigma
    return float(np.mean([0.5 * (1.0 + math.erf(m / math.sqrt(2.0))) for m in margins]))


# ---------------------------------------------------------------------------------------------
# data acquisition and feature points (files in the run folder)


def _key(strength: float) -> str:
    return f"strength{strength:g}"


def _point_name(snapshots: int | None) -> str:
    return "exact" if snapshots is None else f"T{snapshots}"


def exact_row_task(dataset_folder: str, index: int, max_weight: int, out: str) -> dict:
    """Exact ``<P>`` of every string of weight ``<= max_weight`` on state ``index``, saved as a
    float32 ``.npy`` row (values below ``EXACT_ZERO`` set to 0)."""
    from qnnlab.engines.pauliprop.evaluate import expvals

    start = time.perf_counter()
    state = load_dataset(dataset_folder).state(index)
    row = np.asarray(expvals(pauli_strings_up_to(N_QUBITS, max_weight), state), np.float64)
    row[np.abs(row) < EXACT_ZERO] = 0.0
    buffer = io.BytesIO()
    np.save(buffer, row.astype(np.float32))
    atomic_write_bytes(Path(out), buffer.getvalue())
    return {"index": index, "seconds": round(time.perf_counter() - start, 3)}


def _run_files(fn, tasks: list[tuple], workers: int, progress: bool, desc: str) -> None:
    """Run file-producing tasks (their output files are their checkpoints)."""
    if not tasks:
        return
    runner = make_runner(min(workers, len(tasks)), None)
    try:
        for _ in runner.run(fn, tasks, desc=desc, progress=progress):
            pass
    finally:
        if hasattr(runner, "close"):
            runner.close()


#: Arrays of every feature point file (``values`` too where the surrogate runs).
POINT_ARRAYS = ("labels", "plaquettes", "loops", "grams", "train_sq")


def _feature_file_ok(path: Path, n_states: int, n_seeds: int, n_shells: int, n_values) -> bool:
    try:
        data = load_point.__wrapped__(str(path))
    except (OSError, ValueError, KeyError, EOFError):
        return False
    if any(k not in data for k in POINT_ARRAYS):
        return False
    if data["grams"].shape != (n_seeds, n_shells, n_states, n_states):
        return False
    if n_values is None:
        return "values" not in data
    return data.get("values") is not None and data["values"].shape == (n_states, n_values)


@functools.lru_cache(maxsize=4)
def load_point(path: str) -> dict:
    """The arrays of one saved feature point (``labels``, ``plaquettes``, ``loops``, ``grams``,
    ``train_sq`` and, where the surrogate runs, ``values``)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _save_point(path: Path, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _shadow_features(shadow_paths: list[Path], table: PauliTable, snapshots: int, groups):
    """``(B, D)`` float32 shadow estimates of ``table`` from the first ``snapshots`` snapshots,
    in blocks of states within ``ESTIMATE_MEMORY``."""
    rows = max(1, ESTIMATE_MEMORY // (16 * max(1, len(table))))
    out = np.empty((len(shadow_paths), len(table)), np.float32)
    for lo in range(0, len(shadow_paths), rows):
        shadows = [ClassicalShadow.load(p) for p in shadow_paths[lo : lo + rows]]
        est = estimate_tables(shadows, table, groups=groups, n_snapshots=snapshots)
        out[lo : lo + len(shadows)] = est.values
    return out


# ---------------------------------------------------------------------------------------------
# learner tasks


def _split(config: dict, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    test, trains = split_indices(y, config["test_size"], (config["train_size"],), seed)
    return test, trains[config["train_size"]]


def weight_cuts(config: dict, snapshots) -> list[int]:
    """The baselines' weight cuts at one feature point: all ``1..max_weight`` on the weight-cut
    sweep (exact and ``k_snapshots``), only ``max_weight`` on the snapshot sweep."""
    top = config["max_weight"]
    if snapshots is None or snapshots == config["k_snapshots"]:
        return list(range(1, top + 1))
    return [top]


def baseline_task(config: dict, strength: float, snapshots, path: str, seed: int) -> dict:
    """The baselines at the point's weight cuts (:func:`weight_cuts`) and the two references,
    one split."""
    data = load_point(path)
    y = data["labels"]
    test, train = _split(config, y, seed)
    records = []
    base = {"family": FAMILY, "strength": strength, "snapshots": snapshots, "seed": seed}
    for kind in config["baselines"]:
        for k in weight_cuts(config, snapshots):
            start = time.perf_counter()
            gram = data["grams"][seed, :k].sum(axis=0)
            train_sq = float(data["train_sq"][seed, :k].sum())
            out = gram_baseline(kind, gram, train_sq, y, train, test, seed)
            records.append({**base, "k": k, "learner": kind, **out, "seconds": _since(start)})
    statistics = {
        "loops": np.mean(data["loops"] ** 2, axis=1),
        "plaquette": data["plaquettes"].mean(axis=1),
    }
    for learner, x in statistics.items():
        threshold, side = fit_threshold(x[train], y[train])
        records.append(
            {
                **base,
                "k": REFERENCES[learner],
                "learner": learner,
                "test_accuracy": _stump_accuracy(x[test], y[test], threshold, side),
                "train_accuracy": _stump_accuracy(x[train], y[train], threshold, side),
                "threshold": threshold,
                "side": side,
            }
        )
    return {"records": records}


def surrogate_task(config: dict, strength: float, snapshots, path: str, seed: int, k: int) -> dict:
    """The QCNN surrogate at weight cut ``k`` trained on one split's features."""
    data = load_point(path)
    y = data["labels"]
    test, train = _split(config, y, seed)
    surrogate = family_surrogate(N_QUBITS, config["conv_block"], k)
    columns = table_columns(pauli_strings_up_to(N_QUBITS, k), surrogate.table)
    values = data["values"][:, columns]
    start = time.perf_counter()
    model = SurrogateClassifier(surrogate).fit(
        values[train],
        y[train],
        seed=seed,
        epochs=config["epochs"],
        learning_rate=config["learning_rate"],
        batch_size=config["train_size"],
        loss=config["loss"],
    )
    record = {
        "family": FAMILY,
        "strength": strength,
        "snapshots": snapshots,
        "seed": seed,
        "k": k,
        "learner": "surrogate",
        "test_accuracy": model.score(values[test], y[test]),
        "train_accuracy": model.score(values[train], y[train]),
        "seconds": _since(start),
    }
    return {"records": [record]}


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class ToricShadowsRun:
    """A finished run: per-cell summaries (:func:`summarize_cells`), the plaquette's Gaussian
    predictions, the verdict numbers (:func:`summarize_run`), surrogate sizes and timings."""

    config: QCNNShadowsToricConfig
    directory: Path
    cells: list[dict]
    predictions: list[dict]
    summary: dict
    surrogates: dict
    timings: dict


def run_qcnn_shadows_toric(
    config: QCNNShadowsToricConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> ToricShadowsRun:
    """Build the datasets, acquire shadows, compute every feature point, fit (or resume) every
    learner and write the outputs into ``out`` (module doc). Shadow sampling and exact features
    run on ``workers`` local processes (default: every core); fits run in this process unless
    ``workers`` or a Dask ``scheduler`` is given."""
    config = config.validate()
    settings = config.to_dict()
    run = open_run("qcnn-shadows-toric", settings, out, command)
    cache = cache_arg(cache_dir)
    data_workers = workers if workers is not None else (os.cpu_count() or 1)
    timings: dict[str, dict] = {}
    surrogates = _surrogate_info(config, timings)
    trains_of: dict[str, list] = {}
    tasks, names, exact_points = [], [], {}
    fits, fit_names = [], []
    for strength in config.strengths:
        key = _key(strength)
        timing = timings.setdefault(key, {})
        start = time.perf_counter()
        dataset = build_dataset(
            FAMILY,
            n_qubits=N_QUBITS,
            n_samples=config.n_samples,
            seed=config.dataset_seed,
            cache_dir=cache,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            strength=strength,
            layers=config.perturbation_layers,
        )
        timing["dataset_seconds"] = _since(start)
        labels = np.asarray(dataset.labels, dtype=np.int64)
        trains_of[key] = [_split(settings, labels, s)[1] for s in range(config.seeds)]
        points = config.points(strength)
        start = time.perf_counter()
        shadow_paths = acquire_shadows(
            run,
            dataset,
            key,
            max(points[1:]),
            config.shadow_seed,
            workers=data_workers,
            scheduler=scheduler,
            progress=progress,
        )
        timing["shadow_seconds"] = _since(start)
        folder = run.path / "features" / key
        folder.mkdir(parents=True, exist_ok=True)
        for snapshots in points:
            path = folder / f"{_point_name(snapshots)}.npz"
            with_values = snapshots in (None, config.k_snapshots) and config.surrogate_max_weight
            start = time.perf_counter()
            _feature_point(
                run,
                config,
                dataset,
                labels,
                trains_of[key],
                snapshots,
                shadow_paths,
                path,
                bool(with_values),
                data_workers,
                progress,
            )
            timing[f"features_{_point_name(snapshots)}_seconds"] = _since(start)
            for s in range(config.seeds):
                tasks.append((baseline_task, (settings, strength, snapshots, str(path), s)))
                names.append(f"baselines-{key}-{_point_name(snapshots)}-seed{s}")
                if with_values:
                    for k in range(1, config.surrogate_max_weight + 1):
                        args = (settings, strength, snapshots, str(path), s, k)
                        fits.append((k, (surrogate_task, args)))
                        fit_names.append(f"surrogate-{key}-{_point_name(snapshots)}-k{k}-seed{s}")
        exact_points[strength] = load_point(str(folder / "exact.npz"))
    # surrogate fits grouped by weight cut: one compiled surrogate (cached per process) at a time
    order = sorted(range(len(fits)), key=lambda i: fits[i][0])
    tasks += [fits[i][1] for i in order]
    names += [fit_names[i] for i in order]
    start = time.perf_counter()
    outputs = run_tasks(
        run,
        settings,
        call_task,
        tasks,
        names,
        workers=1 if scheduler is None and workers is None else workers,
        scheduler=scheduler,
        progress=progress,
        desc="learners",
    )
    fit_seconds = _since(start)
    records = [r for out_ in outputs for r in out_["records"]]
    cells = summarize_cells(records)
    predictions = [
        {
            "family": FAMILY,
            "strength": strength,
            "snapshots": t,
            "plaquette_predicted_accuracy": predicted_plaquette_accuracy(
                exact_points[strength]["plaquettes"].mean(axis=1),
                exact_points[strength]["labels"],
                t,
            ),
        }
        for strength in config.strengths
        for t in config.points(strength)[1:]
    ]
    summary = summarize_run(cells, config)
    result = ToricShadowsRun(config, run.path, cells, predictions, summary, surrogates, timings)
    _write_outputs(run, settings, result, records, fit_seconds)
    run.log("done")
    return result


def _surrogate_info(config: QCNNShadowsToricConfig, timings: dict) -> dict:
    """Compile the surrogates once (cached per process) and record their size and cost."""
    info = {}
    for k in range(1, config.surrogate_max_weight + 1):
        start = time.perf_counter()
        surrogate = family_surrogate(N_QUBITS, config.conv_block, k)
        info[str(k)] = {
            "n_terms": surrogate.n_terms,
            "n_edges": surrogate.n_edges,
            "propagation_seconds": round(surrogate.propagation_seconds, 3),
            "build_seconds": round(surrogate.build_seconds, 3),
        }
        timings.setdefault("surrogates", {})[str(k)] = _since(start)
    return info


def _feature_point(
    run,
    config,
    dataset,
    labels,
    trains,
    snapshots,
    shadow_paths,
    path,
    with_values,
    workers,
    progress,
) -> None:
    """Write one feature point (module doc) unless a valid file is there already."""
    table = pauli_strings_up_to(N_QUBITS, config.max_weight)
    bounds = weight_bounds(N_QUBITS, config.max_weight)
    n_values = (
        int(weight_bounds(N_QUBITS, config.surrogate_max_weight)[-1]) if with_values else None
    )
    if _feature_file_ok(path, len(dataset), config.seeds, config.max_weight, n_values):
        return
    if snapshots is None:
        matrix = _exact_matrix(run, config, dataset, path, workers, progress)
        states = dataset.dense_states()
        plaquettes = np.asarray(_dense_expvals(plaquette_table(), states), np.float64)
        loops = np.asarray(_dense_expvals(loop_table(), states), np.float64)
    else:
        matrix = _shadow_features(shadow_paths, table, snapshots, config.groups)
        plaquettes = _shadow_features(shadow_paths, plaquette_table(), snapshots, config.groups)
        loops = _shadow_features(shadow_paths, loop_table(), snapshots, config.groups)
    grams, train_sq = standardized_grams(matrix, bounds, trains)
    arrays = {
        "labels": labels,
        "plaquettes": plaquettes.astype(np.float64),
        "loops": loops.astype(np.float64),
        "grams": grams,
        "train_sq": train_sq,
    }
    if with_values:
        arrays["values"] = np.ascontiguousarray(matrix[:, :n_values])
    _save_point(path, arrays)
    load_point.cache_clear()
    run.log(f"features {path.parent.name} {path.stem}: {matrix.shape}")
    rows = path.parent / f"{path.stem}-rows"
    if rows.exists():
        shutil.rmtree(rows)


def _dense_expvals(table: PauliTable, states: np.ndarray) -> np.ndarray:
    from qnnlab.engines.pauliprop.evaluate import expvals

    return expvals(table, states)


def _exact_matrix(run, config, dataset, path: Path, workers, progress) -> np.ndarray:
    """Exact features of every state, one row file per state (``<point>-rows/``), computed on
    ``workers`` processes; the rows are deleted once the point file is written."""
    folder = path.parent / f"{path.stem}-rows"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [folder / f"state-{i:05d}.npy" for i in range(len(dataset))]
    tasks = [
        (str(dataset.folder), i, config.max_weight, str(rows[i]))
        for i in range(len(dataset))
        if not rows[i].exists()
    ]
    _run_files(exact_row_task, tasks, workers, progress, f"exact features {path.parent.name}")
    return np.stack([np.load(r) for r in rows])


# ---------------------------------------------------------------------------------------------
# summaries


def _cell_key(r: dict):
    return (r["strength"], r["snapshots"] is None, r["snapshots"] or 0, r["learner"], r["k"])


def summarize_cells(records: list[dict]) -> list[dict]:
    """One row per ``(strength, snapshots, learner, k)``: test accuracy mean and std over seeds
    (``snapshots`` ``None`` = exact features), train accuracy mean."""
    groups: dict = {}
    for r in records:
        groups.setdefault(_cell_key(r), []).append(r)
    cells = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], LEARNERS.index(k[3]), k[4])):
        members = groups[key]
        test = mean_std([r["test_accuracy"] for r in members])
        train = mean_std([r["train_accuracy"] for r in members])
        first = members[0]
        cells.append(
            {
                "family": FAMILY,
                "strength": first["strength"],
                "k": first["k"],
                "snapshots": first["snapshots"],
                "learner": first["learner"],
                "seeds": test["n"],
                "test_accuracy_mean": test["mean"],
                "test_accuracy_std": test["std"],
                "train_accuracy_mean": train["mean"],
            }
        )
    return cells


def _find(cells, strength, snapshots, learner, k=None) -> dict | None:
    for c in cells:
        if (c["strength"], c["snapshots"], c["learner"]) == (strength, snapshots, learner) and (
            k is None or c["k"] == k
        ):
            return c
    return None


def summarize_run(cells: list[dict], config: QCNNShadowsToricConfig) -> dict:
    """The numbers the verdict rests on, per strength: the best blind learner (surrogate or
    baseline) below weight 6 on exact features, the baselines at the top weight cut and the
    references (exact and at ``k_snapshots``), and, at the sweep strengths, the smallest ``T``
    at which each one's mean test accuracy reaches 0.9 and 0.99 (``None``: not in the
    sweep)."""
    summary = {}
    top = config.max_weight
    for strength in config.strengths:
        entry: dict = {}
        below = [
            c
            for c in cells
            if c["strength"] == strength
            and c["snapshots"] is None
            and c["learner"] not in REFERENCES
            and c["k"] < MAX_FEATURE_WEIGHT
        ]
        if below:
            best = max(below, key=lambda c: c["test_accuracy_mean"])
            entry["best_exact_below_weight6"] = {
                "learner": best["learner"],
                "k": best["k"],
                "test_accuracy_mean": best["test_accuracy_mean"],
            }
        for point in (None, config.k_snapshots):
            name = _point_name(point)
            for learner in (*config.baselines, *REFERENCES):
                k = reference_weight(learner, top)
                cell = _find(cells, strength, point, learner, k)
                if cell is not None:
                    entry[f"{learner}_k{k}_{name}"] = cell["test_accuracy_mean"]
        if strength in config.sweep_strengths:
            ts = config.points(strength)[1:]
            for learner in (*config.baselines, *REFERENCES):
                k = reference_weight(learner, top)
                curve = [_find(cells, strength, t, learner, k) for t in ts]
                accs = [c["test_accuracy_mean"] if c else math.nan for c in curve]
                for level in (0.9, 0.99):
                    reached = [t for t, a in zip(ts, accs, strict=True) if a >= level]
                    entry[f"{learner}_k{k}_snapshots_to_{level}"] = reached[0] if reached else None
        summary[_key(strength)] = entry
    return summary


# ---------------------------------------------------------------------------------------------
# outputs


CSV_KEYS = (
    "family",
    "strength",
    "k",
    "snapshots",
    "learner",
    "seeds",
    "test_accuracy_mean",
    "test_accuracy_std",
    "train_accuracy_mean",
)


def _write_outputs(run, settings, result: ToricShadowsRun, records, fit_seconds) -> None:
    run.write_results(
        {
            "experiment": "qcnn-shadows-toric",
            "config": settings,
            "cells": result.cells,
            "plaquette_predictions": result.predictions,
            "summary": result.summary,
            "surrogates": result.surrogates,
            "timings": {**result.timings, "fit_seconds": fit_seconds},
            "runs": records,
        }
    )
    rows = [
        [("exact" if c[k] is None and k == "snapshots" else c[k]) for k in CSV_KEYS]
        for c in result.cells
    ]
    run.write_csv("cells.csv", CSV_KEYS, rows)
    run.save_figure(plot_accuracy_vs_weight(result), "accuracy_vs_weight.png")
    run.save_figure(plot_accuracy_vs_snapshots(result), "accuracy_vs_snapshots.png")


_STYLE = {
    "surrogate": ("o", "tab:blue", "QCNN surrogate"),
    "logistic": ("s", "tab:orange", "logistic"),
    "svm": ("^", "tab:green", "RBF SVM"),
    "loops": ("P", "tab:purple", "loops mean <X_C>^2 (weight 4)"),
    "plaquette": ("*", "tab:red", "plaquette mean <X_p> (weight 6)"),
}


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def plot_accuracy_vs_weight(result: ToricShadowsRun):
    """Per strength: test accuracy (mean +- std over seeds) vs weight cut ``k``, exact features
    (solid) and ``k_snapshots`` snapshots (dashed); the references at their features' weight."""
    config = result.config
    fig = _figure(5.2 * len(config.strengths), 4.2)
    axes = fig.subplots(1, len(config.strengths), squeeze=False)[0]
    for ax, strength in zip(axes, config.strengths, strict=True):
        for learner in LEARNERS:
            marker, color, label = _STYLE[learner]
            for point, style in ((None, "-"), (config.k_snapshots, "--")):
                rows = [
                    c
                    for c in result.cells
                    if (c["strength"], c["snapshots"], c["learner"]) == (strength, point, learner)
                ]
                if not rows:
                    continue
                ks = [c["k"] for c in rows]
                ax.errorbar(
                    ks,
                    [c["test_accuracy_mean"] for c in rows],
                    yerr=[c["test_accuracy_std"] for c in rows],
                    fmt=marker + style,
                    color=color,
                    ms=8 if learner in REFERENCES else 5,
                    capsize=2,
                    label=f"{label}, {'exact' if point is None else f'T={point}'}",
                )
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0.3, 1.05)
        ax.set_xticks(range(1, MAX_FEATURE_WEIGHT + 1))
        ax.set_xlabel("weight cut k (features: all strings of weight <= k)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"toric code vs double semion, strength {strength:g}", fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def plot_accuracy_vs_snapshots(result: ToricShadowsRun):
    """Per sweep strength: test accuracy vs snapshots per state of the references and the
    baselines at the top weight cut, the plaquette's Gaussian prediction, and the exact values
    (dashed lines)."""
    config = result.config
    strengths = config.sweep_strengths or config.strengths[:1]
    fig = _figure(5.6 * len(strengths), 4.2)
    axes = fig.subplots(1, len(strengths), squeeze=False)[0]
    for ax, strength in zip(axes, strengths, strict=True):
        ts = config.points(strength)[1:]
        for learner in LEARNERS[1:]:
            k = reference_weight(learner, config.max_weight)
            curve = [_find(result.cells, strength, t, learner, k) for t in ts]
            if not any(curve):
                continue
            marker, color, label = _STYLE[learner]
            ax.errorbar(
                ts,
                [c["test_accuracy_mean"] if c else np.nan for c in curve],
                yerr=[c["test_accuracy_std"] if c else np.nan for c in curve],
                fmt=marker + "-",
                color=color,
                capsize=2,
                label=f"{label}, k={k}",
            )
            exact = _find(result.cells, strength, None, learner, k)
            if exact is not None:
                ax.axhline(exact["test_accuracy_mean"], color=color, lw=0.8, ls="--")
        predicted = [
            p["plaquette_predicted_accuracy"]
            for p in result.predictions
            if p["strength"] == strength
        ]
        ax.plot(ts, predicted, "k:", lw=1, label="plaquette, Gaussian prediction")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_ylim(0.3, 1.05)
        ax.set_xlabel("snapshots per state T (dashed: exact features)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"strength {strength:g}: the snapshot cost of weights 4 and 6", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _fmt(cell: dict | None) -> str:
    if cell is None:
        return "    -     "
    return f"{cell['test_accuracy_mean']:.2f}+-{cell['test_accuracy_std']:.2f}"


def report(result: ToricShadowsRun) -> list[str]:
    """Text summary: accuracy vs weight cut per strength and learner, accuracy vs snapshots, and
    the numbers behind the verdict."""
    config = result.config
    lines = []
    top = config.max_weight
    ks = range(1, top + 1)
    for strength in config.strengths:
        lines.append(
            f"strength {strength:g}: test accuracy (mean+-std over {config.seeds} splits, "
            f"{config.train_size} train / {config.test_size} test) vs weight cut k"
        )
        lines.append(f"  {'learner':<22}" + "".join(f"{'k=' + str(k):>12}" for k in ks))
        for learner in ("surrogate", *BASELINES):
            for point in (None, config.k_snapshots):
                row = [_find(result.cells, strength, point, learner, k) for k in ks]
                if any(row):
                    name = f"{learner} {'exact' if point is None else f'T={point}'}"
                    lines.append(f"  {name:<22}" + "".join(f"{_fmt(c):>12}" for c in row))
        for learner, k in REFERENCES.items():
            for point in (None, config.k_snapshots):
                cell = _find(result.cells, strength, point, learner)
                name = f"{learner} (k={k}) {'exact' if point is None else f'T={point}'}"
                lines.append(f"  {name:<30}{_fmt(cell)}")
    for strength in config.sweep_strengths:
        ts = config.points(strength)[1:]
        lines.append(f"strength {strength:g}: test accuracy vs snapshots per state T")
        lines.append(f"  {'learner':<22}" + "".join(f"{'T=' + str(t):>12}" for t in ts))
        for learner in LEARNERS[1:]:
            k = reference_weight(learner, top)
            row = [_find(result.cells, strength, t, learner, k) for t in ts]
            if any(row):
                lines.append(
                    f"  {learner + ' k=' + str(k):<22}" + "".join(f"{_fmt(c):>12}" for c in row)
                )
        predicted = [
            p["plaquette_predicted_accuracy"]
            for p in result.predictions
            if p["strength"] == strength
        ]
        lines.append(f"  {'plaquette predicted':<22}" + "".join(f"{p:>12.2f}" for p in predicted))
    for key, entry in result.summary.items():
        best = entry.get("best_exact_below_weight6")
        parts = []
        if best:
            parts.append(
                f"best blind learner below weight 6 (exact) {best['test_accuracy_mean']:.2f} "
                f"({best['learner']}, k={best['k']})"
            )
        for name, label in (
            ("plaquette_k6", "plaquette"),
            ("loops_k4", "loops"),
            (f"logistic_k{top}", "logistic"),
        ):
            for level in (0.9, 0.99):
                field = f"{name}_snapshots_to_{level}"
                if field in entry:
                    t = entry[field]
                    where = f"T={t}" if t is not None else "no T of the sweep"
                    parts.append(f"{label} reaches {level} at {where}")
        lines.append(f"{key}: " + "; ".join(parts))
    return lines
