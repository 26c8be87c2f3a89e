"""Plots of analysis results (matplotlib, Agg backend: works without a display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from qnnlab.analysis.variance import TOY_THEORY, VarianceScan


def plot_variance_scans(scans: list[VarianceScan], title: str | None = None):
    """Log variance vs qubits with error bars, both fits (dashed / dotted) and toy-model theory."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, scan in enumerate(scans):
        color = colors[i % len(colors)]
        cfg = scan.config
        n = np.asarray(scan.qubits, dtype=float)
        v = np.asarray(scan.variance)
        se = np.asarray(scan.stderr)
        lower = np.minimum(se, 0.999 * v)  # keep error bars inside a log axis
        label = f"{cfg.ansatz} / {cfg.cost}" + (f" (L={cfg.layers})" if cfg.layers else "")
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
        if cfg.ansatz == "toy-ry":
            theory = [TOY_THEORY[cfg.cost](x) for x in grid]
            formula = "(1/8)(3/8)^(n-1)" if cfg.cost == "global" else "1/(8n^2)"
            ax.plot(grid, theory, "-", color="k", lw=0.8, alpha=0.6, label=f"  theory {formula}")
    ax.set_yscale("log")
    ax.set_xlabel("qubits n")
    ax.set_ylabel(r"Var[$\partial C / \partial \theta_\nu$]")
    ax.set_title(title or "Gradient variance vs qubits (* = better fit)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
