"""Shared fixtures and an *independent* dense reference simulator for the engine tests.

Nothing here imports matrices from ``qnnlab``: Pauli matrices, gate matrices, qubit embedding,
partial traces and observables are rebuilt from textbook formulas with NumPy/SciPy in
``complex128``, so a wrong convention in the library cannot be copied into its own reference.

Random numbers: every test that asks for ``seed``/``rng`` gets a NumPy generator seeded from
``QNNLAB_TEST_SEED`` (default below) and the test id, so a test sees the same numbers whatever
else runs and in whatever order. The seed is printed in the report of any failing test;
``QNNLAB_TEST_SEED=<n> pytest ...`` reruns the suite with a different base seed.

JAX's 64-bit mode: asking an engine for ``complex128`` switches ``jax_enable_x64`` on for the
whole process. The autouse fixture :func:`_isolate_x64` puts the flag back after each test, so
no test depends on which tests ran before it.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import numpy as np
import pytest
import scipy.linalg

from qnnlab.circuits import BasisProjector, Circuit, Param, PauliSum

BASE_SEED = int(os.environ.get("QNNLAB_TEST_SEED", "1234567"))

# The CLI turns on JAX's persistent compilation cache in the user's cache folder; tests that call
# the CLI in-process must not write there (tests/test_caches.py checks the switch itself).
os.environ["QNNLAB_JAX_CACHE"] = "0"

# ---------------------------------------------------------------------------------------------
# fixtures


def seed_for(nodeid: str) -> int:
    """The per-test seed: stable across runs and independent of test order."""
    return (BASE_SEED + zlib.crc32(nodeid.encode())) % 2**32


@pytest.fixture
def seed(request) -> int:
    s = seed_for(request.node.nodeid)
    request.node.user_properties.append(("rng_seed", s))
    return s


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def make_rng(request, *extra: int) -> np.random.Generator:
    """Generator for parametrized tests that mix an explicit case seed into the test seed."""
    s = seed_for(request.node.nodeid)
    request.node.user_properties.append(("rng_seed", (s, *extra)))
    return np.random.default_rng([s, *extra])


def case_rng(case: int, request=None) -> np.random.Generator:
    """Generator for a numbered case, independent of the test id (so two tests can rebuild the
    same random circuit)."""
    if request is not None:
        request.node.user_properties.append(("rng_seed", (BASE_SEED, case)))
    return np.random.default_rng([BASE_SEED, case])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        seeds = [v for k, v in item.user_properties if k == "rng_seed"]
        if seeds:
            report.sections.append(
                (
                    "qnnlab random seed",
                    f"numpy seed(s) {seeds} (QNNLAB_TEST_SEED={BASE_SEED}; the seed is derived "
                    "from it and the test id, so rerunning this test reproduces it)",
                )
            )
    return report


@contextlib.contextmanager
def count_compilations():
    """Collect the names of functions XLA compiles inside the block (via ``jax.monitoring``)."""
    compiled: list[str] = []

    def listener(event, duration_secs, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(str(kwargs.get("fun_name", "?")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield compiled
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.fixture(autouse=True)
def _isolate_x64():
    """Restore ``jax_enable_x64`` after each test (complex128 engines switch it on)."""
    before = bool(jax.config.jax_enable_x64)
    yield
    jax.config.update("jax_enable_x64", before)


# ---------------------------------------------------------------------------------------------
# random objects


def random_state(rng: np.random.Generator, n_qubits: int, batch: int | None = None) -> np.ndarray:
    """Haar-random normalized pure state(s): ``(2**n,)`` or ``(batch, 2**n)`` complex128."""
    shape = (2**n_qubits,) if batch is None else (batch, 2**n_qubits)
    psi = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    return psi / np.linalg.norm(psi, axis=-1, keepdims=True)


def random_unitary(rng: np.random.Generator, dim: int) -> np.ndarray:
    """Haar random unitary (QR of a complex Ginibre matrix with the phase fix)."""
    z = (rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))) / np.sqrt(2)
    q, r = np.linalg.qr(z)
    d = np.diagonal(r)
    return q * (d / np.abs(d))


def random_density_matrix(rng: np.random.Generator, n_qubits: int, rank: int = 2) -> np.ndarray:
    """Random mixed state of the given rank (trace 1, Hermitian, PSD)."""
    vecs = random_state(rng, n_qubits, batch=rank)
    weights = rng.dirichlet(np.ones(rank))
    return np.einsum("k,ki,kj->ij", weights, vecs, vecs.conj())


def random_pauli_sum(
    rng: np.random.Generator, qubits: Sequence[int], n_terms: int = 4, max_weight: int = 3
) -> PauliSum:
    """Random real combination of Pauli strings on ``qubits``; ``sum |c_k| = 1``.

    Keeping ``sum |c_k| = 1`` makes ``|<O>| <= 1``, so absolute tolerances mean the same for
    every observable.
    """
    terms = []
    for _ in range(n_terms):
        w = int(rng.integers(1, min(max_weight, len(qubits)) + 1))
        support = rng.choice(qubits, size=w, replace=False)
        letters = rng.choice(list("XYZ"), size=w)
        terms.append(" ".join(f"{p}{q}" for p, q in zip(letters, support, strict=True)))
    coeffs = rng.normal(size=n_terms)
    coeffs /= np.abs(coeffs).sum()
    return PauliSum.from_terms(list(zip(coeffs.tolist(), terms, strict=True)))


def random_projector(rng: np.random.Generator, qubits: Sequence[int]) -> BasisProjector:
    k = int(rng.integers(1, len(qubits) + 1))
    chosen = tuple(int(q) for q in rng.choice(qubits, size=k, replace=False))
    bits = tuple(int(b) for b in rng.integers(0, 2, size=k))
    return BasisProjector(chosen, bits)


# ---------------------------------------------------------------------------------------------
# textbook matrices (complex128), independent of qnnlab.circuits.gates

I2 = np.eye(2, dtype=np.complex128)
PX = np.array([[0, 1], [1, 0]], dtype=np.complex128)
PY = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
PZ = np.array([[1, 0], [0, -1]], dtype=np.complex128)
PAULI = {"I": I2, "X": PX, "Y": PY, "Z": PZ}


def kron_all(mats: Sequence[np.ndarray]) -> np.ndarray:
    out = np.eye(1, dtype=np.complex128)
    for m in mats:
        out = np.kron(out, m)
    return out


def pauli_word(letters: str) -> np.ndarray:
    return kron_all([PAULI[ch] for ch in letters])


def rot(generator: np.ndarray, t: float) -> np.ndarray:
    """``exp(-i t P / 2)`` by matrix exponential (not the cos/sin closed form)."""
    return scipy.linalg.expm(-0.5j * t * generator)


def u3_ref(theta: float, phi: float, lam: float) -> np.ndarray:
    """OpenQASM 3 ``U(theta, phi, lambda)`` (spec, "built-in gates")."""
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array(
        [[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]],
        dtype=np.complex128,
    )


def controlled(target: np.ndarray) -> np.ndarray:
    return scipy.linalg.block_diag(np.eye(target.shape[0]), target).astype(np.complex128)


def permutation_gate(k: int, f: Callable[[tuple[int, ...]], tuple[int, ...]]) -> np.ndarray:
    """Permutation matrix ``|b> -> |f(b)>`` on ``k`` qubits (bit tuples big-endian)."""
    dim = 2**k
    out = np.zeros((dim, dim), dtype=np.complex128)
    for j in range(dim):
        bits = tuple((j >> (k - 1 - i)) & 1 for i in range(k))
        image = f(bits)
        out[int("".join(map(str, image)), 2), j] = 1.0
    return out


CNOT_REF = permutation_gate(2, lambda b: (b[0], b[1] ^ b[0]))
SWAP_REF = permutation_gate(2, lambda b: (b[1], b[0]))
CSWAP_REF = permutation_gate(3, lambda b: (b[0], b[2], b[1]) if b[0] else b)
CZ_REF = np.diag([(-1.0) ** (b0 * b1) for b0 in (0, 1) for b1 in (0, 1)]).astype(np.complex128)
H_REF = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2)


def ref_gate(name: str, angles: Sequence[float] = (), paulis: str | None = None, matrix=None):
    """Reference matrix of one gate of the alphabet (controls first, big-endian)."""
    if name in ("rx", "ry", "rz"):
        return rot(PAULI[name[1].upper()], angles[0])
    if name in ("crx", "cry", "crz"):
        return controlled(rot(PAULI[name[2].upper()], angles[0]))
    if name == "pauli_rot":
        return rot(pauli_word(paulis), angles[0])
    if name == "u3":
        return u3_ref(*angles)
    fixed = {"h": H_REF, "x": PX, "cnot": CNOT_REF, "cz": CZ_REF, "swap": SWAP_REF}
    fixed["cswap"] = CSWAP_REF
    if name in fixed:
        return fixed[name]
    if name == "unitary":
        return np.asarray(matrix, dtype=np.complex128)
    raise KeyError(name)


def su4_ref(theta: Sequence[float]) -> np.ndarray:
    """``Circuit.su4`` on (a, b) as a 4x4 matrix: its 15 rotations multiplied in the documented
    order (RZ, RY, RZ on a; RZ, RY, RZ on b; XX, YY, ZZ; RZ, RY, RZ on a; RZ, RY, RZ on b)."""
    words = ["ZI", "YI", "ZI", "IZ", "IY", "IZ", "XX", "YY", "ZZ"]
    words += ["ZI", "YI", "ZI", "IZ", "IY", "IZ"]
    out = np.eye(4, dtype=np.complex128)
    for word, t in zip(words, theta, strict=True):
        out = rot(pauli_word(word), t) @ out  # later rotations act last
    return out


def embed(matrix: np.ndarray, qubits: Sequence[int], n_qubits: int) -> np.ndarray:
    """Full ``2**n`` operator of a gate on ``qubits`` (qubit 0 = most significant bit).

    ``kron(G, I)`` acts on the qubit order ``qubits + rest``; permuting tensor axes back to
    ``0..n-1`` gives the operator in the standard order.
    """
    qubits = list(qubits)
    rest = [q for q in range(n_qubits) if q not in qubits]
    order = qubits + rest
    op = np.kron(matrix, np.eye(2 ** len(rest), dtype=np.complex128))
    t = op.reshape((2,) * (2 * n_qubits))
    perm = [order.index(q) for q in range(n_qubits)]
    t = t.transpose(perm + [n_qubits + p for p in perm])
    return t.reshape(2**n_qubits, 2**n_qubits)


def apply_gate_np(tensor: np.ndarray, matrix: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """``(G on qubits) @ tensor`` for a tensor whose first axes are the qubits ``0..n-1``.

    Same result as ``embed(matrix, qubits, n) @ tensor`` without the ``8**n`` matmul; the two are
    checked against each other in ``test_gates.py``.
    """
    k = len(qubits)
    g = matrix.reshape((2,) * (2 * k))
    out = np.tensordot(g, tensor, axes=(list(range(k, 2 * k)), list(qubits)))
    return np.moveaxis(out, list(range(k)), list(qubits))


def embed_state(psi: np.ndarray, input_qubits: Sequence[int], n_qubits: int) -> np.ndarray:
    """Full register state: ``psi`` on ``input_qubits`` (in that order), ``|0>`` elsewhere."""
    rest = [q for q in range(n_qubits) if q not in input_qubits]
    full = np.kron(psi, np.eye(2 ** len(rest))[0]) if rest else np.asarray(psi)
    order = list(input_qubits) + rest
    t = full.reshape((2,) * n_qubits).transpose([order.index(q) for q in range(n_qubits)])
    return t.reshape(-1)


def embed_density(rho: np.ndarray, input_qubits: Sequence[int], n_qubits: int) -> np.ndarray:
    """``rho`` on ``input_qubits`` (in that order) tensored with ``|0><0|`` elsewhere."""
    rest = [q for q in range(n_qubits) if q not in input_qubits]
    zero = np.zeros((2 ** len(rest), 2 ** len(rest)))
    zero[0, 0] = 1
    full = np.kron(rho, zero)
    order = list(input_qubits) + rest
    perm = [order.index(q) for q in range(n_qubits)]
    t = full.reshape((2,) * (2 * n_qubits)).transpose(perm + [n_qubits + p for p in perm])
    return t.reshape(2**n_qubits, 2**n_qubits)


def partial_trace(rho: np.ndarray, keep: Sequence[int], n_qubits: int) -> np.ndarray:
    """Reduced density matrix on ``keep`` (in that order), tracing out the other qubits."""
    keep = list(keep)
    gone = [q for q in range(n_qubits) if q not in keep]
    t = rho.reshape((2,) * (2 * n_qubits))
    t = t.transpose(keep + gone + [n_qubits + q for q in keep + gone])
    dk, dg = 2 ** len(keep), 2 ** len(gone)
    t = t.reshape(dk, dg, dk, dg)
    return np.einsum("agbg->ab", t)


def observable_matrix(obs, qubit_order: Sequence[int]) -> np.ndarray:
    """Dense matrix of a PauliSum / BasisProjector on the register ``qubit_order``."""
    qubit_order = list(qubit_order)
    m = len(qubit_order)
    if isinstance(obs, BasisProjector):
        ket = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0])}
        factors = [I2] * m
        for q, b in zip(obs.qubits, obs.bits, strict=True):
            factors[qubit_order.index(q)] = np.outer(ket[b], ket[b]).astype(np.complex128)
        return kron_all(factors)
    out = np.zeros((2**m, 2**m), dtype=np.complex128)
    for coeff, p in obs.terms:
        letters = ["I"] * m
        for q, letter in p.ops:
            letters[qubit_order.index(q)] = letter
        out += coeff * pauli_word("".join(letters))
    return out


def marginal_probs(rho: np.ndarray, qubits: Sequence[int], register: Sequence[int]) -> np.ndarray:
    """Outcome probabilities of measuring ``qubits`` (in that order) on state ``rho``."""
    register = list(register)
    reduced = partial_trace(rho, [register.index(q) for q in qubits], len(register))
    return np.real(np.diagonal(reduced))


# ---------------------------------------------------------------------------------------------
# random circuits with a recorded, independent description


@dataclass
class RefOp:
    """One operation as the reference simulator sees it."""

    name: str
    qubits: tuple[int, ...]
    angle_fns: tuple[Callable[[np.ndarray], float], ...] = ()
    paulis: str | None = None
    matrix: np.ndarray | None = None


@dataclass
class RandomCircuit:
    circuit: Circuit
    ops: list[RefOp] = field(default_factory=list)

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    def unitary(self, theta) -> np.ndarray:
        """Full ``2**n x 2**n`` unitary, built gate by gate (discards are ignored here: no gate
        acts on a discarded qubit, so tracing it out at the end gives the same state)."""
        n = self.n_qubits
        theta = np.asarray(theta, dtype=np.float64)
        u = np.eye(2**n, dtype=np.complex128).reshape((2,) * n + (2**n,))
        for op in self.ops:
            angles = [f(theta) for f in op.angle_fns]
            if op.name == "su4":
                g = su4_ref(angles)
            else:
                g = ref_gate(op.name, angles, op.paulis, op.matrix)
            u = apply_gate_np(u, g, op.qubits)
        return u.reshape(2**n, 2**n)

    def output_density(self, theta, rho_in: np.ndarray) -> np.ndarray:
        """Reduced output state on the alive qubits (ascending) for an input density matrix."""
        n = self.n_qubits
        full = embed_density(rho_in, self.circuit.input_qubits, n)
        u = self.unitary(theta)
        out = u @ full @ u.conj().T
        return partial_trace(out, list(self.circuit.alive_qubits), n)


def _random_angle(rng, circuit: Circuit, slots: list[int]):
    """An angle argument and the function computing its value from theta.

    Mixes fresh slots, shared slots, affine slots ``2 * p + 0.1`` / ``-0.5 * p - 0.3`` and
    constants.
    """
    r = rng.random()
    if r < 0.35 or not slots:
        p = circuit.parameter()
        slots.append(p.slot)
        return p, (lambda t, s=p.slot: t[s])
    s = int(rng.choice(slots))
    if r < 0.5:
        return Param(s), (lambda t, s=s: t[s])
    if r < 0.7:
        return 2 * Param(s) + 0.1, (lambda t, s=s: 2 * t[s] + 0.1)
    if r < 0.85:
        return -0.5 * Param(s) - 0.3, (lambda t, s=s: -0.5 * t[s] - 0.3)
    c = float(rng.uniform(-np.pi, np.pi))
    return c, (lambda t, c=c: c)


GATE_WIDTH = {"cswap": 3, "crx": 2, "cry": 2, "crz": 2, "cnot": 2, "cz": 2, "swap": 2, "su4": 2}
N_ANGLES = {"rx": 1, "ry": 1, "rz": 1, "crx": 1, "cry": 1, "crz": 1, "u3": 3, "su4": 15}


def random_circuit(
    rng: np.random.Generator,
    n_qubits: int,
    n_gates: int,
    *,
    required: Sequence[str] = (),
    discards: bool = True,
    input_subset: bool = True,
    su4: bool = True,
) -> RandomCircuit:
    """A random circuit over the whole gate alphabet plus ``su4``, with a reference description.

    ``required`` gates are placed at random positions among ``n_gates`` (the rest are random),
    so a set of cases can cover the alphabet whatever the seed. With ``discards``, a few
    qubits are discarded along the way (at least one on >= 3 qubits, never so many that a
    required gate no longer fits); later gates only use alive qubits. ``input_qubits`` is a
    random non-empty subset in random order when ``input_subset``.
    """
    if input_subset and n_qubits > 1:
        k = int(rng.integers(1, n_qubits + 1))
        inputs = [int(q) for q in rng.permutation(n_qubits)[:k]]
    else:
        inputs = None
    circuit = Circuit(n_qubits, input_qubits=inputs)
    rc = RandomCircuit(circuit)
    slots: list[int] = []
    alive = list(range(n_qubits))
    schedule: list[str | None] = list(required) + [None] * max(0, n_gates - len(required))
    schedule = [schedule[i] for i in rng.permutation(len(schedule))]
    forced_discard = discards and n_qubits >= 3
    for position, wanted in enumerate(schedule):
        need = max([GATE_WIDTH.get(g, 1) for g in schedule[position:] if g] + [1])
        if discards and len(alive) > max(need, 1):
            if rng.random() < 0.3 or (forced_discard and position >= len(schedule) // 2):
                q = int(rng.choice(alive))
                alive.remove(q)
                circuit.discard(q)
                forced_discard = False
        if wanted is None:
            pool = ["rx", "ry", "rz", "u3", "pauli_rot", "h", "x", "unitary"]
            if len(alive) >= 2:
                pool += ["crx", "cry", "crz", "cnot", "cz", "swap"] + (["su4"] if su4 else [])
            if len(alive) >= 3:
                pool += ["cswap"]
            wanted = str(rng.choice(pool))
        add_random_gate(rng, rc, wanted, alive, slots)
    return rc


def add_random_gate(rng, rc: RandomCircuit, name: str, alive: list[int], slots: list[int]):
    """Append gate ``name`` on random ``alive`` qubits with random angles (see _random_angle)."""
    circuit = rc.circuit
    if name == "pauli_rot":
        w = int(rng.integers(1, min(3, len(alive)) + 1))
        qs = [int(q) for q in rng.choice(alive, size=w, replace=False)]
        letters = "".join(rng.choice(list("XYZ"), size=w))
        angle, fn = _random_angle(rng, circuit, slots)
        spec = {q: p for q, p in zip(qs, letters, strict=True)}
        circuit.pauli_rot(spec, angle)
        ordered = sorted(spec)
        rc.ops.append(RefOp("pauli_rot", tuple(ordered), (fn,), "".join(spec[q] for q in ordered)))
        return
    if name == "unitary":
        k = int(rng.integers(1, min(2, len(alive)) + 1))
        qs = tuple(int(q) for q in rng.choice(alive, size=k, replace=False))
        m = random_unitary(rng, 2**k)
        circuit.unitary(m, qs)
        rc.ops.append(RefOp("unitary", qs, (), None, m))
        return
    qs = tuple(int(q) for q in rng.choice(alive, size=GATE_WIDTH.get(name, 1), replace=False))
    pairs = [_random_angle(rng, circuit, slots) for _ in range(N_ANGLES.get(name, 0))]
    angles = [a for a, _ in pairs]
    if name == "su4":
        circuit.su4(*qs, angles)
    else:
        getattr(circuit, name)(*qs, *angles)
    rc.ops.append(RefOp(name, qs, tuple(f for _, f in pairs)))


def random_theta(rng: np.random.Generator, n_params: int) -> np.ndarray:
    return rng.uniform(-np.pi, np.pi, size=n_params)


@pytest.fixture
def one_blas_thread():
    """Limit BLAS to one thread: the dense and DMRG problems in the data tests are small, and
    oversubscribed OpenBLAS threads on a shared 2-core machine make them ~10x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def xxx_reference(n: int, j1: float, j2: float) -> np.ndarray:
    """Dense ``J1 sum_{i even} S_i.S_{i+1} + J2 sum_{i odd} S_i.S_{i+1}``, ``S = sigma / 2``."""
    out = np.zeros((2**n, 2**n), dtype=np.complex128)
    for i in range(n - 1):
        coupling = j1 if i % 2 == 0 else j2
        for a in "XYZ":
            out += coupling * embed(np.kron(PAULI[a], PAULI[a]) / 4.0, [i, i + 1], n)
    return out


def cluster_reference(n: int, h1: float, h2: float, j: float = 1.0) -> np.ndarray:
    """Dense ``-J sum Z X Z - h1 sum X - h2 sum X X`` (Cong et al., Eq. 2), open chain."""
    zxz = kron_all([PAULI["Z"], PAULI["X"], PAULI["Z"]])
    xx = np.kron(PAULI["X"], PAULI["X"])
    out = np.zeros((2**n, 2**n), dtype=np.complex128)
    for i in range(n - 2):
        out -= j * embed(zxz, [i, i + 1, i + 2], n)
    for i in range(n):
        out -= h1 * embed(PAULI["X"], [i], n)
    for i in range(n - 1):
        out -= h2 * embed(xx, [i, i + 1], n)
    return out


@pytest.fixture(scope="session")
def mnist_dir():
    """Folder with the MNIST test-split IDX files: ``$QNNLAB_MNIST``, else ``shared/data/mnist``
    next to the repository. Missing files fail the test (they are part of the test data)."""
    from pathlib import Path

    env = os.environ.get("QNNLAB_MNIST")
    folder = (
        Path(env).expanduser()
        if env
        else Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    )
    names = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    lacking = [n for n in names if not any((folder / f).is_file() for f in (f"{n}.gz", n))]
    if lacking:
        pytest.fail(
            f"MNIST test files {', '.join(lacking)} (.gz or not) not found in {folder}: set "
            "QNNLAB_MNIST to the folder holding them (see shared/data/mnist/README.md).",
            pytrace=False,
        )
    return folder
