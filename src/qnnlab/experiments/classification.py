"""Shared machinery of the QCNN classification experiments.

* :func:`qcnn_model`: one compiled QCNN per ``(n, block, dtype, engine)`` and process, so every
  fit of a sweep reuses the jitted training step (:func:`qnnlab.training.fit` caches it by model).
  ``engine`` names any registered engine (:data:`qnnlab.engines.ENGINES`).
* :func:`dataset_arrays`: a cached dataset as ``(X, y)`` arrays in the model's dtype.
* :func:`fit_and_score`: train on one split, score on its test part, return a JSON record.
* :func:`run_tasks`: map a task function over a sweep through a task runner (this process, local
  processes or a Dask cluster) and checkpoint every finished task in the run folder, so a killed
  sweep resumes where it stopped.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from qnnlab.data import build_dataset
from qnnlab.engines import check_trainable_engine, make_engine
from qnnlab.engines.shots import check_shots
from qnnlab.models.qcnn import CONV_BLOCKS, qcnn, qcnn_readout
from qnnlab.runtime.checkpoint import TaskCheckpoint
from qnnlab.runtime.rundir import RunDirectory
from qnnlab.runtime.tasks import make_runner
from qnnlab.training.fit import evaluate, fit, init_params
from qnnlab.training.losses import LOSSES

DTYPES = ("complex64", "complex128")


def check_training_settings(config) -> None:
    """Validate the fields shared by the QCNN experiment configs (``ValueError`` naming the fix)."""
    if config.conv_block not in CONV_BLOCKS:
        raise ValueError(
            f"conv_block must be one of {sorted(CONV_BLOCKS)}, got {config.conv_block!r}."
        )
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {config.loss!r}.")
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {config.dtype!r}.")
    check_trainable_engine(config.engine, "training a QCNN")
    if config.shots is not None:
        check_shots(config.shots)
    for name in ("epochs", "batch_size"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    rate = config.learning_rate
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {rate!r}.")


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


@functools.lru_cache(maxsize=8)
def qcnn_model(n_qubits: int, conv_block: str, dtype: str, engine: str = "statevector"):
    """``(circuit, model_fn)`` of ``qcnn(n, conv_block=...)`` read out as ``<Z>`` on the last
    qubit, on the registered engine ``engine``."""
    circuit = qcnn(n_qubits, conv_block=conv_block)
    simulator = make_engine(circuit, engine, dtype=dtype)
    return circuit, simulator.expval_fn(qcnn_readout(circuit))


@functools.lru_cache(maxsize=4)
def dataset_arrays(
    name: str,
    n_qubits: int,
    n_samples: int,
    seed: int,
    cache_dir: str | None,
    dtype: str,
    options: tuple = (),
):
    """``(X, y, dataset)`` of a cached dataset (built serially if missing): ``X`` the dense
    states as a ``(M, 2**n)`` JAX array of ``dtype``, ``y`` the 0/1 labels."""
    dataset = build_dataset(
        name,
        n_qubits=n_qubits,
        n_samples=n_samples,
        seed=seed,
        cache_dir=cache_dir,
        workers=1,
        progress=False,
        **dict(options),
    )
    X = jnp.asarray(dataset.dense_states(), dtype=dtype)
    return X, np.asarray(dataset.labels, dtype=np.int32), dataset


def _json_float(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def fit_and_score(
    model_fn: Callable,
    n_params: int,
    X,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    seed: int,
    settings: dict,
    val: np.ndarray | None = None,
    patience: int | None = None,
    dtype=jnp.float32,
) -> tuple[dict, np.ndarray]:
    """Train from ``theta0 = init_params(n_params, seed)`` on ``X[train]`` (validation on
    ``X[val]`` with early stopping if given) and evaluate on ``X[test]``. ``settings`` holds
    ``loss, learning_rate, epochs, batch_size`` and optionally ``shots`` (an experiment config as
    a dict): with ``shots``, validation and test metrics are finite-shot estimates seeded by
    ``seed`` (:func:`qnnlab.training.evaluate`); training gradients stay exact.

    Returns ``(record, params)``; the record holds the train/validation/test loss and accuracy
    of the returned parameters, the test accuracy of the untrained ``theta0``, epochs run, the
    wall time and the per-epoch history (``train_loss, train_acc, val_loss, val_acc``).
    """
    theta0 = init_params(n_params, seed, dtype)
    shots = settings.get("shots")
    has_val = val is not None and len(val) > 0
    start = time.perf_counter()
    result = fit(
        model_fn,
        theta0,
        X[train],
        y[train],
        loss=settings["loss"],
        learning_rate=settings["learning_rate"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        seed=seed,
        X_val=X[val] if has_val else None,
        y_val=y[val] if has_val else None,
        patience=patience if has_val else None,
        eval_shots=shots,
    )
    seconds = time.perf_counter() - start
    scoring = {"loss": settings["loss"], "shots": shots, "seed": seed if shots else None}
    test_metrics = evaluate(model_fn, result.params, X[test], y[test], **scoring)
    init_metrics = evaluate(model_fn, theta0, X[test], y[test], **scoring)
    record = {
        "seed": int(seed),
        "n_train": len(train),
        "n_val": len(val) if has_val else 0,
        "n_test": len(test),
        "train_loss": _json_float(result.metrics["train_loss"]),
        "train_acc": _json_float(result.metrics["train_acc"]),
        "val_loss": _json_float(result.metrics["val_loss"]),
        "val_acc": _json_float(result.metrics["val_acc"]),
        "test_loss": test_metrics["loss"],
        "test_acc": test_metrics["accuracy"],
        "init_test_acc": init_metrics["accuracy"],
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(seconds, 3),
        "history": {
            k: [_json_float(v) for v in result.history[k]]
            for k in ("train_loss", "train_acc", "val_loss", "val_acc")
        },
    }
    return record, result.params


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "stderr", "n"}`` over runs (``std`` with ``ddof = 1``, 0 for one run);
    ``stderr = std / sqrt(n)`` is the error bar of the mean."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    n = v.size
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "stderr": math.nan, "n": 0}
    std = float(np.std(v, ddof=1)) if n > 1 else 0.0
    return {"mean": float(v.mean()), "std": std, "stderr": std / math.sqrt(n), "n": int(n)}


def open_run(experiment: str, settings: dict, out: str | Path, command: str | None):
    """The run folder ``out`` with ``config.json`` (``experiment`` and ``settings``) and a log.

    Raises :class:`qnnlab.runtime.rundir.RunFolderError` if ``out`` holds another command's run
    or other settings (the same experiment and settings resume)."""
    run = RunDirectory(out)
    owner = f"qnnlab reproduce {experiment}"
    run.write_config({"experiment": experiment, **settings}, command, owner=owner)
    run.log(f"start {experiment} {settings}")
    return run


def run_tasks(
    run: RunDirectory,
    config: dict,
    fn: Callable,
    tasks: Sequence[tuple],
    names: Sequence[str],
    *,
    workers: int | None,
    scheduler: str | None,
    progress: bool,
    desc: str,
) -> list[dict]:
    """``fn(*task)`` for every task whose record is not yet checkpointed under ``names[i]``;
    each record is saved as soon as its task finishes. Returns all records, in task order.

    Tasks run in this process unless ``workers > 1`` (local processes) or a Dask ``scheduler``
    address is given (:func:`qnnlab.runtime.tasks.make_runner`).
    """
    checkpoint = TaskCheckpoint(run.checkpoints, config)
    records: list[dict | None] = [checkpoint.load(name) for name in names]
    todo = [i for i, record in enumerate(records) if record is None]
    if len(todo) < len(tasks):
        run.log(f"resuming: {len(tasks) - len(todo)} of {len(tasks)} tasks already done")
    runner = make_runner(1 if workers is None else workers, scheduler)
    try:
        pending = [tasks[i] for i in todo]
        for k, record in runner.run(fn, pending, desc=desc, progress=progress):
            i = todo[k]
            checkpoint.save(names[i], record)
            records[i] = record
            run.log(f"{names[i]}: {_short(record)}")
    finally:
        if hasattr(runner, "close"):
            runner.close()
    return [r for r in records if r is not None]


def summarize_groups(records: list[dict], groups: list[dict], metrics: Sequence[str]) -> list[dict]:
    """One row per group (record fields and their values, e.g. ``{"size": 100}``): the group,
    its number of records ``runs`` and :func:`mean_std` of every metric over its records."""
    rows = []
    for group in groups:
        members = [r for r in records if all(r[k] == v for k, v in group.items())]
        row = {**group, "runs": len(members)}
        for key in metrics:
            row[key] = mean_std([r[key] for r in members])
        rows.append(row)
    return rows


def summary_table(
    summary: list[dict], columns: dict[str, str], metrics: Sequence[str]
) -> tuple[list[str], list[list]]:
    """``(header, rows)`` of a CSV of :func:`summarize_groups` rows: the group ``columns``
    (CSV name -> row key), ``runs``, then ``<metric>_mean, <metric>_std`` for each metric."""
    stats = ("mean", "std")
    header = [*columns, "runs"] + [f"{k}_{s}" for k in metrics for s in stats]
    rows = [
        [row[key] for key in columns.values()]
        + [row["runs"]]
        + [row[k][s] for k in metrics for s in stats]
        for row in summary
    ]
    return header, rows


def _short(record: dict) -> str:
    keys = ("train_acc", "val_acc", "test_acc", "epochs_run", "seconds")
    return ", ".join(f"{k}={record[k]}" for k in keys if record.get(k) is not None)


def cache_arg(cache_dir: str | Path | None) -> str | None:
    """A picklable, hashable form of the cache folder for task arguments."""
    return None if cache_dir is None else str(Path(cache_dir).expanduser().resolve())


def call_task(fn: Callable, args: tuple):
    """``fn(*args)``: lets one ``run_tasks`` sweep mix task functions (``(fn, args)`` tasks)."""
    return fn(*args)
