"""``qcnn-shadows``: a QCNN replaced by a classical algorithm that sees only classical shadows
(qcnn-simulability, Fig. 1).

For each phase dataset (``families`` at ``qubits``, ``n_samples`` states with balanced labels):

1. **Data acquisition, once.** ``max(snapshots)`` random-Pauli snapshots of every state
   (:meth:`qnnlab.data.Dataset.shadow`, seed ``[shadow_seed, i]``), saved in the run folder
   (``shadows/``), so a rerun neither resamples nor loses them.
2. **Surrogate.** The QCNN ``qcnn(n, conv_block)`` read out by ``Z`` is propagated backwards
   with a weight cut ``max_weight`` and compiled (:func:`qnnlab.surrogate.compile_surrogate`):
   ``f_theta(rho) = sum_j c_j(theta) <P_j>_rho`` over every string ``P_j`` of at most
   ``max_weight`` qubits that it reaches.
3. **Features.** For every ``T`` in ``snapshots``, the median-of-means estimates of all
   ``<P_j>`` from the first ``T`` snapshots of each state (nested subsamples; ``features/``),
   and, as the ``T -> infinity`` reference, their exact values (``exact_features``).
4. **Grid cells.** For every ``T``, training-set size ``N`` in ``train_sizes`` and seed ``s``:
   a stratified test set of ``test_size`` states (fixed per seed) and ``N`` training states
   (balanced, nested in ``N``) from the rest; the QCNN's own parameters ``theta`` are trained
   on the training features (``epochs`` full-batch Adam steps, MSE, class 1 <-> ``f > 0``,
   ``theta0`` uniform from seed ``s``) and scored on the test features; the scikit-learn
   ``baseline`` is fitted on the same features. Each cell is checkpointed.
5. **Exact QCNN beside it** (``n <= exact_model_max_qubits``): the statevector QCNN trained on
   the exact states of the same splits.

Outputs: ``results.json`` (``cells``: one record per grid cell with ``family``, ``n_qubits``,
``snapshots``, ``train_size``, ``test_accuracy_mean``, ``test_accuracy_std``, the baseline's
accuracy, and the exact references; ``trends``: the paper's two trends as numbers),
``cells.csv``, ``heatmaps.png`` (mean test accuracy over seeds, snapshots x training states,
like the paper's Fig. 1) and ``trends.png``.
"""

from __future__ import annotations

import functools
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from qnnlab.data import build_dataset, load_dataset
from qnnlab.data.phases import DatasetConfigError, resolve_config
from qnnlab.data.phases import family as dataset_family
from qnnlab.experiments.classification import (
    cache_arg,
    call_task,
    check_positive_int,
    fit_and_score,
    mean_std,
    open_run,
    qcnn_model,
    run_tasks,
)
from qnnlab.experiments.registry import ExperimentConfig, check_numbers
from qnnlab.models.qcnn import CONV_BLOCKS, qcnn, qcnn_readout
from qnnlab.runtime.checkpoint import atomic_write_bytes
from qnnlab.shadows import ClassicalShadow, ShadowFormatError
from qnnlab.surrogate.compiled import compile_surrogate
from qnnlab.surrogate.features import FeatureMatrix, surrogate_features
from qnnlab.surrogate.learners import (
    BASELINES,
    SurrogateClassifier,
    baseline_score,
    fit_baseline,
)
from qnnlab.training.losses import LOSSES

SHADOW_FAMILIES = ("xxx", "cluster-ising")
#: Exact features of MPS states cost about ``strings x qubits`` site transfers per state
#: (measured: 147 s per 100-qubit state for 44,850 strings on 2 cores), so above this product
#: the ``T -> infinity`` column is skipped for MPS datasets.
EXACT_FEATURE_BUDGET = 200_000


@dataclass(frozen=True)
class QCNNShadowsConfig(ExperimentConfig):
    """Settings of ``qcnn-shadows`` (defaults: the paper's Fig. 1, XXX at 100 qubits and
    cluster-Ising at 30, 100 states each, 10 to 20,000 snapshots per state, 4 to 80 training
    states, 3 seeds). The full paper's scale is ``--set qubits=[1024,512]`` (module doc)."""

    families: tuple[str, ...] = SHADOW_FAMILIES
    #: Chain length of each family, in the order of ``families``.
    qubits: tuple[int, ...] = (100, 30)
    n_samples: int = 100
    dataset_seed: int = 0
    dataset_options: dict = field(default_factory=dict)
    #: DMRG settings of the MPS datasets (``qnnlab.data.dmrg.DMRGSettings`` fields, e.g.
    #: ``{"chi_max": 32}``); default bond dimension 64.
    dmrg: dict = field(default_factory=dict)
    test_size: int = 20
    snapshots: tuple[int, ...] = (10, 30, 100, 300, 1000, 3000, 10000, 20000)
    train_sizes: tuple[int, ...] = (4, 10, 20, 40, 80)
    seeds: int = 3
    shadow_seed: int = 1
    max_weight: int = 2
    conv_block: str = "su4"
    #: Full-batch Adam steps per fit.
    epochs: int = 100
    learning_rate: float = 0.05
    loss: str = "mse"
    #: Classical baseline on the same features: ``"logistic"``, ``"svm"`` or ``None``.
    baseline: str | None = "logistic"
    #: Also train on exact expectation values (the ``T -> infinity`` column) where they are
    #: affordable: dense states, or MPS with ``strings x qubits <= EXACT_FEATURE_BUDGET``.
    exact_features: bool = True
    #: Train the statevector QCNN on the exact states where ``n`` is at most this.
    exact_model_max_qubits: int = 16

    @classmethod
    def quick(cls) -> QCNNShadowsConfig:
        return cls(
            qubits=(8, 8),
            n_samples=40,
            test_size=12,
            snapshots=(10, 100, 1000, 5000),
            train_sizes=(4, 12, 28),
            seeds=2,
            epochs=100,
        )

    def validate(self) -> QCNNShadowsConfig:
        check_numbers(self)
        if not self.families:
            raise ValueError("families must name at least one dataset family.")
        names = [dataset_family(f).name for f in self.families]
        for family, name in zip(self.families, names, strict=True):
            if name not in SHADOW_FAMILIES:
                raise ValueError(
                    f"qcnn-shadows runs on the phase families {SHADOW_FAMILIES}, got {family!r} "
                    "(toric code vs double semion: `qnnlab reproduce qcnn-shadows-toric`)."
                )
        if len(set(names)) != len(names):
            raise ValueError(f"families are repeated: {self.families}.")
        if len(self.qubits) != len(self.families):
            raise ValueError(
                f"qubits must give one chain length per family ({len(self.families)}), got "
                f"{self.qubits}."
            )
        for n in self.qubits:
            check_positive_int("qubits", n, 4)
        check_positive_int("n_samples", self.n_samples, 8)
        if self.n_samples % 2:
            raise ValueError(f"n_samples must be even (balanced classes), got {self.n_samples}.")
        check_positive_int("test_size", self.test_size, 2)
        if self.test_size % 2:
            raise ValueError(f"test_size must be even (balanced test set), got {self.test_size}.")
        pool = self.n_samples - self.test_size
        if not self.train_sizes:
            raise ValueError("train_sizes must list at least one training-set size.")
        for size in self.train_sizes:
            check_positive_int("train_sizes", size, 2)
            if size % 2 or size > pool:
                raise ValueError(
                    f"every train size must be even and at most n_samples - test_size = {pool}, "
                    f"got {size}."
                )
        if not self.snapshots or list(self.snapshots) != sorted(set(self.snapshots)):
            raise ValueError(f"snapshots must be increasing and distinct, got {self.snapshots}.")
        for t in self.snapshots:
            check_positive_int("snapshots", t, 1)
        for name in ("seeds", "epochs", "max_weight"):
            check_positive_int(name, getattr(self, name))
        for name in ("dataset_seed", "shadow_seed", "exact_model_max_qubits"):
            check_positive_int(name, getattr(self, name), 0)
        if self.conv_block not in CONV_BLOCKS:
            raise ValueError(f"conv_block must be one of {sorted(CONV_BLOCKS)}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        if self.baseline is not None and self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES} or null, got {self.baseline!r}.")
        unused = sorted(set(self.dataset_options) - set(names))
        if unused:
            raise ValueError(f"dataset_options names families {unused} not in {names}.")
        for name, n in zip(names, self.qubits, strict=True):
            try:
                resolve_config(
                    name,
                    n,
                    self.n_samples,
                    self.dataset_seed,
                    dmrg=self.dmrg or None,
                    **self.dataset_options.get(name, {}),
                )
            except DatasetConfigError as err:
                raise ValueError(f"dataset {name!r}: {err}") from None
        return self


# ---------------------------------------------------------------------------------------------
# splits


def split_indices(
    y: np.ndarray, test_size: int, train_sizes, seed: int
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """A balanced test set of ``test_size`` states and, for each training size ``N``, ``N/2``
    states of each class from the rest, nested in ``N`` (seed ``seed``)."""
    rng = np.random.default_rng([seed, 2408])
    classes = [rng.permutation(np.flatnonzero(y == c)) for c in (0, 1)]
    half = test_size // 2
    if min(len(c) for c in classes) < half + max(train_sizes) // 2:
        raise ValueError(
            f"a class has {min(len(c) for c in classes)} states, too few for a test set of "
            f"{test_size} and {max(train_sizes)} training states; use more samples."
        )
    test = np.sort(np.concatenate([c[:half] for c in classes]))
    train = {
        int(size): np.sort(np.concatenate([c[half : half + size // 2] for c in classes]))
        for size in train_sizes
    }
    return test, train


# ---------------------------------------------------------------------------------------------
# data acquisition and features (files in the run folder)


def _shadow_path(folder: Path, index: int) -> Path:
    return folder / f"state-{index:05d}.npz"


def shadow_task(dataset_folder: str, index: int, n_snapshots: int, seed: int, out: str) -> dict:
    """Sample (or reuse) the shadow of one state and save it to ``out``."""
    path = Path(out)
    try:
        if ClassicalShadow.load(path).n_snapshots == n_snapshots:
            return {"index": index, "file": str(path), "seconds": 0.0}
    except (FileNotFoundError, ShadowFormatError):
        pass
    start = time.perf_counter()
    shadow = load_dataset(dataset_folder).shadow(index, n_snapshots, seed=seed)
    shadow.save(path)
    return {"index": index, "file": str(path), "seconds": round(time.perf_counter() - start, 3)}


@functools.lru_cache(maxsize=4)
def family_surrogate(n_qubits: int, conv_block: str, max_weight: int):
    """The compiled weight-cut surrogate of ``qcnn(n, conv_block)`` read out by ``Z``."""
    circuit = qcnn(n_qubits, conv_block=conv_block)
    return compile_surrogate(circuit, qcnn_readout(circuit), max_weight=max_weight)


def _save_features(path: Path, features: FeatureMatrix, labels: np.ndarray) -> None:
    buffer = io.BytesIO()
    arrays = {"values": features.values.astype(np.float32), "labels": labels}
    if features.std_errors is not None:
        arrays["std_errors"] = features.std_errors.astype(np.float32)
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@functools.lru_cache(maxsize=4)
def load_features(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, labels)`` of a saved feature file."""
    with np.load(path) as data:
        return data["values"], data["labels"]


def _features_ok(path: Path, n_states: int, n_terms: int) -> bool:
    try:
        values, _ = load_features.__wrapped__(str(path))
    except (OSError, ValueError, KeyError):
        return False
    return values.shape == (n_states, n_terms)


# ---------------------------------------------------------------------------------------------
# grid cells


def cell_task(config: dict, family: str, n_qubits: int, snapshots, features: str, seed: int):
    """All training sizes of one ``(family, T, seed)``: surrogate and baseline accuracies."""
    values, y = load_features(features)
    surrogate = family_surrogate(n_qubits, config["conv_block"], config["max_weight"])
    test, trains = split_indices(y, config["test_size"], config["train_sizes"], seed)
    records = []
    for size, train in trains.items():
        start = time.perf_counter()
        model = SurrogateClassifier(surrogate).fit(
            values[train],
            y[train],
            seed=seed,
            epochs=config["epochs"],
            learning_rate=config["learning_rate"],
            batch_size=max(config["train_sizes"]),
            loss=config["loss"],
        )
        record = {
            "family": family,
            "n_qubits": n_qubits,
            "snapshots": snapshots,
            "train_size": size,
            "seed": seed,
            "test_accuracy": model.score(values[test], y[test]),
            "train_accuracy": model.score(values[train], y[train]),
            "seconds": round(time.perf_counter() - start, 3),
        }
        if config["baseline"] is not None:
            start = time.perf_counter()
            base = fit_baseline(values[train], y[train], config["baseline"], seed=seed)
            record["baseline_accuracy"] = baseline_score(base, values[test], y[test])
            record["baseline_seconds"] = round(time.perf_counter() - start, 3)
        records.append(record)
    return {"records": records}


@functools.lru_cache(maxsize=2)
def _dense_dataset(folder: str):
    dataset = load_dataset(folder)
    X = jnp.asarray(dataset.dense_states(), dtype=jnp.complex64)
    return X, np.asarray(dataset.labels, dtype=np.int32)


def exact_model_task(config: dict, family: str, n_qubits: int, seed: int, folder: str):
    """The statevector QCNN on the exact states of every training size of seed ``seed``."""
    X, y = _dense_dataset(folder)
    circuit, model_fn = qcnn_model(n_qubits, config["conv_block"], "complex64")
    test, trains = split_indices(y, config["test_size"], config["train_sizes"], seed)
    settings = {
        "loss": config["loss"],
        "learning_rate": config["learning_rate"],
        "epochs": config["epochs"],
        "batch_size": max(config["train_sizes"]),
    }
    records = []
    for size, train in trains.items():
        record, _ = fit_and_score(
            model_fn, circuit.n_params, X, y, train, test, seed=seed, settings=settings
        )
        records.append(
            {
                "family": family,
                "n_qubits": n_qubits,
                "train_size": size,
                "seed": seed,
                "test_accuracy": record["test_acc"],
                "train_accuracy": record["train_acc"],
                "seconds": record["seconds"],
            }
        )
    return {"records": records}


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class ShadowsRun:
    config: QCNNShadowsConfig
    directory: Path
    cells: list[dict]
    exact_feature_cells: list[dict]
    exact_model: list[dict]
    trends: dict
    timings: dict


def run_qcnn_shadows(
    config: QCNNShadowsConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> ShadowsRun:
    """Build (or load) the datasets, acquire shadows, compute features, run (or resume) every
    grid cell, and write the outputs into ``out`` (module doc)."""
    config = config.validate()
    families = tuple(dataset_family(f).name for f in config.families)
    settings = {**config.to_dict(), "families": families}
    run = open_run("qcnn-shadows", settings, out, command)
    cache = cache_arg(cache_dir)
    timings: dict[str, dict] = {}
    tasks, names = [], []
    info = {}
    for family, n in zip(families, config.qubits, strict=True):
        key = f"{family}-n{n}"
        timing = timings.setdefault(key, {})
        start = time.perf_counter()
        dataset = build_dataset(
            family,
            n_qubits=n,
            n_samples=config.n_samples,
            seed=config.dataset_seed,
            cache_dir=cache,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            dmrg=config.dmrg or None,
            **config.dataset_options.get(family, {}),
        )
        timing["dataset_seconds"] = round(time.perf_counter() - start, 2)
        labels = np.asarray(dataset.labels, dtype=np.int32)

        start = time.perf_counter()
        surrogate = family_surrogate(n, config.conv_block, config.max_weight)
        timing["surrogate_seconds"] = round(time.perf_counter() - start, 2)
        info[key] = {"dataset": str(dataset.folder), "surrogate_terms": surrogate.n_terms}

        start = time.perf_counter()
        shadows = acquire_shadows(
            run,
            dataset,
            key,
            max(config.snapshots),
            config.shadow_seed,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
        timing["shadow_seconds"] = round(time.perf_counter() - start, 2)

        start = time.perf_counter()
        feature_files = _compute_features(run, config, dataset, surrogate, key, shadows, labels)
        timing["feature_seconds"] = round(time.perf_counter() - start, 2)
        for snapshots, path in feature_files.items():
            for s in range(config.seeds):
                tasks.append((cell_task, (settings, family, n, snapshots, str(path), s)))
                names.append(f"cell-{key}-T{snapshots or 'exact'}-seed{s}")
        if n <= config.exact_model_max_qubits:
            for s in range(config.seeds):
                tasks.append((exact_model_task, (settings, family, n, s, str(dataset.folder))))
                names.append(f"exact-model-{key}-seed{s}")
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
        desc="grid cells",
    )
    training_seconds = round(time.perf_counter() - start, 2)
    records = [r for out_ in outputs for r in out_["records"]]
    shadow_records = [r for r in records if "snapshots" in r and r["snapshots"] is not None]
    exact_feature_records = [r for r in records if "snapshots" in r and r["snapshots"] is None]
    model_records = [r for r in records if "snapshots" not in r]
    cells = summarize_cells(shadow_records, model_records)
    exact_cells = summarize_cells(exact_feature_records, model_records)
    trends = measure_trends(cells)
    result = ShadowsRun(config, run.path, cells, exact_cells, model_records, trends, timings)
    _write_outputs(run, settings, result, info, records, training_seconds)
    run.log("done")
    return result


def acquire_shadows(
    run, dataset, key: str, n_snapshots: int, seed: int, *, workers, scheduler, progress
) -> list[Path]:
    """Sample (or reuse) ``n_snapshots`` snapshots of every state of ``dataset`` into
    ``run/shadows/key/`` (one checkpointed :func:`shadow_task` per state); their paths."""
    folder = run.path / "shadows" / key
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_shadow_path(folder, i) for i in range(len(dataset))]
    tasks = [
        (str(dataset.folder), i, n_snapshots, seed, str(paths[i])) for i in range(len(dataset))
    ]
    names = [f"shadow-{key}-{i:05d}" for i in range(len(dataset))]
    settings = {"dataset": str(dataset.folder), "snapshots": n_snapshots, "seed": seed}
    run_tasks(
        run,
        settings,
        shadow_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc=f"shadows {key}",
    )
    return paths


def _compute_features(run, config, dataset, surrogate, key, shadow_paths, labels) -> dict:
    folder = run.path / "features" / key
    folder.mkdir(parents=True, exist_ok=True)
    files: dict = {}
    shadows = None
    for snapshots in config.snapshots:
        path = folder / f"T{snapshots}.npz"
        if not _features_ok(path, len(dataset), surrogate.n_terms):
            if shadows is None:
                shadows = [ClassicalShadow.load(p) for p in shadow_paths]
            feats = surrogate_features(surrogate.table, shadows, n_snapshots=snapshots)
            _save_features(path, feats, labels)
            load_features.cache_clear()
            run.log(f"features {key} T={snapshots}: {feats.values.shape}")
        files[snapshots] = path
    dense = isinstance(dataset.state(0), np.ndarray)
    if (
        config.exact_features
        and not dense
        and surrogate.n_terms * dataset.n_qubits > (EXACT_FEATURE_BUDGET)
    ):
        run.log(
            f"features {key} exact: skipped ({surrogate.n_terms} strings on {dataset.n_qubits}-"
            f"qubit MPS exceed the budget {EXACT_FEATURE_BUDGET} strings x qubits)"
        )
    elif config.exact_features:
        path = folder / "exact.npz"
        if not _features_ok(path, len(dataset), surrogate.n_terms):
            states = list(dataset.states())
            data = np.stack(states) if isinstance(states[0], np.ndarray) else states
            _save_features(path, surrogate_features(surrogate.table, data), labels)
            load_features.cache_clear()
            run.log(f"features {key} exact")
        files[None] = path
    return files


# ---------------------------------------------------------------------------------------------
# summaries


def summarize_cells(records: list[dict], model_records: list[dict]) -> list[dict]:
    """One row per ``(family, n, T, N)``: mean and std over seeds of the surrogate's and the
    baseline's test accuracy, and the exact QCNN's at the same ``N`` (where trained)."""
    keys = sorted(
        {(r["family"], r["n_qubits"], r["snapshots"] or 0, r["train_size"]) for r in records}
    )
    cells = []
    for family, n, t, size in keys:
        members = [
            r
            for r in records
            if (r["family"], r["n_qubits"], r["snapshots"] or 0, r["train_size"])
            == (family, n, t, size)
        ]
        test = mean_std([r["test_accuracy"] for r in members])
        train = mean_std([r["train_accuracy"] for r in members])
        cell = {
            "family": family,
            "n_qubits": n,
            "snapshots": members[0]["snapshots"],
            "train_size": size,
            "seeds": test["n"],
            "test_accuracy_mean": test["mean"],
            "test_accuracy_std": test["std"],
            "train_accuracy_mean": train["mean"],
        }
        if "baseline_accuracy" in members[0]:
            base = mean_std([r["baseline_accuracy"] for r in members])
            cell["baseline_accuracy_mean"] = base["mean"]
            cell["baseline_accuracy_std"] = base["std"]
        exact = [
            r
            for r in model_records
            if (r["family"], r["n_qubits"], r["train_size"]) == (family, n, size)
        ]
        if exact:
            stats = mean_std([r["test_accuracy"] for r in exact])
            cell["exact_qcnn_accuracy_mean"] = stats["mean"]
            cell["exact_qcnn_accuracy_std"] = stats["std"]
        cells.append(cell)
    return cells


def _slope(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def measure_trends(cells: list[dict]) -> dict:
    """The paper's two trends per dataset, as numbers.

    ``accuracy_vs_snapshots``: mean test accuracy over training sizes at each ``T``, and its
    least-squares slope per decade of ``T``. ``accuracy_vs_train_size``: the same over ``T`` at
    each ``N``, the slope per decade of ``N``, and the spread (max - min over ``N``) at the
    largest ``T``.
    """
    trends = {}
    for family, n in sorted({(c["family"], c["n_qubits"]) for c in cells}):
        rows = [c for c in cells if (c["family"], c["n_qubits"]) == (family, n)]
        ts = sorted({c["snapshots"] for c in rows})
        ns = sorted({c["train_size"] for c in rows})
        by_t = [np.mean([c["test_accuracy_mean"] for c in rows if c["snapshots"] == t]) for t in ts]
        by_n = [
            np.mean([c["test_accuracy_mean"] for c in rows if c["train_size"] == s]) for s in ns
        ]
        at_max_t = [c["test_accuracy_mean"] for c in rows if c["snapshots"] == ts[-1]]
        trends[f"{family}-n{n}"] = {
            "snapshots": ts,
            "accuracy_vs_snapshots": [float(v) for v in by_t],
            "slope_per_decade_of_snapshots": _slope(np.log10(ts), by_t),
            "train_sizes": ns,
            "accuracy_vs_train_size": [float(v) for v in by_n],
            "slope_per_decade_of_train_size": _slope(np.log10(ns), by_n),
            "spread_over_train_sizes_at_max_snapshots": float(np.ptp(at_max_t)),
            "best_cell_accuracy": float(max(c["test_accuracy_mean"] for c in rows)),
        }
    return trends


# ---------------------------------------------------------------------------------------------
# outputs


def _write_outputs(run, settings, result: ShadowsRun, info, records, training_seconds) -> None:
    run.write_results(
        {
            "experiment": "qcnn-shadows",
            "config": settings,
            "datasets": info,
            "cells": result.cells,
            "exact_feature_cells": result.exact_feature_cells,
            "exact_model": result.exact_model,
            "trends": result.trends,
            "timings": {**result.timings, "grid_seconds": training_seconds},
            "runs": records,
        }
    )
    keys = ["family", "n_qubits", "snapshots", "train_size", "seeds", "test_accuracy_mean"]
    keys += ["test_accuracy_std", "train_accuracy_mean", "baseline_accuracy_mean"]
    keys += ["baseline_accuracy_std", "exact_qcnn_accuracy_mean", "exact_qcnn_accuracy_std"]
    rows = [
        [c.get(k, "") if c.get(k) is not None else "exact" for k in keys]
        for c in result.cells + result.exact_feature_cells
    ]
    run.write_csv("cells.csv", keys, rows)
    from qnnlab.analysis.shadow_plots import plot_shadow_heatmaps, plot_shadow_trends

    run.save_figure(plot_shadow_heatmaps(result.cells, result.exact_feature_cells), "heatmaps.png")
    run.save_figure(plot_shadow_trends(result.cells, result.exact_feature_cells), "trends.png")


def report(result: ShadowsRun) -> list[str]:
    """Text summary: per dataset the accuracy at the smallest and largest ``T`` and the trends."""
    lines = []
    for key, trend in result.trends.items():
        acc, ts = trend["accuracy_vs_snapshots"], trend["snapshots"]
        slope_t = trend["slope_per_decade_of_snapshots"]
        slope_n = trend["slope_per_decade_of_train_size"]
        lines.append(
            f"{key}: surrogate test accuracy (mean over N) {acc[0]:.3f} at T={ts[0]} -> "
            f"{acc[-1]:.3f} at T={ts[-1]}; slope {slope_t:+.3f}/decade of T, "
            f"{slope_n:+.3f}/decade of N"
        )
    for cell in result.exact_feature_cells:
        line = f"  exact features {cell['family']} n={cell['n_qubits']} N={cell['train_size']}: "
        line += f"{cell['test_accuracy_mean']:.3f}"
        if "exact_qcnn_accuracy_mean" in cell:
            line += f" (statevector QCNN {cell['exact_qcnn_accuracy_mean']:.3f})"
        lines.append(line)
    return lines
