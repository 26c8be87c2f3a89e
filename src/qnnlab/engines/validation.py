"""Checks at the boundary where user data enters an engine; each error says what to do instead.

Checks on values (normalisation, NaN) run only on concrete arrays: inside ``jax.jit`` or
``jax.grad`` the engine trusts its caller, as JAX itself does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.paulis import BasisProjector, Observable, PauliSum, as_observable


class InputError(ValueError):
    """Data handed to an engine does not fit the circuit; the message names the fix."""


_DTYPES = {"complex64": jnp.complex64, "complex128": jnp.complex128}


def resolve_dtype(dtype) -> tuple[object, object]:
    """``(complex dtype, real dtype)`` for ``"complex64"`` or ``"complex128"``.

    Asking for ``complex128`` switches on JAX's 64-bit mode (``jax_enable_x64``), without which
    JAX silently computes in single precision.
    """
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise InputError(f"dtype must be 'complex64' or 'complex128', got {dtype!r}.")
    if name == "complex128" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    complex_dtype = _DTYPES[name]
    real_dtype = jnp.float64 if name == "complex128" else jnp.float32
    return complex_dtype, real_dtype


#: Positivity of input density matrices is checked up to this dimension (eigvalsh is O(dim^3)).
PSD_CHECK_MAX_DIM = 256


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def norm_tolerance(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.complex128 else 2e-4


def check_theta(theta, n_params: int, real_dtype):
    """``theta`` must be a 1-D real vector of length ``n_params`` with finite entries."""
    if is_concrete(theta):
        arr = np.asarray(theta)
        if np.iscomplexobj(arr):
            raise InputError("theta must be real; got a complex array.")
        if arr.shape != (n_params,):
            raise InputError(
                f"theta has shape {arr.shape} but the circuit has {n_params} parameter slot(s); "
                f"pass a 1-D array of length {n_params} (vmap over extra axes yourself)."
            )
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.isfinite(arr))[:5].tolist()
            raise InputError(f"theta contains NaN or inf at index/indices {bad}.")
    elif tuple(theta.shape) != (n_params,):
        raise InputError(f"theta has shape {tuple(theta.shape)}, expected ({n_params},).")
    return jnp.asarray(theta, dtype=real_dtype)


def check_pure_states(psi, n_inputs: int, complex_dtype) -> tuple[object, bool]:
    """Return ``(batch (B, 2**k), was_single)``; ``psi`` is ``(2**k,)`` or ``(B, 2**k)``."""
    dim = 2**n_inputs
    if not hasattr(psi, "shape"):
        psi = np.asarray(psi)
    shape = tuple(psi.shape)
    if len(shape) == 1 and shape[0] == dim:
        single = True
    elif len(shape) == 2 and shape[1] == dim:
        single = False
    else:
        raise InputError(
            f"input states have shape {shape}; expected ({dim},) or (batch, {dim}) for "
            f"{n_inputs} input qubit(s). No broadcasting is done: reshape explicitly."
        )
    batch = jnp.asarray(psi, dtype=complex_dtype).reshape(-1, dim)
    if is_concrete(psi):
        arr = np.asarray(psi)
        if not np.all(np.isfinite(arr)):
            raise InputError("input states contain NaN or inf.")
        norms = np.linalg.norm(arr.reshape(-1, dim), axis=1)
        worst = int(np.argmax(np.abs(norms - 1)))
        if abs(norms[worst] - 1) > norm_tolerance(complex_dtype):
            raise InputError(
                f"input state {worst} has norm {norms[worst]:.6g}, not 1; normalise it "
                "(psi / np.linalg.norm(psi, axis=-1, keepdims=True))."
            )
    return batch, single


def check_density_matrices(rho, n_inputs: int, complex_dtype) -> tuple[object, bool]:
    """Return ``(batch (B, 2**k, 2**k), was_single)`` for density matrices (or pure states)."""
    dim = 2**n_inputs
    if not hasattr(rho, "shape"):
        rho = np.asarray(rho)
    shape = tuple(rho.shape)
    if len(shape) <= 2 and shape[-1:] == (dim,) and shape != (dim, dim):
        psi, single = check_pure_states(rho, n_inputs, complex_dtype)
        return jnp.einsum("bi,bj->bij", psi, psi.conj()), single
    if shape == (dim, dim):
        single = True
    elif len(shape) == 3 and shape[1:] == (dim, dim):
        single = False
    else:
        raise InputError(
            f"input density matrices have shape {shape}; expected ({dim}, {dim}) or "
            f"(batch, {dim}, {dim}) for {n_inputs} input qubit(s) (or pure states (batch, {dim}))."
        )
    batch = jnp.asarray(rho, dtype=complex_dtype).reshape(-1, dim, dim)
    if is_concrete(rho):
        arr = np.asarray(rho).reshape(-1, dim, dim)
        if not np.all(np.isfinite(arr)):
            raise InputError("input density matrices contain NaN or inf.")
        traces = np.trace(arr, axis1=1, axis2=2)
        tol = norm_tolerance(complex_dtype)
        if np.any(np.abs(traces - 1) > tol):
            worst = int(np.argmax(np.abs(traces - 1)))
            raise InputError(f"input density matrix {worst} has trace {traces[worst]:.6g}, not 1.")
        if np.any(np.abs(arr - arr.conj().transpose(0, 2, 1)) > tol):
            raise InputError("input density matrices are not Hermitian.")
        if dim <= PSD_CHECK_MAX_DIM:
            lowest = np.linalg.eigvalsh(arr).min(axis=1)
            if np.any(lowest < -max(tol, 1e-6)):
                worst = int(np.argmin(lowest))
                raise InputError(
                    f"input density matrix {worst} has a negative eigenvalue {lowest[worst]:.3g}: "
                    "it is not a state. (A (dim, dim) array is read as one density matrix; pass "
                    "pure states as (batch, dim) with batch != dim, or as (batch, dim, dim).)"
                )
    return batch, single


def check_observable(observable, n_qubits: int, alive: tuple[int, ...]) -> Observable:
    obs = as_observable(observable)
    qubits = obs.qubits
    outside = [q for q in qubits if not 0 <= q < n_qubits]
    if outside:
        raise InputError(
            f"observable acts on qubit(s) {outside}, outside the circuit's {n_qubits} qubits."
        )
    gone = [q for q in qubits if q not in alive]
    if gone:
        raise InputError(
            f"observable acts on discarded qubit(s) {gone}; measure qubits still alive at the "
            f"end of the circuit: {list(alive)}."
        )
    if isinstance(obs, PauliSum) and obs.n_terms == 0:
        raise InputError("observable is an empty Pauli sum.")
    if isinstance(obs, BasisProjector) and not obs.qubits:
        raise InputError("BasisProjector needs at least one qubit.")
    return obs
