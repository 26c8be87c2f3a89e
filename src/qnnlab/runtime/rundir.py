"""Run directories: ``runs/<name>-<time>/`` with the resolved config, ``results.json``, CSV
tables, PNG plots and a log. Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from qnnlab.runtime.checkpoint import atomic_write_bytes, atomic_write_text, write_json
from qnnlab.version import __version__


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

    def write_config(self, config: dict, command: str | None = None) -> Path:
        payload = {
            "config": config,
            "qnnlab_version": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "command": command,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return write_json(self.file("config.json"), payload)

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
        return json.loads(self.file(name).read_text(encoding="utf-8"))
