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

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from qnnlab.data import store
from qnnlab.data.labels import (
    LABEL_DMRG,
    LABEL_VERSION,
    StringOrders,
    cluster_ising_string_orders,
)
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
from qnnlab.runtime.checkpoint import (
    DamagedFileWarning,
    fingerprint,
    read_cache,
    write_sealed_json,
)
from qnnlab.runtime.locks import FileLock
from qnnlab.runtime.tasks import SerialRunner, TaskRunner, make_runner

#: Candidate rounds tried before a balanced cluster-Ising plan is declared impossible.
MAX_LABEL_ROUNDS = 20

#: At most this many state locks are held at once by one build (one open file each).
MAX_CLAIMED_STATES = 256


class Dataset:
    """A built dataset on disk: configuration, per-sample records, lazily loaded states.

    Opening it checks ``dataset.json`` and ``plan.json``; each state is checked when it is read
    (checksum, decoding, agreement with the plan: :func:`qnnlab.data.store.load_state`).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.config = store.read_manifest(self.folder)
        plan = store.read_plan(self.folder, self.config)
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
        state, record = store.load_state(self.folder, index, self.config, self.plan[index])
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
            _, record = store.load_state(
                self.folder, index, self.config, self.plan[index], with_state=False
            )
            self._records[index] = record
        return self._records[index]

    def records(self) -> list[dict]:
        return [self.record(i) for i in range(len(self))]

    def shadows(self, n_snapshots: int, *, seed: int):
        """Classical shadows of every state, one :class:`ClassicalShadow` per sample.

        Sample ``i`` uses the seed ``[seed, i]``, so a shadow does not depend on the others.
        """
        return [self.shadow(i, n_snapshots, seed=seed) for i in range(len(self))]

    def shadow(self, index: int, n_snapshots: int, *, seed: int):
        """The classical shadow of sample ``index`` that :meth:`shadows` gives (seed
        ``[seed, index]``)."""
        from qnnlab.shadows import sample_shadow

        state_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        return sample_shadow(self.state(index), n_snapshots, seed=state_seed)

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
    # The version retires labels of older procedures (version 1 could store broken iDMRG states).
    key = {"h1": h1, "h2": h2, "j": j, "settings": LABEL_DMRG.to_dict(), "version": LABEL_VERSION}
    return fingerprint(key)


LABEL_FORMAT = "qnnlab-phase-label"


def _read_label(path: Path, h1: float, h2: float, j: float) -> StringOrders | None:
    """The cached string orders of ``(h1, h2, j)``; ``None`` (with a warning naming the file if
    it is damaged or holds another point) when they must be computed."""
    number = (int, float)
    data = read_cache(
        path,
        what="qnnlab phase-label cache entry",
        fmt=LABEL_FORMAT,
        keys={"h1": number, "h2": number, "j": number, "spt": number, "trivial": number},
    )
    if data is None:
        return None
    if (data["h1"], data["h2"], data["j"]) != (h1, h2, j):
        warnings.warn(
            f"{path} holds the labels of another point ({data['h1']}, {data['h2']}, {data['j']}); "
            "it is ignored and recomputed.",
            DamagedFileWarning,
            stacklevel=2,
        )
        return None
    return StringOrders(data["spt"], data["trivial"])


def _write_label(path: Path, h1: float, h2: float, j: float, orders: StringOrders) -> None:
    write_sealed_json(
        path,
        {
            "format": LABEL_FORMAT,
            "h1": h1,
            "h2": h2,
            "j": j,
            "spt": orders.spt,
            "trivial": orders.trivial,
        },
    )


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
        cached = _read_label(path, float(h1), float(h2), j)
        if cached is not None:
            results.append(cached)
        else:
            results.append(None)
            todo.append(i)
    tasks = [(float(points[i][0]), float(points[i][1]), j) for i in todo]
    for k, orders in runner.run(string_order_task, tasks, desc="phase labels", progress=progress):
        i = todo[k]
        results[i] = orders
        h1, h2 = float(points[i][0]), float(points[i][1])
        _write_label(folder / f"{_label_key(h1, h2, j)}.json", h1, h2, j, orders)
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

    Every existing file is checked first (:mod:`qnnlab.data.store`): a damaged ``dataset.json``
    is rewritten from this configuration, a damaged ``plan.json`` recomputed (the same seed gives
    the same samples), and a damaged state recomputed, each with a :class:`DamagedFileWarning`
    naming the file. Two processes building the same dataset share the work: the plan is made
    under a folder lock, and each state is computed by the process holding its lock
    (``locks/NNNNN.lock``) while the other waits for it and reuses it.
    """
    config = resolve_config(name, n_qubits, n_samples, seed, method=method, dmrg=dmrg, **options)
    cache_root = Path(cache_dir) if cache_dir is not None else store.default_cache_dir()
    folder = store.dataset_folder(config, cache_root)
    own_runner = runner is None
    try:
        with FileLock(store.lock_path(folder, "plan")):
            _write_manifest_unless_good(folder, config)
            plan = _read_plan_unless_damaged(folder, config)
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
        todo = _states_to_build(dataset)
        if todo and config["name"] == "toric-vs-semion":
            runner = SerialRunner()  # 12-qubit states take milliseconds: processes cost more
        elif todo:
            runner = runner or make_runner(workers, scheduler)
        if todo:
            _build_states(dataset, todo, runner, progress)
    finally:
        if own_runner and hasattr(runner, "close"):
            runner.close()
    return dataset


def _write_manifest_unless_good(folder: Path, config: dict) -> None:
    path = folder / "dataset.json"
    if path.exists():
        try:
            stored = store.read_manifest(folder)
        except store.DatasetFormatError as err:
            reason = err.problem
        else:
            if store.dataset_key(stored) == store.dataset_key(config):
                return
            reason = "it describes another configuration (copied from another dataset folder?)"
        warnings.warn(
            f"{path}: {reason}; rewritten from the configuration of this build.",
            DamagedFileWarning,
            stacklevel=3,
        )
    store.write_manifest(folder, config)


def _read_plan_unless_damaged(folder: Path, config: dict) -> list[dict] | None:
    try:
        return store.read_plan(folder, config)
    except store.DatasetFormatError as err:
        warnings.warn(
            f"{err.path}: {err.problem}; recomputing the plan (the same seed gives the same "
            "samples).",
            DamagedFileWarning,
            stacklevel=3,
        )
        return None


def _state_ok(dataset: Dataset, index: int) -> bool:
    """Re-check of a state already reported by :func:`_states_to_build` (so no new warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedFileWarning)
        try:
            return store.verify_state(dataset.folder, index, dataset.config, dataset.plan[index])
        except store.DatasetFormatError:
            return False


def _states_to_build(dataset: Dataset) -> list[int]:
    """Indices of missing or damaged states (a warning names each damaged one)."""
    todo = []
    for i in range(len(dataset)):
        try:
            if store.verify_state(dataset.folder, i, dataset.config, dataset.plan[i]):
                continue
        except store.DatasetFormatError as err:
            warnings.warn(f"{err.path}: {err.problem}; recomputing it.", DamagedFileWarning, 3)
        todo.append(i)
    return todo


def _build_states(dataset: Dataset, todo: list[int], runner: TaskRunner, progress: bool) -> None:
    """Compute states ``todo``, each under its lock; wait for those another process holds.

    Locks are taken without waiting (at most ``MAX_CLAIMED_STATES`` at once) and released as
    each state is saved. A state locked by another build is waited for and reused, or computed
    here if that build died without writing it.
    """
    folder, config, plan = dataset.folder, dataset.config, dataset.plan
    pending = list(todo)
    while pending:
        claims: dict[int, FileLock] = {}
        busy: list[int] = []
        later: list[int] = []
        for i in pending:
            lock = FileLock(store.lock_path(folder, f"{i:05d}"))
            if len(claims) >= MAX_CLAIMED_STATES:
                later.append(i)
            elif not lock.acquire(blocking=False):
                busy.append(i)
            elif _state_ok(dataset, i):  # another build finished it meanwhile
                lock.release()
            else:
                claims[i] = lock
        mine = list(claims)
        try:
            if mine:
                tasks = [(config, plan[i]) for i in mine]
                desc = f"{config['name']} n={config['n_qubits']}"
                for k, (state, record) in runner.run(
                    build_sample, tasks, desc=desc, progress=progress
                ):
                    store.save_state(folder, mine[k], state, record, config)
                    claims.pop(mine[k]).release()
        finally:
            for lock in claims.values():
                lock.release()
        if busy and progress:
            print(
                f"waiting for another build of {folder.name}: {len(busy)} states in progress",
                file=sys.stderr,
            )
        still = []
        for i in busy:
            with FileLock(store.lock_path(folder, f"{i:05d}")):
                if not _state_ok(dataset, i):
                    still.append(i)
        pending = later + still


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
    unchecked = [i for i in range(len(dataset)) if not store.checksum_path(path, i).exists()]
    if unchecked:
        raise store.DatasetFormatError(
            f"{path}: {len(unchecked)} of {len(dataset)} states have no checksum file (built by "
            "an older qnnlab, or deleted). Run the same build again; it checks them by their "
            "content and records their checksums."
        )
    return dataset
