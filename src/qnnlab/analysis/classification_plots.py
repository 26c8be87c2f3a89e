"""Plots of classification experiments: accuracy sweeps with error bars, learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np


@dataclass
class AccuracySeries:
    """One line of an accuracy plot: ``mean +- std`` over independent runs at each ``x``."""

    label: str
    x: Sequence[float]
    mean: Sequence[float]
    std: Sequence[float]
    style: str = "o-"
    color: str | None = None


def plot_accuracy_sweep(
    series: Sequence[AccuracySeries],
    *,
    xlabel: str,
    title: str,
    logx: bool = False,
    chance: float | None = 0.5,
    ax=None,
):
    """Accuracy vs ``x`` with ``std`` error bars (over runs, clipped to ``[0, 1]``), and the
    chance level dashed."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for s in series:
        mean = np.asarray(s.mean, dtype=float)
        std = np.asarray(s.std, dtype=float)
        # Accuracies live in [0, 1]: the bars are clipped there (the std itself is in the CSV).
        yerr = np.stack([np.minimum(std, mean), np.minimum(std, 1.0 - mean)]).clip(min=0.0)
        ax.errorbar(
            np.asarray(s.x, dtype=float),
            mean,
            yerr=yerr,
            fmt=s.style,
            ms=4,
            capsize=3,
            color=s.color,
            label=s.label,
        )
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=0.8, label="chance")
    if logx:
        ax.set_xscale("log")
    ticks = sorted({float(v) for s in series for v in s.x})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    return fig if fig is not None else ax.figure


def plot_learning_curves(
    curves: dict[str, np.ndarray], *, ylabel: str, title: str, logy: bool = False, ax=None
):
    """Mean over runs (line) and min..max band of per-epoch curves, one ``(runs, epochs)``
    array per label. Runs of different lengths (early stopping) are padded with ``nan``."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, values in curves.items():
        values = np.atleast_2d(np.asarray(values, dtype=float))
        epochs = np.arange(1, values.shape[1] + 1)
        line = ax.plot(epochs, np.nanmean(values, axis=0), lw=1.2, label=label)[0]
        ax.fill_between(
            epochs,
            np.nanmin(values, axis=0),
            np.nanmax(values, axis=0),
            color=line.get_color(),
            alpha=0.15,
            lw=0,
        )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7)
    return fig if fig is not None else ax.figure


def pad_curves(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Stack curves of different lengths into ``(runs, max_len)``, padding with ``nan``."""
    length = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = np.asarray(c, dtype=float)
    return out
