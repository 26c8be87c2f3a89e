"""Amplitude encoding: prepare ``|psi> = sum_i x_i |i> / ||x||`` from ``|0..0>`` with rotations.

Construction of Möttönen, Vartiainen, Bergholm & Salomaa, "Transformation of quantum states
using uniformly controlled rotations", Quant. Inf. Comp. 5, 467 (2005), arXiv:quant-ph/0407010,
written for qnnlab's conventions (``qubits[0]`` is the most significant bit of the index ``i``).

Magnitudes (``RY`` tree)
------------------------
For a prefix ``c`` of the first ``j`` bits let ``s_c`` be the squared norm of the entries whose
index starts with ``c``. Level ``j = 0 .. k-1`` applies to ``qubits[j]``, controlled by
``qubits[0 .. j-1]`` in state ``c``, the rotation ``RY(alpha_{j,c})`` with

    alpha_{j,c} = 2 atan2(sqrt(s_{c1}), sqrt(s_{c0})),

so that ``RY(alpha)|0> = cos(alpha/2)|0> + sin(alpha/2)|1>`` splits the weight of ``c`` between
its two children. On the last level the children are single entries. For a **real** vector the
last level uses the signed entries, ``alpha_{k-1,c} = 2 atan2(x_{c1}, x_{c0})``, which puts
``cos(alpha/2) = x_{c0}/r_c`` and ``sin(alpha/2) = x_{c1}/r_c`` (``r_c = sqrt(s_c) >= 0``): signs
need no extra gates, and the circuit prepares exactly ``x/||x||``.

Phases (``RZ`` tree, complex vectors)
-------------------------------------
For a **complex** vector the ``RY`` tree uses ``|x_i|`` throughout and the phases ``w_i =
arg x_i`` follow as uniformly controlled ``RZ(beta) = diag(e^{-i beta/2}, e^{i beta/2})``. With
``w_c`` the mean of ``w`` over the entries with prefix ``c``,

    beta_{j,c} = w_{c1} - w_{c0},

branch ``b`` of prefix ``c`` gains the phase ``w_{cb} - w_c``; the sum over levels telescopes to
``w_i - mean_i(w_i)``. The circuit prepares ``e^{-i phi_0} x/||x||`` with the **dropped global
phase** ``phi_0 = mean_i arg x_i`` (``arg 0 := 0``, ``arg`` in ``(-pi, pi]``). Every ``RZ``
level is diagonal, and a uniformly controlled gate on ``qubits[j+1]`` is block diagonal over
``qubits[0..j]``, so the ``RZ`` levels commute with the ``RY`` levels after them: all ``RZ``
levels come after all ``RY`` levels.

Uniformly controlled rotations as ``R`` and CNOT (Gray code)
-----------------------------------------------------------
A rotation ``R in {RY, RZ}`` on the target, uniformly controlled by ``m`` qubits with angles
``alpha_c`` (``c = 0 .. 2^m - 1``, big-endian over the controls), is written as

    for i = 0 .. 2^m - 1:  R(theta_i) on the target, then CNOT(control p_i, target),

where ``p_i`` is the bit in which the Gray codes ``g(i) = i XOR (i >> 1)`` and ``g(i+1 mod 2^m)``
differ (bit ``b``, of value ``2^b``, is control ``m-1-b``). Since ``X R(t) X = R(-t)`` and the
CNOTs before step ``i`` have flipped the target iff ``c . g(i)`` is odd, control state ``c``
sees ``R(sum_i (-1)^{c . g(i)} theta_i)`` (a full Gray cycle flips each control twice, so no
``X`` is left over). Hence ``alpha = M theta`` with ``M_{c,i} = (-1)^{popcount(c AND g(i))}``,
``M^T M = 2^m I``, and Möttönen's inverse transform is

    theta_i = 2^{-m} (H alpha)_{g(i)},   H_{c,d} = (-1)^{popcount(c AND d)},

a fast Walsh-Hadamard transform (``O(m 2^m)`` work, no ``2^m x 2^m`` matrix). Level 0 has no
controls: one rotation, no CNOT.

Gate count on ``k`` qubits: ``2^k - 1`` ``ry`` and ``2^k - 2`` ``cnot`` for a real vector; a
complex vector adds ``2^k - 1`` ``rz`` and another ``2^k - 2`` ``cnot``. Only ``ry``, ``rz``
and ``cnot`` appear, so :func:`~qnnlab.circuits.qasm.to_qasm3` exports the circuit gate by gate.

Zero and non-finite data
------------------------
The angles are invariant under ``x -> a x`` for ``a > 0``; the vector is divided by its largest
absolute component first (no overflow or underflow of the squared norms). A sub-block of zeros
gets the angle 0 (``atan2(0, 0) := 0``, with gradient 0 there, never NaN), so the **all-zero
vector gives all-zero angles and prepares ``|0..0>``**; what a zero vector means is the caller's
decision (:func:`check_amplitudes` can refuse it). :func:`state_prep_angles` is a pure JAX
function and never looks at values (NaN in, NaN out); :func:`check_amplitudes` checks concrete
data.

One circuit for every input
---------------------------
:func:`append_state_prep` takes the angles as floats *or parameter slots*. Putting
:func:`state_prep_angles` of each data vector into the slots lets one circuit (and one compiled
engine program) encode every vector:

    >>> c = Circuit(3)
    >>> slots = c.parameters(n_state_prep_angles(3), "x")
    >>> _ = append_state_prep(c, (0, 1, 2), slots)
    >>> engine = make_engine(c, "statevector")              # doctest: +SKIP
    >>> engine.state(state_prep_angles(x))                   # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from qnnlab.circuits.circuit import AngleLike, Circuit, CircuitError, check_circuit_size
from qnnlab.circuits.gates import Gate

__all__ = [
    "AmplitudeError",
    "append_state_prep",
    "check_amplitudes",
    "n_state_prep_angles",
    "state_prep_angles",
    "state_prep_circuit",
]


class AmplitudeError(CircuitError):
    """An amplitude vector cannot be encoded (shape, dtype or values); the message names the fix."""


# ---------------------------------------------------------------------------------- structure
def _check_n_qubits(n_qubits) -> int:
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int | np.integer) or n_qubits < 1:
        raise AmplitudeError(f"n_qubits must be a positive integer, got {n_qubits!r}.")
    return int(n_qubits)


def n_state_prep_angles(n_qubits: int, *, complex_amplitudes: bool = False) -> int:
    """Number of angles (one per rotation) of the state preparation on ``n_qubits`` qubits:
    ``2^n - 1`` ``RY`` angles, plus ``2^n - 1`` ``RZ`` angles for complex amplitudes."""
    n = _check_n_qubits(n_qubits)
    levels = 2 if _check_flag(complex_amplitudes) else 1
    return levels * (2**n - 1)


def _check_flag(complex_amplitudes) -> bool:
    if not isinstance(complex_amplitudes, bool | np.bool_):
        raise AmplitudeError(
            f"complex_amplitudes must be True or False, got {complex_amplitudes!r}."
        )
    return bool(complex_amplitudes)


def _gray(i: int) -> int:
    return i ^ (i >> 1)


def _cnot_controls(m: int) -> list[int]:
    """Position (among the ``m`` controls, 0 most significant) of the CNOT after each of the
    ``2^m`` rotations of a uniformly controlled rotation; empty when ``m = 0``."""
    if m == 0:
        return []
    out = []
    for i in range(2**m):
        bit = (_gray(i) ^ _gray((i + 1) % 2**m)).bit_length() - 1
        out.append(m - 1 - bit)
    return out


def _n_qubits_of_length(shape: tuple[int, ...]) -> int:
    """``k`` for a 1-D shape ``(2^k,)`` with ``k >= 1``, else :class:`AmplitudeError`."""
    if len(shape) != 1:
        raise AmplitudeError(
            f"an amplitude vector must be 1-D, got shape {shape}; use jax.vmap over a batch."
        )
    dim = int(shape[0])
    if dim < 2 or dim & (dim - 1):
        raise AmplitudeError(
            f"an amplitude vector needs a power-of-two length >= 2, got {dim}; zero-pad it to "
            f"{max(2, 1 << max(dim - 1, 1).bit_length())} entries."
        )
    return dim.bit_length() - 1


# ---------------------------------------------------------------------------------- angles
def _safe_sqrt(s, xp):
    """``sqrt(s)`` for ``s >= 0`` with gradient 0 (not inf) at ``s = 0``."""
    pos = s > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, s, 1)), 0)


def _safe_atan2(y, x, xp):
    """``atan2(y, x)`` with ``atan2(0, 0) := 0`` and gradient 0 (not NaN) there."""
    zero = (x == 0) & (y == 0)
    return xp.where(zero, 0, xp.arctan2(xp.where(zero, 0, y), xp.where(zero, 1, x)))


def _walsh(v, xp):
    """``H v`` with ``H_{c,d} = (-1)^{popcount(c AND d)}`` (fast Walsh-Hadamard, 1-D ``v``)."""
    dim = v.shape[0]
    h = 1
    while h < dim:
        w = v.reshape(dim // (2 * h), 2, h)
        v = xp.stack([w[:, 0] + w[:, 1], w[:, 0] - w[:, 1]], axis=1).reshape(dim)
        h *= 2
    return v


def _uniform_rotation_angles(alpha, xp):
    """Gate angles ``theta_i = 2^{-m} (H alpha)_{g(i)}`` of a uniformly controlled rotation."""
    dim = alpha.shape[0]
    gray = np.array([_gray(i) for i in range(dim)], dtype=np.int64)
    return _walsh(alpha, xp)[gray] / dim


def _angles(x, complex_amplitudes: bool, xp):
    """All gate angles, in gate order, for a 1-D vector ``x`` (NumPy or ``jax.numpy`` ``xp``)."""
    k = _n_qubits_of_length(tuple(x.shape))
    if complex_amplitudes:
        re, im = xp.real(x), xp.imag(x)
        top = xp.maximum(xp.max(xp.abs(re)), xp.max(xp.abs(im)))
    else:
        re, im = x, None
        top = xp.max(xp.abs(re))
    scale = xp.where(top > 0, top, 1)
    re = re / scale
    weights = re * re
    if complex_amplitudes:
        im = im / scale
        weights = weights + im * im
        leaves = _safe_sqrt(weights, xp)
    else:
        leaves = re
    # RY tree, bottom-up: level j sees the 2^(j+1) squared norms of the prefixes of length j+1.
    ry = [None] * k
    pairs = leaves.reshape(2 ** (k - 1), 2)
    ry[k - 1] = 2 * _safe_atan2(pairs[:, 1], pairs[:, 0], xp)
    for j in range(k - 2, -1, -1):
        weights = weights.reshape(2 ** (j + 1), 2).sum(axis=1)
        norms = _safe_sqrt(weights.reshape(2**j, 2), xp)
        ry[j] = 2 * _safe_atan2(norms[:, 1], norms[:, 0], xp)
    out = [_uniform_rotation_angles(a, xp) for a in ry]
    if complex_amplitudes:
        # RZ tree, bottom-up: prefix phases are means of their children's phases.
        phases = _safe_atan2(im, re, xp)
        rz = [None] * k
        for j in range(k - 1, -1, -1):
            pairs = phases.reshape(2**j, 2)
            rz[j] = pairs[:, 1] - pairs[:, 0]
            phases = pairs.mean(axis=1)
        out += [_uniform_rotation_angles(b, xp) for b in rz]
    return xp.concatenate(out)


def _resolve_complex(dtype, complex_amplitudes) -> bool:
    is_complex = bool(np.issubdtype(np.dtype(dtype), np.complexfloating))
    if complex_amplitudes is None:
        return is_complex
    flag = _check_flag(complex_amplitudes)
    if is_complex and not flag:
        raise AmplitudeError(
            "a complex amplitude vector needs complex_amplitudes=True (or None to infer it); "
            "the imaginary parts would be lost."
        )
    return flag


def state_prep_angles(vector, *, complex_amplitudes: bool | None = None) -> jax.Array:
    """The gate angles that prepare ``vector / ||vector||`` (in the order
    :func:`append_state_prep` appends the gates), as a pure JAX function of ``vector``.

    Usable under ``jax.jit``, ``jax.vmap`` (over a batch of vectors) and ``jax.grad``: there is
    no Python branching on values, and zero sub-blocks give angle 0 with finite gradients. Only
    shapes and dtypes are checked (at trace time); values are not, see :func:`check_amplitudes`.

    Args:
        vector: 1-D array of length ``2^k``, ``k >= 1`` (real, or complex).
        complex_amplitudes: ``True`` adds the ``RZ`` phase angles (global phase dropped, see
            the module docstring); ``False`` encodes a real vector with signs by ``RY`` only;
            ``None`` (default) infers it from the dtype.

    Returns:
        Real array of :func:`n_state_prep_angles` ``(k, complex_amplitudes=...)`` angles, in
        the real precision of ``vector`` (``float32`` unless JAX's 64-bit mode is on). An
        all-zero vector gives all-zero angles (the circuit then prepares ``|0..0>``).

    Raises:
        AmplitudeError: ``vector`` is not 1-D of a power-of-two length ``>= 2``, is not numeric,
            or is complex with ``complex_amplitudes=False``.
    """
    if not hasattr(vector, "dtype"):
        vector = np.asarray(vector)
    dtype = np.dtype(vector.dtype)
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise AmplitudeError(f"an amplitude vector must be numeric, got dtype {dtype}.")
    _n_qubits_of_length(tuple(vector.shape))
    flag = _resolve_complex(dtype, complex_amplitudes)
    x = jnp.asarray(vector)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.zeros((), dtype=float).dtype)  # JAX's default float
    return _jax_angles(x, flag)


@functools.partial(jax.jit, static_argnums=1)
def _jax_angles(x, complex_amplitudes: bool):
    """:func:`_angles` in JAX, compiled once per shape, dtype and flag (also when called
    eagerly; inside a caller's ``jit``/``vmap`` it is inlined)."""
    return _angles(x, complex_amplitudes, jnp)


def check_amplitudes(vector, *, allow_zero: bool = True) -> np.ndarray:
    """``vector`` as a NumPy array (``float64`` or ``complex128``) after checking that it can
    be amplitude-encoded: 1-D, a power-of-two length ``>= 2``, numeric, every entry finite, and
    (with ``allow_zero=False``) not all zero.

    Raises:
        AmplitudeError: naming the problem (the first non-finite indices, the bad shape, ...).
    """
    arr = np.asarray(vector)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise AmplitudeError(f"an amplitude vector must be numeric, got dtype {arr.dtype}.")
    _n_qubits_of_length(arr.shape)
    arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise AmplitudeError(
            f"amplitude vector has {bad.size} NaN or infinite entr{'y' if bad.size == 1 else 'ies'}"
            f" (first at index {bad[:5].tolist()}); clean or impute the data before encoding it."
        )
    if not allow_zero and not np.any(arr):
        raise AmplitudeError(
            "amplitude vector is all zero: it has no direction to encode (its angles would "
            "prepare |0..0>); drop the sample or pass allow_zero=True."
        )
    return arr


# ---------------------------------------------------------------------------------- circuits
def _angle_list(angles) -> list:
    if isinstance(angles, np.ndarray | jax.Array):
        arr = np.asarray(angles)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise AmplitudeError(
                f"angles must be a 1-D real array, got shape {arr.shape} and dtype {arr.dtype}."
            )
        return arr.astype(np.float64).tolist()
    if isinstance(angles, str) or not isinstance(angles, Sequence):
        raise AmplitudeError(
            "angles must be a sequence of numbers or Param handles (e.g. "
            f"circuit.parameters(n, 'x')), got {type(angles).__name__}."
        )
    return list(angles)


def append_state_prep(
    circuit: Circuit,
    qubits: Sequence[int],
    angles: Sequence[AngleLike],
    *,
    complex_amplitudes: bool = False,
) -> Circuit:
    """Append the state preparation's fixed gate structure on ``qubits`` with the given angles.

    On ``|0..0>`` of ``qubits`` the appended gates prepare the vector whose angles
    (:func:`state_prep_angles`) were passed, with ``qubits[0]`` the most significant bit of the
    amplitude index. Level ``j`` is a uniformly controlled ``RY`` on ``qubits[j]`` controlled by
    ``qubits[:j]``: ``2^j`` ``ry`` gates, each followed (for ``j >= 1``) by a ``cnot`` in Gray-code
    order; with ``complex_amplitudes`` the same structure follows with ``rz``. That is ``2^k - 1``
    rotations and ``2^k - 2`` CNOTs per tree on ``k`` qubits.

    Args:
        circuit: the circuit to extend (in place; also returned).
        qubits: ``k >= 1`` distinct, not discarded qubits, most significant first.
        angles: :func:`n_state_prep_angles` ``(k, complex_amplitudes=...)`` angles: numbers,
            ``Param`` handles or parameter names (a data-dependent encoding puts them in slots).
        complex_amplitudes: whether ``angles`` include the ``RZ`` phase tree.

    Returns:
        ``circuit``.

    Raises:
        AmplitudeError: wrong number of angles or a bad ``angles`` container.
        CircuitError: bad qubits or angles (nothing is appended then), or the circuit would hold
            more than ``MAX_OPERATIONS`` operations.
    """
    if not isinstance(circuit, Circuit):
        raise AmplitudeError(f"append_state_prep needs a Circuit, got {type(circuit).__name__}.")
    if isinstance(qubits, int | np.integer):
        qubits = (qubits,)
    qubits = circuit.check_usable(tuple(qubits), "append_state_prep")
    k = len(qubits)
    if k == 0:
        raise AmplitudeError("append_state_prep needs at least one qubit.")
    flag = _check_flag(complex_amplitudes)
    values = _angle_list(angles)
    need = n_state_prep_angles(k, complex_amplitudes=flag)
    if len(values) != need:
        raise AmplitudeError(
            f"state preparation on {k} qubit(s) takes {need} angles "
            f"(n_state_prep_angles({k}, complex_amplitudes={flag})), got {len(values)}."
        )
    n_cnots = (2 if flag else 1) * (2**k - 2)
    check_circuit_size(
        circuit.n_qubits,
        len(circuit.operations) + need + n_cnots,
        f"state preparation on {k} qubits",
    )
    converted = [circuit.as_angle(a) for a in values]  # all checked before any gate is appended
    position = 0
    for name in ("ry", "rz") if flag else ("ry",):
        for j in range(k):
            target, controls = qubits[j], qubits[:j]
            cnots = _cnot_controls(j)
            for i in range(2**j):
                circuit.append(Gate(name, (target,), (converted[position],)))
                position += 1
                if cnots:
                    circuit.append(Gate("cnot", (controls[cnots[i]], target)))
    return circuit


def state_prep_circuit(
    vector, qubits: Sequence[int] | None = None, n_qubits: int | None = None
) -> Circuit:
    """A circuit that prepares ``vector / ||vector||`` from ``|0..0>``, with constant angles.

    The angles are computed in NumPy ``float64`` (the formulas of :func:`state_prep_angles`),
    whatever JAX's precision. Complex vectors get the ``RZ`` phase tree (global phase
    ``mean_i arg x_i`` dropped); an all-zero vector gives all-zero angles, a circuit preparing
    ``|0..0>`` (use :func:`check_amplitudes` with ``allow_zero=False`` to refuse it).

    Args:
        vector: 1-D array of ``2^k`` finite numbers (``k >= 1``).
        qubits: the ``k`` qubits to encode on, most significant first; default ``0 .. k-1``.
        n_qubits: the circuit's size; default ``max(qubits) + 1``.

    Raises:
        AmplitudeError: bad vector (see :func:`check_amplitudes`) or ``len(qubits) != k``.
        CircuitError: bad qubits or ``n_qubits``.
    """
    arr = check_amplitudes(vector)
    k = _n_qubits_of_length(arr.shape)
    qubits = tuple(range(k)) if qubits is None else tuple(qubits)
    if len(qubits) != k:
        raise AmplitudeError(
            f"a vector of {arr.shape[0]} amplitudes needs {k} qubits, got {len(qubits)}: {qubits}."
        )
    if n_qubits is None:
        n_qubits = max(max(qubits) + 1, k) if all(isinstance(q, int) for q in qubits) else k
    flag = bool(np.iscomplexobj(arr))
    circuit = Circuit(n_qubits, name="state_prep")
    return append_state_prep(circuit, qubits, _angles(arr, flag, np), complex_amplitudes=flag)
