"""XLA's CPU worker threads are spread one per core (runtime/threads.py), in a fresh process."""

import json
import os
import subprocess
import sys

import pytest

CHILD = """
import json, os
from qnnlab.runtime.threads import spread_compute_threads, worker_threads
placement = spread_compute_threads()
again = spread_compute_threads()
cores = {tid: sorted(os.sched_getaffinity(tid)) for tid in worker_threads()}
print(json.dumps({"placement": placement, "again": again, "cores": cores,
                  "allowed": sorted(os.sched_getaffinity(0))}))
"""


def _run(extra_env):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **extra_env}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_two_cores = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="per-thread affinity needs Linux and at least two allowed cores",
)


@needs_two_cores
def test_worker_threads_get_one_core_each():
    result = _run({"QNNLAB_PIN_THREADS": "1"})
    cores = result["cores"]
    assert cores, "no XLA worker threads found (their name may have changed)"
    allowed = result["allowed"]
    expected = [[allowed[i % len(allowed)]] for i in range(len(cores))]
    assert [cores[t] for t in sorted(cores, key=int)] == expected
    assert {int(t): c for t, c in result["placement"].items()} == {
        int(t): c[0] for t, c in cores.items()
    }
    assert result["again"] == {}  # once per process


@needs_two_cores
def test_pinning_can_be_switched_off():
    result = _run({"QNNLAB_PIN_THREADS": "0"})
    assert result["placement"] == {}
    assert all(len(c) == len(result["allowed"]) for c in result["cores"].values())
