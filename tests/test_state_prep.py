"""Amplitude encoding (Möttönen et al., quant-ph/0407010): ``qnnlab.circuits.state_prep``.

Every prepared state is compared with the documented target: ``x/||x||`` exactly for real
vectors (``RY`` only, signs included) and ``e^{-i phi_0} x/||x||`` with ``phi_0 = mean_i arg x_i``
for complex vectors. References: an independent NumPy ``complex128`` simulation of the gate list
(``conftest.ref_gate``, matrix exponentials), the statevector and density engines, and the
OpenQASM 3 text read back.

Tolerances: ``complex128`` paths accumulate a few hundred roundings of ``2.2e-16`` (at most
~250 gates on 6 qubits), measured <= 1.2e-15, asserted at 1e-12. ``float32`` angles simulated
exactly are off by <= 1.3e-7 (6 qubits), asserted at 1e-6. The ``complex64`` engines add their
own roundoff, which grows with the number of gates (``~2^n``): over 100-200 random vectors per
kind the worst was 3.6e-7 up to 4 qubits and 9.5e-7 on 5 qubits (one-hot vectors), so
:func:`engine_tol` asserts 1e-6 up to 4 qubits and ``1e-6 * 2^n / 16`` beyond.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import apply_gate_np, ref_gate
from qnnlab.circuits import Circuit, CircuitError
from qnnlab.circuits.qasm import to_qasm3
from qnnlab.circuits.state_prep import (
    AmplitudeError,
    append_state_prep,
    check_amplitudes,
    n_state_prep_angles,
    state_prep_angles,
    state_prep_circuit,
)
from qnnlab.engines import make_engine

try:
    import openqasm3

    HAVE_OPENQASM3 = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_OPENQASM3 = False

KINDS = ("signed", "sparse", "complex", "onehot")


def engine_tol(dtype: str, n: int) -> float:
    """Allowed max entry error of an engine's state on ``n`` qubits (see the module docstring)."""
    return 1e-12 if dtype == "complex128" else 1e-6 * max(1.0, 2**n / 16)


def make_vector(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """A test vector of ``2**n`` entries: Gaussian with signs, non-negative with ~70 % zeros
    (MNIST-like; never all zero), complex Gaussian with a few zeros, or a random one-hot."""
    dim = 2**n
    if kind == "signed":
        return rng.normal(size=dim)
    if kind == "sparse":
        x = rng.uniform(0, 255, dim) * (rng.random(dim) < 0.3)
        x[rng.integers(dim)] = 200.0
        return x
    if kind == "complex":
        x = rng.normal(size=dim) + 1j * rng.normal(size=dim)
        if dim >= 4:
            x[rng.choice(dim, dim // 4, replace=False)] = 0
        return x
    x = np.zeros(dim)
    x[rng.integers(dim)] = rng.choice([-3.0, 0.5, 7.0])
    return x


def target_state(x: np.ndarray) -> np.ndarray:
    """The documented prepared state (``|0..0>`` for the zero vector)."""
    x = np.asarray(x)
    if not np.any(x):
        return np.eye(x.size, dtype=complex)[0]
    psi = x / np.linalg.norm(x)
    if np.iscomplexobj(x):
        phases = np.where(x != 0, np.angle(x), 0.0)
        psi = psi * np.exp(-1j * phases.mean())
    return psi.astype(complex)


def reference_state(circuit: Circuit, theta=()) -> np.ndarray:
    """State of ``circuit`` on ``|0..0>`` by textbook gate matrices (NumPy ``complex128``)."""
    n = circuit.n_qubits
    tensor = np.zeros((2,) * n, dtype=complex)
    tensor[(0,) * n] = 1
    theta = np.asarray(theta, dtype=float)
    for gate in circuit.gates:
        angles = [
            a.offset if a.slot is None else a.scale * theta[a.slot] + a.offset for a in gate.angles
        ]
        tensor = apply_gate_np(tensor, ref_gate(gate.name, angles), gate.qubits)
    return tensor.reshape(-1)


def param_circuit(n: int, complex_amplitudes: bool) -> Circuit:
    c = Circuit(n, name="amplitude")
    slots = c.parameters(n_state_prep_angles(n, complex_amplitudes=complex_amplitudes), "x")
    return append_state_prep(c, range(n), slots, complex_amplitudes=complex_amplitudes)


def max_err(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# =========================================================================== structure
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_gate_counts_and_alphabet(n):
    real = param_circuit(n, False)
    names = [g.name for g in real.gates]
    assert n_state_prep_angles(n) == real.n_params == 2**n - 1
    assert names.count("ry") == 2**n - 1 and names.count("cnot") == 2**n - 2
    assert set(names) <= {"ry", "cnot"}
    cplx = param_circuit(n, True)
    names = [g.name for g in cplx.gates]
    assert n_state_prep_angles(n, complex_amplitudes=True) == cplx.n_params == 2 * (2**n - 1)
    assert names.count("ry") == names.count("rz") == 2**n - 1
    assert names.count("cnot") == 2 * (2**n - 2) and set(names) <= {"ry", "rz", "cnot"}
    # every slot feeds exactly one rotation, in slot order (the order of state_prep_angles)
    slots = [g.angles[0].slot for g in cplx.gates if g.name != "cnot"]
    assert slots == list(range(cplx.n_params))


# =========================================================================== exact construction
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_constant_circuit_prepares_vector_complex128(rng, n, kind):
    x = make_vector(rng, n, kind)
    c = state_prep_circuit(x)
    assert c.n_qubits == n and c.n_params == 0
    assert max_err(reference_state(c), target_state(x)) < 1e-12


@pytest.mark.parametrize("n", [1, 3, 4])
def test_real_vector_through_phase_tree(rng, n):
    """A real vector with signs encoded with complex_amplitudes=True: phases 0 and pi, global
    phase ``e^{-i pi (#negative)/2^n}`` as documented."""
    x = make_vector(rng, n, "signed")
    c = Circuit(n)
    append_state_prep(
        c, range(n), state_prep_angles(x, complex_amplitudes=True), complex_amplitudes=True
    )
    phase = np.exp(-1j * math.pi * np.count_nonzero(x < 0) / 2**n)
    assert max_err(reference_state(c), phase * x / np.linalg.norm(x)) < 1e-6


def test_mnist_like_patches(rng):
    """4x4 image patches (16 amplitudes, 4 qubits): one lit pixel prepares its basis state; a
    dark patch gives zero angles and ``|0000>``; a sparse patch its normalised pixels."""
    patch = np.zeros((4, 4))
    patch[2, 1] = 183.0
    angles = np.asarray(state_prep_angles(patch.reshape(-1)))
    assert np.all(np.isfinite(angles))
    c = param_circuit(4, False)
    assert max_err(reference_state(c, angles), np.eye(16)[9]) < 1e-6
    dark = np.asarray(state_prep_angles(np.zeros(16)))
    assert np.array_equal(dark, np.zeros(15))
    assert max_err(reference_state(c, dark), np.eye(16)[0]) == 0.0
    sparse = np.zeros(16)
    sparse[[3, 4, 12]] = [12.0, 255.0, 90.0]
    got = reference_state(c, np.asarray(state_prep_angles(sparse)))
    assert max_err(got, sparse / np.linalg.norm(sparse)) < 1e-6


def test_zero_vector_prepares_zero_state():
    for x in (np.zeros(8), np.zeros(8, dtype=complex)):
        angles = np.asarray(state_prep_angles(x))
        assert angles.shape == (n_state_prep_angles(3, complex_amplitudes=np.iscomplexobj(x)),)
        assert np.array_equal(angles, np.zeros_like(angles))
        assert max_err(reference_state(state_prep_circuit(x)), np.eye(8)[0]) == 0.0


def test_scale_invariance_without_overflow(rng):
    """Angles depend on the direction only; in float32, 1e30 * x would overflow its squared
    norm and 1e-30 * x underflow it, if the vector were not rescaled first."""
    x = rng.normal(size=16).astype(np.float32)
    z = (rng.normal(size=16) + 1j * rng.normal(size=16)).astype(np.complex64)
    for v in (x, z):
        ref = np.asarray(state_prep_angles(v))
        for a in (1e-30, 255.0, 1e30):
            got = np.asarray(state_prep_angles(v * np.float32(a)))
            assert np.all(np.isfinite(got)) and max_err(got, ref) < 1e-6


def test_append_on_permuted_qubits_of_a_larger_circuit(rng):
    """Qubits (3, 0, 2) of 5: qubits[0] = 3 is the most significant amplitude bit; qubits 1 and
    4 stay in |0>."""
    x = make_vector(rng, 3, "complex")
    c = Circuit(5).h(1).h(1)  # H H = I: the preparation also works after other gates
    append_state_prep(c, (3, 0, 2), list(map(float, state_prep_angles(x))), complex_amplitudes=True)
    full = reference_state(c).reshape((2,) * 5)
    got = full[:, 0, :, :, 0].transpose(2, 0, 1).reshape(-1)  # axes (q0, q2, q3) -> (q3, q0, q2)
    assert max_err(got, target_state(x)) < 1e-6
    assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-12)


# =========================================================================== engines
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_statevector_engine_param_route(rng, n, dtype):
    """One circuit per tree (angles in slots) encodes every vector: theta = state_prep_angles."""
    engines = {
        flag: make_engine(param_circuit(n, flag), "statevector", dtype=dtype)
        for flag in (False, True)
    }
    for kind in KINDS:
        for _ in range(2):
            x = make_vector(rng, n, kind)
            flag = np.iscomplexobj(x)
            theta = state_prep_angles(x)
            # float64 once a complex128 engine switched x64 on (here or in an earlier test)
            assert theta.dtype == (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
            state = engines[flag].state(theta)
            assert max_err(state, target_state(x)) < engine_tol(dtype, n), (kind, flag)


@pytest.mark.parametrize("n", [2, 4])
def test_constant_and_param_routes_agree(rng, n):
    for kind in ("signed", "complex"):
        x = make_vector(rng, n, kind)
        flag = kind == "complex"
        const = make_engine(state_prep_circuit(x), "statevector").state(np.zeros(0))
        slots = make_engine(param_circuit(n, flag), "statevector").state(state_prep_angles(x))
        assert max_err(const, target_state(x)) < engine_tol("complex64", n)
        assert max_err(const, slots) < 2 * engine_tol("complex64", n)  # both carry roundoff


@pytest.mark.parametrize("n", [1, 3])
def test_density_engine_agrees(rng, n):
    for kind in ("sparse", "complex"):
        x = make_vector(rng, n, kind)
        flag = kind == "complex"
        engine = make_engine(param_circuit(n, flag), "density")
        rho = np.asarray(engine.density_matrix(state_prep_angles(x)))
        psi = target_state(x)
        assert max_err(rho, np.outer(psi, psi.conj())) < engine_tol("complex64", n)


# =========================================================================== JAX transformations
def test_jit_and_vmap_match_per_vector_calls(rng):
    for kind in ("signed", "sparse", "complex", "onehot"):
        batch = np.stack([make_vector(rng, 4, kind) for _ in range(6)])
        batch = np.concatenate([batch, np.zeros_like(batch[:1])])  # and the zero vector
        per = np.stack([np.asarray(state_prep_angles(v)) for v in batch])
        vmapped = np.asarray(jax.vmap(state_prep_angles)(batch))
        jitted = np.asarray(jax.jit(jax.vmap(state_prep_angles))(batch))
        single = np.asarray(jax.jit(state_prep_angles)(batch[0]))
        assert (
            vmapped.shape
            == per.shape
            == (7, n_state_prep_angles(4, complex_amplitudes=kind == "complex"))
        )
        assert max_err(vmapped, per) < 1e-6 and max_err(jitted, per) < 1e-6
        assert max_err(single, per[0]) < 1e-6


def test_one_compiled_program_encodes_a_batch(rng):
    """Angles in slots: encode-and-measure is one jitted function of the data vectors."""
    engine = make_engine(param_circuit(3, False), "statevector")
    expval = engine.expval_fn("Z0")
    psi0 = jnp.zeros((1, 8), dtype=jnp.complex64).at[0, 0].set(1)

    @jax.jit
    def z0(batch):
        return jax.vmap(lambda x: expval(state_prep_angles(x), psi0)[0])(batch)

    batch = np.stack([make_vector(rng, 3, "signed") for _ in range(5)])
    p = batch**2 / np.sum(batch**2, axis=1, keepdims=True)
    want = p[:, :4].sum(axis=1) - p[:, 4:].sum(axis=1)  # <Z0> = P(q0 = 0) - P(q0 = 1)
    assert max_err(z0(batch), want) < 2 * engine_tol("complex64", 3)  # quadratic in psi


def test_gradients_are_finite_at_zeros(rng):
    """Jacobians at vectors with zero entries and zero sub-blocks are finite; the angles are
    invariant under ``x -> a x``, so ``J x = 0`` (Euler) holds there too."""
    onehot = np.zeros(8)
    onehot[5] = 1.0
    sparse = make_vector(rng, 3, "sparse")
    cplx = np.array([0, 1 + 1j, 0, 0, 0.5, 0, 0, -2j])
    real_jac = jax.jit(jax.jacobian(state_prep_angles))
    cplx_jac = jax.jit(
        jax.jacobian(lambda v: state_prep_angles(v[:8] + 1j * v[8:], complex_amplitudes=True))
    )
    for x in (onehot, sparse, np.zeros(8), cplx, np.zeros(8, dtype=complex)):
        if np.iscomplexobj(x):
            v = np.concatenate([x.real, x.imag]).astype(np.float32)
            jac = np.asarray(cplx_jac(v))
        else:
            v = x.astype(np.float32)
            jac = np.asarray(real_jac(v))
        assert np.all(np.isfinite(jac)), x
        assert np.abs(jac @ v).max() < 1e-5, x
    # end to end: d<Z0>/dx through the engine, at a vector with zeros
    engine = make_engine(param_circuit(3, False), "statevector")
    f = engine.expval_fn("Z0")
    psi0 = jnp.zeros((1, 8), dtype=jnp.complex64).at[0, 0].set(1)
    g = jax.grad(lambda x: f(state_prep_angles(x), psi0)[0])(jnp.asarray(sparse, jnp.float32))
    assert np.all(np.isfinite(np.asarray(g)))


def test_gradient_matches_finite_differences(rng):
    """float64 Jacobian vs central differences (step 1e-6: error ~1e-10) at generic vectors."""
    jax.config.update("jax_enable_x64", True)  # conftest restores the flag
    for x in (rng.normal(size=8), rng.normal(size=8) + 1j * rng.normal(size=8)):
        cplx = np.iscomplexobj(x)
        parts = np.concatenate([x.real, x.imag]) if cplx else x

        def f(v, cplx=cplx):
            return state_prep_angles(v[:8] + 1j * v[8:] if cplx else v)

        jac = np.asarray(jax.jacobian(f)(jnp.asarray(parts)))
        h = 1e-6
        fd = np.stack(
            [
                (np.asarray(f(parts + h * e)) - np.asarray(f(parts - h * e))) / (2 * h)
                for e in np.eye(parts.size)
            ],
            axis=1,
        )
        assert max_err(jac, fd) < 1e-7


# =========================================================================== OpenQASM 3
_LINE = re.compile(r"(ry|rz)\(([^)]*)\) q\[(\d+)\];|cx q\[(\d+)\], q\[(\d+)\];")


def qasm_state(text: str, n: int) -> np.ndarray:
    """Run the ``ry``/``rz``/``cx`` statements of an exported program on ``|0..0>``."""
    body = text.split(f"qubit[{n}] q;", 1)[1]
    tensor = np.zeros((2,) * n, dtype=complex)
    tensor[(0,) * n] = 1
    for line in body.splitlines():
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        m = _LINE.fullmatch(line)
        assert m is not None, f"unexpected statement {line!r}"
        if m.group(1):
            gate = ref_gate(m.group(1), [float(m.group(2))])
            tensor = apply_gate_np(tensor, gate, [int(m.group(3))])
        else:
            tensor = apply_gate_np(tensor, ref_gate("cnot"), [int(m.group(4)), int(m.group(5))])
    return tensor.reshape(-1)


@pytest.mark.parametrize("kind", ["signed", "complex"])
def test_openqasm3_export(rng, kind):
    n = 3
    x = make_vector(rng, n, kind)
    numeric = to_qasm3(state_prep_circuit(x))
    assert max_err(qasm_state(numeric, n), target_state(x)) < 1e-12
    flag = kind == "complex"
    c = param_circuit(n, flag)
    theta = np.asarray(state_prep_angles(x), dtype=float)
    assert theta.shape == (c.n_params,)
    substituted = to_qasm3(c, theta)
    assert max_err(qasm_state(substituted, n), target_state(x)) < 1e-6
    symbolic = to_qasm3(c)
    assert symbolic.count("input float[64] ") == n_state_prep_angles(n, complex_amplitudes=flag)
    if HAVE_OPENQASM3:
        for text in (numeric, symbolic):
            openqasm3.parse(text)


# =========================================================================== bad input
@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros(1), np.ones(3), np.ones(6), np.ones((2, 4))])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(AmplitudeError, match=r"power-of-two|1-D"):
        state_prep_angles(bad)
    with pytest.raises(AmplitudeError, match=r"power-of-two|1-D"):
        jax.jit(state_prep_angles)(bad)  # at trace time
    with pytest.raises(ValueError, match=r"power-of-two|1-D"):
        state_prep_circuit(bad)


def test_bad_input_messages():
    with pytest.raises(AmplitudeError, match="complex_amplitudes=True"):
        state_prep_angles(np.ones(4, dtype=complex), complex_amplitudes=False)
    with pytest.raises(AmplitudeError, match="numeric"):
        state_prep_angles(np.array(["a", "b"]))
    with pytest.raises(
        AmplitudeError, match=r"2 NaN or infinite entries \(first at index \[1, 3\]"
    ):
        check_amplitudes(np.array([1.0, np.nan, 0.0, np.inf]))
    with pytest.raises(AmplitudeError, match="NaN or infinite"):
        state_prep_circuit(np.array([1.0, np.nan]))
    with pytest.raises(AmplitudeError, match="all zero"):
        check_amplitudes(np.zeros(4), allow_zero=False)
    assert check_amplitudes([1, 2]).dtype == np.float64
    assert check_amplitudes([1j, 2]).dtype == np.complex128
    with pytest.raises(AmplitudeError, match="needs 2 qubits, got 3"):
        state_prep_circuit(np.ones(4), qubits=(0, 1, 2))
    c = Circuit(3)
    with pytest.raises(AmplitudeError, match="takes 7 angles"):
        append_state_prep(c, (0, 1, 2), [0.1] * 6)
    with pytest.raises(AmplitudeError, match="complex_amplitudes must be True or False"):
        n_state_prep_angles(2, complex_amplitudes="yes")
    with pytest.raises(AmplitudeError, match="positive integer"):
        n_state_prep_angles(0)
    with pytest.raises(CircuitError, match="same qubit twice"):
        append_state_prep(c, (0, 0), [0.1, 0.2, 0.3])
    with pytest.raises(CircuitError, match="not finite"):
        append_state_prep(c, (0, 1), [0.1, float("nan"), 0.3])
    assert c.gates == []  # nothing appended by a refused call
