"""Place XLA's CPU worker threads one per core, so every process runs at the same speed.

XLA's CPU client runs a compiled program on a pool of worker threads (named ``tf_XLAEigen``, one
per core). Between tasks a worker spins briefly and then sleeps, so to the Linux scheduler it
looks half idle, and the scheduler may put two workers on one core when the pool starts and keep
them there. On a two-core machine that makes a process run its steps at half speed for its whole
life: the 12-qubit QCNN training step took 24-32 ms in some fresh processes and 73-80 ms in
others (``benchmarks/qcnn_step.py --processes``). Pinning worker ``i`` to the ``i``-th core the
process may use removes the slow mode; the Python thread that dispatches work stays free.

:func:`spread_compute_threads` does this once per process. The command line and the training
entry points call it; ``QNNLAB_PIN_THREADS=0`` turns it off (e.g. when several processes share a
machine and an outside tool assigns cores). It is a no-op where the operating system does not
support per-thread affinity (only Linux does) or where the process may use a single core.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Name of XLA's CPU worker threads (``/proc/<pid>/task/<tid>/comm``).
WORKER_THREAD_NAME = "tf_XLAEigen"

_DONE = False


def pinning_disabled_by_env() -> bool:
    """``QNNLAB_PIN_THREADS`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get("QNNLAB_PIN_THREADS", "").strip().lower() in ("0", "false", "no", "off")


def worker_threads() -> list[int]:
    """Thread ids of this process's XLA CPU workers, in creation order (empty off Linux)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return []
    found = []
    for entry in tasks.iterdir():
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if name == WORKER_THREAD_NAME:
            found.append(int(entry.name))
    return sorted(found)


def spread_compute_threads() -> dict[int, int]:
    """Pin XLA's CPU worker threads round-robin to the cores this process may use.

    Starts JAX's CPU backend if it is not running yet (its worker pool is created with it).
    Returns ``{thread id: core}`` for the threads pinned now (empty when it did nothing: already
    done in this process, switched off, not Linux, or a single allowed core).
    """
    global _DONE
    if _DONE or pinning_disabled_by_env() or not hasattr(os, "sched_setaffinity"):
        return {}
    _DONE = True
    import jax

    if jax.default_backend() != "cpu":
        return {}
    cores = sorted(os.sched_getaffinity(0))
    threads = worker_threads()
    if len(cores) < 2 or not threads:
        return {}
    placement = {}
    for i, tid in enumerate(threads):
        core = cores[i % len(cores)]
        try:
            os.sched_setaffinity(tid, {core})
        except OSError:  # the thread ended, or a container forbids it: leave the rest alone
            continue
        placement[tid] = core
    return placement
