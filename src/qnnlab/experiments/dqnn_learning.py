"""``qnnlab reproduce dqnn-learning``: training DQNNs to learn a Haar-random unitary (Beer et al.,
Nat. Commun. 11, 808 (2020); Sharma et al., PRL 128, 180505 (2022)).

Four studies, every fit a checkpointed task:

1. **Training curves** (parameter-matrix update, Eq. 13): networks ``[1,2,1]`` and ``[2,3,2]``,
   ``N = 10`` pairs, ``eps = 0.1``, ``lambda = 1``; the mean training fidelity per round and the
   first round above 0.95 (Beer et al.: about 20 and 54 rounds).
2. **Generalisation**: ``[2,3,2]`` trained on ``N`` pairs, scored on 100 held-out pairs of the
   same unitary, vs ``N``. With ``N >= 2^{n_0} = 4`` generic pairs the unitary is determined up
   to a phase, so the test fidelity should approach 1 there.
3. **Noisy pairs**: ``N`` pairs of which ``k`` have a random, unrelated output; test fidelity on
   clean held-out pairs vs ``k``.
4. **Gradient training** of parametrized perceptrons (Eq. 5, :func:`layered_perceptron`) with
   Adam, gradients by autodiff and by parameter shift (identical curves), on the same task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from qnnlab.data.unitary_task import unitary_task
from qnnlab.engines.perceptrons import haar_perceptrons
from qnnlab.experiments.classification import call_task, mean_std, open_run, run_tasks
from qnnlab.experiments.registry import ExperimentConfig, ExperimentRun, check_numbers
from qnnlab.models.dqnn import dqnn_architecture, dqnn_circuit
from qnnlab.training.dqnn_gradient import train_dqnn_gradient
from qnnlab.training.parameter_matrix import train_parameter_matrix


@dataclass(frozen=True)
class DQNNLearningConfig(ExperimentConfig):
    networks: tuple[tuple[int, ...], ...] = ((1, 2, 1), (2, 3, 2))
    pairs: int = 10
    eps: float = 0.1
    lam: float = 1.0
    rounds: int = 500
    threshold: float = 0.95
    seeds: int = 5
    n_test: int = 100
    gen_network: tuple[int, ...] = (2, 3, 2)
    train_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10)
    gen_rounds: int = 500
    noisy_pairs: int = 10
    noisy_counts: tuple[int, ...] = (0, 2, 4, 6, 8)
    gradient_network: tuple[int, ...] = (2, 3, 2)
    gradient_depth: int = 3
    gradient_steps: int = 150
    gradient_lr: float = 0.05
    seed: int = 0

    @classmethod
    def quick(cls) -> DQNNLearningConfig:
        return cls(
            networks=((1, 2, 1),),
            rounds=60,
            seeds=2,
            n_test=20,
            train_sizes=(1, 4),
            gen_rounds=60,
            noisy_counts=(0, 5),
            gradient_network=(1, 2, 1),
            gradient_depth=1,
            gradient_steps=15,
        )

    def validate(self) -> DQNNLearningConfig:
        check_numbers(self)
        nets = [*self.networks, self.gen_network, self.gradient_network]
        for net in nets:
            if len(net) < 2 or any((not isinstance(w, int)) or w < 1 for w in net):
                raise ValueError(f"network widths must be >= 2 positive integers, got {net}.")
            if net[0] != net[-1]:
                raise ValueError(
                    f"learning a unitary needs as many output as input qubits; {list(net)} has "
                    f"{net[0]} in and {net[-1]} out."
                )
            if max(a + b for a, b in itertools.pairwise(net)) > 10:
                raise ValueError(f"{list(net)}: two adjacent layers above 10 qubits are too big.")
        for name in ("pairs", "rounds", "seeds", "n_test", "gen_rounds", "noisy_pairs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if any(not 1 <= n for n in self.train_sizes):
            raise ValueError(f"train_sizes must be positive, got {self.train_sizes}.")
        if any(not 0 <= k <= self.noisy_pairs for k in self.noisy_counts):
            raise ValueError(f"noisy_counts must lie in [0, noisy_pairs={self.noisy_pairs}].")
        if not (self.eps > 0 and self.lam > 0 and self.gradient_lr > 0):
            raise ValueError("eps, lam and gradient_lr must be positive.")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}.")
        return self


def _task_seed(settings: dict, *tag) -> np.random.SeedSequence:
    return np.random.SeedSequence([settings["seed"], *tag])


def _beer_fit(widths, task, settings, rounds, seed_seq):
    arch = dqnn_architecture(list(widths))
    init = haar_perceptrons(arch, np.random.default_rng(seed_seq))
    return train_parameter_matrix(
        arch,
        init,
        task.train_inputs,
        task.train_targets,
        eps=settings["eps"],
        lam=settings["lam"],
        rounds=rounds,
        test_inputs=task.test_inputs,
        test_targets=task.test_targets,
    )


def curve_task(settings: dict, widths, seed: int) -> dict:
    """Study 1: one parameter-matrix training run."""
    n = widths[0]
    ss = _task_seed(settings, 1, *widths, seed).spawn(2)
    task = unitary_task(n, settings["pairs"], n_test=settings["n_test"], seed=ss[0])
    result = _beer_fit(widths, task, settings, settings["rounds"], ss[1])
    return {
        "network": list(widths),
        "seed": seed,
        "train": result.train_score.tolist(),
        "test": result.test_score.tolist(),
        "rounds_to_threshold": result.rounds_to(settings["threshold"]),
        "seconds": result.seconds,
    }


def generalisation_task(settings: dict, n_pairs: int, seed: int) -> dict:
    """Study 2: train on the first ``n_pairs`` of a pool, test on held-out pairs."""
    widths = settings["gen_network"]
    ss = _task_seed(settings, 2, seed).spawn(2)
    pool = unitary_task(
        widths[0], max(settings["train_sizes"]), n_test=settings["n_test"], seed=ss[0]
    )
    result = _beer_fit(widths, pool.subset(n_pairs), settings, settings["gen_rounds"], ss[1])
    return {
        "pairs": n_pairs,
        "seed": seed,
        "train": float(result.train_score[-1]),
        "test": float(result.test_score[-1]),
    }


def noisy_task(settings: dict, noisy: int, seed: int) -> dict:
    """Study 3: ``noisy`` of ``noisy_pairs`` training outputs replaced by random states."""
    widths = settings["gen_network"]
    ss = _task_seed(settings, 3, seed).spawn(2)
    task = unitary_task(
        widths[0], settings["noisy_pairs"], n_test=settings["n_test"], noisy=noisy, seed=ss[0]
    )
    result = _beer_fit(widths, task, settings, settings["gen_rounds"], ss[1])
    return {
        "noisy": noisy,
        "seed": seed,
        "train": float(result.train_score[-1]),
        "test": float(result.test_score[-1]),
    }


def gradient_task(settings: dict, method: str) -> dict:
    """Study 4: Adam on parametrized perceptrons, one gradient method."""
    widths = settings["gradient_network"]
    task = unitary_task(
        widths[0], settings["pairs"], n_test=settings["n_test"], seed=_task_seed(settings, 4)
    )
    circuit = dqnn_circuit(dqnn_architecture(list(widths)), depth=settings["gradient_depth"])
    result = train_dqnn_gradient(
        circuit,
        task.train_inputs,
        task.train_targets,
        gradient=method,
        steps=settings["gradient_steps"],
        learning_rate=settings["gradient_lr"],
        seed=settings["seed"],
        test_inputs=task.test_inputs,
        test_targets=task.test_targets,
    )
    return {
        "method": method,
        "n_params": circuit.n_params,
        "train": result.train_score.tolist(),
        "test": result.test_score.tolist(),
        "seconds": result.seconds,
    }


def run_dqnn_learning(
    config: DQNNLearningConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    cache_dir=None,
) -> ExperimentRun:
    """Run (or resume) the four studies into ``out`` (module docstring)."""
    del cache_dir  # the data are generated from the seed, nothing to cache
    config.validate()
    settings = config.to_dict()
    run = open_run("dqnn-learning", settings, out, command)
    seeds = range(config.seeds)
    tasks, names, fns = [], [], []
    for widths in config.networks:
        for s in seeds:
            fns.append(
                (curve_task, (settings, widths, s), f"curve-{'-'.join(map(str, widths))}-{s}")
            )
    for n in config.train_sizes:
        for s in seeds:
            fns.append((generalisation_task, (settings, n, s), f"gen-N{n}-{s}"))
    for k in config.noisy_counts:
        for s in seeds:
            fns.append((noisy_task, (settings, k, s), f"noisy-k{k}-{s}"))
    for method in ("autodiff", "parameter-shift"):
        fns.append((gradient_task, (settings, method), f"gradient-{method}"))
    tasks = [(fn, args) for fn, args, _ in fns]
    names = [name for _, _, name in fns]
    records = run_tasks(
        run,
        settings,
        call_task,
        tasks,
        names,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        desc="dqnn fits",
    )
    results = summarize(config, records)
    run.write_results({"experiment": "dqnn-learning", "config": settings, **results})
    _write_tables(run, results)
    fig = plot_learning(config, results)
    run.save_figure(fig, "learning.png")
    plt.close(fig)
    run.log("done")
    return ExperimentRun(config, run.path, results)


def summarize(config: DQNNLearningConfig, records: list[dict]) -> dict:
    curves, gen, noisy, grad = [], [], [], []
    for r in records:
        if "rounds_to_threshold" in r:
            curves.append(r)
        elif "pairs" in r:
            gen.append(r)
        elif "noisy" in r:
            noisy.append(r)
        else:
            grad.append(r)
    networks = []
    for widths in config.networks:
        rs = [r for r in curves if tuple(r["network"]) == tuple(widths)]
        train = np.array([r["train"] for r in rs])
        hits = [r["rounds_to_threshold"] for r in rs]
        reached = [h for h in hits if h is not None]
        networks.append(
            {
                "network": list(widths),
                "train_mean": train.mean(axis=0).tolist(),
                "train_std": train.std(axis=0).tolist(),
                "test_mean": np.array([r["test"] for r in rs]).mean(axis=0).tolist(),
                "rounds_to_threshold": hits,
                "rounds_to_threshold_mean": float(np.mean(reached)) if reached else None,
                "final_train": mean_std([r["train"][-1] for r in rs]),
                "final_test": mean_std([r["test"][-1] for r in rs]),
                "seconds": mean_std([r["seconds"] for r in rs]),
            }
        )

    def by(records, key, values):
        return [
            {
                key: v,
                "train": mean_std([r["train"] for r in records if r[key] == v]),
                "test": mean_std([r["test"] for r in records if r[key] == v]),
            }
            for v in values
        ]

    return {
        "networks": networks,
        "generalisation": by(gen, "pairs", config.train_sizes),
        "noisy": by(noisy, "noisy", config.noisy_counts),
        "gradient": grad,
    }


def _write_tables(run, results: dict) -> None:
    rows = []
    for net in results["networks"]:
        for i, (m, s) in enumerate(zip(net["train_mean"], net["train_std"], strict=True)):
            rows.append(("-".join(map(str, net["network"])), i, m, s, net["test_mean"][i]))
    run.write_csv("curves.csv", ("network", "round", "train_mean", "train_std", "test_mean"), rows)
    for name, key in (("generalisation.csv", "pairs"), ("noisy.csv", "noisy")):
        rows = [
            (e[key], e["train"]["mean"], e["train"]["std"], e["test"]["mean"], e["test"]["std"])
            for e in results[name.removesuffix(".csv")]
        ]
        header = (key, "train_mean", "train_std", "test_mean", "test_std")
        run.write_csv(name, header, rows)


def plot_learning(config: DQNNLearningConfig, results: dict):
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    ax = axes[0, 0]
    for net in results["networks"]:
        m, s = np.array(net["train_mean"]), np.array(net["train_std"])
        x = np.arange(m.size)
        label = f"{net['network']} (> {config.threshold}: round {net['rounds_to_threshold_mean']})"
        ax.plot(x, m, label=label)
        ax.fill_between(x, m - s, np.minimum(m + s, 1), alpha=0.2)
    ax.axhline(config.threshold, color="k", lw=0.6, ls=":")
    ax.set(xlabel="round", ylabel="training fidelity", title="Parameter-matrix training (Eq. 13)")
    ax.legend(fontsize=7)
    for ax, key, xlabel, title in (
        (axes[0, 1], "generalisation", "training pairs N", "Generalisation"),
        (axes[1, 0], "noisy", "noisy pairs k", f"Noisy pairs (of {config.noisy_pairs})"),
    ):
        rows = results[key]
        x = [r["pairs" if key == "generalisation" else "noisy"] for r in rows]
        for part, marker in (("train", "o"), ("test", "s")):
            ax.errorbar(
                x,
                [r[part]["mean"] for r in rows],
                yerr=[r[part]["std"] for r in rows],
                fmt=marker + "-",
                capsize=2,
                label=part,
            )
        ax.set(xlabel=xlabel, ylabel="fidelity", title=f"{title}, {list(config.gen_network)}")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7)
    ax = axes[1, 1]
    for r, style in zip(results["gradient"], ("-", "--"), strict=False):
        ax.plot(r["train"], style, label=f"{r['method']} train ({r['seconds']:.1f} s)")
        ax.plot(r["test"], style, alpha=0.5, label=f"{r['method']} test")
    ax.set(
        xlabel="Adam step",
        ylabel="fidelity",
        title=f"Parametrized perceptrons {list(config.gradient_network)}",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def report(run: ExperimentRun) -> list[str]:
    r = run.results
    lines = []
    for net in r["networks"]:
        ft, fs = net["final_train"], net["final_test"]
        lines.append(
            f"{net['network']}: rounds to > {run.config.threshold}: {net['rounds_to_threshold']}"
            f", final train {ft['mean']:.4f}, test {fs['mean']:.4f}, "
            f"{net['seconds']['mean']:.2f} s/fit"
        )
    gen = ", ".join(f"N={e['pairs']}: {e['test']['mean']:.3f}" for e in r["generalisation"])
    lines.append(f"generalisation (test fidelity): {gen}")
    noisy = ", ".join(f"k={e['noisy']}: {e['test']['mean']:.3f}" for e in r["noisy"])
    lines.append(f"noisy pairs (test fidelity): {noisy}")
    for g in r["gradient"]:
        lines.append(
            f"gradient ({g['method']}, {g['n_params']} params): train {g['train'][-1]:.4f}, "
            f"test {g['test'][-1]:.4f}, {g['seconds']:.1f} s"
        )
    return lines
