"""Atomic files and a per-task checkpoint, so a killed run loses no finished work.

``atomic_write_text`` writes to a temporary file in the same folder and renames it over the
target (``os.replace`` is atomic on POSIX), so readers see the old file or the new one, never half
of one. :class:`TaskCheckpoint` keeps one JSON record per finished task in a folder; a run with the
same configuration *fingerprint* picks the records up and skips those tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


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


class TaskCheckpoint:
    """Finished-task records in ``folder``, valid only for one configuration fingerprint.

    Records of another configuration are left alone and ignored (they are not overwritten), so
    pointing a different run at the same folder never mixes results.
    """

    def __init__(self, folder: str | Path, config: dict):
        self.folder = Path(folder)
        self.key = fingerprint(config)

    def _path(self, task: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in task)
        return self.folder / f"{self.key}-{safe}.json"

    def load(self, task: str) -> dict | None:
        path = self._path(task)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # a foreign or damaged file: recompute the task
        if record.get("fingerprint") != self.key:
            return None
        return record.get("result")

    def save(self, task: str, result: dict) -> None:
        write_json(self._path(task), {"fingerprint": self.key, "task": task, "result": result})
