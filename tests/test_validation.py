"""Errors at the boundaries: each must have the documented type and a message naming the problem.

Circuits here are tiny (one or two gates), so the engine calls that get past validation compile
in well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_density_matrix, random_state
from qnnlab.circuits import (
    Angle,
    BasisProjector,
    Circuit,
    CircuitError,
    Gate,
    Param,
    PauliSum,
    as_observable,
)
from qnnlab.engines import (
    DensityMatrixEngine,
    InputError,
    StatevectorEngine,
    make_engine,
    parameter_shift_jacobian,
    sample_expval,
)

ENGINE_CLASSES = [StatevectorEngine, DensityMatrixEngine]

# ---------------------------------------------------------------------------------------------
# circuit construction


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda c: c.rx(3, 0.1), r"qubit index 3 is out of range .* 3 qubits"),
        (lambda c: c.rx(-1, 0.1), r"qubit index -1 is out of range"),
        (lambda c: c.cnot(0, 7), r"qubit index 7 is out of range"),
        (lambda c: c.pauli_rot("X0 Z5", 0.1), r"qubit index 5 is out of range"),
        (lambda c: c.unitary(np.eye(2), [4]), r"qubit index 4 is out of range"),
        (lambda c: c.discard(3), r"qubit index 3 is out of range"),
        (lambda c: c.rx(1.0, 0.1), r"qubit index 1.0 is not an integer"),
        (lambda c: c.rx(True, 0.1), r"is not an integer"),
        (lambda c: c.cnot(1, 1), r"\(1, 1\) names the same qubit twice"),
        (lambda c: c.crz(2, 2, 0.3), r"names the same qubit twice"),
        (lambda c: c.cswap(0, 1, 0), r"names the same qubit twice"),
        (lambda c: c.unitary(np.eye(4), [2, 2]), r"names the same qubit twice"),
        (lambda c: c.su4(1, 1, [0.0] * 15), r"names the same qubit twice"),
        (lambda c: c.rx(0, float("nan")), r"constant angle nan is not finite"),
        (lambda c: c.u3(0, 0.1, float("inf"), 0.2), r"constant angle inf is not finite"),
        (lambda c: c.rx(0, 1 + 2j), r"an angle must be a Param, a parameter name or a number"),
        (lambda c: c.rx(0, Param(5)), r"parameter slot 5 does not belong to this circuit"),
        (lambda c: c.rx(0, Circuit(1).parameter()), r"slot 0 was created by another circuit"),
        (lambda c: c.unitary(np.diag([1, 2]), [0]), r"not unitary"),
        (lambda c: c.unitary(np.ones((2, 2)) / np.sqrt(2), [0]), r"not unitary"),
        (lambda c: c.unitary(np.eye(2), [0, 1]), r"needs a 4x4 matrix, got shape \(2, 2\)"),
        (lambda c: c.su4(0, 1, [0.0] * 14), r"su4 takes 15 angles, got 14"),
        (lambda c: c.pauli_rot("", 0.1), r"non-identity Pauli string"),
        (lambda c: c.append(Gate("u3", (0,), (Angle(None, 0.0, 0.1),))), r"takes 3 angle"),
        (lambda c: c.append(Gate("rx", (0,), ())), r"gate rx takes 1 angle\(s\), got 0"),
        (lambda c: c.append(Gate("cnot", (0,))), r"gate cnot acts on 2 qubit\(s\), got 1"),
        (lambda c: c.append(Gate("toffoli", (0, 1, 2))), r"unknown gate 'toffoli'"),
    ],
)
def test_circuit_errors(build, message):
    circuit = Circuit(3)
    with pytest.raises(CircuitError, match=message):
        build(circuit)


def test_circuit_level_errors():
    with pytest.raises(CircuitError, match="n_qubits must be a positive integer"):
        Circuit(0)
    with pytest.raises(CircuitError, match=r"input_qubits: qubit index 3 is out of range"):
        Circuit(3, input_qubits=[0, 3])
    with pytest.raises(CircuitError, match=r"input_qubits: qubit list \(1, 1\) names the same"):
        Circuit(3, input_qubits=[1, 1])
    c = Circuit(2)
    c.parameter("theta_1")
    assert c.parameter("theta_1").slot == 0 and c.n_params == 1  # the existing slot
    with pytest.raises(CircuitError, match="'theta_1' already exists"):
        c.parameter()  # slot 1 would be called theta_1


def test_gate_after_discard_and_double_discard():
    c = Circuit(3)
    c.h(1).discard(1)
    with pytest.raises(CircuitError, match=r"touches discarded qubit\(s\) \[1\]"):
        c.cnot(0, 1)
    with pytest.raises(CircuitError, match="touches discarded"):
        c.su4(1, 2, [0.0] * 15)
    with pytest.raises(CircuitError, match="qubit 1 is already discarded"):
        c.discard(1)
    c.cnot(0, 2)  # the other qubits are still usable
    assert c.alive_qubits == (0, 2) and c.discarded == (1,)


def test_failed_su4_leaves_the_circuit_unchanged():
    """An error in ``su4`` must not leave half of the block in the circuit.

    Fails today: ``su4`` appends its six single-qubit rotations before the first two-qubit
    rotation is validated, so after ``CircuitError`` the circuit holds six stray gates.
    """
    c = Circuit(3)
    c.h(0).discard(2)
    for qubits in [(1, 1), (0, 2)]:
        with pytest.raises(CircuitError):
            c.su4(*qubits, [0.1] * 15)
        assert [g.name for g in c.gates] == ["h"], f"su4{qubits} left gates behind"


@pytest.mark.parametrize(
    "make_angle",
    [lambda p: p + float("nan"), lambda p: float("inf") * p, lambda p: p - float("inf")],
    ids=["nan-offset", "inf-scale", "inf-offset"],
)
def test_non_finite_affine_parameter_is_rejected(make_angle):
    """A NaN/inf in ``scale * theta + offset`` is as meaningless as a NaN constant angle.

    (Failed on the first version of ``Circuit._angle``, which checked only constants for
    finiteness and let the circuit produce NaN expectation values.)
    """
    c = Circuit(1)
    p = c.parameter("a")
    with pytest.raises(CircuitError, match="finite"):
        c.rx(0, make_angle(p))


# ---------------------------------------------------------------------------------------------
# engine construction


def test_unknown_engine_dtype_and_diff_method():
    c = Circuit(1)
    c.h(0)
    with pytest.raises(InputError, match=r"unknown engine 'mps'; choose one of \['density', "):
        make_engine(c, "mps")
    with pytest.raises(InputError, match="diff_method must be 'adjoint' or 'backprop'"):
        StatevectorEngine(c, diff_method="forward")
    for cls in ENGINE_CLASSES:
        with pytest.raises(InputError, match="dtype must be 'complex64' or 'complex128'"):
            cls(c, dtype="float32")


# ---------------------------------------------------------------------------------------------
# engine inputs


@pytest.fixture
def engines():
    """One tiny circuit (2 qubits, qubit 1 discarded, 1 slot) and complex128 engines for it.

    Function-scoped on purpose: a complex128 engine needs 64-bit mode, which the autouse
    fixture switches back off after every test."""
    c = Circuit(2)
    c.ry(0, "a").cnot(0, 1).discard(1)
    return {cls: cls(c, dtype="complex128") for cls in ENGINE_CLASSES}


@pytest.fixture
def good_theta():
    return np.array([0.3])


@pytest.mark.parametrize("cls", ENGINE_CLASSES)
@pytest.mark.parametrize(
    ("theta", "message"),
    [
        (np.zeros(2), r"theta has shape \(2,\) but the circuit has 1 parameter slot"),
        (np.zeros(0), r"theta has shape \(0,\)"),
        (np.zeros((1, 1)), r"theta has shape \(1, 1\)"),
        (np.float64(0.3), r"theta has shape \(\)"),
        (np.array([np.nan]), r"theta contains NaN or inf at index/indices \[0\]"),
        (np.array([np.inf]), r"NaN or inf"),
        (np.array([0.3 + 0.1j]), "theta must be real"),
    ],
)
def test_bad_theta(engines, cls, theta, message):
    with pytest.raises(InputError, match=message):
        engines[cls].expval(theta, None, "Z0")


def test_theta_as_a_list_is_fine(engines):
    assert float(engines[StatevectorEngine].expval([0.3], None, "Z0")) == pytest.approx(np.cos(0.3))


@pytest.mark.parametrize(
    ("shape", "why"),
    [
        ((3, 4, 1), "batch with a trailing axis (no silent broadcasting)"),
        ((8,), "state of n + 1 qubits"),
        ((4,), "state of the whole register instead of the input qubits"),
        ((1, 2, 2), "3-D array for a statevector engine"),
        ((2, 1), "column vector"),
        ((), "scalar"),
    ],
)
def test_statevector_input_shapes_are_not_broadcast(shape, why, good_theta):
    c = Circuit(2, input_qubits=[1])
    c.ry(0, "a").cnot(0, 1)
    engine = StatevectorEngine(c, dtype="complex128")
    psi = np.zeros(shape, dtype=np.complex128)
    if psi.size:
        psi.reshape(-1)[0] = 1.0
    with pytest.raises(InputError, match=r"input states have shape .*No broadcasting"):
        engine.expval(good_theta, psi, "Z0")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((8, 8), r"input density matrices have shape \(8, 8\); expected \(4, 4\)"),
        ((3, 4, 4, 1), r"input density matrices have shape \(3, 4, 4, 1\)"),
        ((2, 4, 5), r"input density matrices have shape \(2, 4, 5\)"),
        ((8,), r"input density matrices have shape \(8,\)"),
        ((3, 4, 1), r"input density matrices have shape \(3, 4, 1\)"),
    ],
)
def test_density_input_shapes(engines, shape, message, good_theta):
    rho = np.zeros(shape, dtype=np.complex128)
    with pytest.raises(InputError, match=message):
        engines[DensityMatrixEngine].expval(good_theta, rho, "Z0")


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_non_normalized_states_are_rejected(dtype, rng, good_theta):
    c = Circuit(2)
    c.ry(0, "a")
    engine = StatevectorEngine(c, dtype=dtype)
    psi = random_state(rng, 2, batch=3)
    psi[1] *= 1.001
    with pytest.raises(InputError, match=r"input state 1 has norm 1.001, not 1; normalise it"):
        engine.expval(good_theta, psi, "Z0")
    with pytest.raises(InputError, match="has norm 0, not 1"):
        engine.expval(good_theta, np.zeros(4), "Z0")
    nan_state = psi.copy()
    nan_state[0, 0] = np.nan
    with pytest.raises(InputError, match="input states contain NaN or inf"):
        engine.expval(good_theta, nan_state, "Z0")


def test_norm_tolerance_follows_dtype(rng, good_theta):
    """complex64 accepts float32-rounded states (1e-6 off); complex128 does not accept 1e-6."""
    c = Circuit(1)
    c.ry(0, "a")
    psi = random_state(rng, 1) * (1 + 1e-6)
    assert np.isfinite(float(StatevectorEngine(c).expval(good_theta, psi, "Z0")))
    with pytest.raises(InputError, match="norm"):
        StatevectorEngine(c, dtype="complex128").expval(good_theta, psi, "Z0")


def test_density_matrices_must_have_unit_trace_and_be_hermitian(engines, rng, good_theta):
    engine = engines[DensityMatrixEngine]
    rho = random_density_matrix(rng, 2)
    with pytest.raises(InputError, match=r"input density matrix 1 has trace 2.*not 1"):
        engine.expval(good_theta, np.stack([rho, 2 * rho]), "Z0")
    skew = rho.copy()
    skew[0, 3] += 0.1  # trace still 1
    with pytest.raises(InputError, match="not Hermitian"):
        engine.expval(good_theta, skew, "Z0")
    with pytest.raises(InputError, match="NaN or inf"):
        engine.expval(good_theta, np.full((4, 4), np.nan), "Z0")
    # a valid mixed state passes
    assert np.isfinite(float(engine.expval(good_theta, rho, "Z0")))


@pytest.mark.parametrize("cls", ENGINE_CLASSES)
@pytest.mark.parametrize(
    ("observable", "message"),
    [
        ("Z1", r"observable acts on discarded qubit\(s\) \[1\]"),
        (PauliSum.from_terms([(1.0, "Z0"), (0.5, "X0 Y1")]), r"discarded qubit\(s\) \[1\]"),
        (BasisProjector((1,), (0,)), "discarded"),
        ("X5", r"observable acts on qubit\(s\) \[5\], outside the circuit's 2 qubits"),
        (PauliSum(()), "observable is an empty Pauli sum"),
        (BasisProjector((), ()), "BasisProjector needs at least one qubit"),
    ],
)
def test_bad_observables(engines, cls, observable, message, good_theta):
    with pytest.raises(InputError, match=message):
        engines[cls].expval(good_theta, None, observable)


def test_observable_type_and_measured_qubits(engines, good_theta):
    with pytest.raises(TypeError, match="expected an observable"):
        as_observable(3.0)
    for cls in ENGINE_CLASSES:
        with pytest.raises(InputError, match="alive qubits"):
            engines[cls].probs(good_theta, None, qubits=(1,))  # discarded
        with pytest.raises(InputError, match="alive qubits"):
            engines[cls].probs(good_theta, None, qubits=(0, 0))  # twice


def test_the_same_checks_guard_gradients_and_shots(engines, good_theta):
    engine = engines[StatevectorEngine]
    with pytest.raises(InputError, match="theta has shape"):
        parameter_shift_jacobian(engine, np.zeros(3), None, "Z0")
    with pytest.raises(InputError, match="No broadcasting"):
        parameter_shift_jacobian(engine, good_theta, np.ones((2, 4, 1)) / 2, "Z0")
    with pytest.raises(InputError, match="discarded"):
        parameter_shift_jacobian(engine, good_theta, None, "Z1")
    with pytest.raises(InputError, match="NaN"):
        sample_expval(engine, np.array([np.nan]), None, "Z0", shots=10, seed=0)
    with pytest.raises(InputError, match="norm"):
        sample_expval(engine, good_theta, np.ones(4), "Z0", shots=10, seed=0)


def test_input_states_as_a_list(engines, good_theta):
    """A plain list of amplitudes is accepted (as it is for theta) or refused with InputError.

    Fails today with ``AttributeError: 'list' object has no attribute 'shape'`` from
    ``check_pure_states`` / ``check_density_matrices``.
    """
    engine = engines[StatevectorEngine]
    psi = [0.6, 0.8j, 0.0, 0.0]
    try:
        value = engine.expval(good_theta, psi, "Z0")
    except InputError:
        return
    assert float(value) == pytest.approx(float(engine.expval(good_theta, np.asarray(psi), "Z0")))
