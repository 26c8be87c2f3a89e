"""``make demo``: a real barren-plateau study and a look at quantum data, in a few minutes.

Four gradient-variance scans (toy product-of-RY model and layered hardware-efficient ansatz at
logarithmic depth, each with the global and the local fidelity cost), each written as a run folder
with config, results.json, CSV and PNG, plus one combined plot and a summary. Rerunning resumes
from the per-qubit checkpoints. Then two quantum-phase datasets (cached on disk) are measured with
classical shadows (:mod:`qnnlab.experiments.shadow_features`), and QCNNs are trained on one of
them (a small ``qnnlab reproduce qcnn-phases``), and ``qnnlab audit`` asks of that QCNN whether it
is trainable and whether a classical surrogate from shadows matches it. Last, dissipative
perceptron QNNs: Beer et al.'s [2,3,2] network learns a random two-qubit unitary by
parameter-matrix training, and a Theorem 1 scan shows the barren plateau of Haar-random global
perceptrons (a small ``qnnlab reproduce dqnn-learning`` / ``dqnn-trainability``). Last,
QuCNN's SWAP-test convolution of MNIST images against the classical convolution
(``qnnlab reproduce qucnn-forward``, QuCNN Fig. 3; MNIST from ``$QNNLAB_MNIST``, the cache, or a
download).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt

from qnnlab.analysis.dqnn_variance import DQNNVarianceConfig
from qnnlab.analysis.plotting import plot_variance_scans
from qnnlab.analysis.variance import VarianceScanConfig
from qnnlab.experiments.qcnn_phases import QCNNPhasesConfig, run_qcnn_phases
from qnnlab.experiments.shadow_features import run_shadow_features
from qnnlab.experiments.variance_run import run_variance_scan
from qnnlab.runtime.caches import enable_compilation_cache
from qnnlab.runtime.rundir import RunDirectory

DEMO_SCANS = (
    VarianceScanConfig(ansatz="toy-ry", cost="global", qubits=list(range(2, 13)), draws=4000),
    VarianceScanConfig(ansatz="toy-ry", cost="local", qubits=list(range(2, 13)), draws=4000),
    VarianceScanConfig(ansatz="hea", cost="global", qubits=list(range(2, 11)), draws=1000),
    VarianceScanConfig(ansatz="hea", cost="local", qubits=list(range(2, 11)), draws=1000),
)

#: A small ``qnnlab reproduce qcnn-phases``: QCNNs trained on the 8-qubit XXX dataset.
DEMO_QCNN = QCNNPhasesConfig(families=("xxx",), qubits=(8,), n_samples=80, seeds=3, epochs=60)

#: ``qnnlab audit`` of the QCNN on the demo's XXX dataset (small scan, few draws).
DEMO_AUDIT = {
    "dataset": "xxx:qubits=8,samples=80",
    "shots_budget": 2000,
    "qubits": [4, 6, 8],
    "draws": 200,
}

#: Theorem 1 of the DQNN paper on [n, n] networks of Haar-random global perceptrons.
DEMO_DQNN_SCANS = tuple(
    DQNNVarianceConfig(cost=cost, qubits=[1, 2, 3, 4, 5, 6], draws=400)
    for cost in ("global", "local")
)


def _dqnn_demo(out: Path) -> dict:
    """[2,3,2] learning a Haar-random unitary (Beer et al.) and the Theorem 1 scans."""
    from qnnlab.data.unitary_task import unitary_task
    from qnnlab.engines.perceptrons import haar_perceptrons
    from qnnlab.models.dqnn import dqnn_architecture
    from qnnlab.training.parameter_matrix import train_parameter_matrix

    print("== DQNN [2,3,2]: parameter-matrix training on 10 pairs (eps 0.1, lambda 1, 500 rounds)")
    arch = dqnn_architecture([2, 3, 2])
    task = unitary_task(2, 10, n_test=100, seed=0)
    result = train_parameter_matrix(
        arch,
        haar_perceptrons(arch, 1),
        task.train_inputs,
        task.train_targets,
        rounds=500,
        test_inputs=task.test_inputs,
        test_targets=task.test_targets,
    )
    print(
        f"   training fidelity > 0.95 after {result.rounds_to(0.95)} rounds (Beer et al.: ~54), "
        f"final {result.train_score[-1]:.5f}; test fidelity on 100 new pairs "
        f"{result.test_score[-1]:.5f}; {result.seconds:.2f} s"
    )
    summary = {
        "rounds_to_0.95": result.rounds_to(0.95),
        "final_train": float(result.train_score[-1]),
        "final_test": float(result.test_score[-1]),
        "seconds": result.seconds,
    }
    for config in DEMO_DQNN_SCANS:
        print(f"== DQNN Theorem 1, {config.cost} cost: Haar global perceptrons, [n, n], n = 1..6")
        run = run_variance_scan(config, out / f"dqnn-theorem1-{config.cost}", command="make demo")
        print(f"   {run.scan.fits.summary()}", flush=True)
        summary[f"theorem1-{config.cost}"] = {
            "variance": run.scan.variance,
            "decay_base": run.scan.fits.decay_base,
            "results": str(run.results),
        }
    return summary


def _audit_demo(out: Path) -> dict:
    """``qnnlab audit`` of the QCNN on the 8-qubit XXX dataset: trainable? classical?"""
    from qnnlab.experiments.audit import audit

    print(
        f"== qnnlab audit: QCNN on the {DEMO_AUDIT['dataset']} dataset, "
        f"{DEMO_AUDIT['shots_budget']} snapshots per state",
        flush=True,
    )
    result = audit(
        "qcnn", out=out / "audit-qcnn-xxx", progress=False, command="make demo", **DEMO_AUDIT
    )
    print(f"   {result.verdict.summary}")
    print(f"   report: {result.report_paths['html']}")
    return {"verdict": result.verdict.summary, "report": str(result.report_paths["html"])}


def _qucnn_demo(out: Path) -> dict:
    """``qnnlab reproduce qucnn-forward`` (QuCNN Fig. 3): a trained 4x4 filter as a quantum
    state, SWAP tests with 10,000 shots over 16 MNIST images vs the classical convolution."""
    from qnnlab.experiments.qucnn_forward import QuCNNForwardConfig, run_qucnn_forward

    print(
        "== QuCNN: SWAP-test convolution of 16 MNIST images (10,000 shots) vs classical", flush=True
    )
    run = run_qucnn_forward(
        QuCNNForwardConfig().validate(), out / "qucnn-forward", progress=False, command="make demo"
    )
    corr = run.results["correlation"]
    print(
        f"   correlation quantum vs classical map: mean {sum(corr) / len(corr):.4f}, "
        f"min {min(corr):.4f} over {len(corr)} images; results: {run.directory}"
    )
    return {"correlation": corr, "results": str(run.directory)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    enable_compilation_cache()
    root = RunDirectory(args.out)
    start = time.perf_counter()
    runs = []
    for config in DEMO_SCANS:
        name = f"{config.ansatz}-{config.cost}"
        print(
            f"== {name}: Var[dC/dtheta_1] for n = {config.qubits[0]}..{config.qubits[-1]}, "
            f"{config.draws} draws",
            flush=True,
        )
        run = run_variance_scan(config, Path(args.out) / name, command="make demo")
        print(f"   {run.scan.fits.summary()}", flush=True)
        runs.append(run)
    fig = plot_variance_scans(
        [r.scan for r in runs], "qnnlab demo: barren plateaus, global vs local"
    )
    combined = root.save_figure(fig, "variance_all.png")
    plt.close(fig)
    summary = {
        f"{r.scan.config.ansatz}-{r.scan.config.cost}": {
            "better_fit": r.scan.fits.better,
            "decisive": r.scan.fits.decisive,
            "decay_base": r.scan.fits.decay_base,
            "power": r.scan.fits.power,
            "results": str(r.results),
        }
        for r in runs
    }
    print("== quantum data: XXX chain and toric code vs double semion, seen by classical shadows")
    data = run_shadow_features(Path(args.out) / "quantum-data")
    xxx, topo = data["xxx"], data["toric_vs_semion"]
    print(
        f"   XXX n={xxx['n_qubits']}: bulk dimerization from {xxx['n_snapshots']} snapshots, "
        f"largest |z| vs exact {xxx['dimerization_max_abs_z']:.2f}; its sign gives the phase "
        f"with accuracy {xxx['dimerization_sign_accuracy']:.2f}"
    )
    for name, stats in topo["by_class"].items():
        print(
            f"   {name}: max |2-qubit Pauli| {stats['max_two_qubit_estimate']:.3f} (noise "
            f"floor {topo['two_qubit_noise_floor']:.3f}), "
            f"plaquette <prod X> {stats['plaquette_x_mean']:+.2f} +- "
            f"{stats['plaquette_x_stderr']:.2f}"
        )
    summary["quantum-data"] = data
    print(
        f"== QCNN training: {DEMO_QCNN.seeds} seeds on the {DEMO_QCNN.qubits[0]}-qubit XXX "
        f"dataset ({DEMO_QCNN.n_samples} states, 60/20/20 split, early stopping)",
        flush=True,
    )
    qcnn_run = run_qcnn_phases(
        DEMO_QCNN, Path(args.out) / "qcnn-xxx", progress=False, command="make demo"
    )
    row = qcnn_run.summary[0]
    print(
        f"   test accuracy {row['test_acc']['mean']:.3f} +- {row['test_acc']['std']:.3f} "
        f"(untrained {row['init_test_acc']['mean']:.2f}), "
        f"{sum(r['seconds'] for r in qcnn_run.runs):.0f} s of training"
    )
    summary["qcnn-xxx"] = {"summary": qcnn_run.summary, "results": str(qcnn_run.directory)}
    summary["audit"] = _audit_demo(Path(args.out))
    summary["dqnn"] = _dqnn_demo(Path(args.out))
    summary["qucnn"] = _qucnn_demo(Path(args.out))
    root.write_results(summary, "summary.json")
    print(f"\nfinished in {time.perf_counter() - start:.0f} s")
    for r in runs:
        print(f"results: {r.results}   plot: {r.plot}")
    print(f"combined plot: {combined}")
    print(f"summary: {root.file('summary.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
