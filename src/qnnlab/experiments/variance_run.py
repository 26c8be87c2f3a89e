"""A gradient-variance scan as a run: config, ``results.json``, CSV table and PNG plot on disk.

Per-``n`` results are checkpointed inside the run folder, so rerunning the same command after an
interruption resumes at the first unfinished qubit count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt

from qnnlab.analysis.dqnn_variance import DQNNVarianceConfig, dqnn_variance_scan
from qnnlab.analysis.plotting import plot_variance_scans
from qnnlab.analysis.variance import VarianceScan, VarianceScanConfig, variance_scan
from qnnlab.runtime.rundir import RunDirectory

CSV_HEADER = (
    "qubits",
    "n_params",
    "draws",
    "variance",
    "stderr",
    "mean",
    "mean_stderr",
    "kurtosis",
    "theory",
    "seconds",
)


@dataclass
class VarianceRun:
    scan: VarianceScan
    directory: Path
    results: Path
    table: Path
    plot: Path


def write_variance_scan(scan: VarianceScan, run: RunDirectory, stem: str = "variance") -> tuple:
    """Write ``results.json`` (or ``<stem>.json``), ``<stem>.csv`` and ``<stem>.png``."""
    results = scan.to_dict()
    results["config"] = scan.config.to_dict()
    json_name = "results.json" if stem == "variance" else f"{stem}.json"
    results_path = run.write_results(results, json_name)
    theory = scan.theory() or [None] * len(scan.estimates)
    rows = [
        (
            e.n_qubits,
            e.n_params,
            e.draws,
            e.variance,
            e.stderr,
            e.mean,
            e.mean_stderr,
            e.kurtosis,
            "" if t is None else t,
            round(e.seconds, 4),
        )
        for e, t in zip(scan.estimates, theory, strict=True)
    ]
    table_path = run.write_csv(f"{stem}.csv", CSV_HEADER, rows)
    fig = plot_variance_scans([scan])
    plot_path = run.save_figure(fig, f"{stem}.png")
    plt.close(fig)
    return results_path, table_path, plot_path


def run_variance_scan(
    config: VarianceScanConfig | DQNNVarianceConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
) -> VarianceRun:
    """Run (or resume) a scan into folder ``out`` and write its outputs.

    A :class:`DQNNVarianceConfig` runs the Haar-perceptron scans of Theorems 1-2
    (:mod:`qnnlab.analysis.dqnn_variance`); a :class:`VarianceScanConfig` a circuit ansatz.
    """
    config.validate()
    run = RunDirectory(out)
    run.write_config(config.to_dict(), command, owner="qnnlab variance")
    run.log(f"start variance scan {config.to_dict()}")
    scanner = dqnn_variance_scan if isinstance(config, DQNNVarianceConfig) else variance_scan
    scan = scanner(config, progress=progress, checkpoint_dir=run.checkpoints)
    results, table, plot = write_variance_scan(scan, run)
    run.log(f"done: {scan.fits.summary() if scan.fits else 'fewer than 3 points, no fit'}")
    return VarianceRun(scan, run.path, results, table, plot)
