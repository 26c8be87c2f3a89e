"""One task-runner interface for embarrassingly parallel work: serial, local processes, or Dask.

A runner maps a picklable top-level function over a list of argument tuples and yields
``(index, result)`` pairs *as tasks finish*, so the caller can save each result at once (a killed
run loses only the tasks in flight). A tqdm progress bar counts finished tasks.

* :class:`SerialRunner`: in this process, in order (debugging, tiny jobs).
* :class:`ProcessRunner`: a local pool of ``workers`` processes (the default), started with the
  ``spawn`` method (JAX and BLAS thread pools do not survive ``fork``); each worker limits its
  BLAS threads to ``threads_per_worker`` so that ``workers x threads`` matches the cores. Workers
  exit when their parent dies, even by ``kill -9`` (Linux: ``PR_SET_PDEATHSIG``; everywhere: a
  thread that watches the parent's process id).
* :class:`DaskRunner`: tasks submitted to a Dask ``distributed`` cluster at ``address``
  (install the ``cluster`` extra: ``pip install qnnlab[cluster]``). An address that does not
  answer within ``QNNLAB_SCHEDULER_TIMEOUT`` seconds (default 5) raises
  :class:`SchedulerUnreachableError`. The tasks run as pickled Python code on the cluster's
  workers: use only a scheduler you trust.

Use :func:`make_runner` to pick one from command-line style options.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from tqdm.auto import tqdm


class TaskRunner(Protocol):
    """Runs ``fn(*args)`` for every ``args`` in ``tasks``; yields ``(index, result)`` as done."""

    workers: int

    def run(
        self, fn: Callable, tasks: Sequence[tuple], *, desc: str = "", progress: bool = True
    ) -> Iterator[tuple[int, object]]: ...


def _progress(total: int, desc: str, enabled: bool):
    return tqdm(total=total, desc=desc, unit="task", disable=not enabled or total == 0)


class SerialRunner:
    """Runs tasks one after another in this process."""

    workers = 1

    def run(self, fn, tasks, *, desc="", progress=True):
        with _progress(len(tasks), desc, progress) as bar:
            for index, args in enumerate(tasks):
                result = fn(*args)
                bar.update()
                yield index, result


#: Seconds between two checks of a worker that its parent process is still alive.
PARENT_POLL_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Make this (worker) process end when process ``parent`` ends, however it ends."""
    if sys.platform.startswith("linux"):
        try:  # the kernel sends SIGKILL when the parent dies (immediate, even in C code)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - an unusual libc
            pass
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)

    def watch() -> None:  # portable fallback: reparenting changes the parent's id
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="qnnlab-parent-watch", daemon=True).start()


def _init_worker(threads: int, parent: int) -> None:
    _exit_with_parent(parent)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


_BROKEN_POOL = (
    "A worker process died. If this ran from a script, put the call under "
    "`if __name__ == '__main__':` (worker processes are spawned and re-import the script), "
    "or pass workers=1 to build in this process. A worker killed for lack of memory looks the "
    "same: use fewer workers."
)


class ProcessRunner:
    """A local process pool; at most ``workers`` tasks run at once."""

    def __init__(self, workers: int | None = None, threads_per_worker: int = 1):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.threads_per_worker = threads_per_worker

    def run(self, fn, tasks, *, desc="", progress=True):
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.threads_per_worker, os.getpid()),
        )
        try:
            with _progress(len(tasks), desc, progress) as bar:
                pending = {pool.submit(fn, *args): index for index, args in enumerate(tasks)}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = pending.pop(future)
                        try:
                            result = future.result()  # re-raises a task's exception here
                        except BrokenProcessPool as err:
                            raise RuntimeError(_BROKEN_POOL) from err
                        bar.update()
                        yield index, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class SchedulerUnreachableError(ConnectionError):
    """No Dask scheduler answered at the given address in time; the message says what to do."""


#: Seconds to wait for a Dask scheduler to answer, unless ``QNNLAB_SCHEDULER_TIMEOUT`` says.
SCHEDULER_TIMEOUT = 5.0


def scheduler_timeout() -> float:
    """``$QNNLAB_SCHEDULER_TIMEOUT`` (seconds, > 0) or :data:`SCHEDULER_TIMEOUT`."""
    text = os.environ.get("QNNLAB_SCHEDULER_TIMEOUT", "").strip()
    if not text:
        return SCHEDULER_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"QNNLAB_SCHEDULER_TIMEOUT must be a number of seconds > 0, got {text!r}.")
    return value


class DaskRunner:
    """Tasks on a Dask ``distributed`` scheduler (``address`` like ``tcp://host:8786``).

    ``timeout``: seconds to wait for the scheduler (default :func:`scheduler_timeout`). A
    malformed address raises ``ValueError``; one that does not answer in time raises
    :class:`SchedulerUnreachableError` naming it.
    """

    def __init__(self, address: str, timeout: float | None = None):
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Running on a Dask cluster needs the 'distributed' package: "
                "pip install 'qnnlab[cluster]'."
            ) from err
        timeout = scheduler_timeout() if timeout is None else timeout
        try:
            self.client = Client(address, timeout=timeout)
        except ValueError as err:
            raise ValueError(
                f"--scheduler {address!r} is not a Dask scheduler address ({err}); give one "
                "like tcp://host:8786."
            ) from None
        except OSError as err:
            raise SchedulerUnreachableError(
                f"No Dask scheduler answered at {address} within {timeout:g} s ({err}). Check "
                "the address and that `dask scheduler` runs there and is reachable from this "
                "machine, drop --scheduler to use local processes, or wait longer with "
                "QNNLAB_SCHEDULER_TIMEOUT=SECONDS."
            ) from None
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run(self, fn, tasks, *, desc="", progress=True):
        from distributed import as_completed

        futures = {
            self.client.submit(fn, *args, pure=False): index for index, args in enumerate(tasks)
        }
        try:
            with _progress(len(tasks), desc, progress) as bar:
                for future in as_completed(list(futures)):
                    result = future.result()
                    bar.update()
                    yield futures[future], result
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster itself keeps running)."""
        self.client.close()


def make_runner(workers: int | None = None, scheduler: str | None = None) -> TaskRunner:
    """``scheduler`` address -> Dask; ``workers == 1`` -> serial; else a local process pool."""
    if scheduler:
        return DaskRunner(scheduler)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    if workers == 1:
        return SerialRunner()
    return ProcessRunner(workers)
