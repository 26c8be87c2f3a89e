"""On-disk cache of datasets: one folder per configuration, one file per state, atomic writes,
every file checked when it is read back.

Layout of a dataset folder (its name carries the configuration's fingerprint)::

    <cache>/datasets/<name>-n<qubits>-<fingerprint>/
        dataset.json          format tag, version, the full resolved configuration
        plan.json             per-sample parameters and labels (fixed before any state is built)
        states/00000.npz      one state each: dense vector or MPS tensors, plus its record
        checksums/00000.json  SHA-256 of that state file, the dataset fingerprint and the index
        locks/00000.lock      empty; a build holds it (``flock``) while it computes the state

Every file is written to a temporary name in the same folder and renamed into place
(:func:`qnnlab.runtime.checkpoint.atomic_write_bytes`); a state's checksum file is written before
the state itself, so a killed build leaves finished states intact, each with its checksum, and no
half-written file.

What is checked on reading (:func:`load_state`, and :func:`verify_state` for a rebuild):

* JSON files (``dataset.json``, ``plan.json``, checksums) go through the one reader
  :func:`qnnlab.runtime.checkpoint.read_json`: UTF-8 JSON object, format tag, version, checksum of
  the content, required keys. The plan must list ``n_samples`` samples with indices ``0..M-1``.
* A state file must have the SHA-256 recorded for it when it was written, decode as a qnnlab
  ``.npz`` archive of this format version (any zip, zlib or NumPy error is caught), and agree with
  the plan: its record's index, label, parameters and method, and the state's size.

Any failure raises :class:`DatasetFormatError` naming the file and the fix. A rebuild
(:func:`qnnlab.data.datasets.build_dataset`) recomputes damaged states with a warning instead of
trusting that a file exists.

The cache root is ``$QNNLAB_CACHE`` if set, else ``$XDG_CACHE_HOME/qnnlab``, else
``~/.cache/qnnlab``; every function takes an explicit ``cache_dir`` as well.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np

from qnnlab.data.mps import MPS
from qnnlab.runtime.caches import default_cache_dir
from qnnlab.runtime.checkpoint import (
    DamagedFileError,
    DamagedFileWarning,
    atomic_write_bytes,
    fingerprint,
    read_json,
    sha256_hex,
    write_sealed_json,
)

STATE_FORMAT = "qnnlab-state"
DATASET_FORMAT = "qnnlab-dataset"
CHECKSUM_FORMAT = "qnnlab-state-checksum"
FORMAT_VERSION = 1

REBUILD = "the same `qnnlab dataset build` (or `build_dataset` call)"
DELETE_AND_REBUILD = f"Delete it and rebuild: {REBUILD} recomputes it."
MANIFEST_FIX = f"Run {REBUILD} again: it rewrites this file from its settings."
PLAN_FIX = f"Run {REBUILD} again: it recomputes the plan (or delete it and rebuild)."


class DatasetFormatError(DamagedFileError):
    """A file is not a qnnlab dataset file of a version this code reads; the message says why."""


def dataset_key(config: dict) -> str:
    """Fingerprint of a resolved configuration: the last part of its folder's name."""
    return fingerprint({"format_version": FORMAT_VERSION, **config})


def dataset_folder(config: dict, cache_dir: str | Path | None = None) -> Path:
    """Folder of the dataset with this resolved configuration (``config`` as a JSON dict)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "datasets" / f"{config['name']}-n{config['n_qubits']}-{dataset_key(config)}"


def state_path(folder: Path, index: int) -> Path:
    return Path(folder) / "states" / f"{index:05d}.npz"


def checksum_path(folder: Path, index: int) -> Path:
    return Path(folder) / "checksums" / f"{index:05d}.json"


def lock_path(folder: Path, name: str) -> Path:
    return Path(folder) / "locks" / f"{name}.lock"


# ---------------------------------------------------------------------------- state files
def encode_state(state: np.ndarray | MPS, record: dict) -> bytes:
    """Serialise one state and its JSON record to ``.npz`` bytes."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(STATE_FORMAT),
        "version": np.array(FORMAT_VERSION),
        "record": np.array(json.dumps(record)),
    }
    if isinstance(state, MPS):
        arrays["kind"] = np.array("mps")
        arrays["n_sites"] = np.array(state.n_qubits)
        for i, tensor in enumerate(state.tensors):
            arrays[f"B_{i:05d}"] = tensor
        for i, values in enumerate(state.schmidt):
            arrays[f"S_{i:05d}"] = values
    else:
        arrays["kind"] = np.array("dense")
        arrays["vector"] = np.asarray(state)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_state(path: Path, state: np.ndarray | MPS, record: dict) -> Path:
    """Only the ``.npz`` file (no checksum): use :func:`save_state` inside a dataset folder."""
    return atomic_write_bytes(path, encode_state(state, record))


def save_state(
    folder: Path, index: int, state: np.ndarray | MPS, record: dict, config: dict
) -> Path:
    """Write state ``index`` of the dataset ``config`` and, first, its checksum file."""
    data = encode_state(state, record)
    write_sealed_json(
        checksum_path(folder, index),
        {
            "format": CHECKSUM_FORMAT,
            "dataset": dataset_key(config),
            "index": index,
            "sha256": sha256_hex(data),
            "bytes": len(data),
        },
    )
    return atomic_write_bytes(state_path(folder, index), data)


def _state_error(path: Path, problem: str, fix: str = DELETE_AND_REBUILD) -> DatasetFormatError:
    return DatasetFormatError(
        f"{path} is damaged or not a usable qnnlab state file: {problem}. {fix}",
        path=path,
        problem=problem,
    )


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"No state file at {path}.")
    try:
        return path.read_bytes()
    except OSError as err:
        raise _state_error(path, f"it cannot be read ({err})") from err


def _check_tag(data, path: Path, expected: str) -> None:
    if "format" not in data.files or str(data["format"]) != expected:
        raise DatasetFormatError(
            f"{path} is not a {expected} file (no '{expected}' format tag); point qnnlab at a "
            "file written by `qnnlab dataset build`.",
            path=path,
            problem=f"no '{expected}' format tag",
        )
    version = int(data["version"]) if "version" in data.files else -1
    if version != FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path} has format version {version}; this qnnlab reads version {FORMAT_VERSION}. "
            "Rebuild the dataset with this version (or upgrade qnnlab).",
            path=path,
            problem=f"format version {version}",
        )


def _decode(raw: bytes, path: Path, with_state: bool) -> tuple[np.ndarray | MPS | None, dict]:
    """Decode ``.npz`` bytes; every decoding failure becomes a :class:`DatasetFormatError`."""
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as err:  # any failure to open the archive means damage
        raise _state_error(path, f"{type(err).__name__}: {err}") from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetFormatError(
            f"{path} holds a bare NumPy array, not a qnnlab state archive; point qnnlab at a "
            "file written by `qnnlab dataset build`.",
            path=path,
            problem="a bare NumPy array",
        )
    with loaded as data:
        try:
            _check_tag(data, path, STATE_FORMAT)
            record = json.loads(str(data["record"]))
            kind = str(data["kind"])
            if not isinstance(record, dict):
                raise _state_error(path, "its record is not a JSON object")
            if kind not in ("dense", "mps"):
                raise DatasetFormatError(
                    f"{path}: unknown state kind {kind!r}.", path=path, problem=f"kind {kind!r}"
                )
            if not with_state:
                return None, record
            if kind == "dense":
                return np.array(data["vector"]), record
            n = int(data["n_sites"])
            tensors = [np.array(data[f"B_{i:05d}"]) for i in range(n)]
            schmidt = [np.array(data[f"S_{i:05d}"]) for i in range(n + 1)]
            return MPS(tensors, schmidt), record
        except DatasetFormatError:
            raise
        except Exception as err:  # zip, zlib, NumPy, JSON or MPS: all damage
            raise _state_error(path, f"{type(err).__name__}: {err}") from err


def read_state(path: str | Path) -> tuple[np.ndarray | MPS, dict]:
    """Load ``(state, record)`` from a state file, refusing foreign, newer or damaged files.

    Checks the file alone; :func:`load_state` also checks it against its dataset."""
    path = Path(path)
    return _decode(_read_bytes(path), path, with_state=True)


def read_record(path: str | Path) -> dict:
    """Only the JSON record of a state file (the arrays stay on disk): for summaries."""
    path = Path(path)
    return _decode(_read_bytes(path), path, with_state=False)[1]


def _read_checksum(folder: Path, index: int) -> dict:
    return read_json(
        checksum_path(folder, index),
        what="qnnlab state checksum",
        fix=f"Run {REBUILD} again: it checks state {index} by its content and rewrites this file.",
        fmt=CHECKSUM_FORMAT,
        keys={"dataset": str, "index": int, "sha256": str},
        error=DatasetFormatError,
    )


def _check_checksum(path: Path, raw: bytes, checksum: dict, index: int, config: dict) -> None:
    name = f"checksums/{index:05d}.json"
    if checksum["dataset"] != dataset_key(config) or checksum["index"] != index:
        raise _state_error(
            path,
            f"{name} was written for state {checksum['index']} of dataset {checksum['dataset']}, "
            f"not state {index} of {dataset_key(config)} (files copied between folders)",
        )
    if checksum["sha256"] != sha256_hex(raw):
        raise _state_error(
            path,
            f"its SHA-256 differs from the one recorded in {name} when it was written "
            "(damaged, edited or replaced)",
        )


def _check_against_plan(path: Path, state, record: dict, index: int, config: dict, sample: dict):
    """The state file holds sample ``index`` of this plan (not another sample's state)."""
    if record.get("index") != index:
        problem = f"it holds sample {record.get('index')!r}, not sample {index}"
    elif record.get("label") != sample["label"]:
        problem = f"its label is {record.get('label')!r}; plan.json says {sample['label']!r}"
    elif record.get("params") != sample["params"]:
        problem = (
            f"its parameters {record.get('params')} differ from plan.json's {sample['params']}"
        )
    elif "method" in config and record.get("method") != config["method"]:
        problem = f"it was computed by {record.get('method')!r}, not {config['method']!r}"
    elif state is None:
        return
    elif isinstance(state, MPS) != (config.get("method") == "dmrg"):
        problem = f"it holds a {'MPS' if isinstance(state, MPS) else 'dense vector'}"
    else:
        n = config["n_qubits"]
        if state.n_qubits == n if isinstance(state, MPS) else state.shape == (2**n,):
            return
        problem = f"it is not a state of {n} qubits"
    raise _state_error(path, problem)


def load_state(
    folder: str | Path, index: int, config: dict, sample: dict, *, with_state: bool = True
) -> tuple[np.ndarray | MPS | None, dict]:
    """``(state, record)`` of sample ``index`` of the dataset ``config`` in ``folder``, checked
    against its checksum file and the plan's ``sample`` (see the module docstring).

    ``with_state=False`` decodes only the record (``state`` is ``None``).
    """
    folder = Path(folder)
    path = state_path(folder, index)
    raw = _read_bytes(path)
    if not checksum_path(folder, index).exists():
        raise _state_error(
            path,
            f"it has no checksum file (checksums/{index:05d}.json; built by an older qnnlab, or "
            "deleted)",
            f"Run {REBUILD} again: it checks the state by its content and records its checksum.",
        )
    _check_checksum(path, raw, _read_checksum(folder, index), index, config)
    state, record = _decode(raw, path, with_state)
    _check_against_plan(path, state, record, index, config, sample)
    return state, record


def verify_state(folder: str | Path, index: int, config: dict, sample: dict) -> bool:
    """For a rebuild: ``True`` if state ``index`` is present and good, ``False`` if missing;
    :class:`DatasetFormatError` if damaged.

    A state whose checksum file is missing (or damaged: a :class:`DamagedFileWarning` says so) is
    decoded in full and checked against the plan; if it passes, its checksum is recorded.
    """
    folder = Path(folder)
    path = state_path(folder, index)
    if not path.exists():
        return False
    raw = _read_bytes(path)
    try:
        checksum = _read_checksum(folder, index)
    except FileNotFoundError:
        checksum = None
    except DatasetFormatError as err:
        warnings.warn(
            f"{err.path}: {err.problem}; checking state {index} by its content instead.",
            DamagedFileWarning,
            stacklevel=2,
        )
        checksum = None
    if checksum is not None:
        _check_checksum(path, raw, checksum, index, config)
        _, record = _decode(raw, path, with_state=False)
        _check_against_plan(path, None, record, index, config, sample)
        return True
    state, record = _decode(raw, path, with_state=True)
    _check_against_plan(path, state, record, index, config, sample)
    write_sealed_json(
        checksum_path(folder, index),
        {
            "format": CHECKSUM_FORMAT,
            "dataset": dataset_key(config),
            "index": index,
            "sha256": sha256_hex(raw),
            "bytes": len(raw),
        },
    )
    return True


# ---------------------------------------------------------------------------- manifests
def write_manifest(folder: Path, config: dict) -> None:
    write_sealed_json(
        Path(folder) / "dataset.json",
        {"format": DATASET_FORMAT, "version": FORMAT_VERSION, "config": config},
    )


def read_manifest(folder: str | Path) -> dict:
    """The resolved configuration stored in a dataset folder (or given its ``dataset.json``)."""
    folder = Path(folder)
    path = folder if folder.name == "dataset.json" else folder / "dataset.json"
    if not path.exists():
        raise DatasetFormatError(
            f"{folder} is not a qnnlab dataset folder (no dataset.json). Build one with "
            "`qnnlab dataset build NAME --qubits N --samples M`.",
            path=path,
            problem="no dataset.json",
        )
    manifest = read_json(
        path,
        what="qnnlab dataset manifest",
        fix=MANIFEST_FIX,
        fmt=DATASET_FORMAT,
        version=FORMAT_VERSION,
        keys={"config": dict},
        error=DatasetFormatError,
    )
    config = manifest["config"]
    for key, kind in (("name", str), ("n_qubits", int), ("n_samples", int)):
        if not isinstance(config.get(key), kind):
            problem = f"its configuration has no valid {key!r}"
            raise DatasetFormatError(
                f"{path} is damaged or not a qnnlab dataset manifest: {problem}. {MANIFEST_FIX}",
                path=path,
                problem=problem,
            )
    return config


def write_plan(folder: Path, plan: list[dict]) -> None:
    write_sealed_json(Path(folder) / "plan.json", {"format": DATASET_FORMAT, "samples": plan})


def _plan_problem(samples: list, config: dict | None) -> str | None:
    if config is not None and len(samples) != config["n_samples"]:
        return f"it lists {len(samples)} samples; the dataset has {config['n_samples']}"
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict) or sample.get("index") != i:
            return f"entry {i} is not the record of sample {i}"
        if sample.get("label") not in (0, 1) or not isinstance(sample.get("params"), dict):
            return f"entry {i} has no 0/1 label or no parameters"
    return None


def read_plan(folder: str | Path, config: dict | None = None) -> list[dict] | None:
    """The per-sample plan (``None`` if not written yet), checked, with ``config`` given, to
    list exactly ``config["n_samples"]`` samples."""
    path = Path(folder) / "plan.json"
    if not path.exists():
        return None
    doc = read_json(
        path,
        what="qnnlab dataset plan",
        fix=PLAN_FIX,
        fmt=DATASET_FORMAT,
        keys={"samples": list},
        error=DatasetFormatError,
    )
    problem = _plan_problem(doc["samples"], config)
    if problem is not None:
        raise DatasetFormatError(
            f"{path} is damaged or not this dataset's plan: {problem}. {PLAN_FIX}",
            path=path,
            problem=problem,
        )
    return doc["samples"]
