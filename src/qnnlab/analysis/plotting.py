"""Plots of analysis results (matplotlib; the backend is the user's, never switched here)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.analysis.variance import VarianceScan


def plot_variance_scans(scans: list[VarianceScan], title: str | None = None):
    """Log variance vs qubits with error bars, both fits (dashed / dotted) and toy-model theory."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, scan in enumerate(scans):
        color = colors[i % len(colors)]
        n = np.asarray(scan.qubits, dtype=float)
        v = np.asarray(scan.variance)
        se = np.asarray(scan.stderr)
        lower = np.minimum(se, 0.999 * v)  # keep error bars inside a log axis
        label = scan.label
        ax.errorbar(n, v, yerr=[lower, se], fmt="o", ms=4, capsize=2, color=color, label=label)
        grid = np.linspace(n.min(), n.max(), 200)
        if scan.fits is not None:
            f = scan.fits
            best = f.better
            curves = (
                ("exponential", "--", 1.0, f"exp fit: {f.decay_base:.3g}^n"),
                ("power_law", ":", 1.3, f"power fit: n^-{f.power:.3g}"),
            )
            for model, style, width, text in curves:
                ax.plot(
                    grid,
                    f.predict(model, grid),
                    style,
                    color=color,
                    lw=width,
                    alpha=1.0 if best == model else 0.4,
                    label=f"  {text}" + (" *" if best == model else ""),
                )
        theory = scan.theory_curve(grid)
        if theory is not None:
            values, text = theory
            ax.plot(grid, values, "-", color="k", lw=0.8, alpha=0.6, label=f"  {text}")
    ax.set_yscale("log")
    ax.set_xlabel("qubits n")
    ax.set_ylabel(r"Var[$\partial C / \partial \theta_\nu$]")
    ax.set_title(title or "Gradient variance vs qubits (* = better fit)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
