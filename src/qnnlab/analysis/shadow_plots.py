"""Plots of the shadow-surrogate experiments: accuracy heat maps (qcnn-simulability Fig. 1) and
accuracy-vs-budget curves. Figures are built as ``matplotlib.figure.Figure`` objects (no
pyplot state, no backend switch)."""

from __future__ import annotations

import numpy as np


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _grid(cells: list[dict], exact: list[dict], key: str):
    """``(matrix (N, T [+1]), T labels, N labels)`` of ``key`` over snapshots x train sizes."""
    ts = sorted({c["snapshots"] for c in cells})
    ns = sorted({c["train_size"] for c in cells})
    columns = [str(t) for t in ts] + (["exact"] if exact else [])
    matrix = np.full((len(ns), len(columns)), np.nan)
    for c in cells:
        if c.get(key) is not None:
            matrix[ns.index(c["train_size"]), ts.index(c["snapshots"])] = c[key]
    for c in exact:
        if c.get(key) is not None and c["train_size"] in ns:
            matrix[ns.index(c["train_size"]), -1] = c[key]
    return matrix, columns, ns


def _heatmap(ax, matrix, columns, rows, title: str):
    image = ax.imshow(matrix, origin="lower", cmap="viridis", vmin=0.5, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=45, fontsize=7)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    ax.set_xlabel("snapshots per state T")
    ax.set_ylabel("training states N")
    ax.set_title(title, fontsize=9)
    for (i, j), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            color = "black" if value > 0.8 else "white"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
    return image


def plot_shadow_heatmaps(cells: list[dict], exact_cells: list[dict] | None = None):
    """Mean test accuracy over seeds on the snapshots x training-states grid, per dataset:
    the QCNN surrogate (top row) and, where present, the classical baseline (bottom row). An
    ``exact`` column holds the accuracy on exact expectation values."""
    exact_cells = exact_cells or []
    datasets = sorted({(c["family"], c["n_qubits"]) for c in cells})
    has_baseline = any("baseline_accuracy_mean" in c for c in cells)
    rows = 2 if has_baseline else 1
    fig = _figure(5.2 * len(datasets), 4.0 * rows)
    axes = fig.subplots(rows, len(datasets), squeeze=False)
    image = None
    for j, (family, n) in enumerate(datasets):
        mine = [c for c in cells if (c["family"], c["n_qubits"]) == (family, n)]
        exact = [c for c in exact_cells if (c["family"], c["n_qubits"]) == (family, n)]
        keys = [("test_accuracy_mean", "QCNN surrogate (shadows)")]
        if has_baseline:
            keys.append(("baseline_accuracy_mean", "classical baseline (same features)"))
        for i, (key, label) in enumerate(keys):
            matrix, columns, ns = _grid(mine, exact, key)
            image = _heatmap(axes[i, j], matrix, columns, ns, f"{family}, n = {n}: {label}")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="test accuracy")
    return fig


def plot_shadow_trends(cells: list[dict], exact_cells: list[dict] | None = None):
    """Test accuracy vs snapshots per state, one line per training-set size (surrogate solid,
    baseline dotted), exact-feature accuracy as a dashed level; one panel per dataset."""
    exact_cells = exact_cells or []
    datasets = sorted({(c["family"], c["n_qubits"]) for c in cells})
    fig = _figure(5.0 * len(datasets), 3.8)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, (family, n) in zip(axes, datasets, strict=True):
        mine = [c for c in cells if (c["family"], c["n_qubits"]) == (family, n)]
        for k, size in enumerate(sorted({c["train_size"] for c in mine})):
            rows = sorted(
                (c for c in mine if c["train_size"] == size), key=lambda c: c["snapshots"]
            )
            t = [c["snapshots"] for c in rows]
            color = f"C{k % 10}"
            mean = np.array([c["test_accuracy_mean"] for c in rows])
            std = np.array([c["test_accuracy_std"] for c in rows])
            ax.plot(t, mean, "o-", color=color, ms=3, label=f"N = {size}")
            ax.fill_between(t, mean - std, mean + std, color=color, alpha=0.12)
            if "baseline_accuracy_mean" in rows[0]:
                ax.plot(t, [c["baseline_accuracy_mean"] for c in rows], ":", color=color)
            for c in exact_cells:
                if (c["family"], c["n_qubits"], c["train_size"]) == (family, n, size):
                    ax.axhline(c["test_accuracy_mean"], ls="--", lw=0.8, color=color)
        ax.set_xscale("log")
        ax.set_ylim(0.3, 1.02)
        ax.axhline(0.5, color="grey", lw=0.6)
        ax.set_xlabel("snapshots per state T")
        ax.set_ylabel("test accuracy")
        ax.set_title(
            f"{family}, n = {n}: surrogate (solid), baseline (dotted), exact (dashed)", fontsize=8
        )
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    return fig
