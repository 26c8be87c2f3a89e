"""Adapters from a qnnlab circuit to three Python Pauli-propagation engines, for benchmarks.

Each adapter takes a qnnlab :class:`~qnnlab.circuits.circuit.Circuit`, its evaluated angle
vector ``theta`` and a Pauli-sum observable, builds the peer's own circuit representation,
propagates the observable backwards through the circuit (Heisenberg picture, ``U^dag O U``) with
the peer's truncation knobs, and evaluates the result on ``|0..0>``.

Peers (PyPI name, import name, version tested, licence)
-------------------------------------------------------
* ``pauli-prop`` 0.2.1 (``pauli_prop``; Qiskit/IBM, Rust core, Apache-2.0; pulls ``qiskit`` and
  ``qiskit-aer``).  ``propagate_through_circuit(op, qc, max_terms, atol, frame="h")`` on a Qiskit
  ``QuantumCircuit``; truncates by ``max_terms`` (keeps the largest terms; required, and buffers
  for that many terms are allocated up front) and ``atol`` (drops ``|c| < atol`` after each
  gate).  No weight or frequency cut.  Rotations ``rx/ry/rz``, ``PauliEvolutionGate``
  (``exp(-i t P)``) and Clifford gates, which it first moves to the front of the circuit.
* ``monoprop`` 0.9.2 (``monoprop``; Algorithmiq, C++ core, Apache-2.0).
  ``PauliPropagator(op, initial_state=[], cutoff=K, lower_atol=eps)``: ``cutoff`` is the
  maximum Pauli weight (required; ``K = n`` disables it), ``lower_atol`` drops ``|c| <
  lower_atol``, ``upper_atol`` keeps large terms whatever their weight.  No term-count or
  frequency cut.  Gates are ``ExpGate(H)`` = ``exp(+i theta H)`` of a Pauli-operator generator,
  so ``R_P(a) = exp(-i a P/2)`` is the generator ``-P/2`` at angle ``a``.  It has no Clifford
  gates: ``h, x, cnot, cz, swap`` go in as Pauli rotations by multiples of ``pi/2`` (equal up to
  a global phase).  At most ``monoprop.MAX_NUM_MODES`` = 1,024 qubits.
* ``bloqade-ppvm`` 0.1.1 (``ppvm``; QuEra, Rust core, Apache-2.0).  ``PauliSum.new(n, "Z{r}",
  min_abs_coeff=eps, max_pauli_weight=K)``, then the gates are applied *in reverse circuit
  order* (``rx/ry/rz/rxx/ryy/rzz`` with the ``exp(-i a P/2)`` convention, ``h, x, cnot, cz,
  sqrt_x``), then ``overlap_with_zero()``.  Truncates by coefficient (default ``1e-10``!) and
  weight, after every gate; no term-count or frequency cut.  Other Pauli rotations are mapped to
  ``Z..Z`` by single-qubit Cliffords and a CNOT ladder.  Its dependency ``bloqade-circuit`` pins
  ``numpy<=2.2.6`` (through ``beliefmatching``), so it is kept in a virtual environment of its
  own; the worker below only needs NumPy and the peer, not qnnlab.

Lowering
--------
:func:`lower` turns the circuit into a flat, JSON-friendly list of operations in application
(Schroedinger) order, with every angle evaluated as ``scale * theta[slot] + offset``:

* ``("rot", letters, qubits, a)`` = ``exp(-i a P / 2)`` for the Pauli string ``letters`` on
  ``qubits`` (``rx, ry, rz, pauli_rot``);
* ``u3(t, p, l)`` = ``RZ(p) RY(t) RZ(l)`` up to a global phase (``RZ(l)`` acts first);
* a controlled rotation ``CR_P(a)`` on ``(c, t)`` = ``R_P(a/2)`` on ``t`` times ``R_{Z P}(-a/2)``
  on ``(c, t)`` (they commute), since ``|1><1| = (I - Z)/2``;
* ``("cliff", name, qubits)`` for ``h, x, cnot, cz, swap``;
* discard markers are skipped (a discarded qubit carries the identity backwards).
``cswap`` and ``unitary`` gates have no such form and are refused with :class:`PeerError`.

Worker
------
``python pauliprop_peers.py --worker SPEC.json OUT.json`` runs one propagation described by a
JSON spec (see :func:`run_spec`) and writes the result as JSON; the benchmark starts one such
process per point, with a time limit, so that a slow peer cannot hang it.
``python pauliprop_peers.py --check`` compares every installed peer, untruncated, with qnnlab's
statevector engine on small random circuits of every lowered gate type and on an 8-qubit QCNN.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PEERS = ("pauli-prop", "monoprop", "bloqade-ppvm")
#: Import name of each peer (the PyPI name differs).
MODULES = {"pauli-prop": "pauli_prop", "monoprop": "monoprop", "bloqade-ppvm": "ppvm"}
#: Truncation knobs each column accepts (the value ``None`` leaves a knob off).
KNOBS = {
    "pauli-prop": ("max_terms", "min_coeff"),
    "monoprop": ("max_weight", "min_coeff"),
    "bloqade-ppvm": ("max_weight", "min_coeff"),
    "qnnlab": ("max_weight", "min_coeff", "max_freq", "max_terms", "mode"),
}
CLIFFORDS = ("h", "x", "cnot", "cz", "swap")

Op = list  # ["rot", letters, qubits, angle] or ["cliff", name, qubits]
Term = list  # [coeff, letters, qubits]


class PeerError(ValueError):
    """A circuit, observable or knob that a peer adapter cannot represent; says what to change."""


# ---------------------------------------------------------------------------------------------
# Lowering (the only part that reads qnnlab objects)
# ---------------------------------------------------------------------------------------------


def _angle(angle: Any, theta: np.ndarray) -> float:
    if angle.slot is None:
        return float(angle.offset)
    return float(angle.scale * theta[angle.slot] + angle.offset)


def lower(circuit: Any, theta: Sequence[float]) -> list[Op]:
    """The circuit's gates as Pauli rotations and Cliffords in application order (see module doc).

    Raises:
        PeerError: ``theta`` has the wrong length, or a gate (``cswap``, ``unitary``) has no
            Pauli-rotation/Clifford form.
    """
    from qnnlab.circuits.circuit import Discard

    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (circuit.n_params,):
        raise PeerError(
            f"theta has shape {theta.shape}; this circuit needs ({circuit.n_params},) angles."
        )
    ops: list[Op] = []
    for op in circuit.operations:
        if isinstance(op, Discard):
            continue
        name, qubits = op.name, list(op.qubits)
        angles = [_angle(a, theta) for a in op.angles]
        if name in ("rx", "ry", "rz"):
            ops.append(["rot", name[1].upper(), qubits, angles[0]])
        elif name == "pauli_rot":
            ops.append(["rot", op.paulis, qubits, angles[0]])
        elif name == "u3":
            t, p, lam = angles
            ops += [["rot", "Z", qubits, lam], ["rot", "Y", qubits, t], ["rot", "Z", qubits, p]]
        elif name in ("crx", "cry", "crz"):
            letter = name[2].upper()
            ops.append(["rot", letter, qubits[1:], angles[0] / 2])
            ops.append(["rot", "Z" + letter, qubits, -angles[0] / 2])
        elif name in CLIFFORDS:
            ops.append(["cliff", name, qubits])
        else:
            raise PeerError(
                f"gate {name!r} on {tuple(qubits)} has no Pauli-rotation or Clifford form in the "
                "peer adapters; build the benchmark circuit from rotations and Clifford gates."
            )
    return ops


def lower_observable(observable: Any) -> list[Term]:
    """A qnnlab ``PauliSum`` as ``[coeff, letters, qubits]`` terms.

    Raises:
        PeerError: the observable is not a ``PauliSum`` (e.g. a ``BasisProjector``).
    """
    terms = getattr(observable, "terms", None)
    if terms is None:
        raise PeerError(
            f"the peers propagate Pauli sums only, got {type(observable).__name__}; "
            "pass a qnnlab PauliSum."
        )
    return [[float(c), p.letters, list(p.qubits)] for c, p in terms]


# ---------------------------------------------------------------------------------------------
# Clifford forms shared by two peers
# ---------------------------------------------------------------------------------------------

_HALF_PI = math.pi / 2
#: Each Clifford as commuting Pauli rotations ``(letters, positions, angle)``, equal up to a phase:
#: CNOT = exp(i pi/4 (I - Z_c)(I - X_t)), CZ likewise, SWAP = exp(i pi/4 (XX + YY + ZZ - I)),
#: H = RZ(pi/2) RX(pi/2) RZ(pi/2), X = RX(pi).
_CLIFFORD_ROTATIONS: dict[str, list[tuple[str, tuple[int, ...], float]]] = {
    "h": [("Z", (0,), _HALF_PI), ("X", (0,), _HALF_PI), ("Z", (0,), _HALF_PI)],
    "x": [("X", (0,), math.pi)],
    "cnot": [("Z", (0,), _HALF_PI), ("X", (1,), _HALF_PI), ("ZX", (0, 1), -_HALF_PI)],
    "cz": [("Z", (0,), _HALF_PI), ("Z", (1,), _HALF_PI), ("ZZ", (0, 1), -_HALF_PI)],
    "swap": [(p, (0, 1), -_HALF_PI) for p in ("XX", "YY", "ZZ")],
}


def cliffords_as_rotations(ops: Sequence[Op]) -> list[Op]:
    """``ops`` with every Clifford replaced by Pauli rotations (for peers without Cliffords)."""
    out: list[Op] = []
    for op in ops:
        if op[0] == "rot":
            out.append(op)
            continue
        qubits = op[2]
        for letters, pos, angle in _CLIFFORD_ROTATIONS[op[1]]:
            out.append(["rot", letters, [qubits[k] for k in pos], angle])
    return out


# ---------------------------------------------------------------------------------------------
# The peers: each returns {"value" on |0..0>, "n_terms", "build_s", "seconds"}; "seconds" times
# only the peer's own propagation and evaluation, not building its circuit object
# ---------------------------------------------------------------------------------------------


def _check_knobs(knobs: dict, peer: str) -> None:
    unknown = sorted(k for k, v in knobs.items() if v is not None and k not in KNOBS[peer])
    if unknown:
        raise PeerError(f"{peer} has no {unknown} truncation; it supports {KNOBS[peer]}.")


def build_pauli_prop(n_qubits: int, ops: Sequence[Op]) -> Any:
    """A Qiskit ``QuantumCircuit`` of the lowered ops (``PauliEvolutionGate(P, a/2)`` = R_P(a))."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import PauliEvolutionGate
    from qiskit.quantum_info import Pauli

    qc = QuantumCircuit(n_qubits)
    for op in ops:
        if op[0] == "rot":
            _, letters, qubits, angle = op
            if len(letters) == 1:
                getattr(qc, "r" + letters.lower())(angle, qubits[0])
            else:  # a Qiskit label lists qubit 0 last
                qc.append(PauliEvolutionGate(Pauli(letters[::-1]), time=angle / 2), qubits)
        else:
            name, qubits = op[1], op[2]
            {"h": qc.h, "x": qc.x, "cnot": qc.cx, "cz": qc.cz, "swap": qc.swap}[name](*qubits)
    return qc


def run_pauli_prop(n_qubits: int, ops: Sequence[Op], terms: Sequence[Term], knobs: dict) -> dict:
    _check_knobs(knobs, "pauli-prop")
    from pauli_prop import propagate_through_circuit
    from qiskit.quantum_info import SparsePauliOp

    max_terms = knobs.get("max_terms")
    if max_terms is None:
        raise PeerError("pauli-prop needs max_terms (it preallocates that many terms); set it.")
    t0 = time.perf_counter()
    qc = build_pauli_prop(n_qubits, ops)
    obs = SparsePauliOp.from_sparse_list([(p, q, c) for c, p, q in terms], num_qubits=n_qubits)
    t1 = time.perf_counter()
    out, dropped = propagate_through_circuit(
        obs, qc, int(max_terms), float(knobs.get("min_coeff") or 0.0), "h"
    )
    diagonal = ~np.any(out.paulis.x, axis=1)
    value = float(np.sum(out.coeffs[diagonal]).real)
    t2 = time.perf_counter()
    return {
        "value": value,
        "n_terms": len(out),
        "dropped_mass": float(dropped),
        "build_s": t1 - t0,
        "seconds": t2 - t1,
    }


def run_monoprop(n_qubits: int, ops: Sequence[Op], terms: Sequence[Term], knobs: dict) -> dict:
    _check_knobs(knobs, "monoprop")
    import monoprop as mp

    if n_qubits > mp.MAX_NUM_MODES:
        raise PeerError(f"monoprop handles at most {mp.MAX_NUM_MODES} qubits, got {n_qubits}.")
    max_weight = knobs.get("max_weight")
    min_coeff = knobs.get("min_coeff")
    t0 = time.perf_counter()
    gates, angles = [], []
    for _, letters, qubits, angle in cliffords_as_rotations(ops):
        gen = mp.PauliOperator({mp.Pauli(letters, tuple(qubits)): -0.5}, n_qubits)
        gates.append(mp.ExpGate(gen))
        angles.append(angle)
    circuit = mp.Circuit(gates, n_qubits, parameters=angles, initial_state=[])
    obs = mp.PauliOperator({mp.Pauli(p, tuple(q)): c for c, p, q in terms}, n_qubits)
    t1 = time.perf_counter()
    prop = mp.PauliPropagator(
        obs,
        [],
        cutoff=n_qubits if max_weight is None else int(max_weight),
        lower_atol=None if min_coeff is None else float(min_coeff),
    )
    prop.propagate(circuit)
    value = float(prop.expectation_value())
    t2 = time.perf_counter()
    return {"value": value, "n_terms": int(prop.size()), "build_s": t1 - t0, "seconds": t2 - t1}


def _ppvm_schedule(ops: Sequence[Op]) -> list[tuple[str, tuple[int, ...], float | None]]:
    """The ops as ppvm gates ``(method, qubits, theta)`` in application order.

    ``rx, ry, rz, rxx, ryy, rzz`` are native; any other Pauli rotation is conjugated to ``Z..Z``
    (``H`` maps X to Z, ``sqrt_x`` = RX(pi/2) maps Y to Z) and, beyond two qubits, reduced to one
    ``rz`` by a CNOT ladder.
    """
    out: list[tuple[str, tuple[int, ...], float | None]] = []
    for op in ops:
        if op[0] == "cliff":
            name, qubits = op[1], tuple(op[2])
            if name == "swap":
                a, b = qubits
                out += [("cnot", (a, b), None), ("cnot", (b, a), None), ("cnot", (a, b), None)]
            else:
                out.append((name, qubits, None))
            continue
        _, letters, qubits, angle = op
        qubits = tuple(qubits)
        if len(letters) == 1 or (len(letters) == 2 and letters[0] == letters[1]):
            out.append(("r" + letters.lower(), qubits, angle))
            continue
        pre = [
            ("h" if p == "X" else "sqrt_x", (q,), None)
            for p, q in zip(letters, qubits, strict=True)
            if p != "Z"
        ]
        post = [("h" if m == "h" else "sqrt_x_dag", q, None) for m, q, _ in reversed(pre)]
        if len(qubits) == 2:
            core = [("rzz", qubits, angle)]
        else:
            ladder = [("cnot", (a, b), None) for a, b in itertools.pairwise(qubits)]
            core = [*ladder, ("rz", (qubits[-1],), angle), *reversed(ladder)]
        out += pre + core + post
    return out


def run_ppvm(n_qubits: int, ops: Sequence[Op], terms: Sequence[Term], knobs: dict) -> dict:
    _check_knobs(knobs, "bloqade-ppvm")
    from ppvm import PauliSum

    max_weight = knobs.get("max_weight")
    min_coeff = knobs.get("min_coeff")
    t0 = time.perf_counter()
    schedule = _ppvm_schedule(ops)
    labels = []
    for c, p, q in terms:
        chars = ["I"] * n_qubits
        for letter, qubit in zip(p, q, strict=True):
            chars[qubit] = letter
        labels.append(("".join(chars), c))
    t1 = time.perf_counter()
    ps = PauliSum.new(
        n_qubits,
        labels,
        min_abs_coeff=0.0 if min_coeff is None else float(min_coeff),
        max_pauli_weight=None if max_weight is None else int(max_weight),
    )
    for method, qubits, angle in reversed(schedule):  # Heisenberg: last gate first
        if angle is None:
            getattr(ps, method)(*qubits)
        else:
            getattr(ps, method)(*qubits, theta=angle)
    value = float(ps.overlap_with_zero())
    t2 = time.perf_counter()
    return {"value": value, "n_terms": len(ps), "build_s": t1 - t0, "seconds": t2 - t1}


RUNNERS: dict[str, Callable[[int, Sequence[Op], Sequence[Term], dict], dict]] = {
    "pauli-prop": run_pauli_prop,
    "monoprop": run_monoprop,
    "bloqade-ppvm": run_ppvm,
}


def run_qnnlab(model: dict, theta: Sequence[float], knobs: dict) -> dict:
    """qnnlab's own engine on the QCNN ``model`` (``{"n_qubits", "conv_block"}``)."""
    _check_knobs(knobs, "qnnlab")
    from qnnlab.engines.pauliprop import propagate
    from qnnlab.models import qcnn, qcnn_readout

    circuit = qcnn(model["n_qubits"], conv_block=model["conv_block"])
    observable = qcnn_readout(circuit)
    theta = np.asarray(theta, dtype=np.float64)
    kw = {k: knobs.get(k) for k in KNOBS["qnnlab"]}
    t0 = time.perf_counter()
    result = propagate(circuit, observable, theta, **kw)
    value = float(result.expval_zero())
    t1 = time.perf_counter()
    return {
        "value": value,
        "n_terms": int(result.n_terms),
        "dropped_mass": float(result.dropped_mass),
        "build_s": 0.0,
        "seconds": t1 - t0,
    }


def version(peer: str) -> str | None:
    """Installed version of a peer's distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(peer)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# Worker: one propagation per process
# ---------------------------------------------------------------------------------------------


def _status_mib(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status`` in MiB (NaN where absent).

    ``VmHWM`` (peak resident set) is used rather than ``getrusage``'s ``ru_maxrss``, which on Linux
    keeps the parent's peak across ``fork`` + ``exec``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_spec(spec: dict) -> dict:
    """Run the spec ``{"peer", "knobs", "repeat", "warm_below_s", ...}`` and time it.

    Peers take ``"n_qubits", "ops", "terms"`` (from :func:`lower`, :func:`lower_observable`);
    ``"qnnlab"`` takes ``"model"`` and ``"theta"``. The first run is *cold* (it includes any
    one-off compilation or caching); it is repeated (*warm*) ``repeat - 1`` more times if it took
    under ``warm_below_s`` seconds. Peak memory is the process's peak resident set size (VmHWM).
    """
    peer, knobs = spec["peer"], spec.get("knobs", {})
    t0 = time.perf_counter()
    if peer == "qnnlab":
        import qnnlab.engines.pauliprop  # noqa: F401  (import time is reported separately)

        def call() -> dict:
            return run_qnnlab(spec["model"], spec["theta"], knobs)
    else:
        __import__(MODULES[peer])

        def call() -> dict:
            return RUNNERS[peer](spec["n_qubits"], spec["ops"], spec["terms"], knobs)

    import_s = time.perf_counter() - t0
    rss_before = _status_mib("VmRSS")
    result = call()
    result["cold_s"] = result["seconds"]
    warm = []
    for _ in range(spec.get("repeat", 1) - 1):
        if result["cold_s"] >= spec.get("warm_below_s", 30.0):
            break
        warm.append(call()["seconds"])
    result["warm_s"] = min(warm) if warm else None
    result.update(
        peer=peer,
        knobs=knobs,
        version=version(peer) if peer != "qnnlab" else version("qnnlab"),
        import_s=import_s,
        rss_before_mib=rss_before,
        peak_rss_mib=_status_mib("VmHWM"),
    )
    return result


# ---------------------------------------------------------------------------------------------
# Exactness check against qnnlab's statevector engine
# ---------------------------------------------------------------------------------------------


def random_circuit(n_qubits: int, n_gates: int, seed: int) -> Any:
    """A random circuit of every lowered gate type, with shared slots, affine angles, discards."""
    from qnnlab.circuits.circuit import Circuit

    rng = np.random.default_rng(seed)
    c = Circuit(n_qubits)
    slots = c.parameters(max(2, n_gates // 3))
    alive = list(range(n_qubits))

    def ang() -> Any:
        s = slots[int(rng.integers(len(slots)))]
        return float(rng.normal()) * s + float(rng.normal()) if rng.random() < 0.5 else s

    kinds = ["rx", "ry", "rz", "u3", "pauli_rot", "crx", "cry", "crz", *CLIFFORDS]
    for k in range(n_gates):
        kind = kinds[int(rng.integers(len(kinds)))]
        arity = {"pauli_rot": int(rng.integers(1, 4)), "h": 1, "x": 1, "u3": 1}.get(
            kind, 1 if kind[0] == "r" and len(kind) == 2 else 2
        )
        arity = min(arity, len(alive))
        if arity == 2 and len(alive) < 2:
            continue
        qs = [int(q) for q in rng.choice(alive, size=arity, replace=False)]
        if kind in ("rx", "ry", "rz"):
            getattr(c, kind)(qs[0], ang())
        elif kind == "u3":
            c.u3(qs[0], ang(), ang(), float(rng.uniform(0, 6)))
        elif kind == "pauli_rot":
            letters = rng.choice(list("XYZ"), size=len(qs))
            c.pauli_rot(" ".join(f"{p}{q}" for p, q in zip(letters, qs, strict=True)), ang())
        elif kind in ("crx", "cry", "crz"):
            getattr(c, kind)(qs[0], qs[1], ang())
        else:
            getattr(c, kind)(*qs)
        if k == n_gates // 2 and len(alive) > 3:
            c.discard(alive.pop(0))
    return c


def _statevector(circuit: Any, theta: np.ndarray, observable: Any) -> float:
    from qnnlab.engines import StatevectorEngine

    return float(StatevectorEngine(circuit, dtype="complex128").expval(theta, None, observable))


def check(peers: Sequence[str], python: dict[str, str]) -> float:
    """Largest ``|peer - statevector|`` over random circuits and an 8-qubit QCNN (untruncated)."""
    import subprocess
    import tempfile

    from qnnlab.circuits.paulis import PauliSum
    from qnnlab.models import qcnn, qcnn_readout

    cases = []
    for seed in range(3):
        c = random_circuit(6, 40, seed)
        obs = PauliSum.from_terms([(0.7, f"Z{c.alive_qubits[-1]}"), (-0.4, "X1 Y3 Z5")])
        theta = np.random.default_rng(100 + seed).uniform(0, 2 * np.pi, c.n_params)
        cases.append((f"random-6q-seed{seed}", c, obs, theta))
    for block in ("su4", "so4"):
        c = qcnn(8, conv_block=block)
        theta = np.random.default_rng(7).uniform(0, 2 * np.pi, c.n_params)
        cases.append((f"qcnn-8-{block}", c, qcnn_readout(c), theta))
    worst = 0.0
    for label, circuit, obs, theta in cases:
        exact = _statevector(circuit, theta, obs)
        ops, terms = lower(circuit, theta), lower_observable(obs)
        for peer in peers:
            knobs = {"max_terms": 2**22} if peer == "pauli-prop" else {}
            spec = {"peer": peer, "n_qubits": circuit.n_qubits, "ops": ops, "terms": terms}
            spec["knobs"] = knobs
            with tempfile.TemporaryDirectory() as tmp:
                path = f"{tmp}/spec.json"
                with open(path, "w") as fh:
                    json.dump(spec, fh)
                cmd = [python.get(peer, sys.executable), __file__, "--worker", path, path + ".out"]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode:
                    print(f"{label:18s} {peer:13s} FAILED: {proc.stderr.strip().splitlines()[-1]}")
                    worst = math.inf
                    continue
                with open(path + ".out") as fh:
                    value = json.load(fh)["value"]
            worst = max(worst, abs(value - exact))
            print(
                f"{label:18s} {peer:13s} {value:+.12f}  exact {exact:+.12f}  "
                f"|diff| {abs(value - exact):.1e}"
            )
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help="run one spec")
    parser.add_argument("--check", action="store_true", help="compare peers with statevectors")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers")
    parser.add_argument(
        "--ppvm-python", default=sys.executable, help="Python with bloqade-ppvm installed"
    )
    args = parser.parse_args(argv)
    if args.worker:
        with open(args.worker[0]) as fh:
            spec = json.load(fh)
        result = run_spec(spec)
        with open(args.worker[1], "w") as fh:
            json.dump(result, fh)
        return 0
    if args.check:
        peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        worst = check(peers, {"bloqade-ppvm": args.ppvm_python})
        print(f"largest |peer - statevector| = {worst:.1e}")
        return 0 if worst < 1e-9 else 1
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
