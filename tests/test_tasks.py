"""Task runners (``qnnlab.runtime.tasks``): serial, local processes and Dask give the same answers.

Worker processes are spawned and must import the task function, and ``tests/`` is not a package,
so the tasks are standard-library functions (``math.factorial``, ``operator.mul``): picklable by
reference and independent of the code under test.
"""

from __future__ import annotations

import math
import operator
import os

import pytest

from qnnlab.runtime.tasks import DaskRunner, ProcessRunner, SerialRunner, make_runner

TASKS = [(n,) for n in range(9)]
EXPECTED = [math.factorial(n) for n in range(9)]


def collect(runner, fn, tasks) -> list:
    """Results in task order, checking that every index arrives exactly once."""
    pairs = list(runner.run(fn, tasks, desc="test", progress=False))
    indices = [i for i, _ in pairs]
    assert sorted(indices) == list(range(len(tasks)))
    return [result for _, result in sorted(pairs, key=lambda p: p[0])]


def test_serial_runner_runs_in_order_and_lazily():
    seen = []

    def record(x):
        seen.append(x)
        return -x

    gen = SerialRunner().run(record, [(1,), (2,), (3,)], progress=False)
    assert next(gen) == (0, -1)
    assert seen == [1]  # nothing beyond the first task ran yet: results can be saved at once
    assert list(gen) == [(1, -2), (2, -3)]
    assert collect(SerialRunner(), math.factorial, TASKS) == EXPECTED


def test_process_runner_matches_serial():
    serial = collect(SerialRunner(), operator.mul, [(a, a + 1) for a in range(7)])
    parallel = collect(ProcessRunner(2), operator.mul, [(a, a + 1) for a in range(7)])
    assert parallel == serial == [a * (a + 1) for a in range(7)]
    assert collect(ProcessRunner(2), math.factorial, TASKS) == EXPECTED


def test_process_runner_with_no_tasks_starts_nothing():
    assert list(ProcessRunner(2).run(math.factorial, [], progress=False)) == []


@pytest.mark.parametrize("runner", [SerialRunner(), ProcessRunner(2)], ids=["serial", "process"])
def test_a_failing_task_raises_its_own_exception(runner):
    with pytest.raises(ValueError, match="negative"):
        collect(runner, math.factorial, [(3,), (-1,), (4,)])


def test_make_runner_picks_the_runner_from_options():
    assert isinstance(make_runner(1), SerialRunner)
    process = make_runner(3)
    assert isinstance(process, ProcessRunner) and process.workers == 3
    default = make_runner()
    assert isinstance(default, ProcessRunner) and default.workers == (os.cpu_count() or 1)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="at least 1"):
            make_runner(bad)


def test_dask_runner_matches_serial():
    distributed = pytest.importorskip(
        "distributed", reason="Dask is the cluster extra: pip install -e .[cluster]"
    )
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        runner = make_runner(scheduler=cluster.scheduler_address)
        try:
            assert isinstance(runner, DaskRunner)
            assert runner.workers == 2
            assert collect(runner, math.factorial, TASKS) == EXPECTED
            assert collect(runner, operator.mul, [(2, 3), (4, 5)]) == [6, 20]
            with pytest.raises(ValueError, match="negative"):
                collect(runner, math.factorial, [(2,), (-5,)])
        finally:
            runner.client.close()
