"""Damaged, swapped or foreign files: detected, named, recoverable; shared caches and processes.

Every file qnnlab reads back goes through one check (``qnnlab.runtime.checkpoint.read_json`` for
JSON, ``qnnlab.data.store.load_state`` for states). A damaged file must raise one error type that
names it (never a raw ``zlib.error``, ``UnicodeDecodeError``, ``KeyError`` ...), and files that can
be recomputed (checkpoints, caches, dataset files on a rebuild) are recomputed with a
``DamagedFileWarning`` naming them (pytest turns warnings into errors, so each is expected here).

The process tests start real Python processes: two builds of one dataset at once, and a parent
of a ``ProcessRunner`` killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import qnnlab.data.datasets as datasets_module
from qnnlab.data import Dataset, DatasetFormatError, build_dataset, load_dataset
from qnnlab.data.datasets import plan_cluster
from qnnlab.data.labels import StringOrders
from qnnlab.data.phases import build_sample, resolve_config
from qnnlab.data.store import (
    checksum_path,
    load_state,
    read_plan,
    read_state,
    state_path,
    write_plan,
)
from qnnlab.runtime.checkpoint import (
    DamagedFileError,
    DamagedFileWarning,
    TaskCheckpoint,
    read_json,
    write_sealed_json,
)
from qnnlab.runtime.locks import FileLock
from qnnlab.runtime.rundir import RunDirectory, RunFolderError
from qnnlab.runtime.tasks import SchedulerUnreachableError, SerialRunner, make_runner

pytestmark = pytest.mark.usefixtures("one_blas_thread")

DOC = {"format": "qnnlab-test", "config": {"a": 1, "b": [1.5, None]}, "name": "x"}


def damage(path: Path, how: str) -> None:
    """Damage a JSON file the ways the issue lists (and a well-formed edit)."""
    text = path.read_text()
    if how == "not-utf8":
        path.write_bytes(b"\xff\xfe" + text.encode()[2:])
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "array":
        path.write_text("[]")
    elif how == "missing-keys":
        path.write_text("{}")
    elif how == "edited":  # still valid JSON, checksum left as it was
        doc = json.loads(text)
        doc[next(k for k in doc if k not in ("format", "checksum"))] = "edited"
        path.write_text(json.dumps(doc))
    else:
        raise AssertionError(how)


HOW = ["not-utf8", "truncated", "array", "missing-keys", "edited"]


# ------------------------------------------------------------------------------ sealed JSON
def test_sealed_json_round_trips_and_every_damage_is_one_error_naming_the_file(tmp_path):
    path = write_sealed_json(tmp_path / "doc.json", DOC)
    kwargs = {
        "what": "test file",
        "fix": "Do the fix.",
        "fmt": "qnnlab-test",
        "keys": {"config": dict},
    }
    assert read_json(path, **kwargs) == DOC
    for how in HOW:
        write_sealed_json(path, DOC)
        damage(path, how)
        with pytest.raises(DamagedFileError) as info:
            read_json(path, **kwargs)
        assert str(path) in str(info.value) and "Do the fix." in str(info.value), how
        assert info.value.path == path and info.value.problem
    path.write_text(json.dumps(DOC))  # well-formed, no checksum
    with pytest.raises(DamagedFileError, match="has no checksum"):
        read_json(path, **kwargs)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "absent.json", **kwargs)


# ------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("how", HOW)
def test_a_damaged_checkpoint_is_recomputed_with_a_warning_naming_it(tmp_path, how):
    checkpoint = TaskCheckpoint(tmp_path, {"seed": 1})
    checkpoint.save("n4", {"variance": 0.25})
    assert checkpoint.load("n4") == {"variance": 0.25}
    path = next(tmp_path.glob("*-n4.json"))
    damage(path, how)
    with pytest.warns(DamagedFileWarning, match=path.name):
        assert checkpoint.load("n4") is None
    checkpoint.save("n4", {"variance": 0.5})  # the recomputed result replaces it
    assert checkpoint.load("n4") == {"variance": 0.5}


def test_a_checkpoint_renamed_to_another_task_is_not_used(tmp_path):
    checkpoint = TaskCheckpoint(tmp_path, {"seed": 1})
    checkpoint.save("n4", {"variance": 0.25})
    (tmp_path / f"{checkpoint.key}-n4.json").rename(tmp_path / f"{checkpoint.key}-n5.json")
    with pytest.warns(DamagedFileWarning, match="not task 'n5'"):
        assert checkpoint.load("n5") is None


def test_an_experiment_recomputes_only_its_damaged_checkpoint(tmp_path):
    from qnnlab.experiments.classification import open_run, run_tasks

    calls = []

    def task(i):
        calls.append(i)
        return {"value": i * i}

    run = open_run("demo", {"size": 3}, tmp_path, None)
    kwargs = {"workers": 1, "scheduler": None, "progress": False, "desc": "test"}
    tasks, names = [(i,) for i in range(3)], [f"fit{i}" for i in range(3)]
    first = run_tasks(run, {"size": 3}, task, tasks, names, **kwargs)
    path = next(run.checkpoints.glob("*-fit1.json"))
    path.write_bytes(b"\x80" + path.read_bytes())
    calls.clear()
    with pytest.warns(DamagedFileWarning, match=path.name):
        again = run_tasks(run, {"size": 3}, task, tasks, names, **kwargs)
    assert calls == [1] and again == first


# ------------------------------------------------------------------------------ datasets
@pytest.fixture
def tiny(tmp_path) -> Dataset:
    return build_dataset("xxx", 4, 4, seed=0, cache_dir=tmp_path, workers=1, progress=False)


def rebuild(tmp_path) -> Dataset:
    return build_dataset("xxx", 4, 4, seed=0, cache_dir=tmp_path, workers=1, progress=False)


class Counting:
    def __init__(self):
        self.indices: list[int] = []

    def __call__(self, config, sample):
        self.indices.append(sample["index"])
        return build_sample(config, sample)


def garble(path: Path) -> None:
    """Flip bytes at the start of the compressed vector: ``np.load`` raised a raw zlib.error."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("vector.npy")
    data = bytearray(path.read_bytes())
    local = info.header_offset  # local header: 30 bytes, then the name and the extra field
    name_len, extra_len = (
        int.from_bytes(data[local + k : local + k + 2], "little") for k in (26, 28)
    )
    start = local + 30 + name_len + extra_len + 2
    for k in range(start, start + 16):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_garbled_state_is_named_and_a_rebuild_recomputes_only_it(tiny, tmp_path, monkeypatch):
    before = tiny.dense_states()
    path = state_path(tiny.folder, 2)
    garble(path)
    with pytest.raises(DatasetFormatError, match="Delete it and rebuild") as info:
        read_state(path)  # the file alone, without its checksum
    assert str(path) in str(info.value)
    ds = load_dataset(tiny.folder)
    with pytest.raises(DatasetFormatError, match=r"00002\.npz.*SHA-256"):
        ds.state(2)
    counter = Counting()
    monkeypatch.setattr(datasets_module, "build_sample", counter)
    with pytest.warns(DamagedFileWarning, match=r"00002\.npz.*recomputing it"):
        rebuilt = rebuild(tmp_path)
    assert counter.indices == [2]
    np.testing.assert_allclose(rebuilt.dense_states(), before, atol=1e-12)


def test_a_state_swapped_for_another_samples_is_refused(tiny, tmp_path):
    # The state file and its checksum file both copied from sample 1 onto sample 0.
    state_path(tiny.folder, 0).write_bytes(state_path(tiny.folder, 1).read_bytes())
    checksum_path(tiny.folder, 0).write_bytes(checksum_path(tiny.folder, 1).read_bytes())
    with pytest.raises(DatasetFormatError, match=r"00000\.npz.*written for state 1"):
        load_dataset(tiny.folder).state(0)
    with pytest.warns(DamagedFileWarning, match=r"00000\.npz.*written for state 1"):
        rebuild(tmp_path)
    # Only the state file copied: its checksum no longer matches.
    state_path(tiny.folder, 0).write_bytes(state_path(tiny.folder, 1).read_bytes())
    with pytest.raises(DatasetFormatError, match=r"00000\.npz.*SHA-256"):
        load_dataset(tiny.folder).record(0)
    # No checksum file either: the record inside the state file still tells.
    checksum_path(tiny.folder, 0).unlink()
    with pytest.warns(DamagedFileWarning, match=r"00000\.npz: it holds sample 1, not sample 0"):
        rebuild(tmp_path)
    assert load_dataset(tiny.folder).record(0)["index"] == 0
    assert load_state(tiny.folder, 0, tiny.config, tiny.plan[0])[1] == tiny.record(0)


def test_a_label_that_disagrees_with_the_plan_is_refused(tiny):
    plan = [dict(s) for s in tiny.plan]
    plan[1]["label"] = 1 - plan[1]["label"]
    write_plan(tiny.folder, plan)  # a well-formed, sealed plan with a flipped label
    with pytest.raises(DatasetFormatError, match=r"00001\.npz.*its label is"):
        load_dataset(tiny.folder).state(1)


def test_an_edited_or_shortened_plan_is_refused_and_recomputed_by_a_rebuild(
    tiny, tmp_path, monkeypatch
):
    path = tiny.folder / "plan.json"
    doc = json.loads(path.read_text())
    doc["samples"][1]["label"] = 1 - doc["samples"][1]["label"]  # flipped by hand
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match=r"plan\.json.*checksum does not match"):
        load_dataset(tiny.folder)
    write_plan(tiny.folder, tiny.plan[:3])  # shortened, but sealed
    with pytest.raises(DatasetFormatError, match="lists 3 samples; the dataset has 4"):
        Dataset(tiny.folder)
    assert read_plan(tiny.folder) == tiny.plan[:3]  # without the configuration: no count
    counter = Counting()
    monkeypatch.setattr(datasets_module, "build_sample", counter)
    with pytest.warns(DamagedFileWarning, match=r"plan\.json.*recomputing the plan"):
        again = rebuild(tmp_path)
    assert counter.indices == [] and again.plan == tiny.plan


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_manifest_is_named_and_rewritten_by_a_rebuild(tiny, tmp_path, how):
    path = tiny.folder / "dataset.json"
    damage(path, how)
    with pytest.raises(DatasetFormatError, match=r"dataset\.json") as info:
        load_dataset(tiny.folder)
    assert "rewrites this file" in str(info.value)
    with pytest.warns(DamagedFileWarning, match=r"dataset\.json.*rewritten"):
        rebuild(tmp_path)
    assert load_dataset(tiny.folder).config == tiny.config


def test_a_state_without_checksum_file_is_checked_by_content_on_a_rebuild(
    tiny, tmp_path, monkeypatch
):
    checksum_path(tiny.folder, 3).unlink()  # as built by qnnlab before checksums
    with pytest.raises(DatasetFormatError, match="1 of 4 states have no checksum file"):
        load_dataset(tiny.folder)
    with pytest.raises(DatasetFormatError, match="no checksum file"):
        tiny.state(3)
    counter = Counting()
    monkeypatch.setattr(datasets_module, "build_sample", counter)
    rebuild(tmp_path)  # no warning: the state is good, its checksum is recorded
    assert counter.indices == [] and checksum_path(tiny.folder, 3).exists()
    load_dataset(tiny.folder).state(3)
    # A damaged checksum file: a warning, then the same check by content.
    checksum_path(tiny.folder, 3).write_text("[]")
    with pytest.warns(DamagedFileWarning, match=r"checksums/00003\.json"):
        rebuild(tmp_path)
    assert counter.indices == []


def test_a_state_of_the_wrong_size_is_refused(tiny):
    # A well-formed state of another chain length, with a matching checksum file.
    record = {**tiny.record(0), "index": 0}
    from qnnlab.data.store import save_state

    save_state(tiny.folder, 0, np.ones(8) / np.sqrt(8), record, tiny.config)
    with pytest.raises(DatasetFormatError, match="not a state of 4 qubits"):
        tiny.state(0)


def fake_orders(h1: float, h2: float, j: float) -> StringOrders:
    d = 0.8 * j - h1
    return StringOrders(spt=max(d, 0.0) + 0.1, trivial=max(-d, 0.0) + 0.1)


@pytest.mark.parametrize("how", ["not-utf8", "array", "missing-keys", "edited"])
def test_a_damaged_label_cache_entry_is_recomputed_with_a_warning(tmp_path, monkeypatch, how):
    calls = []

    def task(h1, h2, j):
        calls.append(h1)
        return fake_orders(h1, h2, j)

    monkeypatch.setattr(datasets_module, "string_order_task", task)
    config = resolve_config("cluster-ising", 6, 2, seed=3, h1_range=[0.0, 1.6])
    plan = plan_cluster(config, SerialRunner(), tmp_path, progress=False)
    entry = sorted((tmp_path / "labels" / "cluster-ising").glob("*.json"))[0]
    damage(entry, how)
    calls.clear()
    with pytest.warns(DamagedFileWarning, match=entry.name):
        assert plan_cluster(config, SerialRunner(), tmp_path, progress=False) == plan
    assert len(calls) == 1


# ------------------------------------------------------------------------------ run folders
def test_a_run_folder_belongs_to_one_command_and_configuration(tmp_path):
    out = tmp_path / "run"
    RunDirectory(out).write_config({"draws": 10}, "qnnlab variance ...", owner="qnnlab variance")
    (out / "variance.csv").write_text("qubits\n")
    # The same command and settings resume (config.json rewritten, other files kept).
    RunDirectory(out).write_config({"draws": 10}, None, owner="qnnlab variance")
    with pytest.raises(RunFolderError, match=r"with other settings \(draws\).*another --out"):
        RunDirectory(out).write_config({"draws": 20}, None, owner="qnnlab variance")
    with pytest.raises(RunFolderError, match="holds a `qnnlab variance` run"):
        RunDirectory(out).write_config({"draws": 10}, None, owner="qnnlab reproduce qcnn-phases")
    assert (out / "variance.csv").read_text() == "qubits\n"
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.png").write_bytes(b"meow")
    with pytest.raises(RunFolderError, match="not a qnnlab run folder"):
        RunDirectory(other).write_config({}, None, owner="qnnlab variance")


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_run_config_is_refused_with_its_name(tmp_path, how):
    RunDirectory(tmp_path).write_config({"draws": 10}, None, owner="qnnlab variance")
    damage(tmp_path / "config.json", how)
    with pytest.raises(RunFolderError, match=r"config\.json.*another --out"):
        RunDirectory(tmp_path).write_config({"draws": 10}, None, owner="qnnlab variance")


def test_variance_into_a_reproduce_folder_is_refused_before_any_work(tmp_path):
    from qnnlab.analysis.variance import VarianceScanConfig
    from qnnlab.experiments.classification import open_run
    from qnnlab.experiments.variance_run import run_variance_scan

    open_run("qcnn-phases", {"seeds": 2}, tmp_path, None)
    (tmp_path / "results.json").write_text('{"theirs": 1}')
    config = VarianceScanConfig(ansatz="toy-ry", cost="local", qubits=[2, 3], draws=20)
    with pytest.raises(RunFolderError, match="qnnlab reproduce qcnn-phases"):
        run_variance_scan(config, tmp_path, progress=False)
    assert json.loads((tmp_path / "results.json").read_text()) == {"theirs": 1}
    assert list((tmp_path / "checkpoints").glob("*")) == []


# ------------------------------------------------------------------------------ processes
BUILDER = """
import json, sys, time
from pathlib import Path

import qnnlab.data.datasets as datasets
from qnnlab.data.phases import build_sample

built = []


def slow_build(config, sample):
    built.append(sample["index"])
    time.sleep(0.3)
    return build_sample(config, sample)


if __name__ == "__main__":
    cache, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    datasets.build_sample = slow_build
    (cache / me).touch()
    while not (cache / other).exists():  # start both builds together
        time.sleep(0.01)
    ds = datasets.build_dataset("xxx", 4, 4, seed=0, cache_dir=cache, workers=1, progress=False)
    print(json.dumps({"built": built, "missing": ds.missing()}))
"""


def test_two_processes_building_one_dataset_compute_each_state_once(tmp_path):
    script = tmp_path / "builder.py"
    script.write_text(BUILDER)
    cache = tmp_path / "cache"
    cache.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(cache), me, other],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    built = [i for o in outputs for i in o["built"]]
    assert sorted(built) == list(range(4)), outputs  # together: every state exactly once
    assert all(o["missing"] == [] for o in outputs)
    folder = next((cache / "datasets").iterdir())
    assert load_dataset(folder).dense_states().shape == (4, 16)


def test_a_file_lock_is_released_when_its_holder_is_killed(tmp_path):
    path = tmp_path / "x.lock"
    code = (
        "import sys, time\nfrom qnnlab.runtime.locks import FileLock\n"
        "FileLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        lock = FileLock(path)
        assert not lock.acquire(blocking=False)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert lock.acquire(blocking=False)
    assert not FileLock(path).acquire(blocking=False)  # excludes in one process too
    lock.release()


def alive(pid: int) -> bool:
    """Running (a zombie whose parent is gone counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="finds the worker processes through /proc, which only Linux has",
)
def test_process_runner_workers_exit_when_the_parent_is_killed(tmp_path):
    (tmp_path / "killhelper.py").write_text(
        textwrap.dedent(
            """
            import os, time
            def hold(path):
                with open(path + ".tmp", "w") as handle:
                    handle.write(str(os.getpid()))
                os.replace(path + ".tmp", path)
                time.sleep(60)
            """
        )
    )
    (tmp_path / "parent.py").write_text(
        textwrap.dedent(
            """
            import sys
            import killhelper
            from qnnlab.runtime.tasks import ProcessRunner
            if __name__ == "__main__":
                tasks = [(f"{sys.argv[1]}/w{i}",) for i in range(2)]
                for _ in ProcessRunner(2).run(killhelper.hold, tasks, progress=False):
                    pass
            """
        )
    )
    extra = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *extra])}
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py"), str(tmp_path)], env=env)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"w{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and parent.poll() is None, "workers never started"
            time.sleep(0.05)
        pids = [int((tmp_path / f"w{i}").read_text()) for i in range(2)]
        assert all(alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in pids), "workers outlived their parent"
    finally:
        parent.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_fast_with_the_address_and_the_fix(monkeypatch):
    pytest.importorskip(
        "distributed", reason="Dask is the cluster extra: pip install -e .[cluster]"
    )
    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("QNNLAB_SCHEDULER_TIMEOUT", "0.5")
    start = time.monotonic()
    with pytest.raises(SchedulerUnreachableError, match="QNNLAB_SCHEDULER_TIMEOUT") as info:
        make_runner(scheduler=address)
    assert time.monotonic() - start < 10
    assert address in str(info.value) and "within 0.5 s" in str(info.value)
    assert isinstance(info.value, OSError)  # the command line reports it in one line
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        make_runner(scheduler="localhost")
    monkeypatch.setenv("QNNLAB_SCHEDULER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="QNNLAB_SCHEDULER_TIMEOUT must be"):
        make_runner(scheduler=address)
