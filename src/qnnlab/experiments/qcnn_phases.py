"""``qcnn-phases``: QCNNs on the quantum-phase datasets, the control experiment.

The bond-alternating XXX chain (trivial vs topological dimer phase) and the cluster-Ising chain
(SPT vs not) have *local* order: a few-body observable (the bulk dimerization, the ``Z X Z``
cluster term and its string order) separates the phases, which a QCNN, whose backward light
cone reaches every qubit, can learn. Expected: high test accuracy at every chain length.

Sweep: for every family in ``families`` and chain length ``n`` in ``qubits``, the dataset
``build_dataset(family, n, n_samples, seed=dataset_seed, **dataset_options.get(family, {}))``
(exact ground states up to 16 qubits,
DMRG beyond, densified for the statevector engine) is split ``seeds`` times (seed ``s``,
stratified: ``1 - val - test`` train, ``val`` validation, ``test`` test); a QCNN
(``qcnn(n, conv_block)``, ``<Z>`` readout, ``theta0`` uniform with seed ``s``) is trained with
Adam, early stopping on the validation loss after ``patience`` epochs without improvement
(best parameters restored), and scored on the test states.

Outputs in the run folder: ``config.json``, ``results.json`` (summary per family and ``n`` with
mean, std and standard error over seeds, and every run with its learning curve),
``accuracy.csv`` (per family and ``n``), ``runs.csv`` (per run) and ``accuracy.png``: left,
test (and train) accuracy vs ``n`` per family with ``std`` error bars over seeds; right, the
validation loss per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from qnnlab.analysis.classification_plots import (
    AccuracySeries,
    pad_curves,
    plot_accuracy_sweep,
    plot_learning_curves,
)
from qnnlab.data import build_dataset
from qnnlab.data.phases import DatasetConfigError, resolve_config
from qnnlab.data.phases import family as dataset_family
from qnnlab.experiments.classification import (
    cache_arg,
    check_positive_int,
    check_training_settings,
    dataset_arrays,
    fit_and_score,
    open_run,
    qcnn_model,
    run_tasks,
    summarize_groups,
    summary_table,
)
from qnnlab.experiments.registry import ExperimentConfig, check_numbers
from qnnlab.training.splits import train_val_test_split

#: Families of local order that this control experiment accepts.
PHASE_FAMILIES = ("xxx", "cluster-ising")
#: Largest chain the dense statevector engine is asked to train on here.
MAX_QUBITS = 20


@dataclass(frozen=True)
class QCNNPhasesConfig(ExperimentConfig):
    """Settings of ``qcnn-phases`` (defaults: both families at 8, 12 and 16 qubits, 200 states
    each, 5 seeds, a 60/20/20 split)."""

    families: tuple[str, ...] = PHASE_FAMILIES
    qubits: tuple[int, ...] = (8, 12, 16)
    n_samples: int = 200
    dataset_seed: int = 0
    #: Per-family dataset options, e.g. ``{"xxx": {"exclusion": 0.2}}`` to keep samples away
    #: from the critical point (``qnnlab dataset build --option``; :mod:`qnnlab.data.phases`).
    dataset_options: dict = field(default_factory=dict)
    seeds: int = 5
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    conv_block: str = "su4"
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.01
    patience: int | None = 20
    loss: str = "mse"
    dtype: str = "complex64"
    #: Simulator, any name in :data:`qnnlab.engines.ENGINES` (same results up to rounding).
    engine: str = "statevector"
    #: Finite shots per test/validation estimate (``None``: exact); training stays exact.
    shots: int | None = None

    @classmethod
    def quick(cls) -> QCNNPhasesConfig:
        return cls(
            families=("xxx",), qubits=(6, 8), n_samples=40, seeds=2, epochs=20, patience=None
        )

    def validate(self) -> QCNNPhasesConfig:
        check_numbers(self)
        if not self.families:
            raise ValueError("families must name at least one dataset family.")
        canonical = []
        for family in self.families:
            name = dataset_family(family).name
            if name not in PHASE_FAMILIES:
                raise ValueError(
                    f"qcnn-phases trains on the local-order families {PHASE_FAMILIES}, got "
                    f"{family!r} (the topological dataset is `qnnlab reproduce qcnn-topological`)."
                )
            canonical.append(name)
        if len(set(canonical)) != len(canonical):
            raise ValueError(f"families are repeated: {self.families}.")
        if not self.qubits:
            raise ValueError("qubits must list at least one chain length.")
        for n in self.qubits:
            if isinstance(n, bool) or not isinstance(n, int) or not 4 <= n <= MAX_QUBITS:
                raise ValueError(
                    f"chain lengths must be integers in 4..{MAX_QUBITS} (dense statevector "
                    f"training), got {n!r}."
                )
        if len(set(self.qubits)) != len(self.qubits):
            raise ValueError(f"qubits are repeated: {self.qubits}.")
        check_positive_int("n_samples", self.n_samples, 4)
        if self.n_samples % 2:
            raise ValueError(f"n_samples must be even (balanced classes), got {self.n_samples}.")
        if not isinstance(self.dataset_options, dict) or not all(
            isinstance(v, dict) for v in self.dataset_options.values()
        ):
            raise ValueError(
                "dataset_options must map family names to option dicts, e.g. "
                f'{{"xxx": {{"exclusion": 0.2}}}}; got {self.dataset_options!r}.'
            )
        unused = sorted(set(self.dataset_options) - set(canonical))
        if unused:
            raise ValueError(
                f"dataset_options names families {unused} that are not in families "
                f"{list(canonical)} (use the canonical names 'xxx', 'cluster-ising')."
            )
        check_positive_int("seeds", self.seeds)
        check_positive_int("dataset_seed", self.dataset_seed, 0)
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}.")
        if self.test_fraction <= 0:
            raise ValueError("test_fraction must be > 0: the experiment reports test accuracy.")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must be < 1 to leave training data.")
        if self.patience is not None:
            check_positive_int("patience", self.patience)
            if self.val_fraction <= 0:
                raise ValueError("early stopping (patience) needs val_fraction > 0.")
        check_training_settings(self)
        for name in canonical:  # the dataset options, checked as the builds will check them
            for n in self.qubits:
                try:
                    resolve_config(
                        name,
                        n,
                        self.n_samples,
                        self.dataset_seed,
                        **self.dataset_options.get(name, {}),
                    )
                except DatasetConfigError as err:
                    raise ValueError(f"dataset_options[{name!r}]: {err}") from None
        return self


def _hashable_options(options: dict) -> tuple:
    """``(key, value)`` pairs with lists as tuples (the dataset cache key of this process)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def phase_task(config: dict, family: str, n_qubits: int, seed: int, cache: str | None) -> dict:
    """One QCNN on the ``family`` dataset of ``n_qubits`` qubits, split and initialised by
    ``seed``; returns the record of :func:`fit_and_score` with ``family``, ``n_qubits``."""
    X, y, _ = dataset_arrays(
        family,
        n_qubits,
        config["n_samples"],
        config["dataset_seed"],
        cache,
        config["dtype"],
        _hashable_options(config["dataset_options"].get(family, {})),
    )
    circuit, model_fn = qcnn_model(
        n_qubits, config["conv_block"], config["dtype"], config["engine"]
    )
    train, val, test = train_val_test_split(
        len(y), val=config["val_fraction"], test=config["test_fraction"], seed=seed, stratify=y
    )
    record, _ = fit_and_score(
        model_fn,
        circuit.n_params,
        X,
        y,
        train,
        test,
        seed=seed,
        settings=config,
        val=val,
        patience=config["patience"],
    )
    record.update(family=family, n_qubits=n_qubits, n_params=circuit.n_params)
    return record


@dataclass
class PhasesRun:
    config: QCNNPhasesConfig
    directory: Path
    summary: list[dict]
    runs: list[dict]


def summarize(records: list[dict], families, qubits) -> list[dict]:
    """Per family and chain length: ``mean, std, stderr`` over seeds of the recorded metrics."""
    groups = [{"family": f, "n_qubits": n} for f in families for n in qubits]
    metrics = ("train_acc", "val_acc", "test_acc", "test_loss", "init_test_acc", "epochs_run")
    return summarize_groups(records, groups, metrics)


def run_qcnn_phases(
    config: QCNNPhasesConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> PhasesRun:
    """Build (or load) the datasets, run (or resume) the fits into ``out``, write the outputs.

    Datasets are built with ``workers`` processes (default: all cores) or on the Dask
    ``scheduler``; the fits run there too when ``workers > 1`` or a scheduler is given, and in
    this process by default (JAX then uses every core for each fit).
    """
    config = config.validate()
    families = tuple(dataset_family(f).name for f in config.families)
    settings = {**config.to_dict(), "families": families}
    run = open_run("qcnn-phases", settings, out, command)
    cache = cache_arg(cache_dir)
    datasets = {}
    for family in families:
        for n in config.qubits:
            datasets[f"{family}-n{n}"] = build_dataset(
                family,
                n_qubits=n,
                n_samples=config.n_samples,
                seed=config.dataset_seed,
                cache_dir=cache,
                workers=workers,
                scheduler=scheduler,
                **config.dataset_options.get(family, {}),
                progress=progress,
            ).folder
    tasks, names = [], []
    for family in families:
        for n in config.qubits:
            for s in range(config.seeds):
                tasks.append((settings, family, n, s, cache))
                names.append(f"{family}-n{n}-seed{s}")
    records = run_tasks(
        run,
        settings,
        phase_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="fits",
    )
    summary = summarize(records, families, config.qubits)
    _write_outputs(run, config, families, summary, records, datasets)
    run.log("done")
    return PhasesRun(config, run.path, summary, records)


def _write_outputs(run, config, families, summary, records, datasets) -> None:
    run.write_results(
        {
            "experiment": "qcnn-phases",
            "config": {**config.to_dict(), "families": families},
            "datasets": {key: str(folder) for key, folder in datasets.items()},
            "summary": summary,
            "runs": records,
        }
    )
    metrics = ("train_acc", "val_acc", "test_acc", "test_loss", "init_test_acc", "epochs_run")
    header, rows = summary_table(summary, {"family": "family", "n_qubits": "n_qubits"}, metrics)
    run.write_csv("accuracy.csv", header, rows)
    keys = ("family", "n_qubits", "seed", "n_params", "n_train", "n_val", "n_test", "train_acc")
    keys += ("val_acc", "test_acc", "test_loss", "init_test_acc", "epochs_run", "best_epoch")
    keys += ("seconds",)
    run.write_csv("runs.csv", keys, [[r[k] for k in keys] for r in records])

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series = []
    for i, family in enumerate(families):
        rows = [r for r in summary if r["family"] == family]
        qubits = [r["n_qubits"] for r in rows]
        color = colors[i % len(colors)]
        for key, style, label in (("test_acc", "o-", "test"), ("train_acc", "s:", "train")):
            series.append(
                AccuracySeries(
                    f"{family} {label}",
                    qubits,
                    [r[key]["mean"] for r in rows],
                    [r[key]["std"] for r in rows],
                    style,
                    color,
                )
            )
    plot_accuracy_sweep(
        series,
        xlabel="qubits n",
        title=(
            f"QCNN ({config.conv_block}) on phase datasets, {config.n_samples} states each\n"
            f"mean +- std over {config.seeds} seeds"
        ),
        ax=axes[0],
    )
    curve_key = "val_loss" if config.val_fraction > 0 else "train_loss"
    curves = {
        f"{family} n={n}": pad_curves(
            [
                r["history"][curve_key]
                for r in records
                if r["family"] == family and r["n_qubits"] == n
            ]
        )
        for family in families
        for n in config.qubits
    }
    plot_learning_curves(
        curves,
        ylabel=f"{curve_key.replace('_', ' ')} ({config.loss})",
        title="learning curves",
        ax=axes[1],
    )
    fig.tight_layout()
    run.save_figure(fig, "accuracy.png")
    plt.close(fig)


def report(result: PhasesRun) -> list[str]:
    """Text table of the summary: accuracies as ``mean +- std`` over seeds."""
    lines = [f"{'family':<14} {'n':>3}  {'test acc':>15}  {'train acc':>15}  epochs"]
    for row in result.summary:
        test = f"{row['test_acc']['mean']:.3f} +- {row['test_acc']['std']:.3f}"
        train = f"{row['train_acc']['mean']:.3f} +- {row['train_acc']['std']:.3f}"
        epochs = row["epochs_run"]["mean"]
        lines.append(
            f"{row['family']:<14} {row['n_qubits']:>3}  {test:>15}  {train:>15}  {epochs:.0f}"
        )
    return lines
