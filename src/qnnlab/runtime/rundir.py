"""Run directories: ``runs/<name>-<time>/`` with the resolved config, ``results.json``, CSV
tables, PNG plots and a log. Every file is written atomically.

``config.json`` also marks who owns the folder: the command (``owner``, e.g. ``qnnlab reproduce
qcnn-phases``) and the fingerprint of its configuration, sealed with a checksum. Writing it
(:meth:`RunDirectory.write_config`) refuses, with :class:`RunFolderError`, a folder that belongs
to another command or configuration (its results would be replaced beside the other run's tables
and plots), a damaged ``config.json``, and a non-empty folder that is not a run folder. The same
command with the same configuration resumes.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from qnnlab.runtime.checkpoint import (
    DamagedFileError,
    atomic_write_bytes,
    atomic_write_text,
    fingerprint,
    read_json,
    write_json,
    write_sealed_json,
)
from qnnlab.version import __version__

RUN_FORMAT = "qnnlab-run"
OTHER_OUT = "Pick another --out (a new folder), or delete that folder to start over."


class RunFolderError(ValueError):
    """The output folder belongs to another run (or is not a run folder); pick another one."""


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{name}-{stamp}"


class RunDirectory:
    """A folder holding one run's outputs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints = self.path / "checkpoints"

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict, command: str | None = None, *, owner: str) -> Path:
        """Claim the folder for ``owner`` (the command, e.g. ``qnnlab variance``) and ``config``
        and write ``config.json``. Raises :class:`RunFolderError` as the module docstring says."""
        self._check_owner(owner, config)
        payload = {
            "format": RUN_FORMAT,
            "owner": owner,
            "fingerprint": fingerprint(config),
            "config": config,
            "qnnlab_version": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "command": command,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return write_sealed_json(self.file("config.json"), payload)

    def _check_owner(self, owner: str, config: dict) -> None:
        path = self.file("config.json")
        if not path.exists():
            if any(self.path.iterdir()):
                raise RunFolderError(
                    f"{self.path} is not empty and is not a qnnlab run folder (no config.json); "
                    f"its files could be overwritten. {OTHER_OUT}"
                )
            return
        try:
            stored = read_json(
                path,
                what="qnnlab run configuration",
                fix="qnnlab cannot tell which run owns this folder. " + OTHER_OUT,
                fmt=RUN_FORMAT,
                keys={"owner": str, "fingerprint": str, "config": dict},
            )
        except DamagedFileError as err:
            raise RunFolderError(str(err)) from None
        if stored["owner"] == owner and stored["fingerprint"] == fingerprint(config):
            return
        if stored["owner"] != owner:
            what = f"a `{stored['owner']}` run"
        else:
            old, new = stored["config"], json.loads(json.dumps(config))
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            what = f"a `{owner}` run with other settings ({', '.join(changed[:6])})"
        raise RunFolderError(
            f"{self.path} holds {what}; this run would replace its config.json and "
            f"results.json beside its tables and plots. {OTHER_OUT}"
        )

    def write_results(self, results: dict, name: str = "results.json") -> Path:
        return write_json(self.file(name), results)

    def write_csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence]) -> Path:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        return atomic_write_text(self.file(name), buffer.getvalue())

    def save_figure(self, figure, name: str) -> Path:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
        return atomic_write_bytes(self.file(name), buffer.getvalue())

    def log(self, message: str) -> None:
        with open(self.file("log.txt"), "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    def read_results(self, name: str = "results.json") -> dict:
        return read_json(
            self.file(name),
            what="qnnlab results file",
            fix="Run the command again to rewrite it.",
            sealed=False,
        )
