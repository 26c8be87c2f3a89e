"""On-disk cache of datasets: one folder per configuration, one file per state, atomic writes.

Layout of a dataset folder (its name carries the configuration's fingerprint)::

    <cache>/datasets/<name>-n<qubits>-<fingerprint>/
        dataset.json        format tag, version, the full resolved configuration
        plan.json           per-sample parameters and labels (fixed before any state is built)
        states/00000.npz    one state each: dense vector or MPS tensors, plus its record

Every file is written to a temporary name in the same folder and renamed into place
(:func:`qnnlab.runtime.checkpoint.atomic_write_bytes`), so a killed build leaves finished states
intact and no half-written file; a rebuild with the same configuration computes only the states
whose files are missing. State files are ``.npz`` archives with a ``format`` tag and a
``version``; anything else (a foreign file, a newer version, a truncated archive) is refused with a
:class:`DatasetFormatError` that names the problem.

The cache root is ``$QNNLAB_CACHE`` if set, else ``$XDG_CACHE_HOME/qnnlab``, else
``~/.cache/qnnlab``; every function takes an explicit ``cache_dir`` as well.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from qnnlab.data.mps import MPS, MPSError
from qnnlab.runtime.caches import default_cache_dir
from qnnlab.runtime.checkpoint import atomic_write_bytes, fingerprint, write_json

STATE_FORMAT = "qnnlab-state"
DATASET_FORMAT = "qnnlab-dataset"
FORMAT_VERSION = 1


class DatasetFormatError(ValueError):
    """A file is not a qnnlab dataset file of a version this code reads; the message says why."""


def dataset_folder(config: dict, cache_dir: str | Path | None = None) -> Path:
    """Folder of the dataset with this resolved configuration (``config`` as a JSON dict)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = fingerprint({"format_version": FORMAT_VERSION, **config})
    return root / "datasets" / f"{config['name']}-n{config['n_qubits']}-{key}"


def state_path(folder: Path, index: int) -> Path:
    return folder / "states" / f"{index:05d}.npz"


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
    return atomic_write_bytes(path, encode_state(state, record))


def _check_tag(data, path: Path, expected: str) -> None:
    if "format" not in data.files or str(data["format"]) != expected:
        raise DatasetFormatError(
            f"{path} is not a {expected} file (no '{expected}' format tag); point qnnlab at a "
            "file written by `qnnlab dataset build`."
        )
    version = int(data["version"]) if "version" in data.files else -1
    if version != FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path} has format version {version}; this qnnlab reads version {FORMAT_VERSION}. "
            "Rebuild the dataset with this version (or upgrade qnnlab)."
        )


def _open_npz(handle, path: Path):
    data = np.load(handle, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DatasetFormatError(
            f"{path} holds a bare NumPy array, not a qnnlab state archive; point qnnlab at a "
            "file written by `qnnlab dataset build`."
        )
    return data


def read_state(path: str | Path) -> tuple[np.ndarray | MPS, dict]:
    """Load ``(state, record)`` from a state file, refusing foreign, newer or damaged files."""
    return _read(path, with_state=True)


def read_record(path: str | Path) -> dict:
    """Only the JSON record of a state file (the arrays stay on disk): for summaries."""
    return _read(path, with_state=False)[1]


def _read(path: str | Path, *, with_state: bool) -> tuple[np.ndarray | MPS | None, dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No state file at {path}.")
    try:
        with open(path, "rb") as handle, _open_npz(handle, path) as data:
            _check_tag(data, path, STATE_FORMAT)
            record = json.loads(str(data["record"]))
            kind = str(data["kind"])
            if kind not in ("dense", "mps"):
                raise DatasetFormatError(f"{path}: unknown state kind {kind!r}.")
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
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, MPSError, ValueError) as err:
        raise DatasetFormatError(
            f"{path} is damaged or not a qnnlab state file ({type(err).__name__}: {err}). "
            "Delete it and rebuild: only missing states are recomputed."
        ) from err


# ---------------------------------------------------------------------------- manifests
def write_manifest(folder: Path, config: dict) -> None:
    write_json(
        folder / "dataset.json",
        {"format": DATASET_FORMAT, "version": FORMAT_VERSION, "config": config},
    )


def read_manifest(folder: str | Path) -> dict:
    """The resolved configuration stored in a dataset folder (or given its ``dataset.json``)."""
    folder = Path(folder)
    path = folder if folder.name == "dataset.json" else folder / "dataset.json"
    if not path.exists():
        raise DatasetFormatError(
            f"{folder} is not a qnnlab dataset folder (no dataset.json). Build one with "
            "`qnnlab dataset build NAME --qubits N --samples M`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path} is not valid JSON ({err}); rebuild the dataset.") from err
    if not isinstance(manifest, dict) or manifest.get("format") != DATASET_FORMAT:
        raise DatasetFormatError(f"{path} is not a qnnlab dataset manifest.")
    if "config" not in manifest or not isinstance(manifest["config"], dict):
        raise DatasetFormatError(f"{path} has no configuration; rebuild the dataset.")
    if manifest.get("version") != FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path} has format version {manifest.get('version')}; this qnnlab reads version "
            f"{FORMAT_VERSION}. Rebuild the dataset."
        )
    return manifest["config"]


def write_plan(folder: Path, plan: list[dict]) -> None:
    write_json(folder / "plan.json", {"format": DATASET_FORMAT, "samples": plan})


def read_plan(folder: Path) -> list[dict] | None:
    path = folder / "plan.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["samples"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DatasetFormatError(f"{path} is damaged ({err}); delete it and rebuild.") from err
