"""Atomic files, checksummed JSON, and a per-task checkpoint, so a killed run loses no finished
work and a damaged file is never used silently.

``atomic_write_bytes`` writes to a temporary file in the same folder and renames it over the
target (``os.replace`` is atomic on POSIX), so readers see the old file or the new one, never half
of one.

Every JSON file that qnnlab writes and reads back later (dataset manifests and plans, phase-label
caches, state checksums, task checkpoints, run-folder configurations) is *sealed*:
:func:`write_sealed_json` adds a ``"checksum"`` field, the SHA-256 of the rest of the document.
:func:`read_json` is the one reader for those files. It checks, in order: the file is UTF-8 JSON,
the top level is an object, the ``format`` tag, the checksum, and the type of every required key;
any failure raises :class:`DamagedFileError`, a ``ValueError`` whose message names the file, what
is wrong and what to do. Readers of files that can be recomputed (caches, checkpoints) use
:func:`read_cache`, which turns that error into a :class:`DamagedFileWarning` naming the file and
returns ``None``, so the caller recomputes and overwrites it.

:class:`TaskCheckpoint` keeps one sealed record per finished task in a folder; a run with the same
configuration *fingerprint* picks the records up and skips those tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

#: Key of the checksum field in a sealed JSON document.
CHECKSUM_KEY = "checksum"
CHECKPOINT_FORMAT = "qnnlab-checkpoint"


class DamagedFileError(ValueError):
    """A file qnnlab reads back is damaged, foreign or edited; the message names it and the fix.

    ``path`` and ``problem`` (what is wrong, without the fix) are kept for callers that recover
    and say so in a warning of their own.
    """

    def __init__(self, message: str, *, path: Path | None = None, problem: str | None = None):
        super().__init__(message)
        self.path = path
        self.problem = problem


class DamagedFileWarning(UserWarning):
    """A damaged cache or checkpoint file was ignored; its content is recomputed."""


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def fingerprint(config: dict) -> str:
    """Stable short hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- sealed JSON
def content_checksum(obj: dict) -> str:
    """``"sha256:<hex>"`` of the canonical JSON of ``obj`` without its checksum field."""
    body = {k: v for k, v in obj.items() if k != CHECKSUM_KEY}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + sha256_hex(blob.encode("utf-8"))


def write_sealed_json(path: str | Path, obj: dict) -> Path:
    """Write ``obj`` (a JSON object) atomically with a checksum of its content."""
    normal = json.loads(json.dumps(obj))  # tuples -> lists, keys -> str: what a reader sees
    return write_json(path, {**normal, CHECKSUM_KEY: content_checksum(normal)})


def _type_name(value) -> str:
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _problem(raw: bytes, fmt: str | None, version: int | None, keys: dict, sealed: bool):
    """``(document, None)`` for a good file, else ``(None, what is wrong)``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"it is not UTF-8 text ({err.reason} at byte {err.start})"
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        return None, f"it is not valid JSON ({err})"
    if not isinstance(obj, dict):
        return None, f"it holds a JSON {_type_name(obj)}, not an object"
    if fmt is not None and obj.get("format") != fmt:
        return None, f"its format tag is {obj.get('format')!r}, not {fmt!r}"
    if version is not None and obj.get("version") != version:
        return None, f"it has format version {obj.get('version')}; this qnnlab reads {version}"
    if sealed:
        stored = obj.get(CHECKSUM_KEY)
        if stored is None:
            return None, "it has no checksum (written by an older qnnlab, or edited)"
        if stored != content_checksum(obj):
            return None, "its checksum does not match its content (edited or damaged)"
    for key, kind in keys.items():
        if key not in obj:
            return None, f"it has no {key!r} entry"
        if not isinstance(obj[key], kind):
            return None, f"its {key!r} entry is a JSON {_type_name(obj[key])}"
    obj.pop(CHECKSUM_KEY, None)
    return obj, None


def read_json(
    path: str | Path,
    *,
    what: str,
    fix: str,
    fmt: str | None = None,
    version: int | None = None,
    keys: dict[str, type | tuple[type, ...]] | None = None,
    sealed: bool = True,
    error: type[DamagedFileError] = DamagedFileError,
) -> dict:
    """Read a JSON object that qnnlab wrote, checking everything listed in the module docstring.

    Args:
        what: what the file should be, for the message ("qnnlab dataset manifest").
        fix: the sentence that tells the user what to do ("Rebuild the dataset.").
        fmt: the required ``"format"`` tag, if any.
        version: the required ``"version"`` (checked before the checksum, whose scheme a newer
            version may change).
        keys: required keys and their Python types (``{"config": dict}``).
        sealed: require a matching checksum (files written by :func:`write_sealed_json`).

    Returns the object without its checksum field. Raises ``FileNotFoundError`` for a missing
    file and ``error`` (:class:`DamagedFileError` or a subclass) for everything else.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        obj, problem = None, f"it cannot be read ({err})"
    else:
        obj, problem = _problem(raw, fmt, version, keys or {}, sealed)
    if problem is not None:
        raise error(
            f"{path} is damaged or not a {what}: {problem}. {fix}", path=path, problem=problem
        )
    return obj


def read_cache(path: str | Path, **kwargs) -> dict | None:
    """:func:`read_json` for a file the caller can recompute: ``None`` if it is missing, and
    ``None`` with a :class:`DamagedFileWarning` naming it if it is damaged."""
    kwargs.setdefault("fix", "It is ignored and recomputed.")
    try:
        return read_json(path, **kwargs)
    except FileNotFoundError:
        return None
    except DamagedFileError as err:
        warnings.warn(str(err), DamagedFileWarning, stacklevel=2)
        return None


# ---------------------------------------------------------------------------- task checkpoints
class TaskCheckpoint:
    """Finished-task records in ``folder``, valid only for one configuration fingerprint.

    Records of another configuration are left alone and ignored (they are not overwritten), so
    pointing a different run at the same folder never mixes results. A damaged or edited record
    (bad checksum, not JSON, wrong shape, another task's record under this name) is recomputed
    with a :class:`DamagedFileWarning` that names it.
    """

    def __init__(self, folder: str | Path, config: dict):
        self.folder = Path(folder)
        self.key = fingerprint(config)

    def _path(self, task: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in task)
        return self.folder / f"{self.key}-{safe}.json"

    def load(self, task: str) -> dict | None:
        path = self._path(task)
        record = read_cache(
            path,
            what="qnnlab task checkpoint",
            fmt=CHECKPOINT_FORMAT,
            keys={"fingerprint": str, "task": str, "result": dict},
        )
        if record is None:
            return None
        if record["fingerprint"] != self.key or record["task"] != task:
            warnings.warn(
                f"{path} holds task {record['task']!r} of configuration {record['fingerprint']}, "
                f"not task {task!r} of {self.key} (copied or renamed). It is ignored and "
                "recomputed.",
                DamagedFileWarning,
                stacklevel=2,
            )
            return None
        return record["result"]

    def save(self, task: str, result: dict) -> None:
        write_sealed_json(
            self._path(task),
            {"format": CHECKPOINT_FORMAT, "fingerprint": self.key, "task": task, "result": result},
        )
