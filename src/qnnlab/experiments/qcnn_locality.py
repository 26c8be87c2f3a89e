"""``qcnn-locality``: the locality spectrum of QCNN readout operators (qcnn-simulability,
Results 1 and 2).

Result 1 (random parameters, :mod:`qnnlab.analysis.locality`): for every convolution block in
``blocks`` (SU(4), SO(4), RY-CNOT), with and without weight sharing (``sharing``), the mean
coefficient mass ``W_k`` of ``U^dag Z U`` on weight-``k`` strings and the mass per string
``m_k = W_k / (binom(n, k) 3^k)``, with standard errors over ``theta ~ U[0, 2 pi)^P`` draws
(seed ``seed`` + task index), and the fitted decay bases of both (``y_k ~ A b^-k``):

* exactly (no cut) at ``exact_qubits`` with ``exact_draws`` draws each; at the same sizes and
  with the same draws, also with the weight cut of ``bias_max_weight``, so the truncation bias
  ``W_k(cut) - W_k(exact)`` is measured where both run;
* with the weight cut ``large_max_weight[i]`` at ``large_qubits[i]`` (``large_draws[i]`` draws),
  reporting the dropped mass;
* the exact support Markov chain of the Haar-block QCNN (independent Haar convolution blocks,
  exact second moments of the CRZ-CRX pooling) at ``chain_qubits``, a cross-check on the SU(4)
  lines (uniform KAK angles are not Haar, so agreement is approximate).

Result 2 (trained models, ``trained``): a QCNN (SU(4), shared weights, ``<Z>`` readout) is
trained here with a small budget (``train_epochs``) on ``xxx`` / ``cluster-ising`` at
``trained_qubits`` qubits or on ``toric-S`` (toric code vs double semion, 12 qubits, perturbation
strength ``S``), then :func:`~qnnlab.analysis.locality.truncation_accuracy` gives the mass
fraction of the trained operator at weight ``<= 2, 4, 6`` and the test accuracy of its
weight-``k`` truncations (``trained_weights``). These models are trained within this experiment
(not read from a ``qcnn-phases`` / ``qcnn-topological`` run folder, which keeps no parameters).

Outputs: ``config.json``, ``results.json``, ``spectrum.csv`` (per architecture, size, ``k``),
``fits.csv``, ``trained.csv``, ``locality.png`` (``W_k`` and ``m_k`` vs ``k``, log scale, one line
per architecture and size) and ``truncation_accuracy.png`` (accuracy vs ``k``). Every task is
checkpointed, so a killed run resumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.analysis.locality import (
    MAX_CHAIN_QUBITS,
    fit_decay,
    haar_chain_spectrum,
    haar_qcnn,
    locality_spectrum,
    truncation_accuracy,
    weight_counts,
)
from qnnlab.experiments.classification import (
    cache_arg,
    dataset_arrays,
    fit_and_score,
    open_run,
    qcnn_model,
    run_tasks,
)
from qnnlab.experiments.registry import ExperimentConfig, check_numbers
from qnnlab.models.qcnn import CONV_BLOCKS, qcnn, qcnn_readout
from qnnlab.training.fit import predict_expvals
from qnnlab.training.splits import train_val_test_split

PHASE_MODELS = ("xxx", "cluster-ising")
TOPOLOGICAL_QUBITS = 12
#: Largest size propagated without a cut (2^(2n) strings at most).
MAX_EXACT_QUBITS = 12


@dataclass(frozen=True)
class QCNNLocalityConfig(ExperimentConfig):
    """Settings of ``qcnn-locality`` (module docstring). Defaults: the three blocks with and
    without sharing, exact at 8 and 10 qubits, weight cuts 3 and 2 at 64 and 256 qubits (all
    weight-``<= K`` strings appear there, so the cut, not the circuit, sets the cost), the Haar
    chain at 8-16 qubits, and four trained models."""

    blocks: tuple[str, ...] = ("su4", "so4", "ry-cnot")
    sharing: tuple[bool, ...] = (True, False)
    exact_qubits: tuple[int, ...] = (8, 10)
    exact_draws: tuple[int, ...] = (16, 3)
    bias_max_weight: int = 3
    large_qubits: tuple[int, ...] = (64, 256)
    large_max_weight: tuple[int, ...] = (3, 2)
    large_draws: tuple[int, ...] = (4, 2)
    chain_qubits: tuple[int, ...] = (8, 10, 12, 16)
    seed: int = 0
    trained: tuple[str, ...] = ("xxx", "cluster-ising", "toric-0.1", "toric-3.0")
    trained_qubits: int = 8
    trained_samples: int = 120
    train_epochs: int = 30
    trained_weights: tuple[int, ...] = (1, 2, 3, 4, 5, 6)

    @classmethod
    def quick(cls) -> QCNNLocalityConfig:
        return cls(
            blocks=("so4", "ry-cnot"),
            exact_qubits=(6,),
            exact_draws=(8,),
            bias_max_weight=2,
            large_qubits=(24,),
            large_max_weight=(2,),
            large_draws=(2,),
            chain_qubits=(6, 8),
            trained=("xxx",),
            trained_qubits=6,
            trained_samples=40,
            train_epochs=10,
            trained_weights=(1, 2, 4),
        )

    def validate(self) -> QCNNLocalityConfig:
        check_numbers(self)
        for block in self.blocks:
            if block not in CONV_BLOCKS:
                raise ValueError(f"blocks must be among {sorted(CONV_BLOCKS)}, got {block!r}.")
        if not self.blocks or not self.sharing:
            raise ValueError("blocks and sharing must each list at least one choice.")
        if any(not isinstance(s, bool) for s in self.sharing):
            raise ValueError(f"sharing must list True/False values, got {self.sharing!r}.")
        for sizes, draws, what in (
            (self.exact_qubits, self.exact_draws, "exact"),
            (self.large_qubits, self.large_draws, "large"),
        ):
            if len(sizes) != len(draws):
                raise ValueError(
                    f"{what}_draws needs one draw count per entry of {what}_qubits "
                    f"({len(sizes)}), got {len(draws)}."
                )
            if any(d < 1 for d in draws):
                raise ValueError(f"{what}_draws must be >= 1, got {draws}.")
        if len(self.large_max_weight) != len(self.large_qubits):
            raise ValueError("large_max_weight needs one weight cut per entry of large_qubits.")
        if any(k < 1 for k in (*self.large_max_weight, self.bias_max_weight)):
            raise ValueError("weight cuts must be >= 1.")
        for n in (*self.exact_qubits, *self.large_qubits, *self.chain_qubits):
            if n < 2:
                raise ValueError(f"qubit counts must be >= 2, got {n}.")
        if any(n > MAX_EXACT_QUBITS for n in self.exact_qubits):
            raise ValueError(
                f"exact_qubits must be <= {MAX_EXACT_QUBITS} (4^n strings untruncated); put "
                "larger sizes in large_qubits with a weight cut."
            )
        if any(n > MAX_CHAIN_QUBITS for n in self.chain_qubits):
            raise ValueError(f"chain_qubits must be <= {MAX_CHAIN_QUBITS} (2^n chain states).")
        for name in self.trained:
            _trained_spec(name)
        if self.trained_samples < 8 or self.trained_samples % 2:
            raise ValueError("trained_samples must be an even integer >= 8.")
        if self.train_epochs < 1 or not self.trained_weights or min(self.trained_weights) < 1:
            raise ValueError("train_epochs and every trained_weights entry must be >= 1.")
        return self


def _trained_spec(name: str) -> tuple[str, int, tuple]:
    """``(dataset family, qubit count (0: the family's default), options)`` of a ``trained``
    entry."""
    if name in PHASE_MODELS:
        return name, 0, ()
    if name.startswith("toric-"):
        try:
            strength = float(name[len("toric-") :])
        except ValueError:
            strength = math.nan
        if math.isfinite(strength) and strength >= 0:
            return "toric-vs-semion", TOPOLOGICAL_QUBITS, (("strength", strength), ("layers", 1))
    raise ValueError(
        f"trained entries are {PHASE_MODELS} or 'toric-S' (perturbation strength S >= 0, e.g. "
        f"'toric-0.1'), got {name!r}."
    )


# --------------------------------------------------------------------------------- tasks
def spectrum_task(settings: dict, block: str, shared: bool, n: int, draws: int, cut, seed: int):
    """One architecture and size: ``W_k``, ``m_k`` and their fits. ``cut=None``: exact, plus the
    same draws with the weight cut ``bias_max_weight`` (the truncation bias); else that cut."""
    circuit = qcnn(n, conv_block=block, share_weights=shared)
    obs = qcnn_readout(circuit)
    exact = cut is None
    main = locality_spectrum(
        circuit, obs, draws=draws, seed=seed, max_weight=None if exact else cut
    )
    record = {
        "block": block,
        "shared": shared,
        "n_qubits": n,
        "n_params": circuit.n_params,
        "exact": exact,
        "spectrum": main.to_dict(),
        **_fits(main),
    }
    if exact:
        top = settings["bias_max_weight"]
        truncated = locality_spectrum(circuit, obs, draws=draws, seed=seed, max_weight=top)
        record["truncated"] = truncated.to_dict()
        record["bias"] = (truncated.mass - main.mass[: top + 1]).tolist()
    return record


def _fits(spectrum) -> dict:
    cut = spectrum.max_weight
    top = None if cut is None else cut
    fits = {}
    for key, values, errors in (
        ("fit_mass", spectrum.mass, spectrum.mass_stderr),
        ("fit_per_string", spectrum.per_string, spectrum.per_string_stderr),
    ):
        fit = fit_decay(values, errors, k_min=1, k_max=top)
        fits[key] = None if fit is None else fit.to_dict()
    return fits


def chain_task(settings: dict, n: int) -> dict:
    """Exact Haar-block chain ``W_k`` at ``n`` qubits."""
    template = haar_qcnn(n)
    W = haar_chain_spectrum(template, qcnn_readout(template))
    per_string = W / weight_counts(n, n)
    fit_m = fit_decay(W, k_min=1)
    fit_s = fit_decay(per_string, k_min=1)
    return {
        "n_qubits": n,
        "mass": W.tolist(),
        "per_string": per_string.tolist(),
        "fit_mass": None if fit_m is None else fit_m.to_dict(),
        "fit_per_string": None if fit_s is None else fit_s.to_dict(),
    }


def trained_task(settings: dict, name: str, cache: str | None) -> dict:
    """Train one small QCNN (module docstring) and tabulate its truncations on test states."""
    family, n, options = _trained_spec(name)
    n = n or settings["trained_qubits"]
    X, y, _ = dataset_arrays(
        family, n, settings["trained_samples"], settings["seed"], cache, "complex64", options
    )
    circuit, model_fn = qcnn_model(n, "su4", "complex64")
    train, _, test = train_val_test_split(
        len(y), val=0.0, test=0.5, seed=settings["seed"], stratify=y
    )
    training = {"loss": "mse", "learning_rate": 0.01, "epochs": settings["train_epochs"]}
    training["batch_size"] = 32
    record, params = fit_and_score(
        model_fn, circuit.n_params, X, y, train, test, seed=settings["seed"], settings=training
    )
    reference = np.asarray(predict_expvals(model_fn, params, X[test]), np.float64)
    table = truncation_accuracy(
        circuit,
        qcnn_readout(circuit),
        np.asarray(params, np.float64),
        np.asarray(X[test], np.complex128),
        y[test],
        weights=settings["trained_weights"],
        reference_values=reference,
    )
    return {
        "model": name,
        "n_qubits": n,
        "train_acc": record["train_acc"],
        "test_acc": record["test_acc"],
        "n_test": len(test),
        **table,
    }


def _call(fn, *args):
    return fn(*args)


@dataclass
class LocalityRun:
    config: QCNNLocalityConfig
    directory: Path
    spectra: list[dict]
    chains: list[dict]
    trained: list[dict]


def run_qcnn_locality(
    config: QCNNLocalityConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir: str | Path | None = None,
) -> LocalityRun:
    """Run (or resume) every task into ``out`` and write the outputs (module docstring)."""
    config = config.validate()
    settings = config.to_dict()
    run = open_run("qcnn-locality", settings, out, command)
    cache = cache_arg(cache_dir)
    tasks, names = [], []
    sizes = [(n, d, None) for n, d in zip(config.exact_qubits, config.exact_draws, strict=True)]
    sizes += list(
        zip(config.large_qubits, config.large_draws, config.large_max_weight, strict=True)
    )
    index = 0
    for block in config.blocks:
        for shared in config.sharing:
            for n, draws, cut in sizes:
                tag = "shared" if shared else "unshared"
                seed = config.seed + index
                index += 1
                args = (settings, block, shared, n, draws, cut, seed)
                tasks.append((spectrum_task, *args))
                names.append(f"spectrum-{block}-{tag}-n{n}")
    for n in config.chain_qubits:
        tasks.append((chain_task, settings, n))
        names.append(f"chain-n{n}")
    for name in config.trained:
        tasks.append((trained_task, settings, name, cache))
        names.append(f"trained-{name}")
    records = run_tasks(
        run,
        settings,
        _call,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="locality",
    )
    spectra = [r for r, n in zip(records, names, strict=True) if n.startswith("spectrum-")]
    chains = [r for r, n in zip(records, names, strict=True) if n.startswith("chain-")]
    trained = [r for r, n in zip(records, names, strict=True) if n.startswith("trained-")]
    _write_outputs(run, config, spectra, chains, trained)
    run.log("done")
    return LocalityRun(config, run.path, spectra, chains, trained)


# ------------------------------------------------------------------------------- outputs
def _label(r: dict) -> str:
    return f"{r['block']} {'shared' if r['shared'] else 'unshared'}"


def _write_outputs(run, config, spectra, chains, trained) -> None:
    run.write_results(
        {
            "experiment": "qcnn-locality",
            "config": config.to_dict(),
            "spectra": spectra,
            "haar_chain": chains,
            "trained": trained,
        }
    )
    rows = []
    for r in spectra:
        s = r["spectrum"]
        for k, w in enumerate(s["mass"]):
            bias = r.get("bias")
            rows.append(
                [
                    r["block"],
                    r["shared"],
                    r["n_qubits"],
                    s["max_weight"],
                    s["draws"],
                    k,
                    w,
                    s["mass_stderr"][k],
                    s["per_string"][k],
                    s["per_string_stderr"][k],
                    bias[k] if bias is not None and k < len(bias) else None,
                    s["dropped"],
                ]
            )
    for c in chains:
        for k, w in enumerate(c["mass"]):
            rows.append(["haar-chain", False, c["n_qubits"], None, 0, k, w, 0.0])
            rows[-1] += [c["per_string"][k], 0.0, None, 0.0]
    run.write_csv(
        "spectrum.csv",
        [
            "block",
            "shared",
            "n_qubits",
            "max_weight",
            "draws",
            "k",
            "W_k",
            "W_k_stderr",
            "per_string",
            "per_string_stderr",
            "bias_vs_exact",
            "dropped_mass",
        ],
        rows,
    )
    fit_rows = []
    for r in [*spectra, *[{**c, "block": "haar-chain", "shared": False} for c in chains]]:
        row = [r["block"], r["shared"], r["n_qubits"]]
        for key in ("fit_mass", "fit_per_string"):
            fit = r[key]
            row += [None, None, None] if fit is None else [fit["b"], fit["b_err"], fit["k_max"]]
        seconds = r.get("spectrum", {}).get("seconds_per_draw")
        fit_rows.append([*row, seconds])
    run.write_csv(
        "fits.csv",
        [
            "block",
            "shared",
            "n_qubits",
            "b_mass",
            "b_mass_err",
            "k_max_mass",
            "b_per_string",
            "b_per_string_err",
            "k_max_per_string",
            "seconds_per_draw",
        ],
        fit_rows,
    )
    trained_rows = [
        [
            t["model"],
            t["n_qubits"],
            t["source"],
            t["test_acc"],
            t["full_accuracy"],
            b["k"],
            b["truncated_accuracy"],
            b["projected_accuracy"],
            b["truncated_dropped_mass"],
            t["mass_below"].get("2"),
            t["mass_below"].get("4"),
            t["mass_below"].get("6"),
        ]
        for t in trained
        for b in t["by_weight"]
    ]
    run.write_csv(
        "trained.csv",
        [
            "model",
            "n_qubits",
            "source",
            "test_acc",
            "full_accuracy",
            "k",
            "truncated_acc",
            "projected_acc",
            "truncated_dropped_mass",
            "mass_le_2",
            "mass_le_4",
            "mass_le_6",
        ],
        trained_rows,
    )
    _plot_spectra(run, spectra, chains)
    if trained:
        _plot_trained(run, trained)


def _plot_spectra(run, spectra, chains) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({_label(r) for r in spectra})
    sizes = sorted({r["n_qubits"] for r in spectra})
    styles = ["o-", "s--", "^-.", "v:", "d-", "x--"]
    for r in spectra:
        s = r["spectrum"]
        k = np.arange(len(s["mass"]))
        color = colors[labels.index(_label(r)) % len(colors)]
        style = styles[sizes.index(r["n_qubits"]) % len(styles)]
        cut = "" if s["max_weight"] is None else f", K={s['max_weight']}"
        for ax, key in ((axes[0], "mass"), (axes[1], "per_string")):
            y = np.asarray(s[key], float)
            ok = (k >= 1) & (y > 0)
            ax.plot(
                k[ok], y[ok], style, color=color, ms=3, lw=1,
                label=f"{_label(r)} n={r['n_qubits']}{cut}",
            )  # fmt: skip
    for c in chains:
        k = np.arange(len(c["mass"]))
        for ax, key in ((axes[0], "mass"), (axes[1], "per_string")):
            y = np.asarray(c[key], float)
            ok = (k >= 1) & (y > 0)
            ax.plot(k[ok], y[ok], "k:", lw=1.2, alpha=0.7, label=f"Haar chain n={c['n_qubits']}")
    axes[0].set_ylabel("W_k = sum_{|P|=k} E[c_P^2]")
    axes[1].set_ylabel("W_k / (binom(n,k) 3^k), mass per string")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("Pauli weight k")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6, ncol=2, loc="lower left")
    fig.suptitle("QCNN readout operator locality over random parameters (mean over draws)")
    fig.tight_layout()
    run.save_figure(fig, "locality.png")
    plt.close(fig)


def _plot_trained(run, trained) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    for t in trained:
        ks = [b["k"] for b in t["by_weight"]]
        line = ax.plot(
            ks, [b["truncated_accuracy"] for b in t["by_weight"]], "o-",
            label=f"{t['model']} (n={t['n_qubits']}), weight-k propagation",
        )  # fmt: skip
        if t["source"] == "exact":
            ax.plot(
                ks, [b["projected_accuracy"] for b in t["by_weight"]], "x:",
                color=line[0].get_color(), label=f"{t['model']}, exact projected to <= k",
            )  # fmt: skip
        ax.axhline(t["full_accuracy"], color=line[0].get_color(), lw=0.7, ls="--")
    ax.set_xlabel("weight cut k")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title("trained QCNNs: accuracy of the weight-k truncated readout\n(dashed: full model)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    run.save_figure(fig, "truncation_accuracy.png")
    plt.close(fig)


def _fmt_fit(fit) -> str:
    return "-" if fit is None else f"{fit['b']:.3f} +- {fit['b_err']:.3f}"


def report(result: LocalityRun) -> list[str]:
    """Text tables: decay bases per architecture and size, the chain, and Result 2."""
    lines = [f"{'architecture':<18} {'n':>5} {'cut':>4} {'b(W_k)':>16} {'b(per string)':>16}"]
    for r in result.spectra:
        s = r["spectrum"]
        cut = "-" if s["max_weight"] is None else str(s["max_weight"])
        lines.append(
            f"{_label(r):<18} {r['n_qubits']:>5} {cut:>4} {_fmt_fit(r['fit_mass']):>16} "
            f"{_fmt_fit(r['fit_per_string']):>16}  dropped={s['dropped']:.3g} "
            f"{s['seconds_per_draw']:.2f}s/draw"
        )
    for c in result.chains:
        lines.append(
            f"{'Haar chain':<18} {c['n_qubits']:>5} {'-':>4} {_fmt_fit(c['fit_mass']):>16} "
            f"{_fmt_fit(c['fit_per_string']):>16}"
        )
    for t in result.trained:
        below = ", ".join(f"<= {k}: {v:.3f}" for k, v in t["mass_below"].items())
        accs = ", ".join(f"k={b['k']}: {b['truncated_accuracy']:.2f}" for b in t["by_weight"])
        lines.append(
            f"trained {t['model']} (n={t['n_qubits']}, test acc {t['test_acc']:.2f}): mass "
            f"{below} [{t['source']}]; truncated acc {accs}"
        )
    return lines
