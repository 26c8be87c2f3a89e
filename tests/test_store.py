"""On-disk dataset cache (``qnnlab.data.store``): exact round trips, atomic files, clear refusals.

Round trips must be bit-exact (``array_equal``, same dtype): a cache that changes a state by one
ulp would make a rebuilt dataset differ from the original. Damaged or foreign files must raise
:class:`DatasetFormatError` (never a raw NumPy/zip error) with a message that says what to do.
"""

from __future__ import annotations

import gc
import json
import warnings

import numpy as np
import pytest

from conftest import random_state
from qnnlab.data.mps import MPS, random_mps
from qnnlab.data.phases import resolve_config
from qnnlab.data.store import (
    DATASET_FORMAT,
    FORMAT_VERSION,
    STATE_FORMAT,
    DatasetFormatError,
    dataset_folder,
    default_cache_dir,
    encode_state,
    read_manifest,
    read_plan,
    read_state,
    state_path,
    write_manifest,
    write_plan,
    write_state,
)

RECORD = {"index": 3, "label": 1, "params": {"ratio": 1.25}, "energy": -3.5, "method": "exact"}


def leftovers(folder) -> list[str]:
    """Temporary files an atomic writer might leave behind (``.<name>.*.tmp``)."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or "tmp" in p.name)


# ------------------------------------------------------------------------------ state files
@pytest.mark.parametrize("dtype", [np.complex128, np.float64, np.complex64])
def test_dense_state_round_trip_is_exact(tmp_path, rng, dtype):
    v = random_state(rng, 6).astype(dtype) if dtype != np.float64 else rng.normal(size=64)
    path = write_state(state_path(tmp_path, 3), v, RECORD)
    assert path == tmp_path / "states" / "00003.npz"
    state, record = read_state(path)
    assert isinstance(state, np.ndarray)
    assert state.dtype == v.dtype
    np.testing.assert_array_equal(state, v)
    assert record == RECORD


def test_mps_round_trip_is_exact(tmp_path):
    mps = random_mps(7, 4, seed=11)
    write_state(tmp_path / "m.npz", mps, RECORD)
    state, record = read_state(tmp_path / "m.npz")
    assert isinstance(state, MPS) and record == RECORD
    assert len(state.tensors) == len(mps.tensors)
    for got, want in zip(state.tensors, mps.tensors, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in zip(state.schmidt, mps.schmidt, strict=True):
        np.testing.assert_array_equal(got, want)


def test_encode_state_is_an_npz_with_format_and_version(tmp_path):
    (tmp_path / "s.npz").write_bytes(encode_state(np.ones(4) / 2, RECORD))
    with np.load(tmp_path / "s.npz") as data:
        assert str(data["format"]) == STATE_FORMAT
        assert int(data["version"]) == FORMAT_VERSION
        assert json.loads(str(data["record"])) == RECORD


def test_atomic_writes_leave_no_temporary_files(tmp_path, rng):
    for i in range(5):
        write_state(state_path(tmp_path, i), random_state(rng, 3), {**RECORD, "index": i})
    write_state(state_path(tmp_path, 2), random_state(rng, 3), RECORD)  # overwrite in place
    write_manifest(tmp_path, {"name": "xxx", "n_qubits": 3})
    write_plan(tmp_path, [{"index": 0, "label": 0, "params": {}}])
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "states").iterdir()) == [
        f"{i:05d}.npz" for i in range(5)
    ]


def test_read_state_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No state file"):
        read_state(tmp_path / "nothing.npz")


def test_a_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, vector=np.ones(4))
    with pytest.raises(DatasetFormatError, match="not a qnnlab-state file") as info:
        read_state(path)
    assert "qnnlab dataset build" in str(info.value)


def test_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.npz"
    np.savez(
        path,
        format=np.array(STATE_FORMAT),
        version=np.array(FORMAT_VERSION + 1),
        record=np.array("{}"),
        kind=np.array("dense"),
        vector=np.ones(2),
    )
    with pytest.raises(DatasetFormatError, match=f"format version {FORMAT_VERSION + 1}") as info:
        read_state(path)
    assert "Rebuild" in str(info.value)


@pytest.mark.parametrize(
    "damage",
    ["truncated", "not-a-zip", "empty", "unknown-kind", "missing-record"],
)
def test_damaged_state_files_are_refused_with_the_fix(tmp_path, damage):
    path = tmp_path / "s.npz"
    good = encode_state(np.ones(8) / np.sqrt(8), RECORD)
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])  # a build killed mid-write (without atomicity)
    elif damage == "not-a-zip":
        path.write_text("these are not the amplitudes you are looking for\n")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "unknown-kind":
        np.savez(
            path,
            format=np.array(STATE_FORMAT),
            version=np.array(FORMAT_VERSION),
            record=np.array("{}"),
            kind=np.array("tensor-train"),
        )
    else:
        np.savez(path, format=np.array(STATE_FORMAT), version=np.array(FORMAT_VERSION))
    with warnings.catch_warnings():
        with pytest.raises(DatasetFormatError) as info:
            read_state(path)
        message = str(info.value)
        del info
        gc.collect()
    assert str(path) in message
    if damage == "unknown-kind":
        assert "unknown state kind 'tensor-train'" in message
    else:
        assert "Delete it and rebuild" in message


def test_a_plain_npy_file_is_refused(tmp_path):
    path = tmp_path / "state.npy"
    np.save(path, np.ones(4))
    with pytest.raises(DatasetFormatError):
        read_state(path)


def test_read_state_closes_a_damaged_file(tmp_path):
    path = tmp_path / "s.npz"
    good = encode_state(np.ones(8) / np.sqrt(8), RECORD)
    path.write_bytes(good[: len(good) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            read_state(path)
        except DatasetFormatError:
            pass
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# ------------------------------------------------------------------------------ manifests
def test_manifest_round_trip_and_path_forms(tmp_path):
    config = resolve_config("xxx", 8, 4, seed=2)
    write_manifest(tmp_path, config)
    assert read_manifest(tmp_path) == config
    assert read_manifest(tmp_path / "dataset.json") == config
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["format"] == DATASET_FORMAT and manifest["version"] == FORMAT_VERSION


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not a qnnlab dataset folder"),
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "something-else", "version": 1}), "not a qnnlab dataset manifest"),
        (json.dumps([1, 2, 3]), "not a qnnlab dataset manifest"),
        (json.dumps({"format": DATASET_FORMAT, "version": 99, "config": {}}), "version 99"),
    ],
)
def test_bad_manifests_are_refused(tmp_path, content, message):
    if content is not None:
        (tmp_path / "dataset.json").write_text(content)
    with pytest.raises(DatasetFormatError, match=message) as info:
        read_manifest(tmp_path)
    text = str(info.value)
    assert "build" in text.lower() or "rebuild" in text.lower() or "manifest" in text


def test_plans_round_trip_and_damaged_plans_are_refused(tmp_path):
    assert read_plan(tmp_path) is None
    plan = [{"index": 0, "label": 1, "params": {"ratio": 1.5}}]
    write_plan(tmp_path, plan)
    assert read_plan(tmp_path) == plan
    (tmp_path / "plan.json").write_text('{"format": "qnnlab-dataset"}')
    with pytest.raises(DatasetFormatError, match="delete it and rebuild"):
        read_plan(tmp_path)


# ------------------------------------------------------------------------------ folders
def test_dataset_folder_is_stable_and_named_after_the_config(tmp_path):
    config = resolve_config("xxx", 8, 4, seed=1)
    folder = dataset_folder(config, tmp_path)
    assert folder == dataset_folder(resolve_config("xxx", 8, 4, seed=1), tmp_path)
    assert folder.parent == tmp_path / "datasets"
    assert folder.name.startswith("xxx-n8-")
    # Key order of the options does not matter (JSON with sorted keys).
    shuffled = dict(reversed(list(config["options"].items())))
    assert dataset_folder({**config, "options": shuffled}, tmp_path) == folder


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"n_samples": 6},
        {"n_qubits": 10},
        {"method": "exact"},
        {"ratio_range": [0.2, 1.8]},
        {"exclusion": 0.1},
        {"sampling": "grid"},
        {"j1": 2.0},
        {"dmrg": {"chi_max": 32}},
    ],
)
def test_dataset_folder_changes_with_every_config_value(tmp_path, change):
    base = {"name": "xxx", "n_qubits": 8, "n_samples": 4, "seed": 1, "method": "dmrg"}
    base_config = resolve_config(**base)
    key, value = next(iter(change.items()))
    if key in base:
        changed = resolve_config(**{**base, key: value})
    elif key == "dmrg":
        changed = resolve_config(**base, dmrg=value)
    else:
        changed = resolve_config(**base, **{key: value})
    assert changed != base_config
    assert dataset_folder(changed, tmp_path) != dataset_folder(base_config, tmp_path)


def test_equal_configs_share_a_folder(tmp_path):
    default = resolve_config("xxx", 8, 4)
    ints = resolve_config("xxx", 8, 4, ratio_range=[0, 2], exclusion=0)
    assert ints == default
    assert dataset_folder(ints, tmp_path) == dataset_folder(default, tmp_path)


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QNNLAB_CACHE", str(tmp_path / "q"))
    assert default_cache_dir() == tmp_path / "q"
    monkeypatch.delenv("QNNLAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "qnnlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "qnnlab"
