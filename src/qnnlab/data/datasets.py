"""Build, cache and load labelled datasets of quantum states.

    >>> from qnnlab.data import build_dataset
    >>> ds = build_dataset("xxx", n_qubits=12, n_samples=20, seed=1)   # doctest: +SKIP
    >>> ds.labels, ds.parameters("ratio"), ds.state(0)                 # doctest: +SKIP

A dataset is identified by its full resolved configuration (:func:`resolve_config`); building it
again loads it from the cache, and a build that was interrupted computes only its missing states.
States are built through a task runner (:mod:`qnnlab.runtime.tasks`: local processes by default,
a Dask cluster on request) and each finished state is written to disk as soon as it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qnnlab.data import store
from qnnlab.data.labels import LABEL_DMRG, StringOrders, cluster_ising_string_orders
from qnnlab.data.mps import MPS
from qnnlab.data.phases import (
    DatasetConfigError,
    accept_balanced,
    build_sample,
    candidate_points,
    family,
    plan_topological,
    plan_xxx,
    resolve_config,
)
from qnnlab.runtime.checkpoint import fingerprint, write_json
from qnnlab.runtime.tasks import SerialRunner, TaskRunner, make_runner

#: Candidate rounds tried before a balanced cluster-Ising plan is declared impossible.
MAX_LABEL_ROUNDS = 20


class Dataset:
    """A built dataset on disk: configuration, per-sample records, lazily loaded states."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.config = store.read_manifest(self.folder)
        plan = store.read_plan(self.folder)
        if plan is None:
            raise store.DatasetFormatError(f"{self.folder} has no plan.json; rebuild it.")
        self.plan = plan
        self._records: list[dict | None] = [None] * len(plan)

    def __len__(self) -> int:
        return len(self.plan)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.config['name']!r}, n_qubits={self.n_qubits}, "
            f"samples={len(self)}, folder='{self.folder}')"
        )

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def n_qubits(self) -> int:
        return self.config["n_qubits"]

    @property
    def labels(self) -> np.ndarray:
        return np.array([s["label"] for s in self.plan], dtype=np.int64)

    @property
    def label_names(self) -> tuple[str, str]:
        return family(self.name).label_names

    def parameters(self, key: str | None = None):
        """Per-sample Hamiltonian parameters: a list of dicts, or one array for ``key``."""
        if key is None:
            return [dict(s["params"]) for s in self.plan]
        return np.array([s["params"][key] for s in self.plan])

    def missing(self) -> list[int]:
        return [i for i in range(len(self)) if not store.state_path(self.folder, i).exists()]

    def state(self, index: int) -> np.ndarray | MPS:
        state, record = store.read_state(store.state_path(self.folder, index))
        self._records[index] = record
        return state

    def states(self) -> Iterator[np.ndarray | MPS]:
        for i in range(len(self)):
            yield self.state(i)

    def dense_states(self) -> np.ndarray:
        """All states as one ``(M, 2**n)`` complex array (dense datasets, or small MPSs)."""
        out = [s.to_dense() if isinstance(s, MPS) else s for s in self.states()]
        return np.asarray(out, dtype=np.complex128)

    def record(self, index: int) -> dict:
        if self._records[index] is None:
            self._records[index] = store.read_record(store.state_path(self.folder, index))
        return self._records[index]

    def records(self) -> list[dict]:
        return [self.record(i) for i in range(len(self))]

    def shadows(self, n_snapshots: int, *, seed: int):
        """Classical shadows of every state, one :class:`ClassicalShadow` per sample.

        Sample ``i`` uses the seed ``[seed, i]``, so a shadow does not depend on the others.
        """
        from qnnlab.shadows import sample_shadow

        return [
            sample_shadow(
                self.state(i),
                n_snapshots,
                seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]),
            )
            for i in range(len(self))
        ]

    def summary(self) -> dict:
        """What `qnnlab dataset info` prints: configuration, balance, energies, cost."""
        records = self.records()
        labels = self.labels
        out = {
            "folder": str(self.folder),
            "config": self.config,
            "samples": len(self),
            "labels": {name: int(np.sum(labels == k)) for k, name in enumerate(self.label_names)},
            "wall_time_total_s": float(sum(r["wall_time"] for r in records)),
            "wall_time_per_state_s": float(np.mean([r["wall_time"] for r in records])),
            "size_on_disk_mb": sum(
                store.state_path(self.folder, i).stat().st_size for i in range(len(self))
            )
            / 2**20,
        }
        energies = [r["energy"] for r in records if r.get("energy") is not None]
        if energies:
            out["energy_range"] = [float(min(energies)), float(max(energies))]
        if any("truncation_error" in r for r in records):
            out["max_truncation_error"] = float(max(r["truncation_error"] for r in records))
            out["max_bond_dim"] = int(max(r["bond_dim"] for r in records))
        return out


# ---------------------------------------------------------------------------- cluster labels
def _label_key(h1: float, h2: float, j: float) -> str:
    return fingerprint({"h1": h1, "h2": h2, "j": j, "settings": LABEL_DMRG.to_dict()})


def string_order_task(h1: float, h2: float, j: float) -> StringOrders:
    return cluster_ising_string_orders(h1, h2, j)


def cluster_labels(
    points: np.ndarray, j: float, runner: TaskRunner, cache_root: Path, progress: bool
) -> list[StringOrders]:
    """String orders of many ``(h1, h2)`` points; each point is cached on disk once computed."""
    folder = cache_root / "labels" / "cluster-ising"
    results: list[StringOrders | None] = []
    todo = []
    for i, (h1, h2) in enumerate(points):
        path = folder / f"{_label_key(float(h1), float(h2), j)}.json"
        if path.exists():
            data = json.loads(path.read_text())
            results.append(StringOrders(data["spt"], data["trivial"]))
        else:
            results.append(None)
            todo.append(i)
    tasks = [(float(points[i][0]), float(points[i][1]), j) for i in todo]
    for k, orders in runner.run(string_order_task, tasks, desc="phase labels", progress=progress):
        i = todo[k]
        results[i] = orders
        h1, h2 = float(points[i][0]), float(points[i][1])
        write_json(
            folder / f"{_label_key(h1, h2, j)}.json",
            {"h1": h1, "h2": h2, "j": j, "spt": orders.spt, "trivial": orders.trivial},
        )
    return results  # type: ignore[return-value]


def plan_cluster(config: dict, runner: TaskRunner, cache_root: Path, progress: bool) -> list[dict]:
    """Draw ``(h1, h2)`` candidates round by round, label them, accept them balanced in order."""
    m = config["n_samples"]
    opts = config["options"]
    candidates: list[tuple[float, float, int, float]] = []
    orders_all: list[StringOrders] = []
    for round_ in range(MAX_LABEL_ROUNDS):
        points = candidate_points(config, round_, max(m, 8))
        orders = cluster_labels(points, opts["j"], runner, cache_root, progress)
        orders_all += orders
        candidates += [
            (float(p[0]), float(p[1]), o.label, o.margin)
            for p, o in zip(points, orders, strict=True)
        ]
        chosen = accept_balanced(candidates, m, opts["exclusion"])
        if chosen is not None:
            return [
                {
                    "index": k,
                    "params": {"h1": candidates[i][0], "h2": candidates[i][1], "J": opts["j"]},
                    "label": candidates[i][2],
                    "evidence": {
                        "string_order_spt": orders_all[i].spt,
                        "string_order_trivial": orders_all[i].trivial,
                    },
                }
                for k, i in enumerate(chosen)
            ]
    counts = np.bincount([c[2] for c in candidates], minlength=2)
    raise DatasetConfigError(
        f"After {len(candidates)} candidates the ranges h1 {opts['h1_range']}, h2 "
        f"{opts['h2_range']} gave {counts[1]} SPT and {counts[0]} trivial points: not enough for "
        f"{m // 2} of each. Widen the ranges so that both phases are covered."
    )


# ---------------------------------------------------------------------------- build and load
def build_dataset(
    name: str,
    n_qubits: int,
    n_samples: int,
    seed: int = 0,
    *,
    method: str = "auto",
    dmrg: dict | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    runner: TaskRunner | None = None,
    progress: bool = True,
    **options,
) -> Dataset:
    """Build (or load from the cache) a labelled dataset; see :mod:`qnnlab.data.phases`.

    ``workers`` local processes (default: all cores) or a Dask ``scheduler`` address build the
    states in parallel; each finished state is saved at once, so an interrupted build resumes.
    """
    config = resolve_config(name, n_qubits, n_samples, seed, method=method, dmrg=dmrg, **options)
    cache_root = Path(cache_dir) if cache_dir is not None else store.default_cache_dir()
    folder = store.dataset_folder(config, cache_root)
    if not (folder / "dataset.json").exists():
        store.write_manifest(folder, config)
    plan = store.read_plan(folder)
    own_runner = runner is None
    try:
        if plan is None:
            if config["name"] == "xxx":
                plan = plan_xxx(config)
            elif config["name"] == "cluster-ising":
                runner = runner or make_runner(workers, scheduler)
                plan = plan_cluster(config, runner, cache_root, progress)
            else:
                plan = plan_topological(config)
            store.write_plan(folder, plan)
        dataset = Dataset(folder)
        todo = dataset.missing()
        if todo and config["name"] == "toric-vs-semion":
            runner = SerialRunner()  # 12-qubit states take milliseconds: processes cost more
        elif todo:
            runner = runner or make_runner(workers, scheduler)
        tasks = [(config, plan[i]) for i in todo]
        if tasks:
            for k, (state, record) in runner.run(
                build_sample, tasks, desc=f"{config['name']} n={n_qubits}", progress=progress
            ):
                store.write_state(store.state_path(folder, todo[k]), state, record)
    finally:
        if own_runner and hasattr(runner, "close"):
            runner.close()
    return dataset


def load_dataset(path: str | Path) -> Dataset:
    """Open a built dataset folder (or its ``dataset.json``); refuses foreign or damaged files."""
    path = Path(path)
    if path.name == "dataset.json":
        path = path.parent
    dataset = Dataset(path)
    missing = dataset.missing()
    if missing:
        raise store.DatasetFormatError(
            f"{path} is incomplete: {len(missing)} of {len(dataset)} states are missing. "
            "Run the same build again; it computes only the missing states."
        )
    return dataset
