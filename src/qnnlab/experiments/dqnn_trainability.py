"""``qnnlab reproduce dqnn-trainability``: every gradient-scaling result of Sharma et al.,
PRL 128, 180505 (2022) (arXiv:2005.12458), with the theory lines.

Panels (each scan a checkpointed task):

a. **Theorem 1**: ``Var[dC/dtheta]`` for ``[n, n]`` DQNNs of deep (Haar-random) global
   perceptrons, global and local cost, against ``O(2^-2n)`` and ``O(2^-n)``; plus a single
   global perceptron ``[n, 1]`` up to ``n = 12`` (13-qubit perceptrons).
b. **Theorem 2**: ``Var[dC/ds]`` of the parameter-matrix update, against ``O(2^-n)``.
c. **Fig. 3(a)**: the SWAP + RY DQNN, against ``(1/8)(3/8)^(n-1)`` and ``1/(8 n^2)``.
d. **Fig. 3(b)** (= layered hardware-efficient ansatz, two DQNN layers per HEA layer, checked
   here on random parameters): ``ceil(log2 n)`` HEA layers, global cost decays exponentially
   (Eq. 11), local cost polynomially (Eq. 12).

The reference lines of Theorems 1-2 are *rates* of upper bounds, drawn through the largest
``n``; the Fig. 3(a) lines are exact predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.analysis.dqnn_variance import DQNNVarianceConfig, dqnn_variance_scan
from qnnlab.analysis.variance import VarianceScanConfig, variance_scan
from qnnlab.experiments.classification import call_task, open_run, run_tasks
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers


@dataclass(frozen=True)
class DQNNTrainabilityConfig(ExperimentConfig):
    theorem1_qubits: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    perceptron_qubits: tuple[int, ...] = (2, 4, 6, 8, 10, 12)
    theorem2_qubits: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    haar_draws: int = 1000
    fig3a_qubits: tuple[int, ...] = (2, 4, 6, 8, 10)
    fig3b_qubits: tuple[int, ...] = (2, 4, 6, 8, 10, 12)
    circuit_draws: int = 2000
    fig3b_block: str = "ry-cz"
    seed: int = 0

    @classmethod
    def quick(cls) -> DQNNTrainabilityConfig:
        return cls(
            theorem1_qubits=(1, 2, 3),
            perceptron_qubits=(2, 4, 6),
            theorem2_qubits=(1, 2, 3),
            haar_draws=100,
            fig3a_qubits=(2, 3, 4),
            fig3b_qubits=(2, 3, 4),
            circuit_draws=200,
        )

    def validate(self) -> DQNNTrainabilityConfig:
        check_numbers(self)
        for name in ("theorem1_qubits", "theorem2_qubits", "perceptron_qubits"):
            q = getattr(self, name)
            if not q or min(q) < 1 or len(set(q)) != len(q):
                raise ValueError(f"{name} must be distinct positive integers, got {q}.")
        if max(self.theorem1_qubits + self.theorem2_qubits) > 10:
            raise ValueError(
                "[n, n] Haar DQNNs above n = 10 need 2^(3n) work per draw; use n <= 10 "
                "(perceptron_qubits goes further, with one output)."
            )
        if max(self.perceptron_qubits) > 16:
            raise ValueError("perceptron_qubits above 16 is beyond memory for the lazy sampler.")
        if not self.fig3a_qubits or min(self.fig3a_qubits) < 1 or max(self.fig3a_qubits) > 12:
            raise ValueError("fig3a_qubits must lie in 1..12 (the DQNN holds 2n qubits).")
        if not self.fig3b_qubits or min(self.fig3b_qubits) < 2 or max(self.fig3b_qubits) > 20:
            raise ValueError("fig3b_qubits must lie in 2..20.")
        if not isinstance(self.haar_draws, int) or self.haar_draws < 4:
            raise ValueError(f"haar_draws must be an integer >= 4, got {self.haar_draws!r}.")
        if not isinstance(self.circuit_draws, int) or self.circuit_draws < 4:
            raise ValueError(f"circuit_draws must be an integer >= 4, got {self.circuit_draws!r}.")
        if self.fig3b_block not in ("ry-cz", "su4"):
            raise ValueError(f"fig3b_block must be 'ry-cz' or 'su4', got {self.fig3b_block!r}.")
        return self


def _scan_record(name: str, panel: str, scan) -> dict:
    grid = np.linspace(min(scan.qubits), max(scan.qubits), 100)
    curve = scan.theory_curve(grid)
    return {
        "name": name,
        "panel": panel,
        "label": scan.label,
        **scan.to_dict(),
        "curve": None
        if curve is None
        else {"n": grid.tolist(), "values": curve[0], "label": curve[1]},
    }


def haar_scan_task(settings: dict, name: str, panel: str, overrides: dict) -> dict:
    cfg = DQNNVarianceConfig(draws=settings["haar_draws"], seed=settings["seed"], **overrides)
    return _scan_record(name, panel, dqnn_variance_scan(cfg, progress=False))


def circuit_scan_task(settings: dict, name: str, panel: str, overrides: dict) -> dict:
    cfg = VarianceScanConfig(draws=settings["circuit_draws"], seed=settings["seed"], **overrides)
    return _scan_record(name, panel, variance_scan(cfg, progress=False))


def fig3b_equivalence(settings: dict) -> dict:
    """Max |C_DQNN - C_HEA| over random parameters for small Fig. 3(b) networks."""
    from qnnlab.engines.density import DensityMatrixEngine
    from qnnlab.engines.statevector import StatevectorEngine
    from qnnlab.models.ansatz import hardware_efficient
    from qnnlab.models.dqnn import fig3b_dqnn
    from qnnlab.training.costs import build_cost

    rng = np.random.default_rng(settings["seed"])
    worst = 0.0
    checked = []
    for n, hea_layers in ((3, 1), (4, 2)):
        dqnn = fig3b_dqnn(n, 2 * hea_layers, block=settings["fig3b_block"])
        hea = hardware_efficient(n, hea_layers, block=settings["fig3b_block"])
        for cost_name in ("global", "local"):
            c_d = build_cost(cost_name, dqnn.alive_qubits)
            c_h = build_cost(cost_name, hea.alive_qubits)
            dm = DensityMatrixEngine(dqnn, dtype="complex128")
            sv = StatevectorEngine(hea, dtype="complex128")
            for _ in range(3):
                theta = rng.uniform(0, 2 * np.pi, dqnn.n_params)
                a = float(c_d(dm.expval(theta, observable=c_d.observable)))
                b = float(c_h(sv.expval(theta, observable=c_h.observable)))
                worst = max(worst, abs(a - b))
        checked.append([n, hea_layers])
    return {"name": "fig3b-equivalence", "max_abs_difference": worst, "checked": checked}


def run_dqnn_trainability(
    config: DQNNTrainabilityConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) every scan into ``out`` (module docstring)."""
    del cache_dir
    config.validate()
    settings = config.to_dict()
    run = open_run("dqnn-trainability", settings, out, command)
    specs = []
    for cost in ("global", "local"):
        q1 = list(config.theorem1_qubits)
        specs.append((haar_scan_task, "a", f"thm1-square-{cost}", {"qubits": q1, "cost": cost}))
        qp = list(config.perceptron_qubits)
        specs.append(
            (
                haar_scan_task,
                "a",
                f"thm1-perceptron-{cost}",
                {"qubits": qp, "cost": cost, "n_out": 1},
            )
        )
        q2 = list(config.theorem2_qubits)
        specs.append(
            (haar_scan_task, "b", f"thm2-{cost}", {"qubits": q2, "cost": cost, "mode": "theorem2"})
        )
        qa = list(config.fig3a_qubits)
        specs.append(
            (
                circuit_scan_task,
                "c",
                f"fig3a-{cost}",
                {"qubits": qa, "cost": cost, "ansatz": "dqnn-swap-ry"},
            )
        )
        qb = list(config.fig3b_qubits)
        specs.append(
            (
                circuit_scan_task,
                "d",
                f"fig3b-{cost}",
                {"qubits": qb, "cost": cost, "ansatz": "hea", "block": config.fig3b_block},
            )
        )
    tasks = [(fn, (settings, name, panel, overrides)) for fn, panel, name, overrides in specs]
    names = [name for _, _, name, _ in specs]
    tasks.append((fig3b_equivalence, (settings,)))
    names.append("fig3b-equivalence")
    records = run_tasks(
        run,
        settings,
        call_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="variance scans",
    )
    scans = [r for r in records if "panel" in r]
    equivalence = next(r for r in records if r["name"] == "fig3b-equivalence")
    results = {
        "experiment": "dqnn-trainability",
        "config": settings,
        "scans": scans,
        "fig3b_equivalence": equivalence,
    }
    run.write_results(results)
    rows = []
    for s in scans:
        theory = (s.get("theory") or {}).get("variance") or (s.get("reference") or {}).get("values")
        for i, n in enumerate(s["qubits"]):
            rows.append(
                (
                    s["name"],
                    n,
                    s["variance"][i],
                    s["stderr"][i],
                    "" if theory is None else theory[i],
                )
            )
    run.write_csv("variance.csv", ("scan", "n", "variance", "stderr", "theory_or_reference"), rows)
    fig = plot_trainability(scans)
    run.save_figure(fig, "trainability.png")
    plt.close(fig)
    run.log("done")
    return ExperimentRun(config, run.path, results)


PANEL_TITLES = {
    "a": "Theorem 1: deep global perceptrons",
    "b": "Theorem 2: parameter-matrix update",
    "c": "Fig. 3(a): SWAP + RY perceptrons",
    "d": "Fig. 3(b) = HEA, log(n) layers",
}


def _eq11_curve(scan: dict) -> dict | None:
    """Eq. (11) for the Fig. 3(b) global cost: the rate ``(sqrt 3 / 4)^n``, anchored at the
    largest ``n`` (the bound's rate, not its constant)."""
    if scan["name"] != "fig3b-global":
        return None
    grid = np.linspace(min(scan["qubits"]), max(scan["qubits"]), 100)
    n_ref, v_ref = scan["qubits"][-1], scan["variance"][-1]
    rate = np.sqrt(3) / 4
    return {"n": grid, "values": v_ref * rate ** (grid - n_ref), "label": "(sqrt3/4)^n, Eq. 11"}


def plot_trainability(scans: list[dict]):
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, panel in zip(axes.ravel(), "abcd", strict=True):
        mine = [s for s in scans if s["panel"] == panel]
        for i, s in enumerate(mine):
            c = colors[i % len(colors)]
            v, se = np.array(s["variance"]), np.array(s["stderr"])
            ax.errorbar(
                s["qubits"],
                v,
                yerr=[np.minimum(se, 0.999 * v), se],
                fmt="o",
                ms=4,
                capsize=2,
                color=c,
                label=s["label"],
            )
            curve = s["curve"] or _eq11_curve(s)
            if curve:
                ax.plot(
                    curve["n"], curve["values"], "--", color=c, lw=1, label="  " + curve["label"]
                )
        ax.set_yscale("log")
        ax.set(xlabel="n (input qubits)", ylabel="variance", title=PANEL_TITLES[panel])
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=6.5, loc="lower left")
    fig.tight_layout()
    return fig


def report(run: ExperimentRun) -> list[str]:
    lines = []
    for s in run.results["scans"]:
        pts = ", ".join(f"{n}:{v:.2e}" for n, v in zip(s["qubits"], s["variance"], strict=True))
        lines.append(f"{s['name']}: {pts}")
        if s.get("verdict"):
            lines.append(f"    {s['verdict']}")
    eq = run.results["fig3b_equivalence"]
    lines.append(f"Fig. 3(b) DQNN vs HEA: max |C_DQNN - C_HEA| = {eq['max_abs_difference']:.1e}")
    return lines
