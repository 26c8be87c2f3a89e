"""``qcnn-topological``: a QCNN on toric code vs double semion (qcnn-simulability, Fig. 2).

Data: the ``toric-vs-semion`` dataset (:mod:`qnnlab.data.topological`): ``n_samples`` states
of 12 qubits, half toric code (label 0) and half double semion (label 1), each an equal-weight,
random-phase superposition of the four ground states on the 2 x 2 honeycomb torus, perturbed by
a layer of small random single-qubit rotations. Every 1-, 2- and 3-qubit marginal is the same
for both classes; the label first shows in 4-qubit loops (phase dependent) and, for every
sample, in the 6-qubit plaquettes ``<X_p> = prod_{e in p} X_e`` (``+1`` vs ``-1/4``).

Sweep: for every training-set size ``N`` in ``train_sizes`` and every run ``r < runs``, a
stratified random split (seed ``r``) puts ``N`` states in the training set and all others in
the test set; a QCNN (``qcnn(12, conv_block)``, ``<Z>`` readout, ``theta0`` uniform with seed
``r``) is trained for ``epochs`` epochs with Adam on the MSE (or BCE) loss, without early
stopping, as a randomly initialised QCNN trained on the raw states in the paper.

Recorded per run: train and test accuracy and loss, the test accuracy of the untrained
``theta0`` (chance level check), and the Pearson correlation, over test states, between the
QCNN output ``<Z>`` and the mean plaquette ``xbar = (1/4) sum_p <X_p>``: a trained QCNN that
classifies by the plaquette operator has ``|corr|`` near 1. The plaquette reference classifier
``xbar > 3/8`` (the midpoint of ``+1`` and ``-1/4``) is reported as the accuracy a single
6-body observable reaches.

Outputs in the run folder: ``config.json``, ``results.json`` (summary per size and every run
with its learning curve), ``accuracy.csv`` (per size), ``runs.csv`` (per run) and
``accuracy.png``: left, train and test accuracy vs ``N`` (mean +- std over runs, as Fig. 2)
with the untrained and plaquette references; right, the training loss per epoch for each ``N``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.analysis.classification_plots import (
    AccuracySeries,
    pad_curves,
    plot_accuracy_sweep,
    plot_learning_curves,
)
from qnnlab.checks import check_int
from qnnlab.data.phases import resolve_config
from qnnlab.data.topological import MAX_LAYERS, honeycomb_torus, plaquette_operator
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
from qnnlab.training.fit import predict_expvals
from qnnlab.training.splits import train_val_test_split

N_QUBITS = 12
#: Midpoint of the mean plaquette ``<X_p>`` of the two classes (``+1`` and ``-1/4``).
PLAQUETTE_THRESHOLD = 0.375


@dataclass(frozen=True)
class QCNNTopologicalConfig(ExperimentConfig):
    """Settings of ``qcnn-topological``; the defaults are the paper's Fig. 2 (12 qubits, 500
    samples, 5 independent runs). ``strength`` and ``perturbation_layers`` are the dataset's
    single-qubit perturbation (:func:`qnnlab.data.topological.topological_sample`)."""

    n_samples: int = 500
    dataset_seed: int = 0
    strength: float = 0.1
    perturbation_layers: int = 1
    train_sizes: tuple[int, ...] = (10, 20, 50, 100, 200, 400)
    runs: int = 5
    conv_block: str = "su4"
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 0.01
    loss: str = "mse"
    dtype: str = "complex64"
    #: Simulator, any name in :data:`qnnlab.engines.ENGINES` (same results up to rounding).
    engine: str = "statevector"
    #: Finite shots per test/validation estimate (``None``: exact); training stays exact.
    shots: int | None = None

    @classmethod
    def quick(cls) -> QCNNTopologicalConfig:
        return cls(n_samples=60, train_sizes=(10, 30), runs=2, epochs=15)

    def validate(self) -> QCNNTopologicalConfig:
        check_numbers(self)
        check_positive_int("n_samples", self.n_samples, 4)
        if self.n_samples % 2:
            raise ValueError(f"n_samples must be even (balanced classes), got {self.n_samples}.")
        check_positive_int("runs", self.runs)
        check_positive_int("dataset_seed", self.dataset_seed, 0)
        check_positive_int("perturbation_layers", self.perturbation_layers, 0)
        check_int("perturbation_layers", self.perturbation_layers, maximum=MAX_LAYERS)
        if not self.train_sizes:
            raise ValueError("train_sizes must list at least one training-set size.")
        for size in self.train_sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 2 or size % 2:
                raise ValueError(
                    f"training-set sizes must be even integers >= 2 (balanced classes), "
                    f"got {size!r}."
                )
            if size > self.n_samples - 2:
                raise ValueError(
                    f"training-set size {size} leaves fewer than 2 of {self.n_samples} samples "
                    "for testing; use smaller sizes or more samples."
                )
        strength = self.strength
        if isinstance(strength, bool) or not isinstance(strength, int | float) or strength < 0:
            raise ValueError(f"strength must be a number >= 0, got {strength!r}.")
        check_training_settings(self)
        # the dataset settings, checked as the build will check them
        resolve_config(
            "toric-vs-semion",
            N_QUBITS,
            self.n_samples,
            self.dataset_seed,
            strength=strength,
            layers=self.perturbation_layers,
        )
        return self


def _dataset_options(config: dict) -> tuple:
    return (("strength", float(config["strength"])), ("layers", config["perturbation_layers"]))


def _data(config: dict, cache_dir: str | None):
    return dataset_arrays(
        "toric-vs-semion",
        N_QUBITS,
        config["n_samples"],
        config["dataset_seed"],
        cache_dir,
        config["dtype"],
        _dataset_options(config),
    )


@functools.lru_cache(maxsize=2)
def _mean_plaquettes(folder: str) -> np.ndarray:
    """``xbar_i = (1/4) sum_p <psi_i| X_p |psi_i>`` for every state of the dataset in ``folder``."""
    from qnnlab.data import load_dataset

    states = load_dataset(folder).dense_states()
    lattice = honeycomb_torus()
    total = np.zeros(len(states))
    for p in range(lattice.n_plaquettes):
        op = plaquette_operator(lattice, p, "toric-code")
        total += np.real(np.einsum("ij,ij->i", states.conj(), (op @ states.T).T))
    return total / lattice.n_plaquettes


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two samples; ``None`` (JSON null) if either is constant."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / norm) if norm > 0 else None


def split_for(labels: np.ndarray, size: int, run: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train, test)``: ``size`` training states (``size/2`` per class), seed
    ``run``; every other state is a test state."""
    m = len(labels)
    train, _, test = train_val_test_split(
        m, val=0.0, test=(m - size) / m, seed=run, stratify=labels
    )
    return train, test


def train_size_task(config: dict, size: int, run: int, cache_dir: str | None) -> dict:
    """One QCNN trained on ``size`` states (run ``run``) and scored on the rest."""
    X, y, dataset = _data(config, cache_dir)
    circuit, model_fn = qcnn_model(
        N_QUBITS, config["conv_block"], config["dtype"], config["engine"]
    )
    train, test = split_for(y, size, run)
    record, params = fit_and_score(
        model_fn, circuit.n_params, X, y, train, test, seed=run, settings=config
    )
    outputs = np.asarray(predict_expvals(model_fn, params, X[test]), dtype=float)
    plaquettes = _mean_plaquettes(str(dataset.folder))[test]
    record["plaquette_corr"] = pearson(outputs, plaquettes)
    record["size"] = size
    record["run"] = run
    return record


@dataclass
class TopologicalRun:
    config: QCNNTopologicalConfig
    directory: Path
    summary: list[dict]
    runs: list[dict]
    plaquette_accuracy: float


def summarize(records: list[dict], sizes) -> list[dict]:
    """Per training-set size: ``mean, std, stderr`` over runs of the recorded metrics."""
    metrics = ("train_acc", "test_acc", "train_loss", "test_loss", "init_test_acc")
    return summarize_groups(records, [{"size": s} for s in sizes], (*metrics, "plaquette_corr"))


def run_qcnn_topological(
    config: QCNNTopologicalConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> TopologicalRun:
    """Run (or resume) the sweep into folder ``out`` and write its outputs (module docstring).

    ``workers > 1`` or a Dask ``scheduler`` spread the ``len(train_sizes) * runs`` fits over
    processes; by default they run in this process (JAX then uses every core for each fit).
    The 12-qubit dataset itself takes seconds and is built here.
    """
    config.validate()
    settings = config.to_dict()
    run = open_run("qcnn-topological", settings, out, command)
    cache = cache_arg(cache_dir)
    _, y, dataset = _data(settings, cache)
    plaquettes = _mean_plaquettes(str(dataset.folder))
    plaquette_accuracy = float(np.mean((plaquettes < PLAQUETTE_THRESHOLD) == (y == 1)))
    tasks, names = [], []
    for size in config.train_sizes:
        for r in range(config.runs):
            tasks.append((settings, size, r, cache))
            names.append(f"size{size}-run{r}")
    records = run_tasks(
        run,
        settings,
        train_size_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="fits",
    )
    summary = summarize(records, config.train_sizes)
    _write_outputs(run, config, summary, records, plaquette_accuracy, str(dataset.folder))
    run.log("done")
    return TopologicalRun(config, run.path, summary, records, plaquette_accuracy)


def _write_outputs(run, config, summary, records, plaquette_accuracy, dataset_folder) -> None:
    run.write_results(
        {
            "experiment": "qcnn-topological",
            "config": config.to_dict(),
            "dataset": dataset_folder,
            "plaquette_reference_accuracy": plaquette_accuracy,
            "summary": summary,
            "runs": records,
        }
    )
    metrics = ("train_acc", "test_acc", "test_loss", "init_test_acc", "plaquette_corr")
    header, rows = summary_table(summary, {"train_size": "size"}, metrics)
    run.write_csv("accuracy.csv", header, rows)
    run_keys = ("size", "run", "n_train", "n_test", "train_acc", "test_acc", "train_loss")
    run_keys += ("test_loss", "init_test_acc", "plaquette_corr", "epochs_run", "seconds")
    run.write_csv("runs.csv", run_keys, [[r[k] for k in run_keys] for r in records])

    sizes = [row["size"] for row in summary]
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    lines = (
        ("train", "train_acc", "s--", "tab:blue"),
        ("test", "test_acc", "o-", "tab:orange"),
        ("test, untrained", "init_test_acc", "x:", "tab:gray"),
    )
    series = [
        AccuracySeries(
            label,
            sizes,
            [r[key]["mean"] for r in summary],
            [r[key]["std"] for r in summary],
            style,
            color,
        )
        for label, key, style, color in lines
    ]
    plot_accuracy_sweep(
        series,
        xlabel="training-set size N",
        title=(
            f"QCNN ({config.conv_block}), toric code vs double semion, {N_QUBITS} qubits\n"
            f"{config.n_samples} samples, mean +- std over {config.runs} runs"
        ),
        logx=True,
        ax=axes[0],
    )
    axes[0].axhline(
        plaquette_accuracy, color="tab:green", lw=0.8, ls="-.", label="plaquette <X_p> > 3/8"
    )
    axes[0].legend(fontsize=8, loc="lower right")
    curves = {
        f"N={size}": pad_curves([r["history"]["train_loss"] for r in records if r["size"] == size])
        for size in sizes
    }
    plot_learning_curves(
        curves, ylabel=f"training loss ({config.loss})", title="learning curves", ax=axes[1]
    )
    fig.tight_layout()
    run.save_figure(fig, "accuracy.png")
    plt.close(fig)


def report(result: TopologicalRun) -> list[str]:
    """Text table of the summary: accuracies as ``mean +- std`` over runs."""
    lines = [f"{'N':>5}  {'train acc':>15}  {'test acc':>15}  {'untrained':>15}  corr(<Z>, X_p)"]
    for row in result.summary:
        cells = [
            f"{row[k]['mean']:.3f} +- {row[k]['std']:.3f}"
            for k in ("train_acc", "test_acc", "init_test_acc", "plaquette_corr")
        ]
        lines.append(
            f"{row['size']:>5}  {cells[0]:>15}  {cells[1]:>15}  {cells[2]:>15}  {cells[3]}"
        )
    lines.append(
        f"plaquette reference (mean <X_p> > 3/8): accuracy {result.plaquette_accuracy:.3f}"
    )
    return lines
